"""Crop one face per image from a folder-per-person dataset into a new folder.

    python -m pyimagesearch.crop_faces SRC DST [--detector caffe|tensorflow|yunet] ...

``SRC/<person>/<image>`` becomes ``DST/<person>/<image stem>.jpg`` (or ``.png``). The
input is only ever read: DST may be neither SRC nor inside it. A re-run skips the
images whose crop exists (so an interrupted run resumes) and tries the others again.
Every image that gives no crop is listed in ``DST/crop_report.csv`` (path, reason,
detail), and so is everything in a person folder that is not an image (a FIFO, a
``notes.txt``, a broken link) and every empty person folder (``<person>/``); rows of
earlier runs stay unless their image was tried again or is gone. A crop that cannot be
written (a read-only person folder) is reported and the run goes on; an output folder
that cannot be written at all stops the run before any work, naming the cause.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import multiprocessing
import os
import stat
import sys
from collections import Counter
from collections.abc import Collection, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from pyimagesearch import images
from pyimagesearch.config import relative_to_repo
from pyimagesearch.datasets import IMAGE_EXTENSIONS
from pyimagesearch.face_detection import KINDS, Detection, FaceDetector, crop
from pyimagesearch.images import ImageError, is_truncated_jpeg  # noqa: F401 - is_truncated_jpeg re-exported

REPORT_NAME = "crop_report.csv"
REPORT_FIELDS = ("path", "reason", "detail")
KEEP = ("largest", "confident")
FORMATS = ("jpg", "png")
JPEG_QUALITY = 95
MAX_SIZE = 2048  # largest crop side in pixels (a 2048x2048 crop of a face is already mostly upscaling)
MIN_IMAGE_SIDE = 16  # no detector finds a face in fewer pixels than this

# Why an image gives no crop (the report's ``reason`` column).
UNREADABLE = images.UNREADABLE
NOT_REGULAR = images.NOT_REGULAR
EMPTY = images.EMPTY
NOT_IMAGE = images.NOT_IMAGE
CORRUPT = images.CORRUPT
IMAGE_TOO_LARGE = images.TOO_LARGE
IMAGE_TOO_SMALL = "image too small"
NO_FACE = "no face"
TOO_SMALL = "face too small"
NAME_CLASH = "name clash"
EMPTY_FOLDER = "empty folder"
NOT_WRITTEN = "crop not written"


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
        if not 1 <= self.size <= MAX_SIZE:
            raise ValueError(f"size={self.size}: the side of the square crops must be 1 to {MAX_SIZE} pixels")
        if self.margin < 0 or self.min_face < 0:
            raise ValueError(f"margin={self.margin}, min_face={self.min_face}: "
                             "need margin >= 0 and min_face >= 0")
        if not 0 <= self.confidence <= 1:
            raise ValueError(f"confidence={self.confidence}: must be between 0 and 1")


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
    """An image file as 8-bit BGR (EXIF orientation applied, 16-bit scaled); ImageProblem says why not.

    Reads with :func:`pyimagesearch.images.read_image`: a FIFO or device is refused without
    blocking, and nothing is ever written to the input.
    """
    try:
        return images.read_image(path, mode="bgr", depth="scale", orient=True)
    except ImageError as error:
        raise ImageProblem(error.kind, "0 bytes" if error.kind == EMPTY else error.detail) from None


def check_image_size(image: np.ndarray, min_face: int) -> None:
    """Refuse an image too small to hold a face of ``min_face`` pixels (or any face at all)."""
    height, width = image.shape[:2]
    need = max(min_face, MIN_IMAGE_SIDE)
    if min(height, width) < need:
        raise ImageProblem(IMAGE_TOO_SMALL, f"{width}x{height} px; a face needs at least {need} px")


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
    """Save an image atomically (a partial file never carries the final name); OSError if it cannot."""
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    ok, encoded = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise CropError(f"{path}: OpenCV cannot encode the crop as {path.suffix}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise


@functools.cache
def cached_detector(kind: str, confidence: float) -> FaceDetector:
    """One detector per process and setting, loaded on first use."""
    return FaceDetector(kind, confidence)


def crop_batch(jobs: list[Job], settings: CropSettings) -> list[Outcome]:
    """Read, detect (one forward pass for the batch), crop and save; one Outcome per job."""
    detector = cached_detector(settings.kind, settings.confidence)
    outcomes, readable, pictures = [], [], []
    for job in jobs:
        try:
            image = read_image(job.source)
            check_image_size(image, settings.min_face)
        except ImageProblem as problem:
            outcomes.append(Outcome(job.name, problem.reason, problem.detail))
            continue
        pictures.append(image)
        readable.append(job)
    for job, image, detections in zip(readable, pictures, detector.detect_batch(pictures), strict=True):
        try:
            face = choose_face(detections, settings.keep, settings.min_face)
        except ImageProblem as problem:
            detail = problem.detail or f"{settings.kind} detector, confidence >= {settings.confidence}"
            outcomes.append(Outcome(job.name, problem.reason, detail))
            continue
        try:
            write_image(job.target, crop(image, face, settings.margin, settings.size))
        except OSError as error:
            outcomes.append(Outcome(job.name, NOT_WRITTEN, f"{job.target.parent}: {error.strerror or error}"))
            continue
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


def scan(src: Path, people: Collection[str] | None = None) -> tuple[list[Path], list[Outcome], set[str]]:
    """(image paths, outcomes of entries that are no image, the person folders scanned) under src.

    Only ``src/<person>/<entry>`` is looked at (files at the top of src are not per-person
    images). Entries are classified by ``lstat``/``stat`` only, never opened: a FIFO, a
    device, a folder, a broken link or a file without an image extension gets its report
    row here, and an empty person folder gets one named ``<person>/``.
    """
    paths, outcomes, scanned = [], [], set()
    wanted = None if people is None else set(people)
    for person in sorted(src.iterdir()):
        if not person.is_dir() or (wanted is not None and person.name not in wanted):
            continue
        scanned.add(person.name)
        try:
            with os.scandir(person) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            detail = f"cannot list the folder ({error.strerror})"
            outcomes.append(Outcome(f"{person.name}/", UNREADABLE, detail))
            continue
        if not entries:
            outcomes.append(Outcome(f"{person.name}/", EMPTY_FOLDER, "no files in this person folder"))
        for entry in entries:
            path = person / entry.name
            name = f"{person.name}/{entry.name}"
            try:  # the directory entry's type (no system call) unless it is a link or unusual
                regular = entry.is_file(follow_symlinks=False) or (
                    entry.is_symlink() and stat.S_ISREG(mode := path.stat().st_mode))
                if not regular:
                    mode = path.stat().st_mode
            except OSError as error:
                problem = images.open_error(path, error)  # the image reader's wording
                outcomes.append(Outcome(name, problem.kind, problem.detail))
                continue
            if not regular:
                detail = f"not a regular file ({images.file_type(mode)}); skipped without reading"
                outcomes.append(Outcome(name, NOT_REGULAR, detail))
            elif path.suffix.lower() not in IMAGE_EXTENSIONS:
                detail = (f"not an image file name ({path.suffix or 'no extension'}; expected one of "
                          f"{', '.join(IMAGE_EXTENSIONS)})")
                outcomes.append(Outcome(name, NOT_IMAGE, detail))
            else:
                paths.append(path)
    return paths, outcomes, scanned


def plan_crops(src: Path, dst: Path, image_format: str, people: Collection[str] | None = None
               ) -> tuple[list[Job], list[Job], list[Outcome], set[str]]:
    """(jobs to run, jobs whose crop exists, outcomes known without reading, person folders scanned)
    for every entry under src (of ``people``)."""
    paths, known, scanned = scan(src, people)
    if not paths and not known:
        raise CropError(f"{src}: no images found; expected per-person folders SRC/<person>/<image>"
                        + (" of the people asked for" if people is not None else ""))
    for person in sorted({p.parent.name for p in paths}):
        if (dst / person).resolve().is_relative_to(src):
            raise CropError(f"{dst / person}: leads into the input folder {src}; remove that link")
    todo, done, owners = [], [], {}
    for path in paths:
        job = Job(path, dst / path.parent.name / f"{path.stem}.{image_format}",
                  path.relative_to(src).as_posix())
        if job.target in owners:
            known.append(Outcome(job.name, NAME_CLASH, f"{owners[job.target]} has the same crop name"))
            continue
        owners[job.target] = job.name
        (done if job.target.exists() else todo).append(job)
    return todo, done, known, scanned


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
    try:
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, REPORT_FIELDS)
            writer.writeheader()
            writer.writerows(rows[name] for name in sorted(rows))
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise


def prepare_output(dst: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    """Create dst and check that it can be written (by writing its report back) before any work."""
    report = dst / REPORT_NAME
    try:
        dst.mkdir(parents=True, exist_ok=True)
        rows = read_report(report)
        write_report(report, rows)
    except OSError as error:
        raise CropError(f"{dst}: the output folder cannot be written ({error.strerror or error}; "
                        f"{error.filename or dst}); nothing was cropped") from None
    return report, rows


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
    todo, done, known, scanned = plan_crops(src, dst, image_format, people)
    cached_detector(kind, confidence)  # model file problems surface here, before any work
    report, rows = prepare_output(dst)
    present = {job.name for job in todo + done} | {outcome.name for outcome in known}
    for name in [n for n in rows if n.split("/", 1)[0] in scanned and n not in present]:
        del rows[name]  # its file is gone (or became a folder's row): the row is stale
    summary = CropSummary(len(todo) + len(done) + len(known), report, skipped=len(done))
    for outcome in known:
        record(outcome, rows, summary)
    try:
        with tqdm(total=len(todo), desc="Cropping faces", unit="img", disable=not progress) as bar:
            for outcomes in run_batches(batches(todo, batch_size), settings, workers):
                for outcome in outcomes:
                    record(outcome, rows, summary)
                bar.update(len(outcomes))
    except BaseException:
        try:  # keep what was learnt, but never let a report problem hide the real error
            write_report(report, rows)
        except OSError as error:
            print(f"crop_faces: warning: {report}: report not updated ({error.strerror})", file=sys.stderr)
        raise
    try:
        write_report(report, rows)
    except OSError as error:
        raise CropError(f"{report}: cannot write the report ({error.strerror or error}); the crops "
                        "are written, run again to rebuild it") from None
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
    parser.add_argument("--size", type=int, default=160,
                        help=f"side of the square crops in pixels, 1 to {MAX_SIZE} (160)")
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
