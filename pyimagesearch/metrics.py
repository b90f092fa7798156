"""Verification metrics for pair scores, built on scikit-learn.

Every function takes ``scores`` and ``labels`` (1 = same class, 0 = different) and one
flag for the direction of the scores:

* ``greater_is_same=False`` (the default): *distances*, smaller = more alike; a pair is
  predicted "same" when ``distance <= threshold``.
* ``greater_is_same=True``: *similarities or probabilities*, larger = more alike; a
  pair is predicted "same" when ``score >= threshold``.

Choose a threshold on validation pairs with :func:`best_threshold` and report test
accuracy with :func:`accuracy_at` at that threshold; AUC, EER and TAR@FAR need none.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def oriented_scores(scores, labels, greater_is_same: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flat float scores turned "larger = same" (distances negated), and checked 0/1 labels."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 1 (same) or 0 (different)")
    labels = labels.astype(np.int64)
    if labels.min() == labels.max():
        raise ValueError("labels must contain both same (1) and different (0) pairs")
    return (scores if greater_is_same else -scores), labels


def _roc(scores, labels, greater_is_same: bool):
    """Every ROC point (fpr, tpr, threshold) of "larger = same" scores, none dropped."""
    oriented, labels = oriented_scores(scores, labels, greater_is_same)
    return roc_curve(labels, oriented, drop_intermediate=False)


def predict_same(scores, threshold: float, greater_is_same: bool = False) -> np.ndarray:
    """1 where a pair is predicted "same" at ``threshold``, else 0."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    same = scores >= threshold if greater_is_same else scores <= threshold
    return same.astype(np.int64)


def accuracy_at(scores, labels, threshold: float, greater_is_same: bool = False) -> float:
    """Fraction of pairs predicted correctly at a fixed threshold."""
    labels = np.asarray(labels).ravel()
    return float(np.mean(predict_same(scores, threshold, greater_is_same) == labels))


def best_threshold(scores, labels, greater_is_same: bool = False) -> float:
    """The threshold with the highest accuracy on these pairs: choose it on validation pairs.

    ``roc_curve`` tries every distinct score as a threshold, from +inf (nothing "same") down,
    and gives each one's true and false positive rates, hence the pairs it gets right. The
    winner moves midway to the next score, into the gap where every threshold is as accurate;
    ties go to the stricter threshold.
    """
    oriented, labels = oriented_scores(scores, labels, greater_is_same)
    fpr, tpr, thresholds = roc_curve(labels, oriented, drop_intermediate=False)
    n_same = labels.sum()
    correct = np.rint(tpr * n_same + (1 - fpr) * (labels.size - n_same))  # whole pairs: exact ties
    best = int(np.argmax(correct))  # the first of any ties: the strictest
    if best == 0:  # nothing "same" is best: just past the most alike score
        threshold = np.nextafter(thresholds[1], np.inf)
    else:  # midway to the next score; the last threshold accepts every pair
        threshold = (thresholds[best] + thresholds[min(best + 1, len(thresholds) - 1)]) / 2
    return float(threshold if greater_is_same else -threshold)


def roc_auc(scores, labels, greater_is_same: bool = False) -> float:
    """Area under the ROC curve (1.0 = perfectly separated, 0.5 = chance)."""
    oriented, labels = oriented_scores(scores, labels, greater_is_same)
    return float(roc_auc_score(labels, oriented))


def equal_error_rate(scores, labels, greater_is_same: bool = False) -> float:
    """The error rate where false accepts equal false rejects (FAR = FRR), interpolated."""
    fpr, tpr, _ = _roc(scores, labels, greater_is_same)
    gap = (1 - tpr) - fpr  # FRR - FAR: starts at 1, ends at -1, never increases
    i = int(np.argmax(gap <= 0))
    if gap[i] == 0:
        return float(fpr[i])
    weight = gap[i - 1] / (gap[i - 1] - gap[i])  # where the segment crosses FRR = FAR
    return float(fpr[i - 1] + weight * (fpr[i] - fpr[i - 1]))


def tar_at_far(scores, labels, far: float = 1e-3, greater_is_same: bool = False) -> float:
    """True accept rate at the best threshold whose false accept rate is at most ``far``."""
    fpr, tpr, _ = _roc(scores, labels, greater_is_same)
    return float(tpr[fpr <= far].max())


def verification_summary(val_scores, val_labels, test_scores, test_labels,
                         greater_is_same: bool = False) -> dict[str, float]:
    """Threshold chosen on validation pairs, then test accuracy at it, ROC AUC and EER.

    Keys: ``"threshold"``, ``"val accuracy"``, ``"test accuracy"``, ``"test ROC AUC"``,
    ``"test EER"``; the test pairs never influence the threshold.
    """
    threshold = best_threshold(val_scores, val_labels, greater_is_same)
    return {
        "threshold": threshold,
        "val accuracy": accuracy_at(val_scores, val_labels, threshold, greater_is_same),
        "test accuracy": accuracy_at(test_scores, test_labels, threshold, greater_is_same),
        "test ROC AUC": roc_auc(test_scores, test_labels, greater_is_same),
        "test EER": equal_error_rate(test_scores, test_labels, greater_is_same),
    }


def fold_accuracies(scores, labels, folds, greater_is_same: bool = False) -> np.ndarray:
    """The LFW protocol: for each fold, a threshold chosen on the other folds, the accuracy on this one."""
    scores, labels, folds = np.asarray(scores), np.asarray(labels), np.asarray(folds)
    accuracies = []
    for fold in np.unique(folds):
        here = folds == fold
        threshold = best_threshold(scores[~here], labels[~here], greater_is_same)
        accuracies.append(accuracy_at(scores[here], labels[here], threshold, greater_is_same))
    return np.array(accuracies)


def k_fold_verification(scores, labels, folds, greater_is_same: bool = False,
                        far: float = 1e-3) -> dict[str, float]:
    """The LFW protocol summed up: mean and spread of :func:`fold_accuracies`, and threshold-free scores.

    ``folds`` gives each pair's fold (0..k-1, e.g. ``LFWPairs.folds``). Returns the mean and
    standard deviation of the k fold accuracies and, over all pairs, ROC AUC, EER and TAR at
    FAR = ``far``.
    """
    accuracies = fold_accuracies(scores, labels, folds, greater_is_same)
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy std": float(np.std(accuracies)),
        "ROC AUC": roc_auc(scores, labels, greater_is_same),
        "EER": equal_error_rate(scores, labels, greater_is_same),
        f"TAR@FAR={far:g}": tar_at_far(scores, labels, far, greater_is_same),
    }
