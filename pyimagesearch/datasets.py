"""Offline-capable loaders for the course's datasets.

The files come from :mod:`pyimagesearch.resources` (an explicit ``path``, the read-only
mirror ``SIAMESE_DATA_DIR``, the cache or a checksummed download); the LFW protocol's
pairs files are read by :mod:`pyimagesearch.lfw_protocol`. Every loader names the file or
folder and the problem in one line when its input is unusable.

For now this module also re-exports the names that moved to ``resources`` and
``lfw_protocol`` so that older imports keep working; new code imports them from there.
"""

from __future__ import annotations

import gzip
import re
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyimagesearch.lfw_protocol import LFWPairs, as_indices, load_lfw_pairs, parse_lfw_pairs
from pyimagesearch.resources import (
    ATT_FACES,
    DETECTOR_FILES,
    FACE_DETECTOR,
    FASHION_MNIST,
    IMAGENET_WEIGHTS,
    LFW_FUNNELED,
    LFW_PAIRS,
    MNIST,
    ChecksumError,
    DatasetNotFoundError,
    Resource,
    all_resources,
    data_report,
    face_detector_files,
    fetch,
    file_digest,
    imagenet_weights,
    locate,
    verify,
)

__all__ = [
    # the loaders
    "DIGIT_DATASETS", "IMAGE_EXTENSIONS", "ImageFolder", "list_image_folder", "load_att_faces",
    "load_fashion_mnist", "load_lfw", "load_mnist", "read_idx",
    # re-exported from pyimagesearch.resources
    "ATT_FACES", "DETECTOR_FILES", "FACE_DETECTOR", "FASHION_MNIST", "IMAGENET_WEIGHTS", "LFW_FUNNELED",
    "LFW_PAIRS", "MNIST", "ChecksumError", "DatasetNotFoundError", "Resource", "all_resources",
    "data_report", "face_detector_files", "fetch", "file_digest", "imagenet_weights", "locate", "verify",
    # re-exported from pyimagesearch.lfw_protocol
    "LFWPairs", "as_indices", "load_lfw_pairs", "parse_lfw_pairs",
]


# ---------------------------------------------------------------- MNIST-style IDX

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzipped), the format MNIST is published in."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot read IDX data ({error})") from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: IDX header truncated")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX body has {len(data) - header} bytes, shape {shape} needs {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _load_idx_dataset(files: dict[str, Resource], path: str | Path | None):
    """Load the four IDX files of an MNIST-style dataset as Keras-style tuples."""
    arrays = {}
    for stem, resource in files.items():
        explicit = Path(path) / Path(resource.relpath).name if path is not None else None
        arrays[stem] = read_idx(fetch(resource, explicit))
    return ((arrays["train-images-idx3"], arrays["train-labels-idx1"]),
            (arrays["t10k-images-idx3"], arrays["t10k-labels-idx1"]))


def load_mnist(path: str | Path | None = None):
    """MNIST as ``(x_train, y_train), (x_test, y_test)``.

    Shapes (60000, 28, 28) and (10000, 28, 28), uint8 pixels 0-255; labels uint8 0-9.
    ``path`` is a folder holding the four ``*-ubyte.gz`` files.
    """
    return _load_idx_dataset(MNIST, path)


def load_fashion_mnist(path: str | Path | None = None):
    """Fashion-MNIST, in the same shapes and dtypes as :func:`load_mnist`."""
    return _load_idx_dataset(FASHION_MNIST, path)


DIGIT_DATASETS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}


# ---------------------------------------------------------------- image folders


@dataclass(frozen=True)
class ImageFolder:
    """Image paths of a folder-per-person dataset with each image's identity."""

    root: Path
    paths: list[Path]
    identities: list[str]

    @property
    def people(self) -> list[str]:
        """The distinct identities, sorted."""
        return sorted(set(self.identities))

    def counts(self) -> Counter:
        """Number of images per identity."""
        return Counter(self.identities)


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp")


def list_image_folder(root: str | Path) -> ImageFolder:
    """List ``root/<identity>/<image>`` files (JPEG, PNG, PGM, ...) in sorted order.

    The list may be empty; the loaders below refuse an empty one with a clear message.
    """
    from imutils.paths import list_files

    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetNotFoundError(f"{root}: {what}; expected a folder of per-person image folders")
    paths = sorted(Path(p) for p in list_files(str(root), validExts=IMAGE_EXTENSIONS))
    paths = [p for p in paths if p.parent.parent == root]
    return ImageFolder(root, paths, [p.parent.name for p in paths])


def _require_images(folder: ImageFolder, dataset: str) -> None:
    """Refuse a folder with no ``<person>/<image>`` files, hinting at a nesting one level off."""
    if folder.paths:
        return
    hint = ""
    deeper = [d for d in sorted(folder.root.iterdir()) if d.is_dir() and list_image_folder(d).paths]
    if deeper:
        hint = f"; the images are one level deeper: use {deeper[0]}"
    raise DatasetNotFoundError(f"{folder.root}: no images in per-person folders ({dataset} expects "
                               f"{folder.root}/<person>/<image> with one of "
                               f"{', '.join(IMAGE_EXTENSIONS)}){hint}")


_ATT_SUBJECT = re.compile(r"s([1-9][0-9]*)")
ATT_SHAPE = (112, 92)


def load_att_faces(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The AT&T (ORL) faces as ``(images, labels)``.

    ``images`` is (400, 112, 92) uint8 greyscale; ``labels`` is int64 with the subject
    number 1-40 of folder ``s1`` ... ``s40``. A folder that is empty, has other folder
    names, unreadable images or images of another size raises an error naming the file.
    """
    from pyimagesearch.images import read_image

    folder = list_image_folder(fetch(ATT_FACES, path))
    _require_images(folder, "the AT&T faces")
    labels = []
    for identity in folder.identities:
        match = _ATT_SUBJECT.fullmatch(identity)
        if match is None:
            raise ValueError(f"{folder.root / identity}: not an AT&T subject folder (expected s1 ... s40)")
        labels.append(int(match.group(1)))
    images = []
    for image_path in folder.paths:
        image = read_image(image_path, mode="gray")  # ImageError names the file and the problem
        if image.shape != ATT_SHAPE:
            raise ValueError(f"{image_path}: {image.shape[1]}x{image.shape[0]} pixels; the AT&T faces are "
                             f"{ATT_SHAPE[1]}x{ATT_SHAPE[0]}")
        images.append(image)
    return np.stack(images), np.array(labels, dtype=np.int64)


def load_lfw(path: str | Path | None = None) -> ImageFolder:
    """LFW funneled image paths with each image's person (13,233 images of 5,749 people).

    Images are 250x250 JPEG; the offline mirror's copy is greyscale, so read them with
    ``cv2.IMREAD_COLOR`` (which repeats the channel) when a model wants RGB. A folder with
    no ``<person>/<image>`` files raises DatasetNotFoundError naming it.
    """
    folder = list_image_folder(fetch(LFW_FUNNELED, path))
    _require_images(folder, "LFW")
    return folder
