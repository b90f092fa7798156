"""A contrastive Siamese trainer for faces, assembled from Keras callbacks.

:func:`train` builds the face extractor and its Siamese pair model, trains it on balanced
pairs of the training people and, through callbacks, after every epoch:

* measures verification ROC AUC on all pairs of the training and the validation people
  (``auc`` and ``val_auc`` in the logs, the history and the progress line),
* plots the training curves every ``every`` epochs (``curves.png``),
* saves the model every ``every`` epochs (``epoch_NNN.keras``),
* keeps the weights of the epoch with the best ``val_auc`` (saved as ``best.keras``) and puts
  them back into the model when training ends,
* writes a JSON record of the run next to the weights (``run.json``): configuration, data
  split, seed, library versions, the history and the best epoch so far.

:func:`train_feature_metric` trains chapter 06's Siamese network on frozen features (the
builder and the loss it is given), and :func:`ensure_cnn` finds notebook 06b's compact CNN,
running that notebook first when it is missing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from pyimagesearch import plots
from pyimagesearch.devices import versions
from pyimagesearch.identification import all_pair_distances, embed
from pyimagesearch.losses import ContrastiveLoss, InBatchContrastiveLoss
from pyimagesearch.metrics import roc_auc
from pyimagesearch.models import build_face_extractor, build_feature_metric, build_siamese
from pyimagesearch.pairs import BalancedPairDataset, PairDataset, balanced_pair_indices
from pyimagesearch.results import markdown_table


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved in its JSON record).

    ``verbose``: 0 prints nothing, 1 the model summary and one line per epoch, 2 also the
    optimizer configuration, 3 also the parameter count of every layer.
    """

    embedding_dim: int = 64
    filters: tuple[int, ...] = (16, 32, 64, 128)
    dropout: float = 0.1
    augment: bool = True
    downscale: int = 1
    flatten: bool = False
    margin: float = 1.0
    learning_rate: float = 1e-3
    beta_2: float = 0.999
    epochs: int = 30
    steps_per_epoch: int = 20
    anchors_per_batch: int = 4
    every: int = 5
    verbose: int = 1
    seed: int = 42


@dataclass
class TrainResult:
    """The trained model (best epoch's weights), its extractor, the history and the run's folder."""

    model: keras.Model
    extractor: keras.Model
    history: dict[str, list[float]]
    folder: Path

    @property
    def record_path(self) -> Path:
        """The run's JSON record."""
        return self.folder / "run.json"


class VerificationAUC(keras.callbacks.Callback):
    """After every epoch, ROC AUC of all pairs of some people's embeddings, logged as ``name``."""

    def __init__(self, extractor: keras.Model, images, labels, name: str = "val_auc"):
        super().__init__()
        self.extractor, self.images, self.labels, self.name = extractor, images, labels, name

    def on_epoch_end(self, epoch, logs=None):
        distances, same = all_pair_distances(embed(self.extractor, self.images), self.labels)
        logs[self.name] = roc_auc(distances, same)  # smaller distance = same person


class KeepBest(keras.callbacks.Callback):
    """Keep the weights of the epoch with the highest ``monitor``; put them back when training ends.

    Each new best is also saved as ``path`` (a whole ``.keras`` model). ``best_epoch`` counts from 1.
    """

    def __init__(self, path: Path, monitor: str = "val_auc"):
        super().__init__()
        self.path, self.monitor = path, monitor
        self.best, self.best_epoch, self.best_weights = -np.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        if logs[self.monitor] > self.best:
            self.best, self.best_epoch = logs[self.monitor], epoch + 1
            self.best_weights = self.model.get_weights()
            self.model.save(self.path)

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class PlotCurves(keras.callbacks.Callback):
    """Every ``every`` epochs and at the end, the curves of ``history`` saved as ``path``."""

    def __init__(self, history: keras.callbacks.History, path: Path, every: int = 5,
                 metrics: tuple[str, ...] = ("loss", "auc")):
        super().__init__()
        self.history, self.path, self.every, self.metrics = history, path, every, metrics

    def _plot(self) -> None:
        """Draw and save the curves so far, without showing them."""
        plt.close(plots.plot_history(self.history.history, self.metrics, path=self.path))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._plot()

    def on_train_end(self, logs=None):
        self._plot()


