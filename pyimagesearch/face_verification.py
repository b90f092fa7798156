"""Chapter 05's training and evaluation: one face embedding, three ways to train it, the LFW protocol.

The three ways, at the same budget (``steps`` x ``images_per_step`` images embedded per epoch):

* ``"random triplets"``: the course's ``SiameseModel`` on random (anchor, positive, negative)
  triplets (``triplets.TripletDataset``) with the triplet loss;
* ``"batch-hard triplets"``: the embedding alone on P people x K images per batch with the
  hardest positive and negative of every anchor mined inside the batch (``MinedTripletLoss``);
* ``"contrastive pairs"``: chapter 04's distance model on balanced random pairs with the
  contrastive loss;
* ``"cosface"``: a classifier over the training identities with a cosine margin
  (``triplets.CosFaceLoss``) on random batches; only the embedding is kept.

The LFW protocol scores them: :func:`protocol_distances` gives every pair its distance from a
model that never saw the people of the pair's fold (one model per group of folds), and
``metrics.fold_accuracies`` chooses, for each fold, a threshold on the other folds and measures
the accuracy on this one.

What stays frozen runs once: the backbone's activations at a layer (``cut``) of every face and
its mirror image are cached (:func:`cached_activations`). A frozen backbone's pooled features are
its last layers applied to those activations, and only the small head trains on them: minutes on
two CPU cores. With ``cut`` the backbone's layers after it train with the head, from ImageNet's
weights, on a random one of the two. Fine-tuning trains the whole embedding on the images and
belongs on a GPU.
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
from pyimagesearch.models import (
    build_backbone_embedding,
    build_embedding_head,
    build_siamese,
    build_tail_embedding,
    split_backbone,
    with_mirrors,
)
from pyimagesearch.triplet_model import siamese_model
from pyimagesearch.triplets import (
    CosFaceLoss,
    CosineLogits,
    LabelledBatches,
    MinedTripletLoss,
    PKDataset,
    RandomPairDataset,
    TripletDataset,
)

METHODS = ("random triplets", "batch-hard triplets", "contrastive pairs", "cosface")


@dataclass(frozen=True)
class FaceTrainConfig:
    """Everything that decides an embedding and its training (saved with each result)."""

    backbone: str = "mobilenet_v2"
    size: int = 112
    embedding_dim: int = 128
    trainable_layers: int = 0
    cut: str | None = None
    dropout: float = 0.2
    flip: bool = True
    margin: float = 0.5
    contrastive_margin: float = 1.0
    cosface_scale: float = 30.0
    cosface_margin: float = 0.35
    images_per_step: int = 96
    images_per_person: int = 2
    steps: int = 200
    epochs: int = 5
    learning_rate: float = 1e-3
    schedule: str = "constant"
    seed: int = 42

    @property
    def frozen(self) -> bool:
        """True when the backbone does not train: the head then trains on cached features."""
        return self.trainable_layers == 0

    def as_dict(self) -> dict:
        """The configuration as a plain dict (for tables and JSON)."""
        return asdict(self)


SCHEDULES = ("constant", "cosine")


def optimizer_for(config: FaceTrainConfig) -> keras.optimizers.Optimizer:
    """Adam at ``learning_rate``: constant, or cosine-decayed to 1 % of it over ``steps x epochs``."""
    if config.schedule not in SCHEDULES:
        raise ValueError(f"schedule={config.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    rate = config.learning_rate
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, config.steps * config.epochs, alpha=0.01)
    return keras.optimizers.Adam(rate)


class PairROC(keras.callbacks.Callback):
    """After every epoch, the ROC AUC of fixed pairs' flip-averaged distances, logged as ``name``.

    ``tail_embedding`` embeds cached face-and-mirror ``activations``; ``index`` holds each pair's
    two rows and ``labels`` 1 for the same person. Put it before callbacks that read ``name``
    (``keras.callbacks.ModelCheckpoint(monitor=name, mode="max")``).
    """

    def __init__(self, tail_embedding: keras.Model, activations: np.ndarray, index: np.ndarray, labels,
                 name: str = "val_roc_auc"):
        super().__init__()
        self.tail_embedding, self.activations, self.index = tail_embedding, activations, index
        self.labels, self.name = np.asarray(labels), name

    def on_epoch_end(self, epoch, logs=None):
        distances = mirror_pair_distances(self.tail_embedding, self.activations, self.index)[:, 1]
        logs[self.name] = metrics.roc_auc(distances, self.labels)  # smaller distance = same person


def new_embedding(config: FaceTrainConfig, weights: str | None) -> keras.Model:
    """A fresh embedding: backbone (``weights``), head, unit length; flips only when fine-tuned."""
    return build_backbone_embedding(config.backbone, (config.size, config.size, 3), config.embedding_dim,
                                    config.trainable_layers, weights, config.dropout,
                                    flip=config.flip and not config.frozen)


def new_trainable(config: FaceTrainConfig, weights: str | None,
                  feature_shape: tuple[int, ...]) -> keras.Model:
    """What a protocol model trains on inputs of ``feature_shape`` (one row's).

    A frozen backbone: the head alone, on its pooled features; ``cut``: tail + head, on its
    activations; fine-tuned: the whole embedding, on the images.
    """
    if config.cut is not None:
        tail = split_backbone(config.backbone, (config.size, config.size, 3), config.cut, weights)[1]
        return build_tail_embedding(tail, config.embedding_dim, config.dropout)
    if config.frozen:
        return build_embedding_head(feature_shape[-1], config.embedding_dim, config.dropout)
    return new_embedding(config, weights)


def cache_key(model: keras.Model, images: np.ndarray) -> str:
    """16 hex digits that change with the images (pixels, shape, dtype) or any weight of ``model``."""
    digest = hashlib.sha256()
    digest.update(f"{images.shape}|{images.dtype}|".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"|{weight.path}|{value.shape}|{value.dtype}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


def cached_activations(front: keras.Model, images: np.ndarray, folder: Path,
                       batch_size: int = 128) -> np.ndarray:
    """``front``'s activations of every image and its mirror image, ``(N, 2, ...)`` float16, memory-mapped.

    Computed once into ``folder``; the name's key (:func:`cache_key`) changes with the
    images and with every weight of ``front``, so a stale file is never read. The file
    appears only when complete (written under a temporary name, then renamed).
    """
    path = Path(folder) / f"activations-{front.name}-{images.shape[1]}px-{cache_key(front, images)}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16,
                                        shape=(len(images), 2, *front.output_shape[1:]))
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].astype(np.float32)
            for side, pixels in enumerate((batch, batch[:, :, ::-1])):
                out[start:start + batch_size, side] = front.predict_on_batch(pixels)  # compiled: 2.7x eager
        out.flush()
        del out
        partial.rename(path)
    return np.load(path, mmap_mode="r")


def embed_cached(tail_embedding: keras.Model, activations: np.ndarray,
                 batch_size: int = 256) -> np.ndarray:
    """The saved model's flip-averaged unit embeddings, from cached ``(N, 2, ...)`` activations."""
    sides = (activations[:, side].astype(np.float32) for side in (0, 1))  # face, mirror
    both = sum(tail_embedding.predict(x, batch_size=batch_size, verbose=0) for x in sides)
    return both / np.linalg.norm(both, axis=1, keepdims=True)


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
    if variant == "cosface":
        return LabelledBatches(x, labels, batch_size=n, steps=config.steps, seed=seed)
    raise ValueError(f"variant={variant!r}: choose one of {', '.join(METHODS)}")


def variant_loss(variant: str, config: FaceTrainConfig) -> keras.losses.Loss | None:
    """The Keras loss a variant compiles with; None for random triplets (the ``SiameseModel`` has its own)."""
    if variant not in METHODS:
        raise ValueError(f"variant={variant!r}: choose one of {', '.join(METHODS)}")
    return {"random triplets": None,
            "batch-hard triplets": MinedTripletLoss("hard", config.margin),
            "contrastive pairs": ContrastiveLoss(config.contrastive_margin),
            "cosface": CosFaceLoss(config.cosface_scale, config.cosface_margin)}[variant]


def compiled_model(variant: str, model: keras.Model, config: FaceTrainConfig,
                   n_classes: int = 2, loss: keras.losses.Loss | None = None) -> keras.Model:
    """``model`` wrapped and compiled for a variant's loss (the wrapper shares its weights).

    ``n_classes``: the training identities, for the cosine classifier of ``"cosface"``;
    ``loss``: a Keras loss in place of the variant's own (:func:`variant_loss`), e.g. a
    notebook's version of it.
    """
    optimizer = optimizer_for(config)
    loss = variant_loss(variant, config) if loss is None else loss
    if variant == "random triplets":
        if loss is not None:
            raise ValueError("random triplets: the SiameseModel computes its own triplet loss; pass no loss=")
        wrapper = siamese_model(model, margin=config.margin)
    elif variant == "batch-hard triplets":
        wrapper = model
    elif variant == "contrastive pairs":
        wrapper = build_siamese(model, head="distance")
    else:
        cosines = CosineLogits(n_classes, name="cosine_logits")(model.outputs[0])
        wrapper = keras.Model(model.inputs[0], cosines)
    wrapper.compile(optimizer=optimizer, loss=loss)
    return wrapper


def fit(variant: str, model: keras.Model, x: np.ndarray, labels, config: FaceTrainConfig,
        validation: tuple[np.ndarray, np.ndarray] | None = None, verbose: int = 2,
        loss: keras.losses.Loss | None = None) -> dict:
    """Train ``model`` (images or cached features ``x``) with the variant's loss or ``loss``; the history."""
    rng = np.random.default_rng(config.seed)
    wrapper = compiled_model(variant, model, config, n_classes=len(np.unique(labels)), loss=loss)
    val = None if validation is None else training_batches(variant, *validation, config, seed=config.seed)
    history = wrapper.fit(training_batches(variant, x, labels, config, seed=rng), validation_data=val,
                          epochs=config.epochs, verbose=verbose)
    return history.history


def indexed_pair_distances(embeddings: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pair ``index[i] = (left, right)`` of embedding rows."""
    return np.linalg.norm(embeddings[index[:, 0]] - embeddings[index[:, 1]], axis=1)


def train_without(variant: str, faces: lfw.Faces, pairs: LFWPairs, group: list[int], x: np.ndarray,
                  config: FaceTrainConfig, weights: str | None, loss: keras.losses.Loss | None = None,
                  verbose: int = 0) -> tuple[keras.Model, dict]:
    """A fresh embedding trained on everyone outside the folds of ``group``: its trainable part, history."""
    keras.utils.set_random_seed(config.seed)
    model = new_trainable(config, weights, x.shape[1:])
    train = lfw.training_mask(faces, pairs, group)
    trained = model if config.cut is None else with_mirrors(model)  # a random one of face and mirror
    history = fit(variant, trained, x[train], faces.identities[train], config, verbose=verbose, loss=loss)
    return model, history


def model_pair_distances(model: keras.Model, x: np.ndarray, index: np.ndarray,
                         batch_size: int = 256) -> np.ndarray:
    """Distance of each pair ``index[i] = (left, right)`` of rows of ``x``, embedding only the rows used."""
    used, position = np.unique(index, return_inverse=True)
    # Plain calls, not predict(): each group's fresh model would compile a new predict function.
    vectors = np.concatenate([keras.ops.convert_to_numpy(model(x[rows].astype(np.float32), training=False))
                              for rows in np.array_split(used, max(1, -(-len(used) // batch_size)))])
    return indexed_pair_distances(vectors, position.reshape(index.shape))


def mirror_pair_distances(model: keras.Model, activations: np.ndarray, index: np.ndarray,
                          batch_size: int = 256) -> np.ndarray:
    """``(P, 2)`` distances of pairs of cached face-and-mirror activations: faces alone, then flip-averaged.

    Flip averaging embeds a face and its mirror image and keeps their mean at unit length.
    """
    used, position = np.unique(index, return_inverse=True)
    sides = [np.concatenate([keras.ops.convert_to_numpy(model(activations[rows, side].astype(np.float32),
                                                              training=False))
                             for rows in np.array_split(used, max(1, -(-len(used) // batch_size)))])
             for side in (0, 1)]
    both = sides[0] + sides[1]
    averaged = both / np.linalg.norm(both, axis=1, keepdims=True)
    pairs = position.reshape(index.shape)
    return np.stack([indexed_pair_distances(sides[0], pairs), indexed_pair_distances(averaged, pairs)],
                    axis=1)


def protocol_distances(variant: str, faces: lfw.Faces, pairs: LFWPairs, config: FaceTrainConfig,
                       weights: str | None, groups: list[list[int]], features: np.ndarray | None = None,
                       loss: keras.losses.Loss | None = None, verbose: int = 0) -> np.ndarray:
    """Each pair's distance from a model trained on none of the people of that pair's fold group.

    One fresh embedding per group of folds, trained on the faces of everyone outside the
    group (``lfw.training_mask``) with the variant's loss or ``loss``, scores the group's
    pairs; one line reports the models' mean loss per epoch. ``features``: the frozen
    backbone's pooled features of ``faces`` (needed when ``config.frozen``), or with
    ``config.cut`` its cached face-and-mirror activations; then the result is ``(P, 2)``:
    each pair's distance without and with flip averaging (:func:`mirror_pair_distances`).
    """
    if config.frozen and features is None:
        raise ValueError("a frozen backbone trains on cached features: pass features=")
    x = features if config.frozen else faces.images
    index = lfw.pair_indices(faces, pairs)
    distances = np.full((len(pairs), 2) if config.cut else len(pairs), np.nan)
    losses = []
    for group in groups:
        model, history = train_without(variant, faces, pairs, group, x, config, weights, loss, verbose)
        losses.append(history["loss"])
        rows = np.isin(pairs.folds, group)
        score = mirror_pair_distances if config.cut else model_pair_distances
        distances[rows] = score(model, x, index[rows])
    curve = " -> ".join(f"{value:.4f}" for value in np.mean(losses, axis=0))
    print(f"{len(groups)} models, mean training loss by epoch: {curve}", flush=True)
    return distances
