"""The MNIST-style experiments of chapters 02-04: splits, pairs, training, model files, scoring.

Chapter 02 trains and saves the models; chapter 03 finds one (or trains the quick one),
loads it and scores pairs of image files with :func:`compare_images`.
"""

from __future__ import annotations

import dataclasses
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from pyimagesearch.config import Settings, relative_to_repo
from pyimagesearch.datasets import DIGIT_DATASETS
from pyimagesearch.images import read_image
from pyimagesearch.layers import PairwiseSameProbability  # also registers EuclideanDistance for load_model
from pyimagesearch.losses import InBatchBCELoss, InBatchContrastiveLoss
from pyimagesearch.metrics import verification_summary
from pyimagesearch.models import EXTRACTORS, build_improved_extractor, build_siamese
from pyimagesearch.pairs import PairDataset, make_pair_indices

# Quick mode: a subset of each split, enough to see the pipeline work in about a minute.
QUICK_SIZES = {"train": 6000, "val": 1000, "test": 2000}
# Training budgets (epochs, batch size), sized for 2 CPU cores: each extractor on pairs (chapter 02;
# the original course: 100 epochs of 64 pairs), and "in-batch" for the improved extractor trained
# on batches of images with every pair inside a batch scored (chapter 04b), under 10 minutes.
FULL_BUDGET = {"course": (1, 256), "improved": (3, 256), "in-batch": (7, 256)}
QUICK_BUDGET = {"course": (1, 256), "improved": (1, 256), "in-batch": (1, 256)}
# In-batch training's peak learning rate per head, chosen on validation pairs by
# 04_contrastive-loss/recipe_search.py
IN_BATCH_PEAK_RATES = {"distance": 2e-3, "sigmoid": 5e-3}
IN_BATCH_SHIFT = 0.0  # random shifts in in-batch training: off (they cost 50 % more time per step)
# Fixed seeds so that chapters 02, 03 and 04 score exactly the same pairs.
SPLIT_SEED, PAIR_SEEDS = 1234, {"train": 1, "val": 2, "test": 3}
# The head each loss trains, as in the model files' names (mnist_improved_bce.keras).
HEADS = {"bce": "sigmoid", "contrastive": "distance"}
DIGIT_SIZE = (28, 28)  # (width, height) of the images the models take


@dataclass
class Split:
    """Images, their class labels, and the index pairs built from them."""

    images: np.ndarray
    labels: np.ndarray
    pairs: np.ndarray
    pair_labels: np.ndarray

    def dataset(self, batch_size: int, shuffle: bool = False, seed: int | None = None) -> PairDataset:
        """A Keras loader of this split's pairs, float32 pixels in [0, 1]."""
        return PairDataset(self.images, self.pairs, self.pair_labels, batch_size=batch_size,
                           shuffle=shuffle, seed=seed)

    def arrays(self) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """All pairs gathered once, ``((left, right), labels)``: float32 pixels in [0, 1], for ``fit``."""
        left, right = (to_model_input(self.images[self.pairs[:, side]]) for side in (0, 1))
        return (left, right), self.pair_labels.astype("float32")


def _take(images: np.ndarray, labels: np.ndarray, n: int | None, seed: int):
    """A stratified subset of ``n`` images (all of them when ``n`` is None)."""
    if n is None or n >= len(labels):
        return images, labels
    keep, _ = train_test_split(np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed)
    keep.sort()
    return images[keep], labels[keep]


def load_digit_splits(dataset: str, quick: bool, val_fraction: float = 0.1) -> dict[str, Split]:
    """Train, validation and test splits with pairs; validation comes from the training images.

    The test split is the dataset's own test set, never used to choose anything.
    """
    if dataset not in DIGIT_DATASETS:
        raise ValueError(f"dataset={dataset!r}: choose one of {', '.join(DIGIT_DATASETS)}")
    (x_train, y_train), (x_test, y_test) = DIGIT_DATASETS[dataset]()
    train_idx, val_idx = train_test_split(np.arange(len(y_train)), test_size=val_fraction,
                                          stratify=y_train, random_state=SPLIT_SEED)
    arrays = {"train": (x_train[train_idx], y_train[train_idx]),
              "val": (x_train[val_idx], y_train[val_idx]), "test": (x_test, y_test)}
    splits = {}
    for name, (images, labels) in arrays.items():
        images, labels = _take(images, labels, QUICK_SIZES[name] if quick else None, SPLIT_SEED)
        pairs, pair_labels = make_pair_indices(labels, seed=PAIR_SEEDS[name])
        splits[name] = Split(images, labels, pairs, pair_labels)
    return splits