class SaveEvery(keras.callbacks.Callback):
    """The model saved every ``every`` epochs to ``template.format(epoch=...)``."""

    def __init__(self, template: str, every: int = 5):
        super().__init__()
        self.template, self.every = template, every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.model.save(self.template.format(epoch=epoch + 1))


class RunRecord(keras.callbacks.Callback):
    """After every epoch, a JSON record of the run so far (``fixed`` plus history and best epoch)."""

    def __init__(self, history: keras.callbacks.History, path: Path, fixed: dict, monitor: str = "val_auc"):
        super().__init__()
        self.history, self.path, self.fixed, self.monitor = history, path, fixed, monitor
        self.start = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = self.history.history
        best = int(np.argmax(values[self.monitor]))
        seconds = round(time.perf_counter() - self.start, 1)
        record = {**self.fixed, "epochs run": epoch + 1, "seconds": seconds, "final metrics": dict(logs),
                  "best": {"epoch": best + 1, **{key: v[best] for key, v in values.items()}},
                  "history": values}
        write_json(self.path, record)


def write_json(path: Path, record: dict) -> None:
    """Save a dict as indented JSON (NumPy numbers and arrays turned into plain ones)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=lambda v: np.asarray(v).tolist()))


def update_record(path: Path, **sections) -> dict:
    """Add sections (e.g. ``evaluation={...}``) to a run's JSON record; return the record."""
    record = {**json.loads(Path(path).read_text()), **sections}
    write_json(Path(path), record)
    return record


