"""Tests of person splits, enrolment and rank-1 identification on hand-made embeddings."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pyimagesearch.identification import (
    all_pair_distances,
    backbone_features,
    backbone_layer_features,
    embed,
    enrolment_split,
    identification_scores,
    identify,
    nearest_enrolled,
    person_folds,
    power_normalise,
    rank1_accuracy,
    unit_length,
)

# Four people, three images each, far apart: every method identifies every query.
SEPARATED_LABELS = np.repeat([10, 20, 30, 40], 3)
SEPARATED = np.repeat(np.eye(4) * 10, 3, axis=0) + np.tile([[0.1, 0, 0, 0], [0, 0.1, 0, 0], [0] * 4], (4, 1))


def test_person_folds_test_everyone_once_and_keep_splits_disjoint():
    labels = np.repeat(np.arange(1, 41), 10)
    folds = person_folds(labels, n_folds=4, n_val=6, seed=42)
    assert [[len(fold[name]) for name in ("train", "val", "test")] for fold in folds] == [[24, 6, 10]] * 4
    tested = np.concatenate([fold["test"] for fold in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(1, 41))  # each person tested exactly once
    for fold in folds:
        np.testing.assert_array_equal(np.sort(np.concatenate(list(fold.values()))), np.arange(1, 41))
        assert all((np.diff(people) > 0).all() for people in fold.values())  # sorted, no repeats
    again, other = person_folds(labels, 4, 6, seed=42), person_folds(labels, 4, 6, seed=0)
    assert all(np.array_equal(f[k], g[k]) for f, g in zip(folds, again, strict=True) for k in f)
    assert not np.array_equal(folds[0]["test"], other[0]["test"])
    with pytest.raises(ValueError, match="keep some for training"):
        person_folds(labels, 2, 20)


def test_identification_scores_on_separated_and_swapped_people():
    labels = np.repeat([1, 2], 6)
    apart = np.repeat([[0.0], [10.0]], 6, axis=0) + np.tile(np.arange(6.0)[:, None] * 0.01, (2, 1))
    assert identification_scores(apart, labels, draws=3) == {"1-shot rank-1": 1.0, "5-shot rank-1": 1.0,
                                                             "ROC AUC": 1.0}
    swapped = apart.copy()
    swapped[[0, 6]] = swapped[[6, 0]]  # one photo of each person sits among the other's
    scores = identification_scores(swapped, labels, draws=50)
    # Each person has one photo among the other's: a query or an enrolled photo may be the
    # stray one, so both rank-1 accuracies fall below 1, yet most answers stay right.
    assert all(0.5 < scores[k] < 1.0 for k in ("1-shot rank-1", "5-shot rank-1"))
    assert 0.5 < scores["ROC AUC"] < 1.0


def test_all_pair_distances_cover_every_unordered_pair():
    embeddings = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    distances, same = all_pair_distances(embeddings, [1, 2, 1])
    np.testing.assert_allclose(distances, [5.0, 1.0, np.sqrt(18)])
    np.testing.assert_array_equal(same, [0, 1, 0])


def test_enrolment_split_takes_k_per_person_and_queries_the_rest():
    labels = np.repeat([5, 6, 7], [3, 4, 5])
    enrolled, queries = enrolment_split(labels, 2, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(labels[enrolled])[5:], [2, 2, 2])
    np.testing.assert_array_equal(np.sort(np.concatenate([enrolled, queries])), np.arange(12))
    with pytest.raises(ValueError, match="none left to query"):
        enrolment_split(labels, 3, np.random.default_rng(0))


def test_identify_names_the_nearest_enrolled_image_or_mean():
    # Ann enrolled at 0, 0 and 4, Bob at 6. The query at 4.5 is nearest to Ann's 4 (0.5 away)
    # but nearer to Bob (1.5) than to Ann's mean (4/3, 3.17 away); the query at 0.5 is Ann's.
    gallery, names = np.array([[0.0], [0.0], [4.0], [6.0]]), np.array(["ann", "ann", "ann", "bob"])
    queries = np.array([[4.5], [0.5]])
    np.testing.assert_array_equal(identify(gallery, names, queries), ["ann", "ann"])
    np.testing.assert_array_equal(identify(gallery, names, queries, method="mean"), ["bob", "ann"])
    # in 2-D: Euclidean distance, every query gets one label
    gallery2 = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_array_equal(identify(gallery2, [7, 8], [[2.0, 2.0], [1.0, 1.0], [3.0, 3.5]]), [8, 7, 8])
    with pytest.raises(ValueError, match="method="):
        identify(gallery, names, queries, method="vote")


@pytest.mark.parametrize("method", ["nearest", "mean"])
@pytest.mark.parametrize("k", [1, 2])
def test_separated_people_are_always_identified(method, k):
    result = rank1_accuracy(SEPARATED, SEPARATED_LABELS, k=k, draws=5, seed=0, method=method)
    assert result.mean == 1.0 and result.std == 0.0
    np.testing.assert_array_equal(result.draws, np.ones(5))
    assert str(result) == "100.00% ± 0.00%"


def test_rank1_with_a_known_confusion():
    # Person 1 sits at 0; person 2 at 10, 10 and once at 0.2, next to person 1. With k = 1:
    # when a 10 is enrolled, the query at 0.2 is taken for person 1 (3 of 4 right);
    # when 0.2 is enrolled, the 10s are still nearer to it than to 0 (4 of 4 right).
    embeddings = np.array([[0.0], [0.0], [0.0], [10.0], [10.0], [0.2]])
    labels = np.array([1, 1, 1, 2, 2, 2])
    result = rank1_accuracy(embeddings, labels, k=1, draws=60, seed=0)
    assert set(result.draws) == {0.75, 1.0}
    assert result.mean == pytest.approx(result.draws.mean())
    assert result.std == pytest.approx(result.draws.std())
    assert 0.75 < result.mean < 1.0
    # with one image enrolled, the class mean is that image: the same answers
    np.testing.assert_array_equal(rank1_accuracy(embeddings, labels, 1, 60, 0, method="mean").draws,
                                  result.draws)
    with pytest.raises(ValueError, match="method="):
        rank1_accuracy(embeddings, labels, 1, method="vote")


def test_class_mean_outvotes_a_single_stray_image():
    # Person 1 at 0, 0, 0 and 0.3; person 2 at 10, 10, 10 and a stray 0.4. With k = 3 and the
    # stray enrolled, the query 0.3 is nearest to the stray (0.1 away), but nearer to person
    # 1's mean (0) than to person 2's (6.8). Same seed, same enrolments: the mean never loses.
    embeddings = np.array([[0.0], [0.0], [0.0], [0.3], [10.0], [10.0], [10.0], [0.4]])
    labels = np.repeat([1, 2], 4)
    nearest, mean = (rank1_accuracy(embeddings, labels, k=3, draws=40, seed=0, method=method)
                     for method in ("nearest", "mean"))
    assert (mean.draws >= nearest.draws).all() and (mean.draws > nearest.draws).any()
    assert mean.mean > nearest.mean


def test_nearest_enrolled_returns_sorted_neighbours_as_original_indices():
    embeddings = np.array([[0.0], [1.0], [5.0], [2.0], [4.5]])
    distances, indices = nearest_enrolled(embeddings, enrolled=np.array([0, 2, 3]), queries=[1, 4], n=2)
    np.testing.assert_array_equal(indices, [[0, 3], [2, 3]])
    np.testing.assert_allclose(distances, [[1.0, 1.0], [0.5, 2.5]])


def test_embed_scales_uint8_images_and_adds_the_channel_axis():
    inputs = keras.Input((2, 3, 1))
    extractor = keras.Model(inputs, keras.layers.Flatten()(inputs))
    images = np.array([[[0, 51, 255], [102, 0, 0]]], dtype=np.uint8)
    np.testing.assert_allclose(embed(extractor, images), [[0, 0.2, 1, 0.4, 0, 0]], atol=1e-6)


@pytest.mark.mirror
def test_backbone_features_are_unit_length_deterministic_and_tell_faces_apart():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(3, 112, 92), dtype=np.uint8)
    features = backbone_features(faces, size=64)
    assert features.shape == (3, 1280) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(backbone_features(faces[:1], size=64), features[:1], rtol=1e-4, atol=1e-5)
    assert np.linalg.norm(features[0] - features[1]) > 1e-3
    with pytest.raises(ValueError, match="backbone="):
        backbone_features(faces, backbone="resnet18")


@pytest.mark.mirror
def test_backbone_layer_features_are_unit_length_and_the_same_for_a_mirrored_face():
    faces = np.random.default_rng(0).integers(0, 256, size=(3, 112, 92), dtype=np.uint8)
    names = ("block_13_expand_relu", "out_relu")
    features = backbone_layer_features(faces, names, size=64)
    assert [features[name].shape for name in names] == [(3, 576), (3, 1280)]
    for name in names:
        np.testing.assert_allclose(np.linalg.norm(features[name], axis=1), 1.0, rtol=1e-5)
    mirrored = backbone_layer_features(faces[:, :, ::-1], names[:1], size=64)  # face and mirror averaged
    np.testing.assert_allclose(mirrored[names[0]], features[names[0]], atol=1e-5)
    with pytest.raises(ValueError, match="not in mobilenet_v2"):
        backbone_layer_features(faces, ("block_99",), size=64)
    with pytest.raises(ValueError, match="backbone="):
        backbone_layer_features(faces, names, backbone="resnet18")


def test_power_normalise_takes_signed_roots_then_unit_length():
    expected = [[2 / 5 ** 0.5, 1 / 5 ** 0.5, 0.0]]
    np.testing.assert_allclose(power_normalise([[4.0, 1.0, 0.0]]), expected, rtol=1e-6)
    np.testing.assert_allclose(power_normalise([[-4.0, 1.0]]), [[-2 / 5 ** 0.5, 1 / 5 ** 0.5]], rtol=1e-6)
    rows = np.random.default_rng(0).normal(size=(5, 7))
    np.testing.assert_allclose(power_normalise(rows, power=1.0), unit_length(rows), rtol=1e-6)
    assert power_normalise(rows).dtype == np.float32
