"""Face detection with OpenCV's detectors: the res10 SSD (Caffe or 8-bit TensorFlow) and YuNet.

The res10 SSD takes a 300x300 BGR image with the mean (104, 177, 123) subtracted and
returns boxes as fractions of the image; YuNet (``cv2.FaceDetectorYN``) gives boxes in
pixels of the image it is shown (large images are shrunk to ``YUNET_MAX_SIDE`` first) and
also five landmarks (right eye, left eye, nose tip, right and left mouth corners).
OpenCV 5 dropped ``cv2.dnn.readNetFromCaffe``; there the same SSD is read as the 8-bit
TensorFlow graph. Chapter 05's first notebook builds these pieces one cell at a time.
"""

from __future__ import annotations

import multiprocessing
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pyimagesearch.datasets import FACE_DETECTOR, ChecksumError, face_detector_files, verify
from pyimagesearch.images import ImageError, read_image

KINDS = ("caffe", "tensorflow", "yunet")
SSD_SIZE = (300, 300)
SSD_MEAN = (104.0, 177.0, 123.0)
YUNET_MAX_SIDE = 640
TEXT_MODELS = (".prototxt", ".pbtxt")
CROP_MARGIN = 0.2  # as chapter 05.1 cropped LFW
MAX_PHOTO_BYTES = 20_000_000
PROTOBUF_WIRE_TYPES = (0, 1, 2, 5)


class DetectorError(RuntimeError):
    """A face detector's model files cannot be loaded."""


class NoFaceError(ValueError):
    """A photo in which the detector finds no face; the message names the photo."""


@dataclass(frozen=True)
class Detection:
    """One face: its box (x1, y1, x2, y2) in pixels, confidence and optional five landmarks."""

    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def width(self) -> float:
        """Width of the box in pixels."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """Height of the box in pixels."""
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        """Area of the box in square pixels."""
        return self.width * self.height


# ---------------------------------------------------------------- images


def to_bgr(image: np.ndarray) -> np.ndarray:
    """The image as 8-bit BGR: greyscale and BGRA converted, 16-bit and float (0-1) scaled."""
    image = np.asarray(image)
    if image.size == 0:
        raise ValueError(f"empty image (shape {image.shape})")
    image = _to_uint8(image)
    if image.ndim == 3 and image.shape[2] in (1, 2):  # greyscale, or greyscale with alpha
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"unsupported image shape {image.shape}: expected (h, w) or (h, w, 1|2|3|4)")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """8-bit pixels: uint8 kept, uint16 scaled by 255/65535, float taken as 0-1."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return cv2.convertScaleAbs(image, alpha=255 / 65535)
    if np.issubdtype(image.dtype, np.floating):
        return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported pixel type {image.dtype}: expected uint8, uint16 or float")


# ---------------------------------------------------------------- model files


def ssd_kind() -> str:
    """The res10 SSD this OpenCV reads: "caffe", or "tensorflow" where readNetFromCaffe is gone."""
    return "caffe" if hasattr(cv2.dnn, "readNetFromCaffe") else "tensorflow"


def load_model(kind: str, files: tuple[Path, ...], confidence: float = 0.5):
    """The OpenCV network (or YuNet detector) for ``kind`` from its model files."""
    names = [str(f) for f in files]
    if kind == "caffe":
        return cv2.dnn.readNetFromCaffe(*names)  # (deploy.prototxt, .caffemodel)
    if kind == "tensorflow":
        return cv2.dnn.readNetFromTensorflow(*names)  # (weights .pb, graph .pbtxt)
    return cv2.FaceDetectorYN.create(names[0], "", (320, 320), confidence)


def check_model_file(path: Path) -> None:
    """Raise DetectorError, naming the file, when it is empty, not a model or not the published one."""
    data = path.read_bytes()
    if not data:
        raise DetectorError(f"{path}: empty file (0 bytes), not a face detector model")
    if path.suffix in TEXT_MODELS:
        problem = None if _is_text_protobuf(data) else "not a text model description"
    else:
        problem = None if _is_binary_protobuf(data) else "not a binary model (protobuf) file"
    if problem:
        raise DetectorError(f"{path}: {problem} (starts with {data[:16]!r})")
    if path.name in FACE_DETECTOR:
        try:
            verify(path, FACE_DETECTOR[path.name].hashes)
        except ChecksumError as error:
            raise DetectorError(str(error)) from None


