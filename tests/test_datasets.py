"""Tests of the data layer: IDX and pairs parsing, resolution order, checksums, errors, SIAMESE_DATA_DIR."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from pyimagesearch import config, datasets, lfw_protocol, resources
from pyimagesearch.resources import ChecksumError, DatasetNotFoundError, Resource

MIRROR = config.data_dir()
needs_mirror = pytest.mark.skipif(
    MIRROR is None or not MIRROR.is_dir(), reason="set SIAMESE_DATA_DIR to the data mirror"
)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty mirror and an empty cache, private to the test."""
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    mirror.mkdir()
    monkeypatch.setenv(config.DATA_ENV, str(mirror))
    monkeypatch.setenv(config.CACHE_ENV, str(cache))
    return mirror, cache


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ---------------------------------------------------------------- IDX


def test_read_idx_uint8_images_gzipped(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images, 0x08)))
    result = datasets.read_idx(path)
    assert result.dtype == np.uint8 and result.shape == (2, 3, 4)
    np.testing.assert_array_equal(result, images)


def test_read_idx_big_endian_int32_plain(tmp_path):
    values = np.array([1, -2, 70000], dtype=np.int32)
    path = tmp_path / "values-idx1-ubyte"
    path.write_bytes(idx_bytes(values, 0x0C))
    np.testing.assert_array_equal(datasets.read_idx(path), values)


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad.idx: not an IDX file"):
        datasets.read_idx(bad)
    short = tmp_path / "short.idx"
    short.write_bytes(idx_bytes(np.zeros((4, 2), np.uint8), 0x08)[:-3])
    with pytest.raises(ValueError, match="short.idx: IDX body has 5 bytes, shape \\(4, 2\\) needs 8"):
        datasets.read_idx(short)


# ---------------------------------------------------------------- LFW pairs


PAIRS_TEXT = """2\t1
Ann\t1\t2
Bob\t1\tCid\t3
Dee\t2\t4
Eve\t1\tAnn\t2
"""


def test_parse_lfw_pairs_structure():
    pairs = lfw_protocol.parse_lfw_pairs(PAIRS_TEXT)
    assert len(pairs) == 4 and pairs.n_folds == 2
    assert pairs.left == ["Ann/Ann_0001.jpg", "Bob/Bob_0001.jpg", "Dee/Dee_0002.jpg", "Eve/Eve_0001.jpg"]
    assert pairs.right == ["Ann/Ann_0002.jpg", "Cid/Cid_0003.jpg", "Dee/Dee_0004.jpg", "Ann/Ann_0002.jpg"]
    np.testing.assert_array_equal(pairs.labels, [1, 0, 1, 0])
    np.testing.assert_array_equal(pairs.folds, [0, 0, 1, 1])
    assert pairs.people(0) == {"Ann", "Bob", "Cid"} and pairs.people(1) == {"Dee", "Eve", "Ann"}
    assert pairs.people() == {"Ann", "Bob", "Cid", "Dee", "Eve"}


def test_parse_lfw_pairs_reports_the_bad_line():
    text = PAIRS_TEXT.replace("Bob\t1\tCid\t3", "Bob\t1\t3")
    with pytest.raises(ValueError, match="line 3: expected a mismatched"):
        lfw_protocol.parse_lfw_pairs(text)
    with pytest.raises(ValueError, match="header says 2 x 2 x 1 pairs, found 3 lines"):
        lfw_protocol.parse_lfw_pairs(PAIRS_TEXT.rsplit("\n", 2)[0])


# ---------------------------------------------------------------- resolution order


def make_resource(tmp_path: Path, content: bytes, digest: str | None = None) -> Resource:
    source = tmp_path / "origin" / "thing.bin"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(content)
    return Resource("test thing", "things/thing.bin", (source.as_uri(),), (digest or sha256(content),))


def test_explicit_path_comes_first(tmp_path, places):
    resource = make_resource(tmp_path, b"official")
    mine = tmp_path / "mine.bin"
    mine.write_bytes(b"my own copy")
    assert resources.fetch(resource, mine) == mine
    with pytest.raises(DatasetNotFoundError, match="nowhere.bin does not exist"):
        resources.fetch(resource, tmp_path / "nowhere.bin")


