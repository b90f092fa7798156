"""Tests of pair generation: the loop, the vectorised indices and the Keras PairDataset."""

from __future__ import annotations

import numpy as np
import pytest

from pyimagesearch.pairs import (
    PairDataset,
    class_blocks,
    make_pair_indices,
    make_pairs,
    negative_partners,
    positive_partners,
)

# 5 classes of uneven size (one class with a single member), labels not 0..C-1.
LABELS = np.array([3, 7, 3, 9, 7, 3, 11, 9, 3, 7, 15, 11, 3, 9, 7, 11])


def tagged_images(labels: np.ndarray) -> np.ndarray:
    """Tiny 4x4 uint8 images whose pixels all equal the image's index (to trace partners)."""
    return np.repeat(np.arange(len(labels), dtype=np.uint8), 16).reshape(-1, 4, 4)


def check_index_pairs(pairs: np.ndarray, pair_labels: np.ndarray, labels: np.ndarray) -> None:
    """Assert the pairing rules on index pairs."""
    n = len(labels)
    assert pairs.shape == (2 * n, 2) and np.issubdtype(pairs.dtype, np.integer)
    assert pair_labels.shape == (2 * n,)
    np.testing.assert_array_equal(pairs[:, 0], np.repeat(np.arange(n), 2))
    np.testing.assert_array_equal(pair_labels, np.tile([1, 0], n))
    # labels agree with the class ids of the two images
    np.testing.assert_array_equal(pair_labels, labels[pairs[:, 0]] == labels[pairs[:, 1]])
    positives, negatives = pairs[0::2, 1], pairs[1::2, 1]
    assert (labels[positives] == labels).all()
    assert (labels[negatives] != labels).all()
    # a positive partner is the image itself only when it is alone in its class
    counts = {c: int(np.sum(labels == c)) for c in np.unique(labels)}
    alone = np.array([counts[c] == 1 for c in labels])
    np.testing.assert_array_equal(positives == np.arange(n), alone)


def test_class_blocks_group_each_class_contiguously():
    codes = np.searchsorted(np.unique(LABELS), LABELS)
    order, starts, counts = class_blocks(codes, 5)
    np.testing.assert_array_equal(counts, [5, 4, 3, 3, 1])
    np.testing.assert_array_equal(starts, [0, 5, 9, 12, 15])
    for c in range(5):
        block = order[starts[c]:starts[c] + counts[c]]
        np.testing.assert_array_equal(block, np.flatnonzero(codes == c))  # stable: in index order


def test_partner_steps_draw_from_the_right_classes():
    codes = np.searchsorted(np.unique(LABELS), LABELS)
    blocks = class_blocks(codes, 5)
    rng = np.random.default_rng(0)
    for _ in range(50):
        positives = positive_partners(codes, *blocks, rng)
        negatives = negative_partners(codes, *blocks, rng)
        assert (codes[positives] == codes).all() and (codes[negatives] != codes).all()
        alone = np.bincount(codes)[codes] == 1
        np.testing.assert_array_equal(positives == np.arange(len(codes)), alone)


def test_loop_on_indices_names_the_partners_of_its_pixel_pairs():
    images = np.random.default_rng(0).integers(0, 256, size=(len(LABELS), 3, 3), dtype=np.uint8)
    pair_images, pair_labels = make_pairs(images, LABELS, seed=4)
    pairs, same_labels = make_pairs(np.arange(len(LABELS)), LABELS, seed=4)
    assert pairs.shape == (2 * len(LABELS), 2)
    np.testing.assert_array_equal(pair_images, images[pairs])
    np.testing.assert_array_equal(pair_labels, same_labels)


def test_make_pair_indices_rules():
    pairs, pair_labels = make_pair_indices(LABELS, seed=0)
    check_index_pairs(pairs, pair_labels, LABELS)
    assert pairs[2 * 10, 1] == 10  # label 15 is alone: its own positive


def test_make_pair_indices_rules_hold_over_many_seeds_and_cover_all_partners():
    seen_negative_classes = set()
    seen_positives = set()
    for seed in range(200):
        pairs, pair_labels = make_pair_indices(LABELS, seed=seed)
        check_index_pairs(pairs, pair_labels, LABELS)
        seen_negative_classes.add(int(LABELS[pairs[1, 1]]))
        seen_positives.add(int(pairs[0, 1]))
    # image 0 (class 3) sees every other class as negative and every other 3 as positive
    assert seen_negative_classes == {7, 9, 11, 15}
    assert seen_positives == {2, 5, 8, 12}


def test_make_pairs_loop_rules_via_pixels():
    images = tagged_images(LABELS)
    pair_images, pair_labels = make_pairs(images, LABELS, seed=0)
    assert pair_images.shape == (2 * len(LABELS), 2, 4, 4) and pair_images.dtype == np.uint8
    assert pair_labels.shape == (2 * len(LABELS),)
    # every tile is constant, so its first pixel is the index of the image it came from
    pairs = pair_images[:, :, 0, 0].astype(np.int64)
    assert (pair_images == pair_images[:, :, :1, :1]).all()
    check_index_pairs(pairs, pair_labels, LABELS)


