"""Write a few MNIST test digits as PNG files into ``examples/`` (two per class, about 5 KB).

    python 03_compare-images/make_examples.py

The files are named ``digit<label>_<test index>.png`` so the notebook knows each digit's class.
Existing files are left as they are.
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


if __name__ == "__main__":
    paths = main()
    print(f"{len(paths)} examples in {paths[0].parent}")
