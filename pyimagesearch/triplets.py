"""Triplets for metric learning: the course's random triplets, P x K batches and online mining.

A triplet is (anchor, positive, negative): anchor and positive show the same person, the
negative someone else. The triplet loss asks the anchor to be closer to its positive than
to its negative by at least a margin (Schroff et al., FaceNet, 2015)::

    L = max(d(a, p) - d(a, n) + margin, 0)

* :func:`random_triplet_indices` is the course's ``TripletGenerator``: random triplets of
  indices, anchor and positive from a person with at least two images.
* :func:`pk_batch_indices` draws batches of P people x K images each, and the losses
  :func:`batch_all_triplet_loss` and :func:`batch_hard_triplet_loss` mine triplets inside
  such a batch from the matrix of pairwise distances (Hermans, Beyer and Leibe, "In
  Defense of the Triplet Loss for Person Re-Identification", 2017). They use ``keras.ops``
  only, so they run on every backend.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from pyimagesearch.layers import EuclideanDistance


def _people(labels, min_images: int) -> tuple[np.ndarray, dict]:
    """Flat labels and, for each person with at least ``min_images`` images, their indices."""
    labels = np.asarray(labels).ravel()
    members = {person: np.flatnonzero(labels == person) for person in np.unique(labels)}
    eligible = {person: index for person, index in members.items() if len(index) >= min_images}
    if not eligible or len(members) < 2:
        raise ValueError(f"need at least two people and one with {min_images}+ images, "
                         f"got {len(members)} people, {len(eligible)} with {min_images}+")
    return labels, eligible


def random_triplet_indices(labels, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``n`` random triplets ``(n, 3)`` of indices: anchor, positive (same person), negative."""
    rng = np.random.default_rng(seed)
    labels, eligible = _people(labels, 2)
    people = list(eligible)
    triplets = np.empty((n, 3), dtype=np.int64)
    for row in range(n):
        person = people[rng.integers(len(people))]
        triplets[row, :2] = rng.choice(eligible[person], size=2, replace=False)
        others = np.flatnonzero(labels != person)
        triplets[row, 2] = others[rng.integers(len(others))]
    return triplets


def pk_batch_indices(labels, people_per_batch: int, images_per_person: int,
                     seed: int | np.random.Generator | None = None) -> np.ndarray:
    """One batch of indices: ``P`` random people with at least ``K`` images, ``K`` of each."""
    rng = np.random.default_rng(seed)
    _, eligible = _people(labels, images_per_person)
    if people_per_batch > len(eligible):
        raise ValueError(f"{people_per_batch} people per batch, but only {len(eligible)} have "
                         f"{images_per_person}+ images")
    people = rng.choice(list(eligible), size=people_per_batch, replace=False)
    return np.concatenate([rng.choice(eligible[p], size=images_per_person, replace=False) for p in people])


def pairwise_distances(embeddings, epsilon: float = 1e-12):
    """Euclidean distances between all rows, ``(B, B)``, with a finite gradient at zero."""
    embeddings = ops.convert_to_tensor(embeddings)
    squared = ops.sum(ops.square(embeddings), axis=1)
    gram = ops.matmul(embeddings, ops.transpose(embeddings))
    distances = ops.maximum(ops.expand_dims(squared, 1) - 2.0 * gram + ops.expand_dims(squared, 0), 0.0)
    return ops.sqrt(distances + epsilon) * ops.cast(distances > 0.0, distances.dtype)


def positive_mask(labels):
    """``[i, j]`` is true when images i and j show the same person and i != j."""
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    same = ops.equal(ops.expand_dims(labels, 0), ops.expand_dims(labels, 1))
    return ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))


def negative_mask(labels):
    """``[i, k]`` is true when images i and k show different people."""
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    return ops.not_equal(ops.expand_dims(labels, 0), ops.expand_dims(labels, 1))


def triplet_mask(labels):
    """``[a, p, n]`` is true for every valid triplet of the batch: a != p, same person, n another."""
    positives, negatives = positive_mask(labels), negative_mask(labels)
    return ops.logical_and(ops.expand_dims(positives, 2), ops.expand_dims(negatives, 1))


def triplet_hinge(d_ap, d_an, margin: float = 0.5):
    """Mean ``max(d(a, p) - d(a, n) + margin, 0)`` of given anchor-positive and anchor-negative distances."""
    return ops.mean(ops.maximum(ops.reshape(d_ap, (-1,)) - ops.reshape(d_an, (-1,)) + margin, 0.0))


def triplet_loss(anchor, positive, negative, margin: float = 0.5):
    """:func:`triplet_hinge` of the Euclidean distances of (anchor, positive, negative) rows."""
    distance = EuclideanDistance()
    return triplet_hinge(distance([anchor, positive]), distance([anchor, negative]), margin)


def batch_all_triplet_loss(labels, embeddings, margin: float = 0.5):
    """Mean loss over the valid triplets of a batch that still violate the margin (batch-all)."""
    distances = pairwise_distances(embeddings)
    losses = ops.expand_dims(distances, 2) - ops.expand_dims(distances, 1) + margin
    losses = ops.maximum(losses, 0.0) * ops.cast(triplet_mask(labels), losses.dtype)
    active = ops.sum(ops.cast(losses > 1e-16, losses.dtype))
    return ops.sum(losses) / ops.maximum(active, 1.0)


def batch_hard_triplet_loss(labels, embeddings, margin: float = 0.5):
    """Mean over anchors of ``max(hardest positive - hardest negative + margin, 0)`` (batch-hard)."""
    distances = pairwise_distances(embeddings)
    positives = ops.cast(positive_mask(labels), distances.dtype)
    negatives = ops.cast(negative_mask(labels), distances.dtype)
    hardest_positive = ops.max(distances * positives, axis=1)
    # Push non-negatives beyond every real distance before taking the minimum.
    hardest_negative = ops.min(distances + ops.max(distances) * (1.0 - negatives), axis=1)
    has_both = ops.cast(ops.logical_and(ops.any(positives > 0, axis=1), ops.any(negatives > 0, axis=1)),
                        distances.dtype)
    losses = ops.maximum(hardest_positive - hardest_negative + margin, 0.0) * has_both
    return ops.sum(losses) / ops.maximum(ops.sum(has_both), 1.0)
