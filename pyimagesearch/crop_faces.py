"""Crop one face per image from a folder-per-person dataset into a new folder.

    python -m pyimagesearch.crop_faces SRC DST [--detector caffe|tensorflow|yunet] ...

``SRC/<person>/<image>`` becomes ``DST/<person>/<image stem>.jpg`` (or ``.png``). The
input is only ever read: DST may be neither SRC nor inside it. A re-run skips the
images whose crop exists (so an interrupted run resumes) and tries the others again.
Every image that gives no crop is listed in ``DST/crop_report.csv`` (path, reason,
detail); rows of earlier runs stay unless their image was tried again.
"""

from __future__ import annotations

import argparse
import csv
import functools
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Collection, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from pyimagesearch.config import relative_to_repo
from pyimagesearch.datasets import ImageFolder, list_image_folder
from pyimagesearch.face_detection import KINDS, Detection, FaceDetector, crop, to_bgr

REPORT_NAME = "crop_report.csv"
REPORT_FIELDS = ("path", "reason", "detail")
KEEP = ("largest", "confident")
FORMATS = ("jpg", "png")
JPEG_QUALITY = 95

# Why an image gives no crop (the report's ``reason`` column).
UNREADABLE = "unreadable"
EMPTY = "empty file"
NOT_IMAGE = "not an image"
CORRUPT = "corrupt image"
NO_FACE = "no face"
TOO_SMALL = "face too small"
NAME_CLASH = "name clash"


class CropError(ValueError):
    """The folders or settings of a cropping run are unusable; nothing was written."""


class ImageProblem(Exception):
    """An input image gives no crop, for a reason in the report's vocabulary."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class CropSettings:
    """How each face is detected, chosen, cropped and saved (sent to every worker)."""

    kind: str = "caffe"
    confidence: float = 0.5
    margin: float = 0.2
    size: int = 160
    min_face: int = 32
    keep: str = "largest"
    image_format: str = "jpg"

    def __post_init__(self):
        if self.keep not in KEEP:
            raise ValueError(f"keep={self.keep!r}: choose one of {', '.join(KEEP)}")
        if self.image_format not in FORMATS:
            raise ValueError(f"image_format={self.image_format!r}: choose one of {', '.join(FORMATS)}")
        if self.margin < 0 or self.size < 1 or self.min_face < 0:
            raise ValueError(f"margin={self.margin}, size={self.size}, min_face={self.min_face}: "
                             "need margin >= 0, size >= 1 and min_face >= 0")


@dataclass(frozen=True)
class Job:
    """One image to crop: its path, its crop's path and its name in the report."""

    source: Path
    target: Path
    name: str


@dataclass(frozen=True)
class Outcome:
    """What became of one image: ``reason`` is None when its crop was written."""

    name: str
    reason: str | None = None
    detail: str = ""


@dataclass
class CropSummary:
    """Counts of a cropping run and where its report is."""

    total: int
    report: Path
    cropped: int = 0
    skipped: int = 0
    failed: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.failed.items()))
        failed = f"{self.failed.total()} failed ({reasons})" if self.failed else "0 failed"
        return (f"{self.total} images: {self.cropped} cropped, {self.skipped} skipped (crop exists), "
                f"{failed}. Report: {relative_to_repo(self.report)}")


# ---------------------------------------------------------------- one image


