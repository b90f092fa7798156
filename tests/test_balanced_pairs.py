"""Tests of balanced pair generation for small datasets and its Keras loader."""

from __future__ import annotations

import numpy as np
import pytest

from pyimagesearch.pairs import BalancedPairDataset, balanced_pair_indices

# 5 classes of uneven size (class 15 has a single member), labels not 0..C-1.
LABELS = np.array([3, 7, 3, 9, 7, 3, 11, 9, 3, 7, 15, 11, 3, 9, 7, 11])
CLASSES = np.unique(LABELS)


def tagged_images(n: int) -> np.ndarray:
    """Tiny 4x4 uint8 images whose pixels all equal the image's index (to trace partners)."""
    return np.repeat(np.arange(n, dtype=np.uint8), 16).reshape(-1, 4, 4)


def test_every_anchor_gets_one_negative_per_other_class_and_as_many_positives():
    anchors = np.arange(len(LABELS))
    pairs, pair_labels = balanced_pair_indices(LABELS, anchors, seed=0)
    per_anchor = len(CLASSES) - 1
    assert pairs.shape == (2 * per_anchor * len(anchors), 2) and pairs.dtype == np.int64
    assert pair_labels.dtype == np.int64 and pair_labels.sum() == per_anchor * len(anchors)
    np.testing.assert_array_equal(pair_labels, LABELS[pairs[:, 0]] == LABELS[pairs[:, 1]])
    for anchor, rows in zip(anchors, np.split(np.arange(len(pairs)), len(anchors)), strict=True):
        np.testing.assert_array_equal(pairs[rows, 0], anchor)
        np.testing.assert_array_equal(pair_labels[rows], [1] * per_anchor + [0] * per_anchor)
        positives, negatives = pairs[rows[:per_anchor], 1], pairs[rows[per_anchor:], 1]
        assert (LABELS[positives] == LABELS[anchor]).all()
        # the anchor pairs with itself only when it is alone in its class
        assert (positives != anchor).all() or np.sum(LABELS[anchor] == LABELS) == 1
        # each other class exactly once
        np.testing.assert_array_equal(np.sort(LABELS[negatives]), np.setdiff1d(CLASSES, LABELS[anchor]))


def test_positives_cycle_evenly_through_the_other_members():
    # anchor 0 (class 3) has 4 other members and 4 positive slots: each exactly once
    pairs, _ = balanced_pair_indices(LABELS, [0], seed=1)
    np.testing.assert_array_equal(np.sort(pairs[:4, 1]), [2, 5, 8, 12])
    # anchor 10 is alone in class 15: paired with itself
    pairs, _ = balanced_pair_indices(LABELS, [10], seed=1)
    np.testing.assert_array_equal(pairs[:4, 1], 10)
    # 2 classes of 3: one negative, one positive, never the anchor itself
    labels = np.array([0, 0, 0, 1, 1, 1])
    pairs, pair_labels = balanced_pair_indices(labels, [0, 0, 0, 4], seed=2)
    np.testing.assert_array_equal(pair_labels, [1, 0] * 4)
    assert (pairs[:, 0] != pairs[:, 1]).all()


def test_balanced_pairs_reproducible_and_vary_with_seed():
    labels = np.repeat(np.arange(10), 10)
    anchors = np.arange(0, 100, 7)
    a, b, c = (balanced_pair_indices(labels, anchors, seed=s)[0] for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="two classes"):
        balanced_pair_indices(np.zeros(5), [0])


def test_dataset_batches_are_balanced_scaled_and_labelled():
    images = tagged_images(len(LABELS))
    dataset = BalancedPairDataset(images, LABELS, anchors_per_batch=3, steps_per_epoch=4, seed=0)
    per_batch = 3 * 2 * (len(CLASSES) - 1)
    assert len(dataset) == 4 and dataset.batch_size == per_batch
    for step in range(len(dataset)):
        (left, right), y = dataset[step]
        assert left.shape == right.shape == (per_batch, 4, 4, 1)
        assert left.dtype == right.dtype == y.dtype == np.float32
        assert y.sum() == per_batch / 2
        index_left = np.rint(left[:, 0, 0, 0] * 255).astype(int)
        index_right = np.rint(right[:, 0, 0, 0] * 255).astype(int)
        np.testing.assert_array_equal(y, LABELS[index_left] == LABELS[index_right])
        assert len(np.unique(index_left)) == 3  # three anchors per batch
    with pytest.raises(IndexError):
        dataset[4]


def test_dataset_uses_every_image_as_anchor_equally_and_redraws_each_epoch():
    labels = np.repeat(np.arange(4), 5)
    dataset = BalancedPairDataset(tagged_images(20), labels, anchors_per_batch=5, steps_per_epoch=8, seed=3)
    anchors = dataset.pairs[:, 0]
    np.testing.assert_array_equal(np.bincount(anchors, minlength=20), 2 * 2 * 3)  # 40 anchors, 6 pairs each
    before = dataset.pairs.copy()
    dataset.on_epoch_end()
    assert dataset.pairs.shape == before.shape and not np.array_equal(dataset.pairs, before)
    again = BalancedPairDataset(tagged_images(20), labels, anchors_per_batch=5, steps_per_epoch=8, seed=3)
    np.testing.assert_array_equal(again.pairs, before)
    with pytest.raises(ValueError, match="positive"):
        BalancedPairDataset(tagged_images(20), labels, anchors_per_batch=0)
