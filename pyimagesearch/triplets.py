"""Triplets for metric learning: the course's random triplets, P x K batches and online mining.

A triplet is (anchor, positive, negative): anchor and positive show the same person, the
negative someone else. The triplet loss asks the anchor to be closer to its positive than
to its negative by at least a margin (Schroff et al., FaceNet, 2015)::

    L = max(d(a, p) - d(a, n) + margin, 0)

* :func:`random_triplet_indices` is the course's ``TripletGenerator``: random triplets of
  indices, anchor and positive from a person with at least two images.
* :class:`TripletDataset` serves the course's random triplets to ``fit`` on any backend;
  :func:`tf_triplet_dataset` is the course's tf.data pipeline over image files.
* :func:`pk_batch_indices` (and :class:`PKDataset`) draw batches of P people x K images, and
  the losses :func:`batch_all_triplet_loss` and :func:`batch_hard_triplet_loss`
  (:class:`MinedTripletLoss` for ``compile``) mine triplets inside
  such a batch from the matrix of pairwise distances (Hermans, Beyer and Leibe, "In
  Defense of the Triplet Loss for Person Re-Identification", 2017). They use ``keras.ops``
  only, so they run on every backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from pyimagesearch.images import read_image
from pyimagesearch.layers import EuclideanDistance
from pyimagesearch.pairs import default_scale, gather


def _people(labels, min_images: int) -> tuple[np.ndarray, dict]:
    """Flat labels and, for each person with at least ``min_images`` images, their indices."""
    labels = np.asarray(labels).ravel()
    people, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    members = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    eligible = {person: index for person, index in zip(people, members, strict=True)
                if len(index) >= min_images}
    if not eligible or len(people) < 2:
        raise ValueError(f"need at least two people and one with {min_images}+ images, "
                         f"got {len(people)} people, {len(eligible)} with {min_images}+")
    return labels, eligible


def random_triplet_indices(labels, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``n`` random triplets ``(n, 3)`` of indices: anchor, positive (same person), negative.

    The anchor's person is drawn uniformly among those with two or more images, anchor and
    positive are two of their images, the negative any image of someone else.
    """
    rng = np.random.default_rng(seed)
    labels, eligible = _people(labels, 2)
    people = list(eligible)
    triplets = np.empty((n, 3), dtype=np.int64)
    for row, person in enumerate(rng.integers(len(people), size=n)):
        triplets[row, :2] = rng.choice(eligible[people[person]], size=2, replace=False)
    negatives = triplets[:, 2]
    negatives[:] = rng.integers(len(labels), size=n)
    while (clash := labels[negatives] == labels[triplets[:, 0]]).any():
        negatives[clash] = rng.integers(len(labels), size=int(clash.sum()))
    return triplets


def pk_batch_indices(labels, people_per_batch: int, images_per_person: int,
                     seed: int | np.random.Generator | None = None) -> np.ndarray:
    """One batch of indices: ``P`` random people with at least ``K`` images, ``K`` of each."""
    rng = np.random.default_rng(seed)
    _, eligible = _people(labels, images_per_person)
    return _pk_batch(eligible, people_per_batch, images_per_person, rng)


def _pk_batch(eligible: dict, people_per_batch: int, images_per_person: int,
              rng: np.random.Generator) -> np.ndarray:
    """``P`` people of ``eligible`` (person -> indices), ``K`` of their images each."""
    if people_per_batch > len(eligible):
        raise ValueError(f"{people_per_batch} people per batch, but only {len(eligible)} have "
                         f"{images_per_person}+ images")
    people = rng.choice(list(eligible), size=people_per_batch, replace=False)
    return np.concatenate([rng.choice(eligible[p], size=images_per_person, replace=False) for p in people])


