"""Tests of the face extractor, the callback-based trainer and the identification figures."""

from __future__ import annotations

import json

import keras
import matplotlib
import numpy as np
import pytest

from pyimagesearch import training
from pyimagesearch.config import Settings
from pyimagesearch.identification import all_pair_distances
from pyimagesearch.losses import InBatchContrastiveLoss
from pyimagesearch.metrics import roc_auc
from pyimagesearch.models import build_face_extractor, build_feature_metric
from pyimagesearch.plots import plot_embedding_map, show_image, show_nearest_enrolled
from pyimagesearch.training import (
    KeepBest,
    TrainConfig,
    describe,
    parameter_counts,
    train,
    train_feature_metric,
    update_record,
)

matplotlib.use("Agg")
RNG = np.random.default_rng(0)
SMALL = {"input_shape": (24, 20, 1), "embedding_dim": 8, "filters": (4, 8)}


def layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_face_extractor_blocks_and_unit_length_embeddings():
    model = build_face_extractor()
    assert model.input_shape == (None, 112, 92, 1) and model.output_shape == (None, 64)
    types = layer_types(model)
    for block in ("Conv2D", "BatchNormalization", "LeakyReLU", "MaxPooling2D", "Dropout"):
        assert types.count(block) == 4
    augmentation = ["RandomTranslation", "RandomRotation", "RandomZoom", "RandomFlip", "RandomBrightness"]
    assert types[1:6] == augmentation
    assert types[-1] == "UnitNormalization" and "Lambda" not in types and "GlobalAveragePooling2D" in types
    downscaled = build_face_extractor(**SMALL, downscale=2, flatten=True)
    assert layer_types(downscaled)[6] == "AveragePooling2D" and "Flatten" in layer_types(downscaled)
    assert downscaled.get_layer("flatten").output.shape == (None, 3 * 2 * 8)  # 24x20 -> 12x10 -> 3x2
    plain = build_face_extractor(**SMALL, augment=False, dropout=0.2)
    assert [t for t in layer_types(plain) if t.startswith("Random")] == []
    assert {layer.rate for layer in plain.layers if isinstance(layer, keras.layers.Dropout)} == {0.2}
    embeddings = plain.predict(RNG.random((3, 24, 20, 1)), verbose=0)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def test_augmentation_acts_only_in_training_and_the_model_reloads_safely(tmp_path):
    model = build_face_extractor(**SMALL)
    images = RNG.random((32, 24, 20, 1)).astype("float32")
    for name in ("random_shift", "random_rotation", "random_zoom", "random_flip", "random_brightness"):
        layer = model.get_layer(name)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)
        assert not np.allclose(keras.ops.convert_to_numpy(layer(images, training=True)), images)
    inference = model.predict(images, verbose=0)
    model.save(tmp_path / "face.keras")
    reloaded = keras.models.load_model(tmp_path / "face.keras")  # safe_mode=True
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), inference, rtol=1e-5, atol=1e-6)


def test_describe_prints_more_with_each_verbose_level(capsys):
    model = build_face_extractor(**SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_2=0.999), loss="mse")
    printed = []
    for verbose in range(4):
        describe(model, verbose)
        printed.append(capsys.readouterr().out)
    assert printed[0] == ""
    assert "Total params" in printed[1] and "Optimizer" not in printed[1]
    assert "Optimizer: name=adam" in printed[2] and "beta_2=0.999" in printed[2]
    assert "| block1_conv | Conv2D | 36 | 0 |" in printed[3]
    assert "| block1_bn | BatchNormalization | 8 | 8 |" in printed[3]


def test_parameter_counts_open_nested_models_and_add_up():
    extractor = build_face_extractor(**SMALL)
    left, right = keras.Input((24, 20, 1)), keras.Input((24, 20, 1))
    model = keras.Model([left, right], keras.layers.Concatenate()([extractor(left), extractor(right)]))
    rows = parameter_counts(model)
    assert rows[0]["layer"] == "face_extractor/block1_conv"
    assert sum(r["trainable"] + r["non-trainable"] for r in rows) == model.count_params()


