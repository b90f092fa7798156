"""Tests of the extractors and Siamese models: shapes, heads, saving and reloading."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pyimagesearch.layers import EuclideanDistance
from pyimagesearch.losses import ContrastiveLoss
from pyimagesearch.models import (
    EXTRACTORS,
    build_course_extractor,
    build_improved_extractor,
    build_siamese,
)
from pyimagesearch.pairs import PairDataset, make_pair_indices

RNG = np.random.default_rng(0)
LEFT = RNG.random((3, 28, 28, 1)).astype("float32")
RIGHT = RNG.random((3, 28, 28, 1)).astype("float32")


def layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_course_extractor_is_the_course_architecture():
    model = build_course_extractor()
    assert model.name == "course_extractor"
    assert model.output_shape == (None, 48)
    assert layer_types(model) == [
        "InputLayer", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "MaxPooling2D", "Dropout",
        "GlobalAveragePooling2D", "Dense",
    ]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [(64, (2, 2), "same")] * 2
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3, 0.3]
    assert model.count_params() == 19_888


def test_improved_extractor_shape_size_and_batch_norm():
    model = build_improved_extractor()
    assert model.name == "improved_extractor"
    assert model.output_shape == (None, 64)
    widths = [1, 16, 16, 32, 32, 64]  # 3x3 convolutions without bias, 4 numbers per BN channel
    convs = sum(9 * a * b for a, b in zip(widths, widths[1:], strict=False))
    by_hand = convs + 4 * sum(widths[1:]) + 64 * 64 + 64
    assert model.count_params() == by_hand == 39_504
    assert layer_types(model).count("BatchNormalization") == 5
    kernels = {layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    assert kernels == {(3, 3)}
    assert build_improved_extractor((32, 32, 3), embedding_dim=16).output_shape == (None, 16)


def test_improved_extractor_unit_length():
    model = build_improved_extractor(normalize=True)
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    lengths = np.linalg.norm(keras.ops.convert_to_numpy(model(images)), axis=1)
    np.testing.assert_allclose(lengths, 1.0, atol=1e-5)
    assert model.count_params() == build_improved_extractor().count_params()  # no weights added


def test_extractor_registry():
    assert EXTRACTORS["course"] is build_course_extractor
    assert EXTRACTORS["improved"] is build_improved_extractor
    assert len(EXTRACTORS) == 2


@pytest.mark.parametrize(("head", "last"), [("sigmoid", "Dense"), ("distance", "EuclideanDistance")])
def test_siamese_heads(head, last):
    model = build_siamese(build_course_extractor(), head=head)
    assert model.name == f"siamese_{head}"
    assert [tuple(i.shape) for i in model.inputs] == [(None, 28, 28, 1)] * 2
    assert model.output_shape == (None, 1)
    assert type(model.layers[-1]).__name__ == last
    out = keras.ops.convert_to_numpy(model.predict((LEFT, RIGHT), verbose=0))
    assert out.shape == (3, 1)
    if head == "sigmoid":
        assert ((out > 0) & (out < 1)).all()
        # an untrained head already scores identical images above any other pair
        same = keras.ops.convert_to_numpy(model.predict((LEFT, LEFT), verbose=0))
        assert (same > out).all()
    else:
        assert (out > 0).all()
        # a pair of identical images is at the epsilon floor
        same = model.predict((LEFT, LEFT), verbose=0)
        np.testing.assert_allclose(same, np.sqrt(keras.config.epsilon()), rtol=1e-3)


def test_siamese_shares_one_extractor_and_rejects_unknown_heads():
    extractor = build_course_extractor()
    model = build_siamese(extractor, head="distance")
    assert sum(layer is extractor for layer in model.layers) == 1
    assert len(model.trainable_weights) == len(extractor.trainable_weights)
    embeddings = extractor.predict(np.concatenate([LEFT, RIGHT]), verbose=0)
    expected = np.linalg.norm(embeddings[:3] - embeddings[3:], axis=1)
    np.testing.assert_allclose(model.predict((LEFT, RIGHT), verbose=0)[:, 0], expected, rtol=1e-4)
    with pytest.raises(ValueError, match="head="):
        build_siamese(extractor, head="cosine")


def test_no_lambda_layers_anywhere():
    for build in EXTRACTORS.values():
        for head in ("sigmoid", "distance"):
            model = build_siamese(build(), head=head)
            names = layer_types(model) + layer_types(model.layers[2])
            assert "Lambda" not in names


@pytest.mark.parametrize("name", ["course", "improved"])
def test_siamese_saves_and_reloads_in_safe_mode(tmp_path, name):
    model = build_siamese(EXTRACTORS[name](), head="sigmoid")
    path = tmp_path / "siamese.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode=True, no custom_objects
    assert isinstance(reloaded.get_layer("distance"), EuclideanDistance)
    np.testing.assert_allclose(reloaded.predict((LEFT, RIGHT), verbose=0),
                               model.predict((LEFT, RIGHT), verbose=0), rtol=1e-6, atol=1e-7)


def test_contrastive_model_trains_saves_and_reloads_with_its_loss(tmp_path):
    labels = np.arange(40) % 4
    images = RNG.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    pairs, pair_labels = make_pair_indices(labels, seed=0)
    dataset = PairDataset(images, pairs, pair_labels, batch_size=16, shuffle=True, seed=0)
    model = build_siamese(build_course_extractor(), head="distance")
    model.compile(optimizer="adam", loss=ContrastiveLoss(margin=1.5))
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "contrastive.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded.loss, ContrastiveLoss) and reloaded.loss.margin == 1.5
    (left, right), y = dataset[0]
    np.testing.assert_allclose(reloaded.predict((left, right), verbose=0),
                               model.predict((left, right), verbose=0), rtol=1e-6, atol=1e-7)
    assert reloaded.evaluate(dataset, verbose=0) == pytest.approx(model.evaluate(dataset, verbose=0),
                                                                  rel=1e-5)


def test_backbone_embedding_preprocesses_inside_and_freezes_the_backbone(tmp_path):
    from pyimagesearch.models import build_backbone_embedding

    model = build_backbone_embedding(input_shape=(64, 64, 3), embedding_dim=16, weights=None)
    base = model.get_layer("mobilenet_v2_features").get_layer("mobilenetv2_1.00_64")
    assert model.output_shape == (None, 16) and not base.trainable_weights
    assert [w.shape for w in model.trainable_weights] == [(1280, 16), (16,)]
    pixels = np.random.default_rng(0).uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    preprocess = model.get_layer("mobilenet_v2_features").get_layer("preprocess")
    scaled = keras.ops.convert_to_numpy(preprocess(pixels))
    expected = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(scaled, expected, atol=1e-5)
    embeddings = model.predict(pixels, verbose=0)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    tuned = build_backbone_embedding(input_shape=(64, 64, 3), trainable_layers=10, weights=None)
    layers = tuned.get_layer("mobilenet_v2_features").get_layer("mobilenetv2_1.00_64").layers
    trainable = [layer for layer in layers if layer.trainable_weights]
    assert trainable and all(layer in layers[-10:] for layer in trainable)
    model.save(tmp_path / "embedding.keras")
    reloaded = keras.models.load_model(tmp_path / "embedding.keras")
    np.testing.assert_allclose(reloaded.predict(pixels, verbose=0), embeddings, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="backbone="):
        build_backbone_embedding("vgg16")


@pytest.mark.parametrize("trainable", [0, 10, 154, 200, 500])
def test_backbone_trains_exactly_its_last_trainable_layers(trainable):
    """0 freezes all, n trains the last n, n >= the layer count trains every layer (not a wrapped slice)."""
    from pyimagesearch.models import build_backbone_features

    features = build_backbone_features(input_shape=(32, 32, 3), trainable_layers=trainable, weights=None)
    base = features.get_layer("mobilenetv2_1.00_32")
    flags = [layer.trainable for layer in base.layers]
    expected = min(trainable, len(flags))
    assert flags == [False] * (len(flags) - expected) + [True] * expected
    assert bool(base.trainable_weights) == (trainable > 0)


def test_l1_head_weighs_the_absolute_difference_of_the_embeddings(tmp_path):
    extractor = build_course_extractor()
    model = build_siamese(extractor, head="l1")
    assert model.name == "siamese_l1" and model.output_shape == (None, 1)
    assert type(model.get_layer("l1_difference")).__name__ == "AbsoluteDifference"
    embeddings = extractor.predict(np.concatenate([LEFT, RIGHT]), verbose=0)
    dense = model.get_layer("same_probability")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in dense.weights)
    expected = 1 / (1 + np.exp(-(np.abs(embeddings[:3] - embeddings[3:]) @ kernel + bias)))
    np.testing.assert_allclose(model.predict((LEFT, RIGHT), verbose=0), expected, rtol=1e-4)
    np.testing.assert_allclose(model.predict((LEFT, LEFT), verbose=0), 0.5, atol=1e-6)  # |a - a| = 0
    model.save(tmp_path / "l1.keras")
    reloaded = keras.models.load_model(tmp_path / "l1.keras")
    np.testing.assert_allclose(reloaded.predict((LEFT, RIGHT), verbose=0), expected, rtol=1e-4)
