"""Benchmark: crop_folder's throughput on LFW with one worker against two, in the same run.

    python benchmarks/bench_crop_faces.py [PEOPLE] [--detector caffe] [--batch-size 8]

Crops the images of the first PEOPLE people of LFW (default: all 5,749, i.e. 13,233
images) into a temporary folder, once per worker count, and prints images per second
and the time that all 13,233 LFW images would take at that rate (target: under 10
minutes). The subset is a folder of links to the LFW files, which are only read.
Needs LFW and the detector files (SIAMESE_DATA_DIR, the cache or a download).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pyimagesearch.crop_faces import crop_folder
from pyimagesearch.datasets import load_lfw
from pyimagesearch.face_detection import KINDS

LFW_IMAGES = 13_233
TARGET_S = 600.0
WORKER_COUNTS = (1, 2)


def link_people(people: int | None, root: Path) -> int:
    """Link the images of the first ``people`` LFW people (None: all) into root/<person>/; count them."""
    lfw = load_lfw()
    chosen = set(lfw.people[:people])
    count = 0
    for path, person in zip(lfw.paths, lfw.identities, strict=True):
        if person in chosen:
            (root / person).mkdir(exist_ok=True)
            (root / person / path.name).symlink_to(path)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("people", type=int, nargs="?", default=None, help="first N people (default all)")
    parser.add_argument("--detector", choices=KINDS, default="caffe")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_crop_faces_") as temp:
        src = Path(temp) / "src"
        src.mkdir()
        images = link_people(args.people, src)
        who = f"the first {args.people:,} people" if args.people else "all people"
        print(f"{images:,} LFW images of {who}; detector "
              f"{args.detector}, batch size {args.batch_size}")
        for workers in WORKER_COUNTS:
            start = time.perf_counter()
            summary = crop_folder(src, Path(temp) / f"crops-{workers}", kind=args.detector,
                                  workers=workers, batch_size=args.batch_size, progress=False)
            seconds = time.perf_counter() - start
            rate = images / seconds
            projected = LFW_IMAGES / rate
            verdict = "meets" if projected < TARGET_S else "misses"
            print(f"workers={workers}: {seconds:6.1f} s, {rate:6.1f} images/s; all {LFW_IMAGES:,} LFW images "
                  f"in {projected / 60:5.1f} min ({verdict} the {TARGET_S / 60:.0f}-minute target); "
                  f"{summary.cropped} cropped, {summary.failed.total()} failed")


if __name__ == "__main__":
    main()
