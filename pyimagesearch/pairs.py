"""Image pairs for Siamese networks: the course's loop, a vectorised version and a Keras loader.

Label convention for the whole course: **1 = same class (positive pair), 0 = different
class (negative pair)**. The binary cross-entropy model predicts "probability of same", and
the contrastive loss pulls label-1 pairs together. Some references (e.g. Keras' own
contrastive-loss example) use the opposite convention; check before mixing code.

Every image gets exactly one positive and one negative partner, so N images give 2N pairs
in the order (image 0, positive), (image 0, negative), (image 1, positive), ...

* :func:`make_pairs` is the readable loop that builds the pixel pairs themselves,
  ``(2N, 2, *image.shape)`` in the images' dtype: fine for teaching and small datasets.
* :func:`make_pair_indices` draws the same kind of pairs as integer indices ``(2N, 2)``
  into the original arrays, vectorised, and :class:`PairDataset` gathers each batch's
  pixels on the fly, so the training set never holds 2N x 2 float images in memory.
"""

from __future__ import annotations

import math
from typing import Self

import keras
import numpy as np


def labels_and_classes(labels) -> tuple[np.ndarray, np.ndarray]:
    """The labels as a flat array, and the distinct classes (sorted); refuses fewer than two classes."""
    labels = np.asarray(labels).ravel()
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"negative pairs need at least two classes, got {len(classes)}")
    return labels, classes