def test_train_writes_curves_checkpoints_and_a_run_record(tmp_path):
    labels = np.repeat(np.arange(1, 9), 4)
    images = RNG.integers(0, 256, size=(32, 24, 20), dtype=np.uint8)
    split = {"train": np.array([1, 2, 3, 4]), "val": np.array([5, 6]), "test": np.array([7, 8])}
    config = TrainConfig(embedding_dim=8, filters=(4, 8), epochs=2, steps_per_epoch=2, anchors_per_batch=1,
                         every=1, verbose=0)
    result = train(images, labels, split, config, tmp_path / "run")
    names = {path.name for path in (tmp_path / "run").iterdir()}
    assert names == {"curves.png", "epoch_001.keras", "epoch_002.keras", "best.keras", "run.json"}
    assert set(result.history) == {"loss", "val_loss", "auc", "val_auc"}
    assert all(len(values) == 2 for values in result.history.values())
    assert result.extractor.output_shape == (None, 8)
    record = json.loads(result.record_path.read_text())
    assert record["config"]["filters"] == [4, 8] and record["seed"] == 42
    assert record["split"] == {"train": [1, 2, 3, 4], "val": [5, 6], "test": [7, 8]}
    assert record["versions"]["Keras"] == keras.__version__
    assert record["epochs run"] == 2 and record["train pairs per epoch"] == 2 * 6
    assert set(record["final metrics"]) == {"loss", "val_loss", "auc", "val_auc"}
    assert record["best"]["val_auc"] == max(record["history"]["val_auc"])
    update_record(result.record_path, evaluation={"rank-1": np.float64(0.5)})
    assert json.loads(result.record_path.read_text())["evaluation"] == {"rank-1": 0.5}


def test_train_returns_the_weights_of_the_best_epoch_not_the_last(tmp_path, monkeypatch):
    # The ROC AUCs are scripted (auc, then val_auc, each epoch) so that validation peaks at
    # epoch 2 of 3: the returned model must hold epoch 2's saved weights, not epoch 3's.
    scripted = iter([0.5, 0.6, 0.5, 0.9, 0.5, 0.7])
    monkeypatch.setattr(training, "roc_auc", lambda distances, same: next(scripted))
    labels = np.repeat(np.arange(1, 7), 3)
    images = RNG.integers(0, 256, size=(18, 24, 20), dtype=np.uint8)
    split = {"train": np.array([1, 2, 3]), "val": np.array([4, 5]), "test": np.array([6])}
    config = TrainConfig(embedding_dim=8, filters=(4, 8), learning_rate=0.05, epochs=3, steps_per_epoch=2,
                         anchors_per_batch=1, every=1, verbose=0)
    result = train(images, labels, split, config, tmp_path / "run")
    assert result.history["val_auc"] == [0.6, 0.9, 0.7]
    assert json.loads(result.record_path.read_text())["best"]["epoch"] == 2
    best, last, saved = (keras.models.load_model(tmp_path / "run" / name)
                         for name in ("epoch_002.keras", "epoch_003.keras", "best.keras"))
    returned = result.model.get_weights()
    for weights, best_weights, saved_weights in zip(returned, best.get_weights(), saved.get_weights(),
                                                    strict=True):
        np.testing.assert_array_equal(weights, best_weights)
        np.testing.assert_array_equal(saved_weights, best_weights)
    assert any(not np.array_equal(w, v) for w, v in zip(returned, last.get_weights(), strict=True))
    faces = images[:4, ..., np.newaxis] / 255.0
    np.testing.assert_allclose(result.extractor.predict(faces, verbose=0),
                               best.get_layer("face_extractor").predict(faces, verbose=0), rtol=1e-6)