def test_mirror_is_used_verified_and_left_untouched(tmp_path, places):
    mirror, cache = places
    resource = make_resource(tmp_path, b"payload")
    (mirror / "things").mkdir()
    (mirror / "things" / "thing.bin").write_bytes(b"payload")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in mirror.rglob("*") if p.is_file()}
    assert resources.fetch(resource) == mirror / "things" / "thing.bin"
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in mirror.rglob("*") if p.is_file()}
    assert before == after
    assert not cache.exists()


def test_corrupt_mirror_file_raises_naming_the_file(tmp_path, places):
    mirror, _ = places
    resource = make_resource(tmp_path, b"payload")
    (mirror / "things").mkdir()
    (mirror / "things" / "thing.bin").write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match=r"mirror/things/thing.bin: checksum mismatch"):
        resources.fetch(resource)


def test_download_goes_to_cache_and_is_reused(tmp_path, places):
    _, cache = places
    resource = make_resource(tmp_path, b"payload")
    path = resources.fetch(resource)
    assert path == cache / "things" / "thing.bin" and path.read_bytes() == b"payload"
    Path(resource.urls[0].removeprefix("file://")).unlink()  # the origin is gone: offline
    assert resources.fetch(resource) == path


def test_md5_checksums_are_accepted(tmp_path, places):
    resource = make_resource(tmp_path, b"payload", hashlib.md5(b"payload").hexdigest())
    assert resources.fetch(resource).read_bytes() == b"payload"


def test_checksum_mismatch_on_download_raises_and_keeps_nothing(tmp_path, places):
    _, cache = places
    resource = make_resource(tmp_path, b"payload", sha256(b"something else"))
    with pytest.raises(ChecksumError, match="test thing: download from file://.* is corrupt"):
        resources.fetch(resource)
    assert not (cache / "things" / "thing.bin").exists()


def test_offline_and_nowhere_gives_a_clear_error(tmp_path, places):
    mirror, cache = places
    resource = Resource("Test dataset", "things/thing.bin", ((tmp_path / "gone.bin").as_uri(),), ("0" * 64,))
    with pytest.raises(DatasetNotFoundError) as error:
        resources.fetch(resource)
    message = str(error.value)
    assert message.startswith("Test dataset not found")
    assert str(mirror / "things" / "thing.bin") in message
    assert str(cache / "things" / "thing.bin") in message
    assert "gone.bin" in message and "SIAMESE_DATA_DIR" in message


def test_offline_without_mirror_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    resource = Resource("Test dataset", "x/y.bin", ((tmp_path / "gone.bin").as_uri(),), ("0" * 64,))
    with pytest.raises(DatasetNotFoundError, match=r"no mirror \(\$SIAMESE_DATA_DIR is not set\)"):
        resources.fetch(resource)


def test_folder_archive_is_downloaded_and_unpacked(tmp_path, places):
    _, cache = places
    staging = tmp_path / "build" / "faces"
    for person in ("ann", "bob"):
        (staging / person).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(staging / person / f"{i}.png"), np.full((8, 8), 40 * i, np.uint8))
    archive = tmp_path / "faces.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging, arcname="faces")
    resource = Resource("Test faces", "sets/faces", (archive.as_uri(),), (sha256(archive.read_bytes()),),
                        archive="faces.tgz")
    folder = datasets.list_image_folder(resources.fetch(resource))
    assert folder.root == cache / "sets" / "faces"
    assert folder.identities == ["ann", "ann", "bob", "bob"] and folder.people == ["ann", "bob"]
    assert not (cache / "sets" / "faces.partial").exists()


def test_unknown_choices_are_rejected():
    with pytest.raises(ValueError, match="choose one of pairs, pairsDevTrain, pairsDevTest"):
        lfw_protocol.load_lfw_pairs("pairs10")
    with pytest.raises(ValueError, match="choose one of caffe, tensorflow, yunet"):
        resources.face_detector_files("haar")
    with pytest.raises(ValueError, match="ImageNet weights are known for"):
        resources.imagenet_weights("vgg16")


