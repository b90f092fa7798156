"""Face identification with embeddings: person-disjoint splits, enrolment and rank-1 accuracy.

Identification asks "who is this?" rather than verification's "same person or not?". A few
images per person are *enrolled*; every other image is a *query* and gets (:func:`identify`)
the identity of its nearest enrolled embedding (``method="nearest"``) or of the nearest mean
embedding of a person's enrolled images (``method="mean"``). Rank-1 accuracy is the fraction
of queries identified correctly; it depends on which images were enrolled, so it is averaged
over several random enrolment draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

from pyimagesearch.metrics import roc_auc


def person_folds(labels, n_folds: int, n_val: int, seed: int | None = None) -> list[dict[str, np.ndarray]]:
    """``n_folds`` splits of people whose test sets are disjoint and cover everyone.

    The people are shuffled once and cut into ``n_folds`` test sets; in each split the first
    ``n_val`` of the others (in that shuffled order) validate and the rest train. Every split
    maps ``"train"``, ``"val"`` and ``"test"`` to disjoint, sorted label values.
    """
    people = np.random.default_rng(seed).permutation(np.unique(labels))
    largest_test = -(-len(people) // max(n_folds, 1))
    if n_folds < 2 or n_val < 1 or largest_test + n_val >= len(people):
        raise ValueError(f"cannot make {n_folds} folds with {n_val} val people from {len(people)} "
                         "and keep some for training")
    folds = []
    for test in np.array_split(people, n_folds):
        others = people[~np.isin(people, test)]
        folds.append({"train": np.sort(others[n_val:]), "val": np.sort(others[:n_val]),
                      "test": np.sort(test)})
    return folds


def embed(extractor: keras.Model, images, batch_size: int = 128) -> np.ndarray:
    """Embeddings of uint8 greyscale images ``(N, H, W)``, scaled to [0, 1] as in training."""
    pixels = np.asarray(images, dtype=np.float32)[..., np.newaxis] / 255.0
    return np.asarray(extractor.predict(pixels, batch_size=batch_size, verbose=0))


def photo_faces(images, size: int) -> np.ndarray:
    """uint8 greyscale photos ``(N, H, W)`` as float32 ``(N, size, size, 3)`` on the 0-255 scale."""
    faces = keras.ops.image.resize(np.asarray(images, dtype=np.float32)[..., np.newaxis], (size, size))
    return np.repeat(keras.ops.convert_to_numpy(faces), 3, axis=-1)


def backbone_features(images, backbone: str = "mobilenet_v2", size: int = 112,
                      batch_size: int = 64) -> np.ndarray:
    """Pooled features of a frozen ImageNet backbone for uint8 greyscale faces ``(N, H, W)``.

    Faces are resized to ``size`` x ``size``, repeated to three channels (:func:`photo_faces`)
    and scaled from 0-255 as the backbone's ``preprocess_input`` does (``models.BACKBONES``; the
    course applied it to images already scaled to [0, 1]). Returns float32 ``(N, D)``, L2-normalised.
    """
    from pyimagesearch.datasets import imagenet_weights
    from pyimagesearch.models import build_backbone_features

    model = build_backbone_features(backbone, (size, size, 3), weights=imagenet_weights(backbone))
    return unit_length(model.predict(photo_faces(images, size), batch_size=batch_size, verbose=0))


def backbone_layer_features(images, names: tuple[str, ...], backbone: str = "mobilenet_v2", size: int = 112,
                            batch_size: int = 64) -> dict[str, np.ndarray]:
    """Globally pooled activations of inner layers of a frozen ImageNet backbone, by layer name.

    Faces as in :func:`backbone_features`; each face's vector is averaged with its mirror
    image's (both at unit length) and scaled to unit length. Returns float32 ``(N, channels)``.
    """
    from pyimagesearch.datasets import imagenet_weights
    from pyimagesearch.models import backbone_entry

    build, scale, offset = backbone_entry(backbone)
    base = build(include_top=False, weights=imagenet_weights(backbone), input_shape=(size, size, 3))
    unknown = [name for name in names if name not in {layer.name for layer in base.layers}]
    if unknown:
        raise ValueError(f"layers {unknown} are not in {backbone} (e.g. 'block_13_expand_relu')")
    pooled = {name: keras.layers.GlobalAveragePooling2D()(base.get_layer(name).output) for name in names}
    model = keras.Model(base.input, pooled)
    faces = photo_faces(images, size) * scale + offset
    face, mirror = (model.predict(x, batch_size=batch_size, verbose=0) for x in (faces, faces[:, :, ::-1]))
    return {name: unit_length(unit_length(face[name]) + unit_length(mirror[name])) for name in names}


def power_normalise(vectors, power: float = 0.5) -> np.ndarray:
    """Each feature's magnitude to the ``power`` (sign kept), then unit length: damps dominant features."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return unit_length(np.sign(vectors) * np.abs(vectors) ** power)