def parameter_counts(model: keras.Model) -> list[dict]:
    """Trainable and non-trainable parameters of every layer that has any, nested models opened."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            rows += [{**row, "layer": f"{layer.name}/{row['layer']}"} for row in parameter_counts(layer)]
        elif layer.weights:
            rows.append({"layer": layer.name, "type": type(layer).__name__,
                         "trainable": sum(int(np.prod(w.shape)) for w in layer.trainable_weights),
                         "non-trainable": sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)})
    return rows


def describe(model: keras.Model, verbose: int) -> None:
    """Print what ``verbose`` asks for: 1 the summary, 2 also the optimizer, 3 also parameters per layer."""
    if verbose >= 1:
        model.summary()
    if verbose >= 2:
        config = model.optimizer.get_config()
        shown = {key: f"{value:.4g}" if isinstance(value, float) else value for key, value in config.items()}
        print("Optimizer:", ", ".join(f"{key}={value}" for key, value in shown.items() if value is not None))
    if verbose >= 3:
        print(markdown_table(parameter_counts(model)))


def compile_model(image_shape: tuple[int, int], config: TrainConfig) -> tuple[keras.Model, keras.Model]:
    """The face extractor and its Siamese distance model, compiled with the contrastive loss."""
    extractor = build_face_extractor((*image_shape, 1), config.embedding_dim, config.filters,
                                     config.dropout, config.augment, config.downscale, config.flatten)
    model = build_siamese(extractor, head="distance")
    optimizer = keras.optimizers.Adam(config.learning_rate, beta_2=config.beta_2)
    model.compile(optimizer=optimizer, loss=ContrastiveLoss(margin=config.margin))
    return model, extractor


def training_callbacks(extractor: keras.Model, train_faces: tuple, val_faces: tuple,
                       history: keras.callbacks.History, folder: Path, config: TrainConfig,
                       fixed: dict) -> list[keras.callbacks.Callback]:
    """The trainer's callbacks, in the order Keras calls them after every epoch.

    ``train_faces`` and ``val_faces`` are ``(images, labels)`` of the training and the
    validation people. The AUC callbacks come first, so that ``History``, ``KeepBest`` and
    the run record see ``auc`` and ``val_auc`` in the epoch's logs.
    """
    return [
        VerificationAUC(extractor, *train_faces, name="auc"),
        VerificationAUC(extractor, *val_faces, name="val_auc"),
        history,
        KeepBest(folder / "best.keras", monitor="val_auc"),
        PlotCurves(history, folder / "curves.png", config.every),
        SaveEvery(str(folder / "epoch_{epoch:03d}.keras"), config.every),
        RunRecord(history, folder / "run.json", fixed),
    ]


def train(images, labels, split: dict[str, np.ndarray], config: TrainConfig, folder: Path) -> TrainResult:
    """Train a contrastive Siamese network on ``split["train"]`` people, validated on ``split["val"]``.

    ``images`` are uint8 ``(N, H, W)`` faces with person ``labels``; ``split`` maps "train",
    "val" (and "test", only recorded) to label values. The returned model holds the weights
    of the epoch with the best validation ROC AUC.
    """
    images, labels = np.asarray(images), np.asarray(labels).ravel()
    train_people, val = np.isin(labels, split["train"]), np.isin(labels, split["val"])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model, extractor = compile_model(images.shape[1:], config)
    describe(model, config.verbose)

    pairs = BalancedPairDataset(images[train_people], labels[train_people], config.anchors_per_batch,
                                config.steps_per_epoch, seed=config.seed)
    val_pairs, val_pair_labels = balanced_pair_indices(labels[val], np.arange(val.sum()), seed=config.seed)
    history = keras.callbacks.History()
    fixed = {"config": asdict(config), "split": split, "seed": config.seed,
             "versions": versions(), "train pairs per epoch": len(pairs.pairs)}
    callbacks = training_callbacks(extractor, (images[train_people], labels[train_people]),
                                   (images[val], labels[val]), history, folder, config, fixed)
    model.fit(pairs, validation_data=PairDataset(images[val], val_pairs, val_pair_labels, batch_size=256),
              epochs=config.epochs, callbacks=callbacks, verbose=2 if config.verbose else 0)
    return TrainResult(model, extractor, history.history, folder)


def train_feature_metric(features, labels, split: dict[str, np.ndarray], build=build_feature_metric,
                         loss: keras.losses.Loss | None = None, epochs: int = 200,
                         learning_rate: float = 1e-2, every: int = 10) -> tuple[keras.Model, int]:
    """Learn one weight per frozen feature on ``split["train"]`` people; return the model and its epoch.

    ``build(dim)`` makes the Siamese embedding (one weight per feature, :func:`build_feature_metric`)
    and ``loss`` trains it (``InBatchContrastiveLoss()`` when None): pass your own to train them.
    All training photos form one batch, every pair scored by the in-batch loss. Every ``every``
    epochs the ROC AUC of all pairs of the validation people is measured, and the weights of the
    best check are kept: epoch 0, the plain features, competes too.
    """
    features, labels = np.asarray(features), np.asarray(labels).ravel()
    train, val = np.isin(labels, split["train"]), np.isin(labels, split["val"])
    model = build(features.shape[1])
    loss = InBatchContrastiveLoss() if loss is None else loss
    model.compile(keras.optimizers.Adam(learning_rate), loss=loss)

    def val_auc() -> float:
        return roc_auc(*all_pair_distances(model.predict(features[val], verbose=0), labels[val]))

    best, best_epoch, best_weights = val_auc(), 0, model.get_weights()
    for epoch in range(every, epochs + 1, every):
        model.fit(features[train], labels[train], batch_size=int(train.sum()), epochs=every, verbose=0)
        if (auc := val_auc()) > best:
            best, best_epoch, best_weights = auc, epoch, model.get_weights()
    model.set_weights(best_weights)
    return model, best_epoch


CNN_FOLDER = "06_att"  # notebook 06b's run folder under the mode's output folder


def ensure_cnn(settings) -> Path:
    """Notebook 06b's compact CNN (its best epoch's Siamese model), made first by running that notebook."""
    from pyimagesearch.config import REPO_ROOT
    from pyimagesearch.notebooks import made_by_notebook

    return made_by_notebook(settings.output_dir / CNN_FOLDER / "best.keras",
                            REPO_ROOT / "06_att-face-identification" / "06b_a_cnn_from_scratch.ipynb",
                            settings, "compact CNN of notebook 06b")
