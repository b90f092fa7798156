"""A corpus of bad inputs, made by the tests themselves (no committed binaries), run through
the crop tool (in-process with a fake detector, and the real CLI in a subprocess), the image
reader and the loaders: each must name the file and the problem, the crop tool must report
it and go on, and no input may change.

Read-only folders: the tests run as root here, and root writes through mode 0o555. The CLI
tests therefore run the tool under ``setpriv`` with the DAC-override capabilities dropped
(still uid 0, but then the owner's permission bits apply), which is a real read-only folder
for it; the in-process test simulates the refused write by monkeypatching. Only when running
as root without ``setpriv`` are the CLI read-only tests skipped.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pyimagesearch import config, crop_faces, datasets
from pyimagesearch.crop_faces import (
    CORRUPT,
    EMPTY,
    EMPTY_FOLDER,
    IMAGE_TOO_LARGE,
    IMAGE_TOO_SMALL,
    NO_FACE,
    NOT_IMAGE,
    NOT_REGULAR,
    NOT_WRITTEN,
    REPORT_NAME,
    UNREADABLE,
    crop_folder,
    main,
)
from pyimagesearch.face_detection import Detection
from pyimagesearch.images import ImageError, read_image
from pyimagesearch.lfw_protocol import load_lfw_pairs
from pyimagesearch.resources import DatasetNotFoundError

UNICODE = "ok/Zoë Ça va 01.jpg"  # non-ASCII letters and spaces in a name
GOOD = {"ok/face.png", "ok/cmyk.jpg", "ok/rgba.png", "ok/deep.png", UNICODE}
BAD = {
    "bad/empty.jpg": EMPTY,
    "bad/truncated.jpg": CORRUPT,
    "bad/text.jpg": NOT_IMAGE,
    "bad/notes.txt": NOT_IMAGE,
    "bad/fifo.jpg": NOT_REGULAR,
    "bad/loop_a.jpg": UNREADABLE,
    "bad/loop_b.jpg": UNREADABLE,
    "bad/tiny.png": IMAGE_TOO_SMALL,
    "bad/huge.png": IMAGE_TOO_LARGE,
    "empty person/": EMPTY_FOLDER,
}
CLI_TIMEOUT = 180  # seconds: a FIFO read would block forever


# ---------------------------------------------------------------- the corpus


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG file that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000)))
            + chunk(b"IEND", b""))


def picture(size: int = 120) -> np.ndarray:
    """A smooth synthetic greyscale picture (not a face)."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    return np.add.outer(ramp, ramp[::-1]).__mul__(0.5).astype(np.uint8)


def make_corpus(root: Path) -> Path:
    """SRC/<person>/<file>: five usable images in odd formats and every kind of bad entry."""
    for folder in ("ok", "bad", "empty person"):
        (root / folder).mkdir(parents=True)
    grey = picture()
    cv2.imwrite(str(root / "ok/face.png"), grey)
    Image.fromarray(np.dstack([grey] * 3)).convert("CMYK").save(root / "ok/cmyk.jpg")
    cv2.imwrite(str(root / "ok/rgba.png"), np.dstack([grey, grey, grey, np.full_like(grey, 100)]))
    cv2.imwrite(str(root / "ok/deep.png"), grey.astype(np.uint16) * 257)
    (root / UNICODE).write_bytes(cv2.imencode(".jpg", grey)[1].tobytes())
    jpeg = (root / UNICODE).read_bytes()
    (root / "bad/empty.jpg").write_bytes(b"")
    (root / "bad/truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "bad/text.jpg").write_text("this is not a picture\n")
    (root / "bad/notes.txt").write_text("photographer's notes\n")
    os.mkfifo(root / "bad/fifo.jpg")
    (root / "bad/loop_a.jpg").symlink_to("loop_b.jpg")
    (root / "bad/loop_b.jpg").symlink_to("loop_a.jpg")
    cv2.imwrite(str(root / "bad/tiny.png"), np.full((8, 8), 90, np.uint8))
    (root / "bad/huge.png").write_bytes(png_header_only(60000, 60000))
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root by lstat (never opening a FIFO or following a link) with its bytes' sha256."""
    result = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            result[path.relative_to(root).as_posix()] = f"link to {os.readlink(path)}"
        elif stat.S_ISREG(mode):
            result[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            result[path.relative_to(root).as_posix()] = stat.filemode(mode)
    return result


def report(dst: Path) -> dict[str, tuple[str, str]]:
    """The crop report as {path: (reason, detail)}."""
    with open(dst / REPORT_NAME, newline="", encoding="utf-8") as handle:
        return {row["path"]: (row["reason"], row["detail"]) for row in csv.DictReader(handle)}


@pytest.fixture
def corpus(tmp_path) -> Path:
    return make_corpus(tmp_path / "src")


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a blocked FIFO read is interrupted by SIGALRM)."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: something blocked")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class CentreFace:
    """A fake detector: one confident face in the middle of every image (instant)."""

    def detect_batch(self, pictures):
        faces = []
        for image in pictures:
            height, width = image.shape[:2]
            faces.append([Detection(width * 0.25, height * 0.25, width * 0.75, height * 0.75, 0.99)])
        return faces