def test_missing_weights_fall_back_to_random_with_a_notice(tmp_path, places, capsys):
    missing = Resource("Fake weights", "keras-weights/fake.h5", ((tmp_path / "gone.h5").as_uri(),), ())
    resources.IMAGENET_WEIGHTS["fake"] = missing
    try:
        assert resources.imagenet_weights("fake", fallback=True) is None
        assert "Notice: no ImageNet weights for fake" in capsys.readouterr().out
        with pytest.raises(DatasetNotFoundError):
            resources.imagenet_weights("fake")
    finally:
        del resources.IMAGENET_WEIGHTS["fake"]


# ---------------------------------------------------------------- the real mirror


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@needs_mirror
def test_loaders_return_documented_shapes_and_leave_mirror_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    before = snapshot(MIRROR)
    for load in (datasets.load_mnist, datasets.load_fashion_mnist):
        (x_train, y_train), (x_test, y_test) = load()
        assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
        assert x_train.dtype == np.uint8 and y_train.shape == (60000,) and y_test.shape == (10000,)
        assert set(np.unique(y_train)) == set(range(10))
    images, labels = datasets.load_att_faces()
    assert images.shape == (400, 112, 92) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels)[1:], np.full(40, 10))
    lfw = datasets.load_lfw()
    assert len(lfw.paths) == 13233 and len(lfw.people) == 5749
    assert sum(n >= 2 for n in lfw.counts().values()) == 1680
    assert all(Path(p).exists() for p in resources.face_detector_files("caffe"))
    assert snapshot(MIRROR) == before
    assert not (tmp_path / "cache").exists()


@needs_mirror
def test_mnist_labels_match_the_published_first_digits():
    (_, y_train), (_, y_test) = datasets.load_mnist()
    np.testing.assert_array_equal(y_train[:8], [5, 0, 4, 1, 9, 2, 1, 3])
    np.testing.assert_array_equal(y_test[:8], [7, 2, 1, 0, 4, 1, 4, 9])


@needs_mirror
@pytest.mark.parametrize("which, n_folds, per_fold", [("pairs", 10, 300), ("pairsDevTrain", 1, 1100),
                                                      ("pairsDevTest", 1, 500)])
def test_lfw_pairs_files_have_the_protocol_structure(which, n_folds, per_fold):
    pairs = lfw_protocol.load_lfw_pairs(which)
    assert pairs.n_folds == n_folds and len(pairs) == n_folds * 2 * per_fold
    for fold in range(n_folds):
        labels = pairs.labels[pairs.folds == fold]
        assert labels[:per_fold].all() and not labels[per_fold:].any()
    left, right = pairs.paths(datasets.load_lfw().root)
    assert all(p.exists() for p in left + right)
    same_person = np.array([a.parent == b.parent for a, b in zip(left, right, strict=True)])
    np.testing.assert_array_equal(same_person, pairs.labels == 1)


def test_environment_switches(monkeypatch):
    monkeypatch.setenv(config.QUICK_ENV, "1")
    assert config.quick_from_env() is True
    monkeypatch.setenv(config.QUICK_ENV, "no")
    assert config.quick_from_env() is False
    monkeypatch.setenv(config.QUICK_ENV, "maybe")
    with pytest.raises(ValueError, match="SIAMESE_QUICK='maybe'"):
        config.quick_from_env()
    monkeypatch.delenv("SIAMESE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", os.fspath(Path("/somewhere")))
    assert config.cache_dir() == Path("/somewhere/siamese-keras")


# ---------------------------------------------------------------- the module split


def test_moved_names_are_re_exported_by_datasets():
    from pyimagesearch import lfw_protocol, resources

    for name in resources.__all__:
        assert getattr(datasets, name) is getattr(resources, name), name
    for name in lfw_protocol.__all__:
        assert getattr(datasets, name) is getattr(lfw_protocol, name), name
    assert set(resources.__all__) | set(lfw_protocol.__all__) <= set(datasets.__all__)


# ---------------------------------------------------------------- a corrupt cached file