class TripletDataset(keras.utils.PyDataset):
    """The course's ``TripletGenerator`` as a Keras loader: batches of random triplets.

    Each epoch has ``steps`` batches of ``batch_size`` triplets drawn with
    :func:`random_triplet_indices`, fresh after every epoch. An item is
    ``((anchor, positive, negative),)``: float32 images times ``scale`` (see
    ``pairs.gather``) gathered from ``images``, which may also be cached features.
    """

    def __init__(self, images, labels, batch_size: int = 32, steps: int = 100, scale: float | None = None,
                 seed: int | np.random.Generator | None = None, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels = np.asarray(images), np.asarray(labels).ravel()
        self.batch_size, self.steps = int(batch_size), int(steps)
        self.scale = default_scale(self.images, scale)
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int):
        rows = self.triplets[index * self.batch_size:(index + 1) * self.batch_size]
        return (tuple(gather(self.images, rows[:, i], self.scale) for i in range(3)),)

    def on_epoch_end(self) -> None:
        """Fresh triplets for the next epoch."""
        self.triplets = random_triplet_indices(self.labels, self.steps * self.batch_size, seed=self.rng)


class RandomPairDataset(TripletDataset):
    """Balanced random pairs for the contrastive loss, drawn as random triplets are.

    Each batch of ``batch_size`` triplets gives ``batch_size`` pairs: (anchor, positive)
    from its first half, label 1, and (anchor, negative) from its second half, label 0.
    An item is ``((left, right), labels)``.
    """

    def __getitem__(self, index: int):
        rows = self.triplets[index * self.batch_size:(index + 1) * self.batch_size]
        half = len(rows) // 2
        right = np.concatenate([rows[:half, 1], rows[half:, 2]])
        labels = (np.arange(len(rows)) < half).astype(np.float32)
        return (gather(self.images, rows[:, 0], self.scale), gather(self.images, right, self.scale)), labels


class PKDataset(keras.utils.PyDataset):
    """Batches of ``P`` people x ``K`` images with their labels, for the mining losses.

    An item is ``(images, labels)``: float32 images times ``scale`` and float32 label codes
    (each person's position among the distinct labels), ``steps`` batches an epoch.
    """

    def __init__(self, images, labels, people_per_batch: int = 16, images_per_person: int = 4,
                 steps: int = 100, scale: float | None = None,
                 seed: int | np.random.Generator | None = None, **kwargs):
        super().__init__(**kwargs)
        self.images = np.asarray(images)
        self.codes = np.unique(np.asarray(labels).ravel(), return_inverse=True)[1].astype(np.float32)
        _, self.eligible = _people(self.codes, images_per_person)
        self.people_per_batch, self.images_per_person = int(people_per_batch), int(images_per_person)
        self.steps, self.scale = int(steps), default_scale(self.images, scale)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int):
        rows = _pk_batch(self.eligible, self.people_per_batch, self.images_per_person, self.rng)
        return gather(self.images, rows, self.scale), self.codes[rows]


class LabelledBatches(keras.utils.PyDataset):
    """``batch_size`` random images a batch, with identity codes (0 to people - 1) for a classifier loss."""

    def __init__(self, images, labels, batch_size: int = 96, steps: int = 100,
                 seed: int | np.random.Generator | None = None, **kwargs):
        super().__init__(**kwargs)
        self.images = images  # an array or a memory map: only the rows of a batch are read
        self.codes = np.unique(np.asarray(labels).ravel(), return_inverse=True)[1].astype(np.int32)
        self.batch_size, self.steps = int(batch_size), int(steps)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int):
        rows = np.sort(self.rng.integers(0, len(self.codes), self.batch_size))
        return gather(self.images, rows, 1.0), self.codes[rows]


def load_face_file(path, size: int) -> np.ndarray:
    """One face file as ``(size, size, 3)`` float32 RGB on the 0-255 scale; a bad file's error names it."""
    path = path.decode() if isinstance(path, bytes) else str(path)
    return read_image(path, "rgb", size=(size, size), resize=True).astype(np.float32)


def tf_load_face(path, size: int):
    """The tf.data map function: a file-name tensor -> its face, read by :func:`load_face_file`."""
    import tensorflow as tf

    face = tf.py_function(lambda name: load_face_file(name.numpy(), size), [path], tf.float32)
    face.set_shape((size, size, 3))
    return face


