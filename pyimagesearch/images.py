"""Reading an image file for a model: fully decoded, checked, and named in every error."""

from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np

MODES = ("rgb", "bgr", "gray")
DEPTHS = ("error", "scale")
MAX_PIXELS = 2**27  # about 134 million pixels (e.g. 11585 x 11585): 400 MB as 8-bit RGB

# What is wrong with a file (ImageError.kind): short words a report can group by.
UNREADABLE = "unreadable"
NOT_REGULAR = "not a regular file"
EMPTY = "empty file"
NOT_IMAGE = "not an image"
CORRUPT = "corrupt image"
TOO_LARGE = "image too large"
DEEP = "16-bit or float pixels"
WRONG_SIZE = "wrong size"


class ImageError(ValueError):
    """A file that cannot be used as an image; the message names the file and the problem."""

    def __init__(self, path: str | Path, kind: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path, self.kind, self.detail = Path(path), kind, detail


def is_truncated_jpeg(data: bytes) -> bool:
    """True for JPEG data with no end-of-image marker after its last scan (libjpeg would pad it)."""
    return data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")


_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
               (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"RIFF", "WebP"))


def image_format(data: bytes) -> str | None:
    """The image format that ``data`` starts like (by its magic bytes), or None."""
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if len(data) > 2 and data[:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return "PNM"
    return None


def read_bytes(path: str | Path) -> bytes:
    """A regular file's bytes; anything else (a FIFO, a device, a folder, a symbolic-link loop,
    a missing file) raises ImageError without blocking: a FIFO is opened non-blocking and
    refused by its type before any read."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise open_error(path, error) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ImageError(path, NOT_REGULAR, f"not a regular file ({file_type(mode)})")
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read()
        except OSError as error:
            raise ImageError(path, UNREADABLE, f"cannot be read ({error.strerror})") from None


def open_error(path: Path, error: OSError) -> ImageError:
    """The ImageError for a file that cannot be opened or stat'ed (missing, broken link, loop, denied)."""
    if error.errno == errno.ELOOP:
        return ImageError(path, UNREADABLE, "symbolic link loop")
    if error.errno == errno.ENOENT:
        if path.is_symlink():
            return ImageError(path, UNREADABLE, f"broken symbolic link (to {os.readlink(path)})")
        return ImageError(path, UNREADABLE, "no such file")
    if error.errno == errno.EISDIR:
        return ImageError(path, NOT_REGULAR, "not a regular file (a folder)")
    return ImageError(path, UNREADABLE, f"cannot be read ({error.strerror})")


def file_type(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "an unknown file type"


def read_image(path: str | Path, mode: str = "rgb", size: tuple[int, int] | None = None,
               resize: bool = False, depth: str = "error", orient: bool = False,
               max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Decode a whole image file to uint8 (H, W, 3) RGB/BGR or (H, W) grey.

    ``size=(width, height)`` is what the model expects: a different size is an error unless
    ``resize=True``, which resizes explicitly. Truncated, empty, non-image or non-regular
    files (a FIFO is refused without blocking), symbolic-link loops and images of more than
    ``max_pixels`` raise :class:`ImageError` naming the file, with ``kind`` saying what is
    wrong. 16-bit pixels are an error unless ``depth="scale"`` scales them to 8 bits. Alpha
    is dropped; CMYK, palette and 1-bit images are converted. ``orient=True`` applies the
    EXIF orientation (as photo viewers do).
    """
    from PIL import Image, UnidentifiedImageError

    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: choose one of {', '.join(MODES)}")
    if depth not in DEPTHS:
        raise ValueError(f"depth={depth!r}: choose one of {', '.join(DEPTHS)}")
    path = Path(path)
    data = read_bytes(path)
    if not data:
        raise ImageError(path, EMPTY, "empty file")
    if is_truncated_jpeg(data):
        raise ImageError(path, CORRUPT, f"cannot be decoded (JPEG data ends early: {len(data)} bytes, "
                                        "no end marker)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if max_pixels is not None and width * height > max_pixels:
                    raise ImageError(path, TOO_LARGE, f"{width}x{height} pixels, more than the limit of "
                                                      f"{max_pixels:,} pixels")
                image.load()  # decodes everything: a truncated file fails here
                if orient:
                    image = _oriented(image)
                pixels = _to_array(path, image, mode, depth)
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(path, TOO_LARGE, f"image too large ({error})") from None
    except UnidentifiedImageError:
        known = image_format(data)
        if known:
            raise ImageError(path, CORRUPT, f"cannot be decoded (starts like a {known} file, but its data "
                                            "is damaged)") from None
        raise ImageError(path, NOT_IMAGE, f"not an image file (starts with bytes {data[:8].hex()})") from None
    except MemoryError:
        raise ImageError(path, TOO_LARGE, "image too large to decode in memory") from None
    except Exception as error:  # noqa: BLE001 - Pillow's decoders raise many types on bad data
        raise ImageError(path, CORRUPT, f"cannot be decoded ({type(error).__name__}: {error})") from None
    if size is not None and (pixels.shape[1], pixels.shape[0]) != tuple(size):
        if not resize:
            raise ImageError(path, WRONG_SIZE, f"{pixels.shape[1]}x{pixels.shape[0]} pixels, "
                                               f"the model expects {size[0]}x{size[1]}")
        pixels = np.asarray(Image.fromarray(pixels).resize(tuple(size), Image.BILINEAR), dtype=np.uint8)
    return pixels[..., ::-1].copy() if mode == "bgr" else pixels


def _oriented(image):
    """The image turned upright by its EXIF orientation (unchanged when the EXIF data is unusable)."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - broken EXIF is no reason to lose the picture
        return image


def _to_array(path: Path, image, mode: str, depth: str) -> np.ndarray:
    """A decoded Pillow image as uint8 RGB or grey; 16-bit scaled when ``depth="scale"``."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        if depth == "error" or image.mode == "F":
            raise ImageError(path, DEEP, f"{image.mode} pixels (16-bit or float); save it as 8-bit")
        deep = np.asarray(image).astype(np.float64)
        if deep.min() < 0 or deep.max() > 65535:
            raise ImageError(path, DEEP, f"{image.mode} pixels outside 0-65535; save it as 8-bit")
        grey = np.rint(deep * (255 / 65535)).astype(np.uint8)
        return grey if mode == "gray" else np.repeat(grey[..., None], 3, axis=-1)
    if image.mode == "PA":  # palette with alpha: no direct conversion to L or RGB
        image = image.convert("RGBA")
    return np.asarray(image.convert("L" if mode == "gray" else "RGB"), dtype=np.uint8)
