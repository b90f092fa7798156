"""Tests of the face-cropping tool: bad inputs and their report, resume, the input left untouched, CLI."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from pyimagesearch import config
from pyimagesearch.crop_faces import (
    CORRUPT,
    EMPTY,
    IMAGE_TOO_SMALL,
    NAME_CLASH,
    NO_FACE,
    NOT_IMAGE,
    REPORT_FIELDS,
    REPORT_NAME,
    UNREADABLE,
    CropError,
    ImageProblem,
    choose_face,
    crop_folder,
    is_truncated_jpeg,
    main,
    read_image,
    read_report,
)
from pyimagesearch.face_detection import Detection

FACE = "Aaron_Eckhart/Aaron_Eckhart_0001.jpg"
CROPPED = {"Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "AJ_Cook/AJ_Cook_0001.jpg", "s1/1.pgm",
           "formats/rgba.png", "formats/deep.png", "clash/face.jpg"}
FAILED = {"bad/empty.jpg": EMPTY, "bad/text.png": NOT_IMAGE, "bad/truncated.jpg": CORRUPT,
          "bad/blank.png": NO_FACE, "bad/missing.jpg": UNREADABLE, "clash/face.png": NAME_CLASH}


def mirror_file(relpath: str) -> Path:
    """A file of the offline data mirror."""
    return config.data_dir() / relpath


def lfw_face() -> np.ndarray:
    """A real LFW face (greyscale, 250x250)."""
    return cv2.imread(str(mirror_file(f"lfw/lfw_funneled/{FACE}")), cv2.IMREAD_UNCHANGED)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root with its sha256 (files) or target (links)."""
    return {
        path.relative_to(root).as_posix(): (f"link to {os.readlink(path)}" if path.is_symlink()
                                            else hashlib.sha256(path.read_bytes()).hexdigest()
                                            if path.is_file() else "folder")
        for path in sorted(root.rglob("*"))
    }


