"""Write a few MNIST test digits as PNG files into ``examples/`` (two per class, about 5 KB).

    python 03_compare-images/make_examples.py

The files are named ``digit<label>_<test index>.png`` so the notebook knows each digit's class.
``examples/not_digits/`` gets two files the model cannot take as they are: a digit scanned at
250x250 pixels and a web page saved under a ``.png`` name. Existing files are left as they are.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pyimagesearch.datasets import load_mnist

PER_CLASS = 2
SEED = 7


def main(folder: Path = Path(__file__).parent / "examples") -> list[Path]:
    """Pick ``PER_CLASS`` random test digits of each class and save them as PNG."""
    _, (images, labels) = load_mnist()
    rng = np.random.default_rng(SEED)
    folder.mkdir(exist_ok=True)
    written = []
    for digit in range(10):
        for index in sorted(rng.choice(np.flatnonzero(labels == digit), PER_CLASS, replace=False)):
            path = folder / f"digit{digit}_{index:05d}.png"
            if not path.exists():
                cv2.imwrite(str(path), images[index], [cv2.IMWRITE_PNG_COMPRESSION, 9])
            written.append(path)
    return written


def write_bad_examples(digit: Path, folder: Path) -> list[Path]:
    """A 250x250 copy of ``digit`` and an HTML page named ``.png``: files chapter 03 must refuse."""
    folder.mkdir(exist_ok=True)
    large, page = folder / "digit7_250x250.png", folder / "download.png"
    if not large.exists():
        image = cv2.resize(cv2.imread(str(digit), cv2.IMREAD_GRAYSCALE), (250, 250),
                           interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(large), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not page.exists():
        page.write_text("<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n")
    return [large, page]


if __name__ == "__main__":
    paths = main()
    print(f"{len(paths)} examples in {paths[0].parent}")
    sevens = [path for path in paths if path.name.startswith("digit7_")]
    bad = write_bad_examples(sevens[0], paths[0].parent / "not_digits")
    print(f"{len(bad)} files the model must refuse in {bad[0].parent}")