def read_image(path: Path) -> np.ndarray:
    """An image file as 8-bit BGR (EXIF orientation applied); ImageProblem says why not."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageProblem(UNREADABLE, error.strerror or type(error).__name__) from None
    if not data:
        raise ImageProblem(EMPTY, "0 bytes")
    if is_truncated_jpeg(data):
        raise ImageProblem(CORRUPT, f"JPEG data ends early ({len(data)} bytes, no end marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        if not cv2.haveImageReader(str(path)):
            raise ImageProblem(NOT_IMAGE, f"no image format starts with bytes {data[:8].hex()}")
        raise ImageProblem(CORRUPT, "the decoder rejects the data")
    try:
        return to_bgr(image)
    except ValueError as error:
        raise ImageProblem(CORRUPT, str(error)) from None


def is_truncated_jpeg(data: bytes) -> bool:
    """True for JPEG data with no end-of-image marker after its last scan (libjpeg would pad it)."""
    return data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")


def choose_face(detections: list[Detection], keep: str = "largest", min_face: int = 0) -> Detection:
    """The largest or most confident face at least ``min_face`` pixels on its shorter side."""
    if not detections:
        raise ImageProblem(NO_FACE)
    big = [d for d in detections if min(d.width, d.height) >= min_face]
    if not big:
        side = max(min(d.width, d.height) for d in detections)
        raise ImageProblem(TOO_SMALL, f"largest face {side:.0f} px < min_face {min_face} px")
    score = (lambda d: d.area) if keep == "largest" else (lambda d: d.confidence)
    return max(big, key=score)


def write_image(path: Path, image: np.ndarray) -> None:
    """Save an image atomically (a partial file never carries the final name)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    ok, encoded = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise CropError(f"{path}: OpenCV cannot encode the crop as {path.suffix}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise CropError(f"{path}: cannot write the crop ({error.strerror})") from None


@functools.cache
def cached_detector(kind: str, confidence: float) -> FaceDetector:
    """One detector per process and setting, loaded on first use."""
    return FaceDetector(kind, confidence)


def crop_batch(jobs: list[Job], settings: CropSettings) -> list[Outcome]:
    """Read, detect (one forward pass for the batch), crop and save; one Outcome per job."""
    detector = cached_detector(settings.kind, settings.confidence)
    outcomes, readable, images = [], [], []
    for job in jobs:
        try:
            images.append(read_image(job.source))
            readable.append(job)
        except ImageProblem as problem:
            outcomes.append(Outcome(job.name, problem.reason, problem.detail))
    for job, image, detections in zip(readable, images, detector.detect_batch(images), strict=True):
        try:
            face = choose_face(detections, settings.keep, settings.min_face)
        except ImageProblem as problem:
            detail = problem.detail or f"{settings.kind} detector, confidence >= {settings.confidence}"
            outcomes.append(Outcome(job.name, problem.reason, detail))
            continue
        write_image(job.target, crop(image, face, settings.margin, settings.size))
        outcomes.append(Outcome(job.name))
    return outcomes


# ---------------------------------------------------------------- a folder


def check_folders(src: Path, dst: Path) -> tuple[Path, Path]:
    """Resolved (src, dst), refusing a dst that is src or lies inside it."""
    src, dst = src.expanduser().resolve(), dst.expanduser().resolve()
    if not src.is_dir():
        raise CropError(f"{src}: the input folder does not exist or is not a folder")
    if dst == src or dst.is_relative_to(src):
        where = "is the input folder" if dst == src else f"lies inside the input folder {src}"
        raise CropError(f"{dst}: the output folder {where}; choose a folder outside it "
                        "(the input is never written to)")
    if dst.exists() and not dst.is_dir():
        raise CropError(f"{dst}: the output path exists and is not a folder")
    return src, dst


def plan_crops(src: Path, dst: Path, image_format: str,
         people: Collection[str] | None = None) -> tuple[list[Job], list[Job], list[Outcome]]:
    """(jobs to run, jobs whose crop exists, name clashes) for every image under src (of ``people``)."""
    folder = list_image_folder(src)
    if people is not None:
        keep = set(people)
        folder = ImageFolder(src, [p for p in folder.paths if p.parent.name in keep],
                             [i for i in folder.identities if i in keep])
    if not folder.paths:
        raise CropError(f"{src}: no images found; expected per-person folders SRC/<person>/<image>"
                        + (" of the people asked for" if people is not None else ""))
    for person in folder.people:
        if (dst / person).resolve().is_relative_to(src):
            raise CropError(f"{dst / person}: leads into the input folder {src}; remove that link")
    todo, done, clashes, owners = [], [], [], {}
    for path in folder.paths:
        job = Job(path, dst / path.parent.name / f"{path.stem}.{image_format}",
                  path.relative_to(src).as_posix())
        if job.target in owners:
            clashes.append(Outcome(job.name, NAME_CLASH, f"{owners[job.target]} has the same crop name"))
            continue
        owners[job.target] = job.name
        (done if job.target.exists() else todo).append(job)
    return todo, done, clashes


def batches(jobs: list[Job], batch_size: int) -> list[list[Job]]:
    """The jobs in consecutive batches of ``batch_size``."""
    return [jobs[start:start + batch_size] for start in range(0, len(jobs), batch_size)]


def run_batches(jobs: list[list[Job]], settings: CropSettings, workers: int) -> Iterator[list[Outcome]]:
    """Each batch's outcomes as it completes: in this process, or in a pool of ``workers``."""
    if workers == 1:
        yield from (crop_batch(batch, settings) for batch in jobs)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)  # no more OpenCV threads than cores in all
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=cv2.setNumThreads, initargs=(threads,))
    try:
        futures = [pool.submit(crop_batch, batch, settings) for batch in jobs]
        yield from (future.result() for future in as_completed(futures))
    finally:
        pool.shutdown(cancel_futures=True)


