"""Tests of chapter 04's in-batch training: pairwise distances, the balanced losses, the head transfer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from pyimagesearch import digits
from pyimagesearch.layers import PairwiseSameProbability, pairwise_distances
from pyimagesearch.losses import (
    InBatchBCELoss,
    InBatchContrastiveLoss,
    balanced_mean,
    contrastive_terms,
    in_batch_masks,
)
from pyimagesearch.models import build_course_extractor

TOY_EMBEDDINGS = np.array([[0.0], [0.5], [0.8], [2.0]], dtype="float32")
TOY_LABELS = np.array([0, 0, 1, 1])


def test_pairwise_distances_match_numpy():
    e = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    d = ops.convert_to_numpy(pairwise_distances(e))
    expected = np.linalg.norm(e[:, None] - e[None, :], axis=-1)
    np.testing.assert_allclose(d, expected, atol=1e-3)  # the diagonal is sqrt(epsilon), not 0
    np.testing.assert_allclose(np.diag(d), np.sqrt(keras.config.epsilon()), rtol=0.5)


def test_masks_exclude_the_diagonal_and_split_every_other_pair():
    positives, negatives = (ops.convert_to_numpy(m) for m in in_batch_masks(TOY_LABELS[:, None]))
    np.testing.assert_array_equal(positives, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    np.testing.assert_array_equal(negatives, [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]])


def test_in_batch_contrastive_loss_by_hand():
    # positives (0,1) d=0.5 -> 0.25, (2,3) d=1.2 -> 1.44; negatives 0.04, 0.49, 0, 0
    loss = float(InBatchContrastiveLoss(margin=1.0)(TOY_LABELS, TOY_EMBEDDINGS))
    assert loss == pytest.approx(0.5 * 0.845 + 0.5 * 0.1325, abs=1e-5)
    wider = float(InBatchContrastiveLoss(margin=2.0)(TOY_LABELS, TOY_EMBEDDINGS))
    # margin 2: the negatives cost (2 - d)^2 = 1.44, 2.89, 0 and 0.25
    assert wider == pytest.approx(0.5 * 0.845 + 0.5 * (1.44 + 2.89 + 0.0 + 0.25) / 4, abs=1e-5)


def test_in_batch_loss_equals_the_pair_loss_on_the_same_pairs_balanced():
    rng = np.random.default_rng(1)
    e, labels = rng.normal(size=(12, 3)).astype("float32"), rng.integers(0, 3, 12)
    i, j = np.triu_indices(12, k=1)
    d = np.linalg.norm(e[i] - e[j], axis=1).astype("float32")
    same = (labels[i] == labels[j]).astype("float32")
    terms = ops.convert_to_numpy(contrastive_terms(same, d))
    expected = 0.5 * terms[same == 1].mean() + 0.5 * terms[same == 0].mean()
    assert float(InBatchContrastiveLoss()(labels, e)) == pytest.approx(expected, rel=1e-4)


def test_balanced_mean_weighs_positives_and_negatives_half_each():
    # one positive pair (twice in the matrix) costing 1, four negative pairs costing 0
    terms = np.array([[9, 1, 0, 0], [1, 9, 0, 0], [0, 0, 9, 5], [0, 0, 5, 9]], dtype="float32")
    assert float(balanced_mean(terms, TOY_LABELS)) == pytest.approx(0.5 * 3.0 + 0.5 * 0.0)  # diagonal ignored
    assert float(balanced_mean(np.ones((4, 4), "float32"), np.zeros(4))) == pytest.approx(0.5)  # no negatives


def test_in_batch_bce_by_hand():
    probabilities = PairwiseSameProbability()(TOY_EMBEDDINGS)  # sigmoid(1 - d) at the start
    expected = (0.5 * np.log1p(np.exp(np.array([0.5, 1.2]) - 1)).mean()
                + 0.5 * np.log1p(np.exp(1 - np.array([0.8, 0.3, 2.0, 1.5]))).mean())
    assert float(InBatchBCELoss()(TOY_LABELS, probabilities)) == pytest.approx(expected, abs=1e-5)


def test_head_transfer_gives_the_pair_model_identical_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    extractor = build_course_extractor()
    trainer = digits.in_batch_model(extractor, "sigmoid")
    assert trainer.output_shape == (None, None)
    trainer.get_layer("same_probability").set_weights([np.array([[-2.5]]), np.array([1.2])])
    pair_model = digits.siamese_from_in_batch(trainer, extractor, "sigmoid")
    images = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    matrix = ops.convert_to_numpy(trainer(images, training=False))  # no random shift
    i, j = np.divmod(np.arange(25), 5)
    np.testing.assert_allclose(ops.convert_to_numpy(pair_model([images[i], images[j]])).reshape(5, 5),
                               matrix, atol=1e-4)  # float32 rounding of |a|² + |b|² - 2a·b
    pair_model.save(tmp_path / "bce.keras")
    reloaded = keras.models.load_model(tmp_path / "bce.keras")
    np.testing.assert_allclose(reloaded.predict([images[i], images[j]], verbose=0).reshape(5, 5), matrix,
                               atol=1e-4)


def test_train_in_batch_returns_a_pair_model_that_learned():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = np.arange(64) % 2
    noise = rng.integers(0, 40, (64, 28, 28), dtype=np.uint8)
    images = np.where(labels[:, None, None] == 1, 200, 20).astype(np.uint8) + noise
    split = digits.Split(images, labels, *digits.make_pair_indices(labels, seed=0))
    model, history = digits.train_in_batch(build_course_extractor(), "distance", split, epochs=3,
                                           batch_size=32, verbose=0)
    assert model.name == "siamese_distance" and len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
