"""Chapter 05's training and evaluation: one face embedding, three ways to train it, the LFW protocol.

The three ways, at the same budget (``steps`` x ``images_per_step`` images embedded per epoch):

* ``"random triplets"``: the course's ``SiameseModel`` on random (anchor, positive, negative)
  triplets (``triplets.TripletDataset``) with the triplet loss;
* ``"batch-hard triplets"``: the embedding alone on P people x K images per batch with the
  hardest positive and negative of every anchor mined inside the batch (``MinedTripletLoss``);
* ``"contrastive pairs"``: chapter 04's distance model on balanced random pairs with the
  contrastive loss.

The LFW protocol scores them: :func:`protocol_distances` gives every pair its distance from a
model that never saw the people of the pair's fold (one model per group of folds), and
:func:`fold_accuracies` chooses, for each fold, a threshold on the other folds and measures
the accuracy on this one.

With a frozen backbone (``trainable_layers=0``) its features are computed once and cached, and
only the small head trains on them: minutes on two CPU cores. Fine-tuning trains the whole
embedding on the images and belongs on a GPU.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from pyimagesearch import lfw, metrics
from pyimagesearch.datasets import LFWPairs
from pyimagesearch.losses import ContrastiveLoss
from pyimagesearch.models import build_backbone_embedding, build_siamese
from pyimagesearch.triplet_model import siamese_model
from pyimagesearch.triplets import MinedTripletLoss, PKDataset, RandomPairDataset, TripletDataset

METHODS = ("random triplets", "batch-hard triplets", "contrastive pairs")


@dataclass(frozen=True)
class FaceTrainConfig:
    """Everything that decides an embedding and its training (saved with each result)."""

    backbone: str = "mobilenet_v2"
    size: int = 112
    embedding_dim: int = 128
    trainable_layers: int = 0
    dropout: float = 0.2
    flip: bool = True
    margin: float = 0.5
    contrastive_margin: float = 1.0
    images_per_step: int = 96
    images_per_person: int = 2
    steps: int = 200
    epochs: int = 5
    learning_rate: float = 1e-3
    seed: int = 42

    @property
    def frozen(self) -> bool:
        """True when the backbone does not train: the head then trains on cached features."""
        return self.trainable_layers == 0

    def as_dict(self) -> dict:
        """The configuration as a plain dict (for tables and JSON)."""
        return asdict(self)


def new_embedding(config: FaceTrainConfig, weights: str | None) -> keras.Model:
    """A fresh embedding: backbone (``weights``), head, unit length; flips only when fine-tuned."""
    return build_backbone_embedding(config.backbone, (config.size, config.size, 3), config.embedding_dim,
                                    config.trainable_layers, weights, config.dropout,
                                    flip=config.flip and not config.frozen)


def trainable_part(embedding: keras.Model, config: FaceTrainConfig) -> keras.Model:
    """What training fits: the head alone (on cached features) for a frozen backbone, else all of it."""
    return embedding.get_layer("embedding_head") if config.frozen else embedding


def features_of(embedding: keras.Model, config: FaceTrainConfig) -> keras.Model:
    """The backbone part of an embedding: RGB pixels -> pooled features."""
    return embedding.get_layer(f"{config.backbone}_features")


def cached_features(features: keras.Model, images: np.ndarray, folder: Path,
                    batch_size: int = 128) -> np.ndarray:
    """The backbone's features of ``images``, computed once and kept in ``folder``.

    The file name's key hashes the pixels (with their shape and dtype) and every weight of
    ``features`` (names, shapes and values), so other images or other weights (another
    checkpoint, random initialisation, fine-tuning) never reuse a stale file.
    """
    digest = hashlib.sha256()
    digest.update(f"{images.shape}|{images.dtype}|".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    for weight in features.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"|{weight.path}|{value.shape}|{value.dtype}|".encode())
        digest.update(value.tobytes())
    key = digest.hexdigest()[:16]
    path = Path(folder) / f"features-{features.name}-{images.shape[1]}px-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(features.predict(images.astype(np.float32), batch_size=batch_size, verbose=0))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def training_batches(variant: str, x: np.ndarray, labels, config: FaceTrainConfig,
                     seed: int | np.random.Generator | None = None) -> keras.utils.PyDataset:
    """The batches a variant trains on: triplets, P x K groups or balanced pairs, ``images_per_step`` each."""
    n, k = config.images_per_step, config.images_per_person
    if variant == "random triplets":
        return TripletDataset(x, labels, batch_size=n // 3, steps=config.steps, scale=1.0, seed=seed)
    if variant == "batch-hard triplets":
        return PKDataset(x, labels, people_per_batch=n // k, images_per_person=k, steps=config.steps,
                         scale=1.0, seed=seed)
    if variant == "contrastive pairs":
        return RandomPairDataset(x, labels, batch_size=n // 2, steps=config.steps, scale=1.0, seed=seed)
    raise ValueError(f"variant={variant!r}: choose one of {', '.join(METHODS)}")


def compiled_model(variant: str, model: keras.Model, config: FaceTrainConfig) -> keras.Model:
    """``model`` wrapped and compiled for a variant's loss (the wrapper shares its weights)."""
    optimizer = keras.optimizers.Adam(config.learning_rate)
    if variant == "random triplets":
        wrapper = siamese_model(model, margin=config.margin)
        wrapper.compile(optimizer=optimizer)
    elif variant == "batch-hard triplets":
        wrapper = model
        wrapper.compile(optimizer=optimizer, loss=MinedTripletLoss("hard", config.margin))
    elif variant == "contrastive pairs":
        wrapper = build_siamese(model, head="distance")
        wrapper.compile(optimizer=optimizer, loss=ContrastiveLoss(config.contrastive_margin))
    else:
        raise ValueError(f"variant={variant!r}: choose one of {', '.join(METHODS)}")
    return wrapper


