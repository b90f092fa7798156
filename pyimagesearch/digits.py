"""The MNIST-style experiments of chapters 02-04: splits, pairs, training budgets, model files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from pyimagesearch.config import Settings
from pyimagesearch.datasets import DIGIT_DATASETS
from pyimagesearch.pairs import PairDataset, make_pair_indices

# Quick mode: a subset of each split, enough to see the pipeline work in about a minute.
QUICK_SIZES = {"train": 6000, "val": 1000, "test": 2000}
# Training budget per extractor in full mode (epochs, batch size), sized for 2 CPU cores.
FULL_BUDGET = {"course": (10, 256), "improved": (6, 256)}
QUICK_BUDGET = {"course": (1, 128), "improved": (1, 128)}
# Fixed seeds so that chapters 02, 03 and 04 score exactly the same pairs.
SPLIT_SEED, PAIR_SEEDS = 1234, {"train": 1, "val": 2, "test": 3}


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


def budget(extractor: str, quick: bool) -> tuple[int, int]:
    """(epochs, batch size) for training an extractor in this mode."""
    return (QUICK_BUDGET if quick else FULL_BUDGET)[extractor]


def model_path(settings: Settings, dataset: str, extractor: str, loss: str) -> Path:
    """Where a chapter saves a trained Siamese model, e.g. ``output/full/mnist_course_bce.keras``."""
    return settings.output_dir / f"{dataset}_{extractor}_{loss}.keras"


def predict_pairs(model: keras.Model, split: Split, batch_size: int = 1024) -> np.ndarray:
    """The model's output (probability or distance) for every pair of a split, flat."""
    return np.asarray(model.predict(split.dataset(batch_size), verbose=0)).ravel()


def compile_siamese(model: keras.Model, head: str, learning_rate=1e-3) -> keras.Model:
    """Adam with binary cross-entropy (sigmoid head) or the contrastive loss (distance head)."""
    from pyimagesearch.losses import ContrastiveLoss

    if head == "sigmoid":
        model.compile(keras.optimizers.Adam(learning_rate), loss="binary_crossentropy", metrics=["accuracy"])
    else:
        model.compile(keras.optimizers.Adam(learning_rate), loss=ContrastiveLoss(margin=1.0))
    return model


def train_siamese(extractor: str, head: str, splits: dict[str, Split], settings: Settings):
    """Build, compile and fit a Siamese model within this mode's budget; return (model, history).

    The course's extractor uses Adam at a fixed 1e-3 on fixed pairs, as in the original; the
    improved recipe draws fresh pairs every epoch and adds a cosine decay of the learning rate.
    """
    from pyimagesearch.models import EXTRACTORS, build_siamese

    epochs, batch_size = budget(extractor, settings.quick)
    train = splits["train"].dataset(batch_size, shuffle=True, seed=settings.seed)
    learning_rate = 1e-3
    if extractor == "improved":
        train = PairDataset.from_labels(splits["train"].images, splits["train"].labels, batch_size,
                                        seed=settings.seed, resample=True)
        learning_rate = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=epochs * len(train))
    model = compile_siamese(build_siamese(EXTRACTORS[extractor](), head), head, learning_rate)
    history = model.fit(train, validation_data=splits["val"].dataset(1024), epochs=epochs, verbose=2)
    return model, history