def test_keep_best_restores_the_best_weights_at_the_end(tmp_path):
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(inputs))
    keep = KeepBest(tmp_path / "best.keras", monitor="val_auc")
    keep.set_model(model)
    for epoch, value in enumerate([0.5, 0.8, 0.8, 0.7]):
        model.set_weights([np.array([[float(epoch)]])])
        keep.on_epoch_end(epoch, {"val_auc": value})
    keep.on_train_end()
    assert keep.best == 0.8 and keep.best_epoch == 2  # the first of two equal bests
    assert model.get_weights()[0][0, 0] == 1.0
    assert keras.models.load_model(tmp_path / "best.keras").get_weights()[0][0, 0] == 1.0


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_map_draws_one_colour_per_person(tmp_path, method):
    embeddings = RNG.random((30, 8))
    labels = np.repeat([3, 5, 9], 10)
    fig = plot_embedding_map(embeddings, labels, method=method, path=tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 0
    assert len(fig.axes[0].collections) == 3
    with pytest.raises(ValueError, match="method="):
        plot_embedding_map(embeddings, labels, method="umap")


def test_nearest_enrolled_figure_has_a_row_per_query(tmp_path):
    queries = RNG.integers(0, 256, size=(2, 12, 10), dtype=np.uint8)
    neighbours = RNG.integers(0, 256, size=(2, 3, 12, 10), dtype=np.uint8)
    distances = np.array([[0.1, 0.5, 0.9], [0.2, 0.3, 0.4]])
    matches = np.array([[True, False, False], [False, True, True]])
    fig = show_nearest_enrolled(queries, neighbours, distances, matches, path=tmp_path / "q.png")
    assert len(fig.axes) == 8 and (tmp_path / "q.png").exists()
    assert fig.axes[1].get_title() == "0.10" and fig.axes[1].title.get_color() == "tab:green"
    assert fig.axes[2].title.get_color() == "tab:red"


def test_show_image_draws_the_pixels_it_is_given(tmp_path):
    image = RNG.integers(0, 256, size=(20, 30), dtype=np.uint8)
    fig = show_image(image, "faces", path=tmp_path / "m.png")
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (20, 30, 3) and (shown[..., 1] == image).all()
    assert fig.axes[0].get_title() == "faces" and (tmp_path / "m.png").stat().st_size > 0


def test_feature_weights_scale_each_feature_then_unit_length():
    model = build_feature_metric(2)
    assert model.count_params() == 2  # one weight per feature
    x = np.array([[1.0, 2.0]], dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), [[1 / 5**0.5, 2 / 5**0.5]], atol=1e-6)
    model.get_layer("feature_weights").set_weights([np.array([2.0, 1.0])])  # [2, 2] / sqrt(8)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), [[0.5**0.5, 0.5**0.5]], atol=1e-6)


def test_train_feature_metric_learns_to_quiet_a_noisy_feature():
    rng = np.random.default_rng(0)
    people = np.repeat(np.arange(12), 8)
    identity = rng.normal(size=(12, 4))[people] + 0.1 * rng.normal(size=(96, 4))
    features = np.hstack([identity, 1.5 * rng.normal(size=(96, 4))]).astype("float32")  # 4 noise features
    split = {"train": np.arange(6), "val": np.arange(6, 9), "test": np.arange(9, 12)}
    model, epoch = train_feature_metric(features, people, split, epochs=100, learning_rate=0.05)
    weights = np.abs(model.get_layer("feature_weights").get_weights()[0])
    assert epoch > 0 and weights[4:].max() < weights[:4].min()
    test = np.isin(people, split["test"])
    plain = roc_auc(*all_pair_distances(features[test], people[test]))
    learned = roc_auc(*all_pair_distances(model.predict(features[test], verbose=0), people[test]))
    assert learned > plain + 0.05


def test_train_feature_metric_trains_the_network_and_loss_it_is_given():
    rng = np.random.default_rng(1)
    people = np.repeat(np.arange(9), 4)
    features = (rng.normal(size=(9, 6))[people] + 0.3 * rng.normal(size=(36, 6))).astype("float32")
    split = {"train": np.arange(5), "val": np.arange(5, 7), "test": np.arange(7, 9)}
    built = []

    def build(dim: int) -> keras.Model:
        built.append(dim)
        model = build_feature_metric(dim)
        model.get_layer("feature_weights").set_weights([np.full(dim, 0.5)])
        return model

    losses = []

    class Recorded(InBatchContrastiveLoss):
        def call(self, y_true, y_pred):
            losses.append(self.margin)
            return super().call(y_true, y_pred)

    model, _ = train_feature_metric(features, people, split, build=build, loss=Recorded(margin=0.25),
                                    epochs=20)
    assert built == [6] and losses and set(losses) == {0.25}  # our builder and our loss did the work
    assert not np.allclose(model.get_layer("feature_weights").get_weights()[0], 1.0)


def test_ensure_cnn_finds_notebook_06bs_model_without_running_it(tmp_path):
    settings = Settings(quick=True, seed=0, output_dir=tmp_path / "quick")
    saved = settings.output_dir / training.CNN_FOLDER / "best.keras"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"a model")
    assert training.ensure_cnn(settings) == saved
