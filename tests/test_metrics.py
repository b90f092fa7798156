"""Tests of the verification metrics on small hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from pyimagesearch.metrics import (
    accuracy_at,
    best_threshold,
    equal_error_rate,
    k_fold_verification,
    oriented_scores,
    predict_same,
    roc_auc,
    tar_at_far,
    verification_summary,
)

# Distances: same-class pairs (label 1) are mostly close, one same pair (0.6) is far and
# one different pair (0.4) is close.
DISTANCES = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0])


def test_best_threshold_separable_distances_is_the_midpoint_of_the_gap():
    distances = [0.1, 0.2, 0.6, 0.8]
    labels = [1, 1, 0, 0]
    threshold = best_threshold(distances, labels)
    assert threshold == pytest.approx(0.4)
    assert accuracy_at(distances, labels, threshold) == 1.0


def test_best_threshold_hand_case_and_accuracy():
    # Accepting distances up to 0.3 (0.6 falsely rejected) or up to 0.6 (0.4 falsely
    # accepted) both get 7 of 8 right; the stricter one is chosen, midway from 0.3 to 0.4.
    threshold = best_threshold(DISTANCES, LABELS)
    assert threshold == pytest.approx(0.35)
    assert accuracy_at(DISTANCES, LABELS, threshold) == pytest.approx(7 / 8)
    assert accuracy_at(DISTANCES, LABELS, 0.65) == pytest.approx(7 / 8)
    assert accuracy_at(DISTANCES, LABELS, 0.05) == pytest.approx(4 / 8)
    assert accuracy_at(DISTANCES, LABELS, 1.0) == pytest.approx(4 / 8)


def test_similarity_scores_use_the_flag():
    similarities = 1 - DISTANCES
    threshold = best_threshold(similarities, LABELS, greater_is_same=True)
    assert threshold == pytest.approx(0.65)
    assert accuracy_at(similarities, LABELS, threshold, greater_is_same=True) == pytest.approx(7 / 8)
    np.testing.assert_array_equal(predict_same(similarities, 0.65, greater_is_same=True),
                                  [1, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(predict_same(DISTANCES, 0.35), [1, 1, 1, 0, 0, 0, 0, 0])


def test_best_threshold_chapter_04_example():
    # same pairs at 0.1, 0.2, 0.3 and 0.65, different at 0.5, 0.6, 0.7: 0.4 gets 6 of 7 right
    distances = np.array([0.1, 0.2, 0.3, 0.5, 0.6, 0.65, 0.7])
    labels = np.array([1, 1, 1, 0, 0, 1, 0])
    assert best_threshold(distances, labels) == pytest.approx(0.4)
    assert best_threshold(1 - distances, labels, greater_is_same=True) == pytest.approx(0.6)
    assert accuracy_at(distances, labels, 0.4) == pytest.approx(6 / 7)
    assert accuracy_at(distances, labels, 0.675) == pytest.approx(5 / 7)


def test_best_threshold_ties_go_to_the_stricter_threshold():
    # accepting up to 0.2 or up to 0.4 both get 3 of 4 right: the stricter, midway 0.2-0.3
    assert best_threshold([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 1]) == pytest.approx(0.25)
    assert best_threshold([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], greater_is_same=True) == pytest.approx(0.75)


def test_oriented_scores_negate_distances_and_check_labels():
    scores, labels = oriented_scores([0.1, 0.9], [True, False], greater_is_same=False)
    np.testing.assert_array_equal(scores, [-0.1, -0.9])
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0]
    np.testing.assert_array_equal(oriented_scores([[0.1], [0.9]], [1, 0], True)[0], [0.1, 0.9])


def test_best_threshold_at_the_edges():
    # all "different" is best: the threshold lies just below the smallest distance
    threshold = best_threshold([0.5, 0.1, 0.2], [1, 0, 0])
    assert threshold < 0.1 and accuracy_at([0.5, 0.1, 0.2], [1, 0, 0], threshold) == pytest.approx(2 / 3)
    # all "same" is best: the threshold accepts the largest distance
    threshold = best_threshold([0.5, 0.9, 0.2], [1, 1, 0])
    assert threshold == pytest.approx(0.9)


def test_roc_auc():
    assert roc_auc(DISTANCES, LABELS) == pytest.approx(15 / 16)  # one of 16 pairs misordered
    assert roc_auc([0.1, 0.2, 0.6, 0.8], [1, 1, 0, 0]) == 1.0
    assert roc_auc([0.1, 0.2, 0.6, 0.8], [0, 0, 1, 1]) == 0.0  # reversed
    assert roc_auc([0.1, 0.2, 0.6, 0.8], [1, 1, 0, 0], greater_is_same=True) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5  # no information
    scores = np.random.default_rng(0).random(20_000)
    labels = np.random.default_rng(1).integers(0, 2, 20_000)
    assert roc_auc(scores, labels) == pytest.approx(0.5, abs=0.02)


def test_equal_error_rate():
    # at threshold 0.35: 1 of 4 same pairs rejected, 1 of 4 different accepted -> 0.25 each
    assert equal_error_rate(DISTANCES, LABELS) == pytest.approx(0.25)
    assert equal_error_rate([0.1, 0.2, 0.6, 0.8], [1, 1, 0, 0]) == pytest.approx(0.0)
    assert equal_error_rate([0.1, 0.2, 0.6, 0.8], [0, 0, 1, 1]) == pytest.approx(1.0)
    # interpolated crossing: FRR falls 1 -> 0 while FAR rises 0 -> 1 on one segment
    assert equal_error_rate([0.5, 0.5], [1, 0]) == pytest.approx(0.5)


def test_tar_at_far():
    # no false accept allowed: accept distances up to 0.3 -> 3 of 4 same pairs
    assert tar_at_far(DISTANCES, LABELS, far=0.0) == pytest.approx(0.75)
    assert tar_at_far(DISTANCES, LABELS, far=0.25) == pytest.approx(1.0)
    assert tar_at_far(1 - DISTANCES, LABELS, far=0.0, greater_is_same=True) == pytest.approx(0.75)


def test_verification_summary_takes_the_threshold_from_validation_only():
    val = [0.1, 0.2, 0.5, 0.8]
    summary = verification_summary(val, [1, 1, 0, 0], DISTANCES, LABELS)
    assert summary == pytest.approx({"threshold": 0.35, "val accuracy": 1.0, "test accuracy": 7 / 8,
                                     "test ROC AUC": 15 / 16, "test EER": 0.25})
    # a threshold from the test pairs themselves would differ: the summary never looks there
    assert verification_summary([0.1, 0.2, 0.25, 0.8], [1, 1, 0, 0], DISTANCES, LABELS)[
        "test accuracy"] == pytest.approx(6 / 8)
    similar = verification_summary(1 - np.array(val), [1, 1, 0, 0], 1 - DISTANCES, LABELS,
                                   greater_is_same=True)
    assert similar == pytest.approx({**summary, "threshold": 0.65})


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="both"):
        best_threshold([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="1 \\(same\\) or 0"):
        roc_auc([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        equal_error_rate([0.1, 0.2, 0.3], [1, 0])


def test_k_fold_thresholds_never_see_their_own_fold():
    # Fold 0 alone is separable at 0.5; folds 1 and 2 at 2.5. Choosing fold 0's threshold on
    # folds 1-2 (2.5) must misclassify its negatives at 1.0, which a leak would hide.
    scores = np.array([0.0, 1.0] + [2.0, 2.0, 3.0, 3.0] * 2)
    labels = np.array([1, 0] + [1, 1, 0, 0] * 2)
    folds = np.array([0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    result = k_fold_verification(scores, labels, folds)
    np.testing.assert_allclose([result["accuracy"], result["accuracy std"]],
                               [np.mean([0.5, 1.0, 1.0]), np.std([0.5, 1.0, 1.0])])
    assert result["ROC AUC"] == roc_auc(scores, labels)
    assert set(result) == {"accuracy", "accuracy std", "ROC AUC", "EER", "TAR@FAR=0.001"}