def fit(variant: str, model: keras.Model, x: np.ndarray, labels, config: FaceTrainConfig,
        validation: tuple[np.ndarray, np.ndarray] | None = None, verbose: int = 2) -> dict:
    """Train ``model`` (images or cached features ``x``) with a variant's loss; returns the history."""
    rng = np.random.default_rng(config.seed)
    wrapper = compiled_model(variant, model, config)
    val = None if validation is None else training_batches(variant, *validation, config, seed=config.seed)
    history = wrapper.fit(training_batches(variant, x, labels, config, seed=rng), validation_data=val,
                          epochs=config.epochs, verbose=verbose)
    return history.history


def indexed_pair_distances(embeddings: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pair ``index[i] = (left, right)`` of embedding rows."""
    return np.linalg.norm(embeddings[index[:, 0]] - embeddings[index[:, 1]], axis=1)


def train_without(variant: str, faces: lfw.Faces, pairs: LFWPairs, group: list[int], x: np.ndarray,
                  config: FaceTrainConfig, weights: str | None, verbose: int = 0) -> keras.Model:
    """A fresh embedding trained on everyone outside the folds of ``group``; returns its trainable part."""
    keras.utils.set_random_seed(config.seed)
    model = trainable_part(new_embedding(config, weights), config)
    train = lfw.training_mask(faces, pairs, group)
    history = fit(variant, model, x[train], faces.identities[train], config, verbose=verbose)
    people = len(np.unique(faces.identities[train]))
    print(f"folds {group}: trained on {train.sum():,} faces of {people:,} people, "
          f"loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}", flush=True)
    return model


def model_pair_distances(model: keras.Model, x: np.ndarray, index: np.ndarray,
                         batch_size: int = 256) -> np.ndarray:
    """Distance of each pair ``index[i] = (left, right)`` of rows of ``x``, embedding only the rows used."""
    used, position = np.unique(index, return_inverse=True)
    # Plain calls, not predict(): each group's fresh model would compile a new predict function.
    vectors = np.concatenate([keras.ops.convert_to_numpy(model(x[rows].astype(np.float32), training=False))
                              for rows in np.array_split(used, max(1, -(-len(used) // batch_size)))])
    return indexed_pair_distances(vectors, position.reshape(index.shape))


def protocol_distances(variant: str, faces: lfw.Faces, pairs: LFWPairs, config: FaceTrainConfig,
                       weights: str | None, groups: list[list[int]], features: np.ndarray | None = None,
                       verbose: int = 0) -> np.ndarray:
    """Each pair's distance from a model trained on none of the people of that pair's fold group.

    One fresh embedding per group of folds, trained on the faces of everyone outside the
    group (``lfw.training_mask``), scores the group's pairs. ``features``: the frozen
    backbone's cached features of ``faces`` (needed when ``config.frozen``).
    """
    if config.frozen and features is None:
        raise ValueError("a frozen backbone trains on cached features: pass features=")
    x = features if config.frozen else faces.images
    index = lfw.pair_indices(faces, pairs)
    distances = np.full(len(pairs), np.nan)
    for group in groups:
        model = train_without(variant, faces, pairs, group, x, config, weights, verbose)
        rows = np.isin(pairs.folds, group)
        distances[rows] = model_pair_distances(model, x, index[rows])
    return distances


def fold_accuracies(distances, labels, folds) -> np.ndarray:
    """The LFW protocol: for each fold, a threshold chosen on the other folds, the accuracy on this one."""
    distances, labels, folds = np.asarray(distances), np.asarray(labels), np.asarray(folds)
    accuracies = []
    for fold in np.unique(folds):
        here = folds == fold
        threshold = metrics.best_threshold(distances[~here], labels[~here])
        accuracies.append(metrics.accuracy_at(distances[here], labels[here], threshold))
    return np.array(accuracies)