def budget(training: str, quick: bool) -> tuple[int, int]:
    """(epochs, batch size) in this mode for an extractor on pairs, or ``"in-batch"`` (chapter 04b)."""
    return (QUICK_BUDGET if quick else FULL_BUDGET)[training]


def model_path(settings: Settings, dataset: str, extractor: str, loss: str) -> Path:
    """Where a chapter saves a trained Siamese model, e.g. ``output/full/mnist_improved_bce.keras``."""
    return settings.output_dir / f"{dataset}_{extractor}_{loss}.keras"


def predict_pairs(model: keras.Model, split: Split, batch_size: int = 1024) -> np.ndarray:
    """The model's output (probability or distance) for every pair of a split, flat.

    Each image is embedded once by the model's shared extractor, not once for every pair it
    is in; the model's head (its layers after the extractor) then scores the pairs of embeddings.
    """
    extractor = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    first = next(layer for layer in model.layers if layer.name in ("distance", "l1_difference"))
    head = keras.Model(first.input, model.output)
    vectors = extractor.predict(to_model_input(split.images), batch_size=batch_size, verbose=0)
    scores = head.predict([vectors[split.pairs[:, 0]], vectors[split.pairs[:, 1]]], batch_size=batch_size,
                          verbose=0)
    return np.asarray(scores).ravel()


def evaluate_pairs(model: keras.Model, splits: dict[str, Split], greater_is_same: bool) -> dict[str, float]:
    """A model's threshold on the validation pairs, then its accuracy, ROC AUC and EER on the test pairs."""
    val, test = (predict_pairs(model, splits[name]) for name in ("val", "test"))
    return verification_summary(val, splits["val"].pair_labels, test, splits["test"].pair_labels,
                                greater_is_same=greater_is_same)


def compile_siamese(model: keras.Model, head: str, learning_rate=1e-3) -> keras.Model:
    """Adam with binary cross-entropy (sigmoid head) or the contrastive loss (distance head)."""
    from pyimagesearch.losses import ContrastiveLoss

    if head == "sigmoid":
        model.compile(keras.optimizers.Adam(learning_rate), loss="binary_crossentropy", metrics=["accuracy"])
    else:
        model.compile(keras.optimizers.Adam(learning_rate), loss=ContrastiveLoss(margin=1.0))
    return model


def train_pairs(extractor: str, head: str, splits: dict[str, Split], settings: Settings,
                verbose: int = 2) -> tuple[keras.Model, keras.callbacks.History]:
    """The course's recipe: a Siamese model fitted on fixed, shuffled pairs with Adam at 1e-3."""
    epochs, batch_size = budget(extractor, settings.quick)
    model = compile_siamese(build_siamese(EXTRACTORS[extractor](), head), head)
    (left, right), labels = splits["train"].arrays()
    history = model.fit([left, right], labels, batch_size=batch_size, epochs=epochs, shuffle=True,
                        validation_data=splits["val"].arrays(), verbose=verbose)
    return model, history


def in_batch_model(extractor: keras.Model, head: str, shift: float = IN_BATCH_SHIFT) -> keras.Model:
    """Images -> random shifts (``shift`` > 0, in training only) -> ``extractor`` -> embeddings, or their
    P(same) matrix.

    ``head="distance"`` outputs the embeddings ``(batch, dim)``; ``head="sigmoid"`` the
    :class:`PairwiseSameProbability` matrix ``(batch, batch)`` of every pair in the batch.
    """
    images = keras.Input(shape=tuple(extractor.input_shape[1:]), name="images")
    x = images
    if shift:
        x = keras.layers.RandomTranslation(shift, shift, fill_mode="constant", name="shift")(x)
    x = extractor(x)
    if head == "sigmoid":
        x = PairwiseSameProbability(name="same_probability")(x)
    return keras.Model(images, x, name=f"in_batch_{head}")


def siamese_from_in_batch(model: keras.Model, extractor: keras.Model, head: str) -> keras.Model:
    """``build_siamese(extractor, head)``, its sigmoid head given the in-batch model's trained weights."""
    siamese = build_siamese(extractor, head)
    if head == "sigmoid":
        siamese.get_layer("same_probability").set_weights(model.get_layer("same_probability").get_weights())
    return siamese


def in_batch_extractor(head: str) -> keras.Model:
    """The improved extractor for in-batch training: unit length for the contrastive ``"distance"`` head."""
    return build_improved_extractor(normalize=head == "distance")  # a fixed scale for the margin