def test_both_versions_reproducible_with_seed_and_differ_between_seeds():
    labels = np.random.default_rng(1).integers(0, 10, size=500)
    images = np.random.default_rng(2).integers(0, 256, size=(500, 3, 3), dtype=np.uint8)
    a, b, c = (make_pair_indices(labels, seed=s)[0] for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    a, b, c = (make_pairs(images, labels, seed=s)[0] for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_vectorised_negative_classes_are_uniform_over_other_classes():
    labels = np.repeat(np.arange(4), 1000)
    pairs, _ = make_pair_indices(labels, seed=0)
    negative_classes = labels[pairs[1::2, 1]]
    offsets = (negative_classes - labels) % 4
    assert set(np.unique(offsets)) == {1, 2, 3}
    assert np.bincount(offsets, minlength=4)[1:].min() > 1200  # about 1333 each


def test_a_single_class_is_refused():
    with pytest.raises(ValueError, match="at least two classes"):
        make_pair_indices(np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="at least two classes"):
        make_pairs(np.zeros((5, 2, 2)), np.zeros(5, dtype=int))


# ---------------------------------------------------------------- PairDataset


def test_pair_dataset_batches_shapes_dtypes_and_scaling():
    images = tagged_images(LABELS) * 10  # pixel values 0..150
    pairs, pair_labels = make_pair_indices(LABELS, seed=0)
    dataset = PairDataset(images, pairs, pair_labels, batch_size=5)
    assert len(dataset) == 7  # 32 pairs: 6 full batches and one of 2
    (left, right), labels = dataset[0]
    assert left.shape == right.shape == (5, 4, 4, 1)
    assert left.dtype == right.dtype == labels.dtype == np.float32
    np.testing.assert_allclose(left[:, 0, 0, 0], images[pairs[:5, 0], 0, 0] / 255, rtol=1e-6)
    np.testing.assert_allclose(right[:, 0, 0, 0], images[pairs[:5, 1], 0, 0] / 255, rtol=1e-6)
    np.testing.assert_array_equal(labels, [1, 0, 1, 0, 1])
    (left, right), labels = dataset[6]
    assert left.shape == (2, 4, 4, 1) and labels.shape == (2,)
    with pytest.raises(IndexError):
        dataset[7]


def test_pair_dataset_keeps_channels_floats_and_label_dtype():
    images = np.random.default_rng(0).random((6, 5, 5, 3)).astype(np.float64)
    pairs = np.array([[0, 1], [2, 3], [4, 5]])
    dataset = PairDataset(images, pairs, [1, 0, 1], batch_size=2, label_dtype="int32")
    (left, right), labels = dataset[0]
    assert left.shape == (2, 5, 5, 3) and left.dtype == np.float32
    np.testing.assert_allclose(right, images[[1, 3]], rtol=1e-6)  # floats are not rescaled
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [1, 0])


def test_pair_dataset_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="3 pairs but 2 labels"):
        PairDataset(np.zeros((4, 2, 2)), np.zeros((3, 2), int), [1, 0])
    with pytest.raises(ValueError, match=r"shape \(P, 2\)"):
        PairDataset(np.zeros((4, 2, 2)), np.zeros((3, 3), int), [1, 0, 1])


def epoch_content(dataset: PairDataset):
    """All (left id, right id, label) triples of one epoch, in batch order."""
    rows = []
    for i in range(len(dataset)):
        (left, right), labels = dataset[i]
        ids = np.rint(left[:, 0, 0, 0] * 255), np.rint(right[:, 0, 0, 0] * 255)
        rows += zip(*ids, labels, strict=True)
    return rows


def test_pair_dataset_shuffle_changes_order_keeps_content_and_is_seeded():
    images = tagged_images(LABELS)
    pairs, pair_labels = make_pair_indices(LABELS, seed=0)
    plain = epoch_content(PairDataset(images, pairs, pair_labels, batch_size=4))
    shuffled = PairDataset(images, pairs, pair_labels, batch_size=4, shuffle=True, seed=3)
    first = epoch_content(shuffled)
    shuffled.on_epoch_end()
    second = epoch_content(shuffled)
    assert first != plain and second != first
    assert sorted(first) == sorted(plain) == sorted(second)
    again = epoch_content(PairDataset(images, pairs, pair_labels, batch_size=4, shuffle=True, seed=3))
    assert again == first
    unshuffled = PairDataset(images, pairs, pair_labels, batch_size=4)
    unshuffled.on_epoch_end()
    assert epoch_content(unshuffled) == plain


def test_pair_dataset_from_labels_resamples_pairs_every_epoch():
    images = tagged_images(LABELS)
    dataset = PairDataset.from_labels(images, LABELS, batch_size=8, seed=0)
    assert dataset.shuffle and len(dataset) == 4
    first_pairs = dataset.pairs.copy()
    check_index_pairs(first_pairs, dataset.labels.astype(np.int64), LABELS)
    first = epoch_content(dataset)
    dataset.on_epoch_end()
    check_index_pairs(dataset.pairs, dataset.labels.astype(np.int64), LABELS)
    assert not np.array_equal(dataset.pairs, first_pairs)
    second = epoch_content(dataset)
    assert sorted(second) != sorted(first)  # new partners, not just a new order
    for left, right, label in second:  # every batch row still matches its label
        assert label == (LABELS[int(left)] == LABELS[int(right)])
    again = PairDataset.from_labels(images, LABELS, batch_size=8, seed=0)
    assert epoch_content(again) == first
    fixed = PairDataset.from_labels(images, LABELS, batch_size=8, seed=0, resample=False)
    fixed.on_epoch_end()
    assert sorted(epoch_content(fixed)) == sorted(first)
