"""Tests of the EuclideanDistance layer and the contrastive loss against hand-computed values."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pyimagesearch.layers import EuclideanDistance
from pyimagesearch.losses import ContrastiveLoss, contrastive_loss, contrastive_terms


def test_euclidean_distance_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 7)).astype("float32")
    b = rng.normal(size=(5, 7)).astype("float32")
    distance = keras.ops.convert_to_numpy(EuclideanDistance()([a, b]))
    assert distance.shape == (5, 1)
    np.testing.assert_allclose(distance[:, 0], np.linalg.norm(a - b, axis=1), rtol=1e-5)


def test_euclidean_distance_hand_values_and_epsilon_floor():
    a = np.array([[0.0, 0.0], [1.0, 1.0]], dtype="float32")
    b = np.array([[3.0, 4.0], [1.0, 1.0]], dtype="float32")
    distance = keras.ops.convert_to_numpy(EuclideanDistance(epsilon=1e-6)((a, b)))
    np.testing.assert_allclose(distance, [[5.0], [1e-3]], rtol=1e-5)  # sqrt(1e-6) for a == b


def test_euclidean_distance_config_round_trip():
    layer = EuclideanDistance(epsilon=1e-4, name="dist")
    config = layer.get_config()
    assert config["epsilon"] == 1e-4 and config["name"] == "dist"
    clone = EuclideanDistance.from_config(config)
    assert clone.epsilon == 1e-4 and clone.name == "dist"
    assert EuclideanDistance().epsilon == keras.config.epsilon()
    assert keras.saving.get_registered_name(EuclideanDistance) == "pyimagesearch>EuclideanDistance"


def loss_value(y, d, **kwargs) -> float:
    return float(keras.ops.convert_to_numpy(contrastive_loss(np.array(y), np.array(d, "float32"), **kwargs)))


@pytest.mark.parametrize(("y", "d", "margin", "expected"), [
    (1, 0.5, 1.0, 0.25),   # same class: d^2
    (1, 0.3, 1.0, 0.09),   # chapter 04's hand-computed pairs: 0.09, 0.49 and 0
    (0, 0.3, 1.0, 0.49),   # different, inside the margin: (1 - 0.3)^2
    (0, 1.5, 1.0, 0.0),    # different, beyond the margin: nothing
    (1, 0.0, 1.0, 0.0),
    (0, 0.0, 1.0, 1.0),
    (0, 1.5, 2.0, 0.25),   # a wider margin: (2 - 1.5)^2
    (1, 1.5, 2.0, 2.25),   # the margin does not touch same-class pairs
])
def test_contrastive_loss_single_pairs(y, d, margin, expected):
    assert loss_value([y], [d], margin=margin) == pytest.approx(expected, abs=1e-6)


def test_contrastive_loss_is_the_batch_mean_and_shapes_mix():
    y = [1, 0, 0, 1]
    d = [0.5, 0.3, 1.5, 0.1]
    expected = (0.25 + 0.49 + 0.0 + 0.01) / 4
    assert loss_value(y, d) == pytest.approx(expected, abs=1e-6)
    # (batch,) labels with (batch, 1) distances must not broadcast to (batch, batch)
    column = np.array(d, "float32")[:, None]
    assert loss_value(y, column) == pytest.approx(expected, abs=1e-6)
    assert loss_value(np.array(y, "float32")[:, None], column) == pytest.approx(expected, abs=1e-6)


def test_contrastive_terms_are_per_pair_and_flat():
    terms = keras.ops.convert_to_numpy(
        contrastive_terms(np.array([[1], [0], [0]]), np.array([[0.3], [0.3], [1.5]], "float32")))
    assert terms.shape == (3,)
    np.testing.assert_allclose(terms, [0.09, 0.49, 0.0], atol=1e-6)


def test_contrastive_loss_class_reduces_weights_and_serialises():
    y = np.array([1, 0, 0, 1])
    d = np.array([[0.5], [0.3], [1.5], [0.1]], "float32")
    loss = ContrastiveLoss()
    assert float(loss(y, d)) == pytest.approx(0.1875, abs=1e-6)
    weighted = float(loss(y, d, sample_weight=np.array([1.0, 0.0, 0.0, 0.0])))
    assert weighted == pytest.approx(0.25 / 4, abs=1e-6)  # sum_over_batch_size
    wide = ContrastiveLoss(margin=2.0)
    assert float(wide(y, d)) == pytest.approx((0.25 + 1.7**2 + 0.5**2 + 0.01) / 4, abs=1e-5)
    clone = keras.losses.deserialize(keras.losses.serialize(wide))
    assert isinstance(clone, ContrastiveLoss) and clone.margin == 2.0
    assert float(clone(y, d)) == pytest.approx(float(wide(y, d)), abs=1e-7)
