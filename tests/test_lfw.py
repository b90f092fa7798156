"""Tests of chapter 05's LFW helpers: face arrays, pair indices, fold groups and person-disjoint training."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pyimagesearch import lfw
from pyimagesearch.datasets import parse_lfw_pairs

# Two folds of one matched and one mismatched pair each; fold 0 has Ann and Bob, fold 1 Cy and Dee.
PAIRS_TXT = """2 1
Ann 1 2
Ann 1 Bob 1
Cy 1 2
Cy 2 Dee 1
"""
IMAGES = {"Ann": 2, "Bob": 1, "Cy": 2, "Dee": 1, "Eve": 3}  # Eve is in no fold


@pytest.fixture
def crops(tmp_path):
    """A crop folder: each photo a flat grey level that encodes (person, number)."""
    for p, (person, count) in enumerate(IMAGES.items()):
        (tmp_path / person).mkdir()
        for n in range(1, count + 1):
            grey = np.full((20, 20, 3), 40 * p + 10 * n, np.uint8)
            cv2.imwrite(str(tmp_path / person / f"{person}_{n:04d}.jpg"), grey)
    return tmp_path


def test_load_faces_reads_resizes_and_names(crops):
    faces = lfw.load_faces(crops, size=8)
    assert faces.images.shape == (9, 8, 8, 3) and faces.images.dtype == np.uint8
    assert faces.names[0] == "Ann/Ann_0001.jpg" and list(faces.identities[:3]) == ["Ann", "Ann", "Bob"]
    assert abs(int(faces.images[faces.names.index("Cy/Cy_0002.jpg")].mean()) - (80 + 20)) <= 2
    only = lfw.load_faces(crops, size=8, people={"Eve"})
    assert len(only) == 3 and set(only.identities) == {"Eve"}
    assert len(faces.subset(faces.identities == "Cy")) == 2


def test_unreadable_crop_is_named(crops):
    (crops / "Bob" / "Bob_0001.jpg").write_text("not a picture")
    with pytest.raises(ValueError, match="Bob_0001.jpg: not a readable image"):
        lfw.load_faces(crops, size=8)


def test_pair_indices_point_at_the_pairs_photos(crops):
    faces, pairs = lfw.load_faces(crops, size=8), parse_lfw_pairs(PAIRS_TXT)
    index = lfw.pair_indices(faces, pairs)
    named = [(faces.names[a], faces.names[b]) for a, b in index]
    assert named == list(zip(pairs.left, pairs.right, strict=True))
    with pytest.raises(KeyError, match="have no face crop"):
        lfw.pair_indices(faces.subset(faces.identities != "Dee"), pairs)


def test_training_mask_leaves_out_the_people_of_the_folds(crops):
    faces, pairs = lfw.load_faces(crops, size=8), parse_lfw_pairs(PAIRS_TXT)
    assert set(faces.identities[lfw.training_mask(faces, pairs, [0])]) == {"Cy", "Dee", "Eve"}
    assert set(faces.identities[lfw.training_mask(faces, pairs, [0, 1])]) == {"Eve"}


def test_fold_groups():
    assert lfw.fold_groups(10, 2) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert lfw.fold_groups(10, 10) == [[i] for i in range(10)]
    assert lfw.fold_groups(10, 3) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(ValueError, match="n_groups=11"):
        lfw.fold_groups(10, 11)


def test_hold_out_people_keeps_each_person_on_one_side():
    identities = np.repeat(np.arange(20), 3)
    kept, held = lfw.hold_out_people(identities, 0.25, seed=1)
    assert (kept ^ held).all() and len(np.unique(identities[held])) == 5
    assert not set(identities[kept]) & set(identities[held])


# Two folds of two matched and two mismatched pairs: first(1) keeps half of each fold.
LONGER_PAIRS_TXT = """2 2
Ann 1 2
Ann 1 3
Ann 1 Bob 1
Ann 2 Bob 1
Cy 1 2
Cy 1 3
Cy 2 Dee 1
Cy 3 Dee 1
"""


def test_first_keeps_the_first_matched_and_mismatched_pairs_of_every_fold():
    first = parse_lfw_pairs(LONGER_PAIRS_TXT).first(1)
    assert first.n_folds == 2 and list(first.folds) == [0, 0, 1, 1] and list(first.labels) == [1, 0, 1, 0]
    assert first.left == ["Ann/Ann_0001.jpg", "Ann/Ann_0001.jpg", "Cy/Cy_0001.jpg", "Cy/Cy_0002.jpg"]
    assert first.right == ["Ann/Ann_0002.jpg", "Bob/Bob_0001.jpg", "Cy/Cy_0002.jpg", "Dee/Dee_0001.jpg"]


def test_missing_crops_counts_photos_without_a_crop_or_a_report_row(crops, tmp_path_factory):
    crop_dir = tmp_path_factory.mktemp("crops")
    assert lfw.missing_crops(crops, crop_dir) == 9 and lfw.missing_crops(crops, crop_dir, ["Eve"]) == 3
    (crop_dir / "Eve").mkdir()
    cv2.imwrite(str(crop_dir / "Eve" / "Eve_0001.jpg"), np.zeros((4, 4, 3), np.uint8))
    (crop_dir / "crop_report.csv").write_text("path,reason,detail\nEve/Eve_0002.jpg,no face,\n")
    assert lfw.missing_crops(crops, crop_dir, ["Eve"]) == 1  # Eve_0003 only


def test_pairs_subset_and_first():
    pairs = parse_lfw_pairs(PAIRS_TXT)
    first = pairs.first(1)
    assert len(first) == 4 and first.n_folds == 2
    sub = pairs.subset([1, 2])
    assert sub.left == ["Ann/Ann_0001.jpg", "Cy/Cy_0001.jpg"] and list(sub.labels) == [0, 1]
    assert list(sub.folds) == [0, 1]


def test_validation_pairs_pair_only_the_given_faces_and_label_them_by_person():
    identities = np.array(["ann", "ann", "bob", "bob", "bob", "cy", "dan", "dan"])
    rows = np.arange(6)  # dan's photos are not among the validation faces
    index, labels = lfw.validation_pairs(identities, rows, draws=5, seed=0)
    assert set(index.ravel()) <= set(rows)
    np.testing.assert_array_equal(labels, identities[index[:, 0]] == identities[index[:, 1]])
    assert labels.any() and not labels.all()
    assert len(np.unique(np.sort(index, axis=1), axis=0)) == len(index)  # no pair twice
    assert (index[:, 0] != index[:, 1]).all()
    again = lfw.validation_pairs(identities, rows, draws=5, seed=0)
    np.testing.assert_array_equal(again[0], index)