def read_report(path: Path) -> dict[str, dict[str, str]]:
    """The rows of an earlier report by image name (empty when there is none)."""
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != REPORT_FIELDS:
            raise CropError(f"{path}: not a crop report (columns {reader.fieldnames}, expected "
                            f"{', '.join(REPORT_FIELDS)}); move it away and run again")
        return {row["path"]: row for row in reader}


def write_report(path: Path, rows: dict[str, dict[str, str]]) -> None:
    """Write the report atomically, sorted by image name."""
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, REPORT_FIELDS)
        writer.writeheader()
        writer.writerows(rows[name] for name in sorted(rows))
    os.replace(partial, path)


def crop_folder(src: str | Path, dst: str | Path, kind: str = "caffe", confidence: float = 0.5,
                margin: float = 0.2, size: int = 160, min_face: int = 32, keep: str = "largest",
                image_format: str = "jpg", workers: int = 2, batch_size: int = 8,
                progress: bool = True, people: Collection[str] | None = None) -> CropSummary:
    """Crop the chosen face of every ``src/<person>/<image>`` (of ``people``, if given) into
    ``dst/<person>/``; see the module."""
    if workers < 1 or batch_size < 1:
        raise ValueError(f"workers={workers}, batch_size={batch_size}: both must be at least 1")
    settings = CropSettings(kind, confidence, margin, size, min_face, keep, image_format)
    src, dst = check_folders(Path(src), Path(dst))
    todo, done, clashes = plan_crops(src, dst, image_format, people)
    cached_detector(kind, confidence)  # model file problems surface here, before any work
    dst.mkdir(parents=True, exist_ok=True)
    report = dst / REPORT_NAME
    rows = read_report(report)
    summary = CropSummary(len(todo) + len(done) + len(clashes), report, skipped=len(done))
    for outcome in clashes:
        record(outcome, rows, summary)
    try:
        with tqdm(total=len(todo), desc="Cropping faces", unit="img", disable=not progress) as bar:
            for outcomes in run_batches(batches(todo, batch_size), settings, workers):
                for outcome in outcomes:
                    record(outcome, rows, summary)
                bar.update(len(outcomes))
    finally:
        write_report(report, rows)
    return summary


def record(outcome: Outcome, rows: dict[str, dict[str, str]], summary: CropSummary) -> None:
    """Count an outcome and replace its image's report row (dropped when it was cropped)."""
    rows.pop(outcome.name, None)
    if outcome.reason is None:
        summary.cropped += 1
        return
    summary.failed[outcome.reason] += 1
    rows[outcome.name] = {"path": outcome.name, "reason": outcome.reason, "detail": outcome.detail}


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog="python -m pyimagesearch.crop_faces",
        description="Crop one face per image from SRC/<person>/<image> into DST/<person>/. "
                    f"SRC is only read; DST/{REPORT_NAME} lists the images that gave no crop.")
    parser.add_argument("src", type=Path, help="folder of per-person image folders (read only)")
    parser.add_argument("dst", type=Path, help="output folder, outside SRC (created if needed)")
    parser.add_argument("--detector", choices=KINDS, default="caffe",
                        help="res10 SSD (Caffe, default), its 8-bit TensorFlow version, or YuNet")
    parser.add_argument("--confidence", type=float, default=0.5, help="minimum face confidence (0.5)")
    parser.add_argument("--margin", type=float, default=0.2, help="margin around the face, x its side (0.2)")
    parser.add_argument("--size", type=int, default=160, help="side of the square crops in pixels (160)")
    parser.add_argument("--min-face", type=int, default=32, help="smallest face side in pixels (32)")
    parser.add_argument("--keep", choices=KEEP, default="largest", help="which face of several (largest)")
    parser.add_argument("--format", choices=FORMATS, default="jpg", help="crop file format (jpg)")
    parser.add_argument("--workers", type=int, default=2, help="processes (2)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (8)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a problem is reported in one line, with exit status 2."""
    args = parse_args(argv)
    try:
        summary = crop_folder(args.src, args.dst, kind=args.detector, confidence=args.confidence,
                              margin=args.margin, size=args.size, min_face=args.min_face, keep=args.keep,
                              image_format=args.format, workers=args.workers, batch_size=args.batch_size,
                              progress=not args.quiet)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"crop_faces: error: {error}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
