"""Face detection with OpenCV's detectors: the res10 SSD (Caffe or 8-bit TensorFlow) and YuNet.

The res10 SSD takes a 300x300 BGR image with the mean (104, 177, 123) subtracted and
returns boxes as fractions of the image; YuNet (``cv2.FaceDetectorYN``) works at the
image's own size and also gives five landmarks (right eye, left eye, nose tip, right
and left mouth corners).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pyimagesearch.datasets import face_detector_files

KINDS = ("caffe", "tensorflow", "yunet")
SSD_SIZE = (300, 300)
SSD_MEAN = (104.0, 177.0, 123.0)


class DetectorError(RuntimeError):
    """A face detector's model files cannot be loaded."""


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


def crop(image: np.ndarray, detection: Detection, margin: float = 0.2, size: int = 160) -> np.ndarray:
    """The face's square, grown by ``margin`` x its side on each side, clipped, resized to size x size."""
    if margin < 0 or size < 1:
        raise ValueError(f"margin={margin}, size={size}: need margin >= 0 and size >= 1")
    height, width = image.shape[:2]
    half = max(detection.width, detection.height) * (0.5 + margin)
    cx, cy = (detection.x1 + detection.x2) / 2, (detection.y1 + detection.y2) / 2
    x1, y1 = max(0, round(cx - half)), max(0, round(cy - half))
    x2, y2 = min(width, round(cx + half)), min(height, round(cy + half))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"the detection {detection} lies outside the {width}x{height} image")
    region = image[y1:y2, x1:x2]
    shrink = region.shape[0] > size or region.shape[1] > size
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class FaceDetector:
    """OpenCV face detector: ``"caffe"`` (res10 SSD, default), ``"tensorflow"`` (its 8-bit version)
    or ``"yunet"``, keeping faces with at least ``confidence``. ``path`` is a folder of model files."""

    def __init__(self, kind: str = "caffe", confidence: float = 0.5, path: str | Path | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: choose one of {', '.join(KINDS)}")
        if not 0 <= confidence <= 1:
            raise ValueError(f"confidence={confidence}: must lie between 0 and 1")
        self.kind, self.confidence = kind, confidence
        files = face_detector_files(kind, path)
        try:
            self._net = _load(kind, files, confidence)
        except cv2.error as error:
            names = ", ".join(str(f) for f in files)
            raise DetectorError(f"cannot load the {kind} face detector from {names}: "
                                f"{error.err}") from None

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
        """Run the res10 SSD on a batch; rows are (image, class, confidence, x1, y1, x2, y2)."""
        self._net.setInput(cv2.dnn.blobFromImages(images, 1.0, SSD_SIZE, SSD_MEAN, swapRB=False, crop=False))
        rows = self._net.forward().reshape(-1, 7)
        rows = rows[rows[:, 2] >= self.confidence]
        found = [[] for _ in images]
        for index, _, confidence, *box in rows:
            height, width = images[int(index)].shape[:2]
            scaled = np.array(box) * [width, height, width, height]
            found[int(index)].append(_clipped(scaled, float(confidence), width, height))
        return [_ranked(faces) for faces in found]

    def _detect_yunet(self, image: np.ndarray) -> list[Detection]:
        """Run YuNet on one image; rows are (x, y, w, h, 5 landmarks as x, y, score)."""
        height, width = image.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(image)
        faces = []
        for row in [] if rows is None else rows:
            x, y, w, h = row[:4]
            landmarks = tuple((float(px), float(py)) for px, py in row[4:14].reshape(5, 2))
            faces.append(_clipped(np.array([x, y, x + w, y + h]), float(row[14]), width, height, landmarks))
        return _ranked(faces)


def _load(kind: str, files: tuple[Path, ...], confidence: float):
    """The OpenCV network (or YuNet detector) for ``kind``."""
    names = [str(f) for f in files]
    if kind == "caffe":
        return cv2.dnn.readNetFromCaffe(*names)
    if kind == "tensorflow":
        return cv2.dnn.readNetFromTensorflow(*names)
    return cv2.FaceDetectorYN.create(names[0], "", (320, 320), confidence)


def _clipped(box: np.ndarray, confidence: float, width: int, height: int,
             landmarks: tuple[tuple[float, float], ...] | None = None) -> Detection | None:
    """A Detection with its box clipped to the image, or None when nothing of it is inside."""
    x1, y1, x2, y2 = (float(v) for v in np.clip(box, 0, [width, height, width, height]))
    return Detection(x1, y1, x2, y2, confidence, landmarks) if x2 > x1 and y2 > y1 else None


def _ranked(faces: list[Detection | None]) -> list[Detection]:
    """The faces that lie in the image, most confident first."""
    return sorted((f for f in faces if f is not None), key=lambda f: f.confidence, reverse=True)