def unit_length(vectors) -> np.ndarray:
    """Rows scaled to unit length, as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def all_pair_distances(embeddings, labels) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance and same-person label (1/0) of every unordered pair of embeddings."""
    labels = np.asarray(labels).ravel()
    rows, cols = np.triu_indices(len(labels), k=1)
    distances = pairwise_distances(np.asarray(embeddings))[rows, cols]
    return distances, (labels[rows] == labels[cols]).astype(np.int64)


def enrolment_split(labels, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k`` random images enrolled per person and of all the other images (queries)."""
    labels = np.asarray(labels).ravel()
    enrolled = []
    for person in np.unique(labels):
        members = np.flatnonzero(labels == person)
        if len(members) <= k:
            raise ValueError(f"person {person} has {len(members)} images: none left to query with k={k}")
        enrolled.append(rng.choice(members, size=k, replace=False))
    enrolled = np.sort(np.concatenate(enrolled))
    return enrolled, np.setdiff1d(np.arange(len(labels)), enrolled)


@dataclass(frozen=True)
class Rank1:
    """Rank-1 accuracy over several enrolment draws: mean, standard deviation, every draw."""

    mean: float
    std: float
    draws: np.ndarray

    def __str__(self) -> str:
        return f"{self.mean:.2%} ± {self.std:.2%}"


def identify(gallery, gallery_labels, queries, method: str = "nearest") -> np.ndarray:
    """The label of each query's nearest enrolled embedding (``"mean"``: nearest per-person mean)."""
    if method not in ("nearest", "mean"):
        raise ValueError(f"method={method!r}: choose 'nearest' or 'mean'")
    gallery, gallery_labels = np.asarray(gallery), np.asarray(gallery_labels).ravel()
    if method == "mean":
        people = np.unique(gallery_labels)
        gallery = np.stack([gallery[gallery_labels == person].mean(axis=0) for person in people])
        gallery_labels = people
    distances = np.linalg.norm(np.asarray(queries)[:, np.newaxis] - gallery[np.newaxis], axis=-1)
    return gallery_labels[distances.argmin(axis=1)]  # distances: (queries, gallery)


def rank1_accuracy(embeddings, labels, k: int, draws: int = 20, seed: int | None = 0,
                   method: str = "nearest") -> Rank1:
    """Rank-1 accuracy with ``k`` enrolled images per person, over ``draws`` random enrolments.

    ``method="nearest"``: the nearest enrolled embedding decides (1-NN); ``"mean"``: the
    nearest per-person mean of the enrolled embeddings (the same as "nearest" for k = 1).
    """
    embeddings, labels = np.asarray(embeddings), np.asarray(labels).ravel()
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(draws):
        enrolled, queries = enrolment_split(labels, k, rng)
        named = identify(embeddings[enrolled], labels[enrolled], embeddings[queries], method)
        scores.append(float(np.mean(named == labels[queries])))
    scores = np.array(scores)
    return Rank1(mean=float(scores.mean()), std=float(scores.std()), draws=scores)


def nearest_enrolled(embeddings, enrolled, queries, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For each query: distances to its ``n`` nearest enrolled embeddings and their indices."""
    embeddings, enrolled = np.asarray(embeddings), np.asarray(enrolled)
    search = NearestNeighbors(n_neighbors=n).fit(embeddings[enrolled])
    distances, positions = search.kneighbors(embeddings[np.asarray(queries)])
    return distances, enrolled[positions]


def identification_scores(embeddings, labels, draws: int = 20, seed: int | None = 0) -> dict[str, float]:
    """1-shot and 5-shot rank-1 accuracy (nearest enrolled, mean of ``draws``) and all-pairs ROC AUC."""
    return {"1-shot rank-1": rank1_accuracy(embeddings, labels, 1, draws, seed).mean,
            "5-shot rank-1": rank1_accuracy(embeddings, labels, 5, draws, seed).mean,
            "ROC AUC": roc_auc(*all_pair_distances(embeddings, labels))}