def _is_text_protobuf(data: bytes) -> bool:
    """True for text that opens like a protobuf text file (``name: value`` or ``name {``)."""
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    body = re.sub(r"(?m)^\s*#.*$", "", text).lstrip()
    return re.match(r"[A-Za-z_]\w*\s*[:{]", body) is not None


def _is_binary_protobuf(data: bytes) -> bool:
    """True for data that opens with a protobuf field tag and is not plain text."""
    field, wire_type = data[0] >> 3, data[0] & 7
    printable = all(32 <= byte < 127 or byte in b"\t\r\n" for byte in data[:16])
    return field > 0 and wire_type in PROTOBUF_WIRE_TYPES and not printable


# ---------------------------------------------------------------- res10 SSD


def ssd_blob(images: list[np.ndarray]) -> np.ndarray:
    """The SSD's input: each BGR image squashed to 300x300, the mean subtracted, as (n, 3, 300, 300)."""
    return cv2.dnn.blobFromImages(images, 1.0, SSD_SIZE, SSD_MEAN, swapRB=False, crop=False)


def ssd_faces(output: np.ndarray, sizes: list[tuple[int, int]], confidence: float) -> list[list[Detection]]:
    """Faces per image from the SSD's output rows (image, class, confidence, x1, y1, x2, y2 as fractions)."""
    rows = output.reshape(-1, 7)
    rows = rows[rows[:, 2] >= confidence]
    found = [[] for _ in sizes]
    for index, _, score, *box in rows:
        height, width = sizes[int(index)]
        pixels = np.array(box) * [width, height, width, height]
        found[int(index)].append(clipped(pixels, float(score), width, height))
    return [ranked(faces) for faces in found]


def clipped(box: np.ndarray, confidence: float, width: int, height: int,
            landmarks: tuple[tuple[float, float], ...] | None = None) -> Detection | None:
    """A Detection with its box clipped to the image, or None when nothing of it is inside."""
    x1, y1, x2, y2 = (float(v) for v in np.clip(box, 0, [width, height, width, height]))
    return Detection(x1, y1, x2, y2, confidence, landmarks) if x2 > x1 and y2 > y1 else None


def ranked(faces: list[Detection | None]) -> list[Detection]:
    """The faces that lie in the image, most confident first."""
    return sorted((f for f in faces if f is not None), key=lambda f: f.confidence, reverse=True)


# ---------------------------------------------------------------- YuNet


def yunet_size(width: int, height: int, max_side: int = YUNET_MAX_SIDE) -> tuple[int, int]:
    """The (width, height) YuNet is shown: the image's own, or shrunk so its longer side is ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def yunet_faces(rows: np.ndarray | None, shown: tuple[int, int], width: int, height: int) -> list[Detection]:
    """Faces from YuNet's rows (x, y, w, h, 5 landmarks as x, y, score) found in an image of size
    ``shown``, mapped back to pixels of the ``width`` x ``height`` original."""
    back = np.array([width / shown[0], height / shown[1]])
    faces = []
    for row in [] if rows is None else rows:
        (x, y), (w, h) = row[0:2] * back, row[2:4] * back
        landmarks = tuple((float(px), float(py)) for px, py in row[4:14].reshape(5, 2) * back)
        faces.append(clipped(np.array([x, y, x + w, y + h]), float(row[14]), width, height, landmarks))
    return ranked(faces)


# ---------------------------------------------------------------- square crops


def square_box(detection: Detection, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The face's square (side: the box's longer side grown by ``margin`` x it on each side),
    clipped to the image, as integer (x1, y1, x2, y2)."""
    half = max(detection.width, detection.height) * (0.5 + margin)
    cx, cy = (detection.x1 + detection.x2) / 2, (detection.y1 + detection.y2) / 2
    x1, y1 = max(0, round(cx - half)), max(0, round(cy - half))
    x2, y2 = min(width, round(cx + half)), min(height, round(cy + half))
    return x1, y1, x2, y2