def make_pairs(images, labels, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The course's loop: one positive and one negative partner per image, as pixel pairs.

    Returns ``(pair_images, pair_labels)`` with shapes ``(2N, 2, *image.shape)`` (the
    images' dtype) and ``(2N,)`` (int64, 1 = same class, 0 = different). The positive
    partner is another image of the same class, or the image itself when its class has a
    single member; the negative partner is drawn uniformly from all images of other classes.
    """
    rng = np.random.default_rng(seed)
    images = np.asarray(images)
    labels, classes = labels_and_classes(labels)
    # Look the class members up once, not with np.where(...) once per image.
    same_class = {c: np.where(labels == c)[0] for c in classes}
    other_class = {c: np.where(labels != c)[0] for c in classes}

    pair_images = np.empty((2 * len(labels), 2, *images.shape[1:]), dtype=images.dtype)
    pair_labels = np.empty(2 * len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        # positive: another image of the same class (the image itself if it is alone)
        candidates = same_class[label]
        j = i
        while j == i and len(candidates) > 1:
            j = candidates[rng.integers(len(candidates))]
        pair_images[2 * i] = (images[i], images[j])
        pair_labels[2 * i] = 1

        # negative: any image of another class
        candidates = other_class[label]
        k = candidates[rng.integers(len(candidates))]
        pair_images[2 * i + 1] = (images[i], images[k])
        pair_labels[2 * i + 1] = 0
    return pair_images, pair_labels


def class_blocks(codes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image indices sorted by class (``order``), with each class's ``starts`` and ``counts`` in it.

    The members of class ``c`` are ``order[starts[c] : starts[c] + counts[c]]``.
    """
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_classes)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return order, starts, counts


def positive_partners(codes: np.ndarray, order: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """For every image, a uniform *other* member of its class (itself only when it is alone)."""
    n = len(codes)
    rank = np.empty(n, dtype=np.int64)  # each image's position inside its class block
    rank[order] = np.arange(n) - np.repeat(starts, counts)
    size = counts[codes]
    # a random position among the size-1 others, then step over the image's own slot
    position = rng.integers(0, np.maximum(size - 1, 1))
    position += (position >= rank) & (size > 1)
    return order[starts[codes] + position]


def negative_partners(codes: np.ndarray, order: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """For every image, a uniform member of another class: class ``(code + offset) % C``, offset 1..C-1."""
    n_classes = len(counts)
    other = (codes + rng.integers(1, n_classes, size=len(codes))) % n_classes
    return order[starts[other] + rng.integers(0, counts[other])]


def make_pair_indices(labels, seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`make_pairs` that returns index pairs instead of pixels.

    Returns ``(pairs, pair_labels)``: ``pairs`` is int64 ``(2N, 2)`` with row ``2i`` =
    ``(i, positive partner)`` and row ``2i+1`` = ``(i, negative partner)``, indices into
    the original arrays; ``pair_labels`` is int64 ``(2N,)`` = 1, 0, 1, 0, ...
    Negatives pick another class uniformly, then a member of it (the loop draws uniformly
    over all other-class images instead; the two agree for balanced classes such as MNIST's).
    """
    rng = np.random.default_rng(seed)
    labels, classes = labels_and_classes(labels)
    codes = np.searchsorted(classes, labels)  # class number 0..C-1 of every image
    order, starts, counts = class_blocks(codes, len(classes))
    n = len(labels)
    pairs = np.empty((2 * n, 2), dtype=np.int64)
    pairs[:, 0] = np.repeat(np.arange(n), 2)
    pairs[0::2, 1] = positive_partners(codes, order, starts, counts, rng)
    pairs[1::2, 1] = negative_partners(codes, order, starts, counts, rng)
    pair_labels = np.tile(np.array([1, 0], dtype=np.int64), n)
    return pairs, pair_labels


def default_scale(images: np.ndarray, scale: float | None) -> float:
    """``scale`` if given, else 1/255 for integer images and 1 for float ones."""
    if scale is None:
        scale = 1 / 255 if np.issubdtype(images.dtype, np.integer) else 1.0
    return float(scale)


def gather(images: np.ndarray, indices, scale: float = 1.0) -> np.ndarray:
    """The images at ``indices`` as float32 times ``scale``, with a channel axis added to 2-D images."""
    batch = images[indices].astype(np.float32)
    if scale != 1.0:
        batch *= scale
    return batch[..., np.newaxis] if images.ndim == 3 else batch


class PairDataset(keras.utils.PyDataset):
    """Batches of image pairs gathered on the fly from ``(images, pairs, labels)``.

    ``images`` is ``(N, H, W)`` or ``(N, H, W, C)``; ``pairs`` the ``(P, 2)`` indices of
    :func:`make_pair_indices`; ``labels`` the ``(P,)`` pair labels. Each item is
    ``((left, right), labels)``: float32 pixels (integer images divided by 255, float
    images passed through unless ``scale`` says otherwise) with a channel axis added to
    2-D images, and labels in ``label_dtype``. ``shuffle`` reorders the pairs (seeded by
    ``seed``) at the start and after every epoch. Other keyword arguments (``workers``,
    ``use_multiprocessing``, ``max_queue_size``) go to ``keras.utils.PyDataset``.
    """

    def __init__(self, images, pairs, labels, batch_size: int = 64, shuffle: bool = False,
                 seed: int | np.random.Generator | None = None, scale: float | None = None,
                 label_dtype: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.images = np.asarray(images)
        self.pairs = np.asarray(pairs)
        self.labels = np.asarray(labels).astype(label_dtype).ravel()
        if self.pairs.ndim != 2 or self.pairs.shape[1] != 2:
            raise ValueError(f"pairs must have shape (P, 2), got {self.pairs.shape}")
        if len(self.pairs) != len(self.labels):
            raise ValueError(f"{len(self.pairs)} pairs but {len(self.labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.scale = default_scale(self.images, scale)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.class_labels = None  # set by from_labels(resample=True)
        self.order = np.arange(len(self.pairs))
        if shuffle:
            self.rng.shuffle(self.order)

    @classmethod
    def from_labels(cls, images, class_labels, batch_size: int = 64,
                    seed: int | np.random.Generator | None = None,
                    resample: bool = True, **kwargs) -> Self:
        """Pairs drawn with :func:`make_pair_indices` from the images' class labels, shuffled.

        With ``resample`` (for training only) every epoch draws fresh pairs, so each image
        meets new positive and negative partners instead of the same two every epoch.
        """
        rng = np.random.default_rng(seed)
        pairs, pair_labels = make_pair_indices(class_labels, seed=rng)
        dataset = cls(images, pairs, pair_labels, batch_size=batch_size, shuffle=True, seed=rng,
                      **kwargs)
        dataset.class_labels = np.asarray(class_labels).ravel() if resample else None
        return dataset

    def __len__(self) -> int:
        return math.ceil(len(self.pairs) / self.batch_size)

    def _pixels(self, indices: np.ndarray) -> np.ndarray:
        """The images at ``indices`` as scaled float32 with a channel axis."""
        return gather(self.images, indices, self.scale)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        pairs = self.pairs[rows]
        return (self._pixels(pairs[:, 0]), self._pixels(pairs[:, 1])), self.labels[rows]

    def on_epoch_end(self) -> None:
        """Draw fresh pairs (see :meth:`from_labels`) and/or reshuffle them for the next epoch."""
        if self.class_labels is not None:
            pairs, labels = make_pair_indices(self.class_labels, seed=self.rng)
            self.pairs, self.labels = pairs, labels.astype(self.labels.dtype)
        if self.shuffle:
            self.rng.shuffle(self.order)


def balanced_pair_indices(labels, anchors,
                          seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Balanced pairs for small datasets: per anchor, one negative from every other class.

    For each anchor index (into ``labels``) with C classes present: C-1 negative pairs, one
    with a random member of each other class, and as many positive pairs with the other
    members of the anchor's class, cycled in a random order so that each member appears
    equally often (give or take one); an anchor alone in its class is paired with itself.
    Returns ``(pairs, pair_labels)``: int64 ``(2 (C-1) A, 2)`` index pairs with the anchor
    first, grouped by anchor (its positives, then its negatives), and int64 labels 1/0.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels).ravel()
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"negative pairs need at least two classes, got {len(classes)}")
    members = {c: np.flatnonzero(labels == c) for c in classes}
    pairs = []
    for anchor in np.asarray(anchors, dtype=np.int64).ravel():
        own = labels[anchor]
        negatives = np.array([rng.choice(members[c]) for c in classes if c != own])
        others = members[own][members[own] != anchor]
        positives = np.resize(rng.permutation(others) if others.size else [anchor], len(negatives))
        partners = np.concatenate([positives, negatives])
        pairs.append(np.column_stack([np.full(len(partners), anchor), partners]))
    n_anchors, per_anchor = len(pairs), len(classes) - 1
    pair_labels = np.tile(np.repeat(np.array([1, 0], dtype=np.int64), per_anchor), n_anchors)
    return np.concatenate(pairs).astype(np.int64), pair_labels


class BalancedPairDataset(PairDataset):
    """Batches of balanced pairs (:func:`balanced_pair_indices`) around freshly drawn anchors.

    Every epoch has ``steps_per_epoch`` batches of ``anchors_per_batch`` anchors each, so a
    batch holds ``2 (C-1)`` pairs per anchor, half of them positive. The anchors run through
    the images in a random order (each image an anchor equally often, give or take one) and
    are drawn again, with new partners, after every epoch. Pixels and labels as in
    :class:`PairDataset`, whose other keyword arguments it takes.
    """

    def __init__(self, images, labels, anchors_per_batch: int = 4, steps_per_epoch: int = 20,
                 seed: int | np.random.Generator | None = None, **kwargs):
        if anchors_per_batch < 1 or steps_per_epoch < 1:
            raise ValueError("anchors_per_batch and steps_per_epoch must be positive")
        self.anchor_labels = np.asarray(labels).ravel()
        self.anchors_per_batch = int(anchors_per_batch)
        self.steps_per_epoch = int(steps_per_epoch)
        rng = np.random.default_rng(seed)
        pairs, pair_labels = self._draw(rng)
        per_batch = len(pairs) // self.steps_per_epoch
        super().__init__(images, pairs, pair_labels, batch_size=per_batch, seed=rng, **kwargs)

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One epoch of pairs, batch after batch."""
        size = self.anchors_per_batch * self.steps_per_epoch
        anchors = np.resize(rng.permutation(len(self.anchor_labels)), size)
        return balanced_pair_indices(self.anchor_labels, anchors, seed=rng)

    def on_epoch_end(self) -> None:
        """New anchors and partners for the next epoch."""
        pairs, labels = self._draw(self.rng)
        self.pairs, self.labels = pairs, labels.astype(self.labels.dtype)