def tf_triplet_dataset(paths, labels, n: int, size: int, batch_size: int = 32,
                       seed: int | None = None):
    """The course's tf.data pipeline: ``n`` random triplets of image files, read, batched, prefetched.

    Yields ``((anchor, positive, negative),)`` float32 RGB batches on the 0-255 scale, read
    from the image files ``paths`` (one person per entry of ``labels``); TensorFlow only.
    """
    import tensorflow as tf

    files = np.asarray([str(p) for p in paths])[random_triplet_indices(labels, n, seed=seed)]

    def load_triplet(row):
        return (tuple(tf_load_face(row[i], size) for i in range(3)),)

    dataset = tf.data.Dataset.from_tensor_slices(files).map(load_triplet, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


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


def hardest_positive(distances, positives):
    """Per anchor (row), the distance to its farthest image of the same person (0 if it has none)."""
    return ops.max(distances * ops.cast(positives, distances.dtype), axis=1)


def hardest_negative(distances, negatives):
    """Per anchor (row), the distance to its closest image of anyone else."""
    # Push the anchor's own person beyond every real distance, then take the minimum.
    others = ops.cast(negatives, distances.dtype)
    return ops.min(distances + ops.max(distances) * (1.0 - others), axis=1)


def batch_hard_triplet_loss(labels, embeddings, margin: float = 0.5):
    """Mean over anchors of ``max(hardest positive - hardest negative + margin, 0)`` (batch-hard)."""
    distances = pairwise_distances(embeddings)
    positives, negatives = positive_mask(labels), negative_mask(labels)
    losses = ops.maximum(hardest_positive(distances, positives) - hardest_negative(distances, negatives)
                         + margin, 0.0)
    # Only anchors with both a positive and a negative in the batch count.
    counted = ops.cast(ops.logical_and(ops.any(positives, axis=1), ops.any(negatives, axis=1)), losses.dtype)
    return ops.sum(losses * counted) / ops.maximum(ops.sum(counted), 1.0)


MINING = {"hard": batch_hard_triplet_loss, "all": batch_all_triplet_loss}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class MinedTripletLoss(keras.losses.Loss):
    """Batch-hard or batch-all triplet loss as a Keras ``Loss``: ``y_true`` labels, ``y_pred`` embeddings.

    Compile an embedding model with it and fit it on :class:`PKDataset` batches.
    """

    def __init__(self, mining: str = "hard", margin: float = 0.5, name: str | None = None, **kwargs):
        if mining not in MINING:
            raise ValueError(f"mining={mining!r}: choose one of {', '.join(MINING)}")
        super().__init__(name=name or f"batch_{mining}_triplet_loss", **kwargs)
        self.mining, self.margin = mining, float(margin)

    def call(self, y_true, y_pred):
        return MINING[self.mining](y_true, y_pred, self.margin)

    def get_config(self) -> dict:
        return {**super().get_config(), "mining": self.mining, "margin": self.margin}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class CosineLogits(keras.layers.Layer):
    """Cosine of each embedding with a learned unit-length centre per training identity, ``(B, classes)``."""

    def __init__(self, n_classes: int, **kwargs):
        super().__init__(**kwargs)
        if int(n_classes) < 2:
            raise ValueError(f"n_classes={n_classes}: a classification loss needs at least 2 identities")
        self.n_classes = int(n_classes)

    def build(self, input_shape) -> None:
        self.centres = self.add_weight(shape=(input_shape[-1], self.n_classes), initializer="glorot_uniform",
                                       name="centres")

    def call(self, embeddings):
        return ops.matmul(ops.normalize(embeddings, axis=-1), ops.normalize(self.centres, axis=0))

    def get_config(self) -> dict:
        return {**super().get_config(), "n_classes": self.n_classes}


def cosface_loss(labels, cosines, scale: float = 30.0, margin: float = 0.35):
    """Mean CosFace loss: softmax cross-entropy of ``scale * (cos - margin at the true identity)``."""
    cosines = ops.convert_to_tensor(cosines)
    onehot = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), ops.shape(cosines)[-1])
    logits = scale * (cosines - margin * onehot)
    return ops.mean(keras.losses.categorical_crossentropy(onehot, logits, from_logits=True))


@keras.saving.register_keras_serializable(package="pyimagesearch")
class CosFaceLoss(keras.losses.Loss):
    """:func:`cosface_loss` as a Keras ``Loss``: ``y_true`` identity codes, ``y_pred`` cosine logits."""

    def __init__(self, scale: float = 30.0, margin: float = 0.35, name: str = "cosface_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale, self.margin = float(scale), float(margin)

    def call(self, y_true, y_pred):
        return cosface_loss(y_true, y_pred, self.scale, self.margin)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "margin": self.margin}