@pytest.fixture
def fake_detector(monkeypatch):
    monkeypatch.setattr(crop_faces, "cached_detector", lambda kind, confidence: CentreFace())


# ---------------------------------------------------------------- the image reader


def test_read_image_names_each_bad_file_and_its_problem(corpus):
    before = snapshot(corpus)
    with deadline(30):
        for name, reason in BAD.items():
            if name.endswith("/") or name.endswith(".txt"):
                continue
            if reason == IMAGE_TOO_SMALL:
                continue  # readable: too small only for a face (see the crop tool's tests)
            with pytest.raises(ImageError) as error:
                read_image(corpus / name)
            assert error.value.kind == reason, name
            assert str(error.value).startswith(f"{corpus / name}: ") and "\n" not in str(error.value)
    assert snapshot(corpus) == before


def test_read_image_messages(corpus):
    expected = {"bad/empty.jpg": "empty file", "bad/truncated.jpg": "JPEG data ends early",
                "bad/text.jpg": "not an image file", "bad/fifo.jpg": "not a regular file (a FIFO)",
                "bad/loop_a.jpg": "symbolic link loop", "bad/huge.png": "image too large",
                "missing.jpg": "no such file", "ok": "not a regular file (a folder)"}
    with deadline(30):
        for name, words in expected.items():
            with pytest.raises(ImageError, match=re.escape(f"{corpus / name}: ") + ".*" + re.escape(words)):
                read_image(corpus / name)
    with pytest.raises(ImageError, match="16-bit"):
        read_image(corpus / "ok/deep.png")  # a model's input: 16-bit is refused unless asked to scale


def test_read_image_decodes_odd_but_valid_formats(corpus):
    grey = picture()
    for name in sorted(GOOD):
        pixels = read_image(corpus / name, depth="scale")
        assert pixels.shape == (120, 120, 3) and pixels.dtype == np.uint8, name
        tolerance = 6 if name.endswith(".jpg") else 0  # JPEG is lossy
        assert np.abs(pixels[..., 0].astype(int) - grey).max() <= tolerance, name
    assert read_image(corpus / "bad/tiny.png", mode="gray").shape == (8, 8)  # tiny is readable, only useless


# ---------------------------------------------------------------- the crop tool, in-process (fake detector)


def test_crop_folder_reports_every_bad_entry_and_crops_the_rest(corpus, tmp_path, fake_detector):
    before = snapshot(corpus)
    dst = tmp_path / "dst"
    with deadline(60):
        summary = crop_folder(corpus, dst, workers=1, size=64, progress=False)
    assert snapshot(corpus) == before
    rows = report(dst)
    assert {name: reason for name, (reason, _) in rows.items()} == BAD
    assert summary.cropped == len(GOOD) and summary.total == len(GOOD) + len(BAD)
    crops = {p.relative_to(dst).as_posix() for p in dst.rglob("*.jpg")}
    assert crops == {str(Path(name).with_suffix(".jpg")) for name in GOOD}
    assert cv2.imdecode(np.fromfile(dst / UNICODE, np.uint8), cv2.IMREAD_UNCHANGED).shape == (64, 64, 3)
    assert "8x8 px; a face needs at least 32 px" in rows["bad/tiny.png"][1]
    assert "not an image file name (.txt" in rows["bad/notes.txt"][1]
    assert rows["bad/loop_a.jpg"][1] == "symbolic link loop"
    assert not list(dst.rglob("*.partial"))