def crop(image: np.ndarray, detection: Detection, margin: float = 0.2, size: int = 160) -> np.ndarray:
    """The face's square_box cut out of the image and resized to size x size."""
    if margin < 0 or size < 1:
        raise ValueError(f"margin={margin}, size={size}: need margin >= 0 and size >= 1")
    height, width = image.shape[:2]
    x1, y1, x2, y2 = square_box(detection, margin, width, height)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"the detection {detection} lies outside the {width}x{height} image")
    region = image[y1:y2, x1:x2]
    shrink = region.shape[0] > size or region.shape[1] > size
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def read_photo(path: str | Path) -> np.ndarray:
    """A photo as a BGR array, refused (naming it) when it is too large or not an image."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_PHOTO_BYTES:
        megabytes = path.stat().st_size / 1e6
        raise ImageError(f"{path}: {megabytes:.0f} MB, more than {MAX_PHOTO_BYTES / 1e6:.0f} MB")
    return read_image(path, mode="bgr")


def largest_face(photo: np.ndarray, detector: FaceDetector, size: int, name: str | Path) -> np.ndarray:
    """The photo's largest face, cropped as chapter 05.1 did, as ``(size, size, 3)`` uint8 grey RGB."""
    faces = detector.detect(photo)
    if not faces:
        raise NoFaceError(f"{name}: no face found")
    face = crop(photo, max(faces, key=lambda f: f.width * f.height), margin=CROP_MARGIN, size=size)
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)  # chapter 05 trained on greyscale LFW
    return np.repeat(grey[..., None], 3, axis=-1)


def face_from_photo(path: str | Path, detector: FaceDetector, size: int) -> np.ndarray:
    """The largest face of the photo file at ``path`` (errors name the file)."""
    return largest_face(read_photo(path), detector, size, path)


# ---------------------------------------------------------------- the detector


class FaceDetector:
    """OpenCV face detector: ``"caffe"`` (res10 SSD, default), ``"tensorflow"`` (its 8-bit version)
    or ``"yunet"``, keeping faces with at least ``confidence``. ``path`` is a folder of model files.

    ``"caffe"`` becomes ``"tensorflow"`` (said in one line) where OpenCV cannot read Caffe models.
    Model files that are empty, not models, or not the published ones fail here, naming the file.
    """

    def __init__(self, kind: str = "caffe", confidence: float = 0.5, path: str | Path | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: choose one of {', '.join(KINDS)}")
        if not 0 <= confidence <= 1:
            raise ValueError(f"confidence={confidence}: must lie between 0 and 1")
        if kind == "caffe" and ssd_kind() != "caffe":
            kind = ssd_kind()
            if multiprocessing.parent_process() is None:  # once, not in every worker process
                print(f"OpenCV {cv2.__version__} has no cv2.dnn.readNetFromCaffe: "
                      "using the res10 SSD's 8-bit TensorFlow version")
        self.kind, self.confidence = kind, confidence
        files = face_detector_files(kind, path)
        for file in files:
            check_model_file(file)
        try:
            self._net = load_model(kind, files, confidence)
        except cv2.error as error:
            names = ", ".join(str(f) for f in files)
            raise DetectorError(f"cannot load the {kind} face detector from {names}: "
                                f"{error.err}") from None

    def __repr__(self) -> str:
        return f"FaceDetector({self.kind!r}, confidence={self.confidence})"

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one image (any layout that to_bgr accepts), most confident first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """Faces in each image, most confident first; the Caffe SSD runs all in one forward pass."""
        images = [to_bgr(image) for image in images]
        if not images:
            return []
        if self.kind == "yunet":
            return [self._detect_yunet(image) for image in images]
        if self.kind == "caffe":
            return self._detect_ssd(images)
        # OpenCV's TensorFlow importer fixes this graph's batch size at 1.
        return [self._detect_ssd([image])[0] for image in images]

    def _detect_ssd(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """Run the res10 SSD on a batch of BGR images."""
        self._net.setInput(ssd_blob(images))
        return ssd_faces(self._net.forward(), [image.shape[:2] for image in images], self.confidence)

    def _detect_yunet(self, image: np.ndarray) -> list[Detection]:
        """Run YuNet on one BGR image, shrunk first when its longer side exceeds YUNET_MAX_SIDE."""
        height, width = image.shape[:2]
        shown = yunet_size(width, height)
        if shown != (width, height):
            image = cv2.resize(image, shown, interpolation=cv2.INTER_AREA)
        self._net.setInputSize(shown)
        _, rows = self._net.detect(image)
        return yunet_faces(rows, shown, width, height)