def train_in_batch(extractor: keras.Model, head: str, train: Split, epochs: int, batch_size: int,
                   verbose: int = 2,
                   peak_rate: float | None = None) -> tuple[keras.Model, keras.callbacks.History]:
    """Fit ``extractor`` on batches of images, scoring every pair in a batch; return its pair model, history.

    Adam with a cosine decay from ``peak_rate`` (default: the head's ``IN_BATCH_PEAK_RATES``); the
    balanced in-batch contrastive loss for ``head="distance"``, balanced in-batch binary
    cross-entropy for ``head="sigmoid"``.
    """
    model = in_batch_model(extractor, head)
    steps = epochs * math.ceil(len(train.labels) / batch_size)
    loss = InBatchBCELoss() if head == "sigmoid" else InBatchContrastiveLoss(margin=1.0)
    schedule = keras.optimizers.schedules.CosineDecay(peak_rate or IN_BATCH_PEAK_RATES[head], steps)
    model.compile(keras.optimizers.Adam(schedule), loss=loss)
    history = model.fit(to_model_input(train.images), train.labels, batch_size=batch_size, epochs=epochs,
                        shuffle=True, verbose=verbose)
    return siamese_from_in_batch(model, extractor, head), history


def train_siamese(extractor: str, head: str, splits: dict[str, Split], settings: Settings,
                  verbose: int = 2, in_batch: bool = False) -> tuple[keras.Model, keras.callbacks.History]:
    """A chapter's Siamese model: an extractor on pairs (chapter 02), or the improved one in-batch (04)."""
    if not in_batch:
        return train_pairs(extractor, head, splits, settings, verbose)
    epochs, batch_size = budget("in-batch", settings.quick)
    return train_in_batch(in_batch_extractor(head), head, splits["train"], epochs, batch_size, verbose)


def find_or_train_model(settings: Settings, dataset: str = "mnist", extractor: str = "improved",
                        loss: str = "bce") -> Path:
    """Chapter 02's model file; when it is missing, train and save its quick version (a minute on a CPU).

    Looks in this mode's output folder, then in quick mode's. The quick model is saved in
    quick mode's folder, so a full-mode folder only ever holds full-mode models.
    """
    path = model_path(settings, dataset, extractor, loss)
    quick = dataclasses.replace(settings, quick=True, output_dir=settings.output_dir.parent / "quick")
    quick_path = model_path(quick, dataset, extractor, loss)
    if path.exists():
        return path
    if quick_path.exists():
        print(f"{path.name} is not in {relative_to_repo(settings.output_dir)}: using chapter 02's quick "
              f"model from {relative_to_repo(quick.output_dir)}")
        return quick_path
    print(f"{path.name} is not in {relative_to_repo(settings.output_dir)} (chapter 02 saves it there): "
          "training chapter 02's quick model now, about a minute on a CPU")
    quick.output_dir.mkdir(parents=True, exist_ok=True)
    model, _ = train_siamese(extractor, HEADS[loss], load_digit_splits(dataset, quick=True), quick, verbose=0)
    model.save(quick_path)
    return quick_path


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and what to do."""


def load_siamese(path: str | Path) -> keras.Model:
    """Load a saved Siamese model (``safe_mode=True``); a bad file raises ModelFileError naming it."""
    path = Path(path)
    name, advice = relative_to_repo(path), "run chapter 02 to make it again"
    if not path.is_file():
        raise ModelFileError(f"{name}: no such file; {advice}")
    if not zipfile.is_zipfile(path):  # empty, truncated, or not a model at all
        raise ModelFileError(f"{name}: not a valid .keras file (a .keras file is a zip archive); {advice}")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # a zip archive, but not a whole Keras model
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{name}: not a valid .keras file ({reason}); {advice}") from None


def read_digit(path: str | Path, resize: bool = False) -> np.ndarray:
    """A greyscale 28x28 image file as uint8 (28, 28); any other size is an error unless ``resize``."""
    return read_image(path, mode="gray", size=DIGIT_SIZE, resize=resize)


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) to float32 in [0, 1] with a channel axis, as in training."""
    return (np.asarray(images, dtype="float32") / 255.0)[..., np.newaxis]


def compare_images(model: keras.Model, path_a: str | Path, path_b: str | Path, resize: bool = False) -> float:
    """The model's score for two image files: P(same digit) for a sigmoid head, else the distance."""
    left, right = (to_model_input(read_digit(path, resize)[np.newaxis]) for path in (path_a, path_b))
    return float(np.asarray(model.predict([left, right], verbose=0)).ravel()[0])