def test_crop_folder_resumes_and_forgets_rows_of_fixed_entries(corpus, tmp_path, fake_detector):
    dst = tmp_path / "dst"
    crop_folder(corpus, dst, workers=1, progress=False)
    again = crop_folder(corpus, dst, workers=1, progress=False)
    assert again.skipped == len(GOOD) and again.cropped == 0
    # the empty person folder gets a photo, the notes go away: their rows go, the others stay
    shutil.copy(corpus / "ok/face.png", corpus / "empty person/face.png")
    (corpus / "bad/notes.txt").unlink()
    fixed = crop_folder(corpus, dst, workers=1, progress=False)
    assert fixed.cropped == 1
    assert set(report(dst)) == set(BAD) - {"empty person/", "bad/notes.txt"}


def test_one_unwritable_person_folder_does_not_stop_the_run(corpus, tmp_path, fake_detector, monkeypatch):
    # Simulated (root writes through 0o555): every write into dst/ok is refused with EACCES.
    dst = tmp_path / "dst"
    real_write = crop_faces.write_image

    def refuse_ok(path, image):
        if path.parent == dst / "ok":
            raise PermissionError(13, "Permission denied", str(path))
        real_write(path, image)

    monkeypatch.setattr(crop_faces, "write_image", refuse_ok)
    shutil.copy(corpus / "ok/face.png", corpus / "empty person/face.png")  # a writable person
    summary = crop_folder(corpus, dst, workers=1, progress=False)
    rows = report(dst)
    assert {name for name, (reason, _) in rows.items() if reason == NOT_WRITTEN} == GOOD
    assert all("Permission denied" in rows[name][1] for name in GOOD)
    assert summary.cropped == 1 and (dst / "empty person/face.jpg").exists()


def test_unwritable_output_reports_the_real_cause(corpus, tmp_path, fake_detector, monkeypatch):
    # Simulated: the report (the first thing written) cannot be written.
    def refuse(path, rows):
        raise PermissionError(13, "Permission denied", str(path.with_name(f".{path.name}.partial")))

    monkeypatch.setattr(crop_faces, "write_report", refuse)
    with pytest.raises(crop_faces.CropError,
                       match="the output folder cannot be written \\(Permission denied"):
        crop_folder(corpus, tmp_path / "dst", workers=1, progress=False)
    assert not list((tmp_path / "dst").rglob("*.jpg"))


def test_size_has_an_upper_bound(corpus, tmp_path, capsys):
    assert main([str(corpus), str(tmp_path / "dst"), "--size", "100000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("crop_faces: error: size=100000: the side of the square crops must be 1 to "
                           f"{crop_faces.MAX_SIZE} pixels")
    assert not (tmp_path / "dst").exists()


# ---------------------------------------------------------------- the crop tool's CLI (real res10 detector)


def run_cli(*args: str, drop_root_override: bool = False) -> subprocess.CompletedProcess:
    """``python -m pyimagesearch.crop_faces ...`` in a subprocess, killed after CLI_TIMEOUT seconds."""
    command = [sys.executable, "-m", "pyimagesearch.crop_faces", *args, "--workers", "1", "--quiet"]
    if drop_root_override and os.geteuid() == 0:
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


needs_read_only = pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None,
    reason="running as root without setpriv: a mode 0o555 folder is writable, cannot simulate it")


def add_real_faces(src: Path) -> list[str]:
    """Two real LFW faces of the mirror, one under a unicode name with spaces."""
    lfw = config.data_dir() / "lfw" / "lfw_funneled"
    names = ["Aaron Eckhart/Aarön Eckhart 0001.jpg", "AJ_Cook/AJ_Cook_0001.jpg"]
    sources = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "AJ_Cook/AJ_Cook_0001.jpg"]
    for name, source in zip(names, sources, strict=True):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(lfw / source, src / name)
    return names


@pytest.mark.mirror
def test_cli_on_the_corpus_with_the_real_detector(corpus, tmp_path):
    faces = add_real_faces(corpus)
    before = snapshot(corpus)
    dst = tmp_path / "dst"
    result = run_cli(str(corpus), str(dst), "--size", "96")
    assert result.returncode == 0, result.stderr
    assert snapshot(corpus) == before
    rows = report(dst)
    assert {name: rows[name][0] for name in BAD} == BAD
    assert {name for name, (reason, _) in rows.items() if reason == NO_FACE} == GOOD  # synthetic pictures
    for name in faces:
        assert (dst / name).with_suffix(".jpg").exists(), name
    assert f"{len(GOOD) + len(BAD) + 2} images: 2 cropped" in result.stdout


