"""Reading an image file for a model: fully decoded, checked, and named in every error."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MODES = ("rgb", "bgr", "gray")


class ImageError(ValueError):
    """A file that cannot be used as an image; the message names the file and the problem."""


def read_image(path: str | Path, mode: str = "rgb", size: tuple[int, int] | None = None,
               resize: bool = False) -> np.ndarray:
    """Decode a whole image file to uint8 (H, W, 3) RGB/BGR or (H, W) grey.

    ``size=(width, height)`` is what the model expects: a different size is an error unless
    ``resize=True``, which resizes explicitly. Truncated, empty, non-image, 16-bit or
    non-regular files raise :class:`ImageError` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: choose one of {', '.join(MODES)}")
    path = Path(path)
    if not path.is_file():
        problem = "no such file" if not path.exists() else "not a regular file"
        raise ImageError(f"{path}: {problem}")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        with Image.open(path) as image:
            image.load()  # decodes everything: a truncated file fails here
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                raise ImageError(f"{path}: {image.mode} pixels (16-bit or float); save it as 8-bit")
            image = image.convert("L" if mode == "gray" else "RGB")
            if size is not None and image.size != tuple(size):
                if not resize:
                    raise ImageError(f"{path}: {image.size[0]}x{image.size[1]} pixels, "
                                     f"the model expects {size[0]}x{size[1]}")
                image = image.resize(tuple(size), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file") from None
    except (OSError, SyntaxError) as error:
        raise ImageError(f"{path}: cannot be decoded ({error})") from None
    return pixels[..., ::-1].copy() if mode == "bgr" else pixels