def report_rows(dst: Path) -> dict[str, str]:
    """The report as {image: reason}."""
    with open(dst / REPORT_NAME, newline="") as handle:
        return {row["path"]: row["reason"] for row in csv.DictReader(handle)}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A folder-per-person dataset of real faces in several layouts, plus bad files."""
    root = tmp_path / "src"
    for name in ("Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "AJ_Cook/AJ_Cook_0001.jpg"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(mirror_file(f"lfw/lfw_funneled/{name}"), root / name)  # greyscale JPEG
    (root / "s1").mkdir()
    shutil.copy(mirror_file("att_faces/s1/1.pgm"), root / "s1/1.pgm")  # greyscale PGM
    face = lfw_face()
    for folder in ("formats", "bad", "clash"):
        (root / folder).mkdir()
    bgra = cv2.cvtColor(face, cv2.COLOR_GRAY2BGRA)
    bgra[:, :, 3] = 200
    cv2.imwrite(str(root / "formats/rgba.png"), bgra)
    cv2.imwrite(str(root / "formats/deep.png"), face.astype(np.uint16) * 257)
    (root / "bad/empty.jpg").write_bytes(b"")
    (root / "bad/text.png").write_text("this is not a picture\n")
    jpeg = (root / "AJ_Cook/AJ_Cook_0001.jpg").read_bytes()
    (root / "bad/truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    cv2.imwrite(str(root / "bad/blank.png"), np.full((200, 200, 3), 128, np.uint8))
    (root / "bad/missing.jpg").symlink_to(tmp_path / "nowhere.jpg")
    shutil.copy(root / FACE, root / "clash/face.jpg")
    cv2.imwrite(str(root / "clash/face.png"), face)
    return root


# ---------------------------------------------------------------- one image (no mirror needed)


def test_read_image_names_the_problem(tmp_path):
    cases = {"empty.jpg": (b"", EMPTY), "text.png": (b"hello, world\n", NOT_IMAGE),
             "bad.png": (b"\x89PNG\r\n\x1a\n" + bytes(40), CORRUPT)}
    jpeg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))[1]
    cases["truncated.jpg"] = (jpeg.tobytes()[:-300], CORRUPT)
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageProblem) as problem:
            read_image(tmp_path / name)
        assert problem.value.reason == reason, name
    with pytest.raises(ImageProblem, match=UNREADABLE):
        read_image(tmp_path / "absent.jpg")


def test_read_image_gives_8_bit_bgr_for_grey_rgba_and_16_bit(tmp_path):
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([grey, grey, grey, np.full_like(grey, 9)]))
    cv2.imwrite(str(tmp_path / "deep.png"), grey.astype(np.uint16) * 257)
    for name in ("grey.png", "rgba.png", "deep.png"):
        image = read_image(tmp_path / name)
        assert image.shape == (20, 25, 3) and image.dtype == np.uint8, name
        np.testing.assert_array_equal(image[:, :, 2], grey, err_msg=name)


def test_is_truncated_jpeg():
    jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    assert not is_truncated_jpeg(jpeg) and not is_truncated_jpeg(jpeg + b"trailing bytes")
    assert is_truncated_jpeg(jpeg[:-2])
    assert not is_truncated_jpeg(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())


def test_choose_face_largest_confident_and_too_small():
    small_sure, big_unsure = Detection(0, 0, 40, 40, 0.99), Detection(50, 50, 150, 170, 0.6)
    faces = [small_sure, big_unsure]
    assert choose_face(faces, "largest") is big_unsure
    assert choose_face(faces, "confident") is small_sure
    assert choose_face(faces, "confident", min_face=50) is big_unsure
    with pytest.raises(ImageProblem, match="face too small: largest face 100 px < min_face 120 px"):
        choose_face(faces, min_face=120)
    with pytest.raises(ImageProblem, match=NO_FACE):
        choose_face([])


def test_report_with_other_columns_is_refused(tmp_path):
    (tmp_path / REPORT_NAME).write_text("name,score\na,1\n")
    with pytest.raises(CropError, match="not a crop report"):
        read_report(tmp_path / REPORT_NAME)


# ---------------------------------------------------------------- folders refused (no mirror needed)


@pytest.mark.parametrize("inside", [".", "crops", "a/b"])
def test_output_folder_in_the_input_is_refused(tmp_path, inside):
    src = tmp_path / "src"
    (src / "person").mkdir(parents=True)
    (src / "person/x.jpg").write_bytes(b"keep me")
    before = snapshot(src)
    with pytest.raises(CropError, match="the output folder (is the input folder|lies inside the input)"):
        crop_folder(src, src / inside, progress=False)
    assert snapshot(src) == before


def test_missing_or_empty_input_is_refused(tmp_path):
    with pytest.raises(CropError, match="does not exist or is not a folder"):
        crop_folder(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat/x.jpg").write_bytes(b"not in a person folder")
    with pytest.raises(CropError, match="no images found; expected per-person folders"):
        crop_folder(tmp_path / "flat", tmp_path / "out")
    with pytest.raises(ValueError, match="keep='first'"):
        crop_folder(tmp_path / "flat", tmp_path / "out", keep="first")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- whole folders (mirror)


@pytest.mark.mirror
def test_crop_folder_reports_bad_inputs_and_leaves_the_input_untouched(src, tmp_path):
    before = snapshot(src)
    dst = tmp_path / "dst"
    summary = crop_folder(src, dst, workers=1, batch_size=4, size=96, progress=False)
    assert snapshot(src) == before
    assert (summary.total, summary.cropped, summary.skipped) == (12, 6, 0)
    assert summary.failed == {reason: 1 for reason in FAILED.values()}
    assert report_rows(dst) == FAILED
    crops = {p.relative_to(dst).as_posix() for p in dst.rglob("*.jpg")}
    assert crops == {str(Path(name).with_suffix(".jpg")) for name in CROPPED}
    for name in crops:
        image = cv2.imread(str(dst / name), cv2.IMREAD_UNCHANGED)
        assert image.shape == (96, 96, 3), name
    assert not list(dst.rglob("*.partial"))


@pytest.mark.mirror
def test_second_run_skips_what_is_done_and_merges_the_report(src, tmp_path):
    dst = tmp_path / "dst"
    crop_folder(src, dst, workers=1, progress=False)
    crops = snapshot(dst)
    again = crop_folder(src, dst, workers=1, progress=False)
    assert (again.cropped, again.skipped, sum(again.failed.values())) == (0, 6, 6)
    assert snapshot(dst) == crops  # same crops, same report: nothing added twice
    # the empty file is fixed: its crop appears, its row goes, the other rows stay
    shutil.copy(src / FACE, src / "bad/empty.jpg")
    fixed = crop_folder(src, dst, workers=1, progress=False)
    assert (fixed.cropped, fixed.skipped) == (1, 6)
    assert report_rows(dst) == {k: v for k, v in FAILED.items() if k != "bad/empty.jpg"}
    assert (dst / "bad/empty.jpg").exists()


@pytest.mark.mirror
def test_two_workers_give_the_same_crops_and_report(src, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    crop_folder(src, one, workers=1, batch_size=3, progress=False)
    summary = crop_folder(src, two, workers=2, batch_size=3, progress=False)
    assert summary.cropped == 6 and sum(summary.failed.values()) == 6
    assert snapshot(one).keys() == snapshot(two).keys()
    assert (one / REPORT_NAME).read_text() == (two / REPORT_NAME).read_text()


@pytest.mark.mirror
def test_images_smaller_than_min_face_are_reported_too_small_not_no_face(src, tmp_path):
    summary = crop_folder(src, tmp_path / "dst", min_face=400, workers=1, progress=False)
    assert summary.cropped == 0 and summary.failed[IMAGE_TOO_SMALL] == 7 and not summary.failed[NO_FACE]
    with open(tmp_path / "dst" / REPORT_NAME, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == REPORT_FIELDS
    assert {row["path"] for row in rows if row["reason"] == IMAGE_TOO_SMALL} == CROPPED | {"bad/blank.png"}
    assert all("a face needs at least 400 px" in row["detail"]
               for row in rows if row["reason"] == IMAGE_TOO_SMALL)


@pytest.mark.mirror
def test_command_line(src, tmp_path, capsys):
    assert main([str(src), str(tmp_path / "dst"), "--workers", "1", "--quiet", "--format", "png"]) == 0
    out = capsys.readouterr().out
    assert "12 images: 6 cropped, 0 skipped (crop exists), 6 failed (corrupt image: 1" in out
    assert (tmp_path / "dst/s1/1.png").exists()
    assert main([str(src), str(src / "crops"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crop_faces: error: ") and "lies inside the input folder" in err
    assert "Traceback" not in err and not (src / "crops").exists()


@pytest.mark.mirror
def test_people_limits_the_run_to_their_folders(src, tmp_path):
    summary = crop_folder(src, tmp_path / "dst", workers=1, progress=False, people={"AJ_Cook", "bad"})
    assert summary.total == 6 and summary.cropped == 1
    assert {p.relative_to(tmp_path / "dst").as_posix() for p in (tmp_path / "dst").rglob("*.jpg")} == {
        "AJ_Cook/AJ_Cook_0001.jpg"}
    with pytest.raises(CropError, match="of the people asked for"):
        crop_folder(src, tmp_path / "other", workers=1, progress=False, people={"Nobody"})