def test_corrupt_cache_is_quarantined_then_downloaded_again(tmp_path, places):
    _, cache = places
    resource = make_resource(tmp_path, b"payload")
    (cache / "things").mkdir(parents=True)
    (cache / "things" / "thing.bin").write_bytes(b"half a downl")
    with pytest.warns(UserWarning, match=r"thing.bin was corrupt \(checksum mismatch\); moved aside to "
                                         r"thing.bin.corrupt; downloading it again"):
        assert resources.fetch(resource).read_bytes() == b"payload"
    assert (cache / "things" / "thing.bin.corrupt").read_bytes() == b"half a downl"


def test_corrupt_cache_offline_says_corrupt_not_missing(tmp_path, places):
    _, cache = places
    resource = make_resource(tmp_path, b"payload")
    Path(resource.urls[0].removeprefix("file://")).unlink()  # offline
    (cache / "things").mkdir(parents=True)
    (cache / "things" / "thing.bin").write_bytes(b"half a downl")
    with pytest.warns(UserWarning), pytest.raises(DatasetNotFoundError) as error:
        resources.fetch(resource)
    message = str(error.value)
    assert f"the cache: {cache / 'things' / 'thing.bin'} was corrupt (checksum mismatch); moved aside to " \
           "thing.bin.corrupt" in message
    assert "thing.bin (not there)" not in message.split("the cache:")[1]
    assert (cache / "things" / "thing.bin.corrupt").read_bytes() == b"half a downl"


# ---------------------------------------------------------------- SIAMESE_DATA_DIR


def test_relative_mirror_is_resolved_against_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(config.DATA_ENV, "../shared/data")
    assert config.data_dir() == (config.REPO_ROOT / "../shared/data").resolve()
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    assert config.data_dir() == tmp_path.resolve() and config.data_dir_problem() is None
    monkeypatch.setenv(config.DATA_ENV, "~/somewhere")
    assert config.data_dir() == (Path.home() / "somewhere").resolve()
    monkeypatch.setenv(config.DATA_ENV, "")
    assert config.data_dir() is None and config.data_dir_problem() is None


def test_mirror_that_is_not_a_folder_is_said_so(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "missing"))
    assert "does not exist" in config.data_dir_problem()
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "file"))
    problem = config.data_dir_problem()
    assert "is not a folder" in problem and "resolved against the repository root" in problem
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        resources.fetch(Resource("x", "x/y.bin", ((tmp_path / "gone").as_uri(),), ("0" * 64,)))


def test_setup_says_whether_a_mirror_is_used_never_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(config.OUTPUT_ENV, str(tmp_path / "out"))
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    assert config.mirror_status() == "in use"
    config.setup(quick=True)
    out = capsys.readouterr().out
    assert "data mirror: in use" in out and str(tmp_path) not in out.replace(str(tmp_path / "out"), "")
    monkeypatch.delenv(config.DATA_ENV)
    assert config.mirror_status() == "not set"
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "missing"))
    assert config.mirror_status() == "missing (SIAMESE_DATA_DIR is not an existing folder)"


def readme_offline_value() -> str:
    """The value of the README's literal offline instruction ``export SIAMESE_DATA_DIR=...``."""
    import re

    readme = (config.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"export SIAMESE_DATA_DIR=(\S+?)`", readme)
    assert match, "README.md no longer has the offline instruction `export SIAMESE_DATA_DIR=...`"
    return match.group(1)


def test_readme_offline_instruction_works_from_a_chapter_folder(tmp_path):
    """Copy the README's instruction literally and run a loader with a chapter folder as cwd,
    as a notebook kernel does."""
    import subprocess
    import sys

    value = readme_offline_value()
    if not (config.REPO_ROOT / value).is_dir():
        pytest.skip(f"no data mirror at {value} from the repository root")
    chapters = sorted(p for p in config.REPO_ROOT.glob("0[1-9]_*") if p.is_dir())
    assert chapters
    code = ("from pyimagesearch import config, datasets\n"
            "pairs = datasets.load_lfw_pairs('pairsDevTest')\n"
            "(x, y), _ = datasets.load_mnist()\n"
            "print(config.mirror_status(), len(pairs), x.shape)\n")
    env = {**os.environ, config.DATA_ENV: value, config.CACHE_ENV: str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], cwd=chapters[-1], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["in", "use", "1000", "(60000,", "28,", "28)"]
    assert not (tmp_path / "cache").exists()  # everything came from the mirror