@pytest.mark.mirror
@needs_read_only
def test_cli_read_only_output_folder_names_the_real_cause(corpus, tmp_path):
    add_real_faces(corpus)
    dst = tmp_path / "dst"
    dst.mkdir()
    dst.chmod(0o555)
    try:
        result = run_cli(str(corpus), str(dst), drop_root_override=True)
    finally:
        dst.chmod(0o755)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"crop_faces: error: {dst}: the output folder cannot be written "
                               "(Permission denied")
    assert not list(dst.iterdir())


@pytest.mark.mirror
@needs_read_only
def test_cli_read_only_person_folder_is_reported_and_the_run_goes_on(corpus, tmp_path):
    faces = add_real_faces(corpus)
    before = snapshot(corpus)
    dst = tmp_path / "dst"
    locked = dst / "Aaron Eckhart"
    locked.mkdir(parents=True)
    locked.chmod(0o555)  # e.g. left read-only by an earlier run
    try:
        result = run_cli(str(corpus), str(dst), drop_root_override=True)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 0, result.stderr
    rows = report(dst)
    assert rows[faces[0]][0] == NOT_WRITTEN and "Permission denied" in rows[faces[0]][1]
    assert (dst / faces[1]).exists() and not list(locked.iterdir())
    assert snapshot(corpus) == before


# ---------------------------------------------------------------- the loaders on bad folders and files


def test_load_lfw_on_an_empty_or_misnested_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="empty: no images in per-person folders"):
        datasets.load_lfw(tmp_path / "empty")
    nested = tmp_path / "lfw" / "lfw_funneled" / "Ann"
    nested.mkdir(parents=True)
    cv2.imwrite(str(nested / "Ann_0001.jpg"), picture())
    with pytest.raises(DatasetNotFoundError, match="one level deeper: use .*lfw_funneled"):
        datasets.load_lfw(tmp_path / "lfw")
    with pytest.raises(DatasetNotFoundError, match="nowhere does not exist"):
        datasets.load_lfw(tmp_path / "nowhere")


def att_folder(root: Path, layout: dict[str, list[np.ndarray | bytes]]) -> Path:
    for person, files in layout.items():
        (root / person).mkdir(parents=True)
        for i, content in enumerate(files, start=1):
            path = root / person / f"{i}.pgm"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                cv2.imwrite(str(path), content)
    return root


def test_load_att_faces_on_odd_folders(tmp_path):
    face, other = np.zeros((112, 92), np.uint8), np.zeros((100, 80), np.uint8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="empty: no images in per-person folders"):
        datasets.load_att_faces(tmp_path / "empty")
    with pytest.raises(ValueError, match="bob: not an AT&T subject folder"):
        datasets.load_att_faces(att_folder(tmp_path / "named", {"s1": [face], "bob": [face]}))
    with pytest.raises(ValueError, match=r"s2/1.pgm: 80x100 pixels; the AT&T faces are 92x112"):
        datasets.load_att_faces(att_folder(tmp_path / "sizes", {"s1": [face], "s2": [other]}))
    with pytest.raises(ImageError, match=r"s1/2.pgm: not an image file"):
        datasets.load_att_faces(att_folder(tmp_path / "text", {"s1": [face, b"hello"]}))
    images_, labels = datasets.load_att_faces(att_folder(tmp_path / "good", {"s1": [face], "s12": [face]}))
    assert images_.shape == (2, 112, 92) and labels.tolist() == [1, 12]


@pytest.mark.parametrize("content, words", [
    (b"", "empty file; expected an LFW pairs file"),
    (b"\n\n  \n", "empty file"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not a text file \\(byte 0 is not UTF-8"),
    (b"\x00\x01\x02", "not a text file \\(it contains NUL bytes"),
    (b"ten folds\nAnn 1 2\n", "line 1: expected a header"),
    (b"1 1\nAnn one 2\nBob 1 Cid 2\n", "line 2: expected a matched"),
])
def test_load_lfw_pairs_on_bad_files(tmp_path, content, words):
    path = tmp_path / "pairs.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path}.*{words}"):
        load_lfw_pairs("pairs", path)


def test_a_mirror_that_does_not_exist_is_said_so(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_ENV, "no/such/mirror")
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError) as error:
        datasets.load_mnist()
    message = str(error.value)
    assert message.startswith("SIAMESE_DATA_DIR='no/such/mirror' names ")
    assert str(config.REPO_ROOT / "no/such/mirror") in message and "does not exist" in message
    assert "resolved against the repository root" in message and "\n" not in message
    assert not (tmp_path / "cache").exists()
