"""Tests of chapter 05's training variants and protocol scoring, on tiny synthetic data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from toy_lfw import spy_on_training, toy_protocol

from pyimagesearch import face_verification as fv
from pyimagesearch import metrics
from pyimagesearch.models import build_embedding_head

CONFIG = fv.FaceTrainConfig(size=32, embedding_dim=4, trainable_layers=0, images_per_step=12,
                            images_per_person=2, steps=3, epochs=2, learning_rate=1e-2, seed=0)


def features_of_people(identities, dim=6, seed=0):
    """Feature vectors clustered by person: a person's centre plus a little noise."""
    rng = np.random.default_rng(seed)
    people, codes = np.unique(identities, return_inverse=True)
    centres = rng.normal(size=(len(people), dim)) * 3
    return (centres[codes] + rng.normal(scale=0.1, size=(len(codes), dim))).astype("float32")


@pytest.mark.parametrize("variant", fv.METHODS)
def test_each_variant_trains_the_head_and_lowers_its_loss(variant):
    keras.utils.set_random_seed(0)
    people = np.repeat(np.arange(12), 3)
    x = features_of_people(people)
    head = build_embedding_head(x.shape[1], CONFIG.embedding_dim, dropout=0.0)
    before = [w.copy() for w in head.get_weights()]
    config = fv.FaceTrainConfig(**{**CONFIG.as_dict(), "epochs": 8})
    history = fv.fit(variant, head, x, people, config, validation=(x, people), verbose=0)
    assert len(history["loss"]) == 8 and "val_loss" in history
    assert history["loss"][-1] < history["loss"][0]
    assert any(not np.allclose(a, b) for a, b in zip(before, head.get_weights(), strict=True))


class ScaledLoss(keras.losses.Loss):
    """A stand-in for a reader's loss: the variant's own loss times ``factor``."""

    def __init__(self, inner, factor):
        super().__init__(name="scaled")
        self.inner, self.factor = inner, factor

    def call(self, y_true, y_pred):
        return self.factor * self.inner(y_true, y_pred)


@pytest.mark.parametrize("variant", ["batch-hard triplets", "contrastive pairs", "cosface"])
def test_fit_trains_with_the_loss_it_is_given(variant):
    people = np.repeat(np.arange(12), 3)
    x = features_of_people(people)
    curves = []
    for factor in (None, 0.0, 3.0):
        keras.utils.set_random_seed(0)
        head = build_embedding_head(x.shape[1], CONFIG.embedding_dim, dropout=0.0)
        before = [w.copy() for w in head.get_weights()]
        loss = None if factor is None else ScaledLoss(fv.variant_loss(variant, CONFIG), factor)
        curves.append(fv.fit(variant, head, x, people, CONFIG, verbose=0, loss=loss)["loss"])
        if factor == 0.0:  # a loss that is always 0 trains nothing
            assert all(np.allclose(a, b) for a, b in zip(before, head.get_weights(), strict=True))
    own, zero, tripled = curves
    assert all(value == 0.0 for value in zero)
    assert tripled[0] == pytest.approx(3 * own[0], rel=1e-4)  # same model and batch: three times the loss


def test_random_triplets_take_no_loss_argument():
    head = build_embedding_head(6, CONFIG.embedding_dim)
    with pytest.raises(ValueError, match="SiameseModel computes its own"):
        fv.compiled_model("random triplets", head, CONFIG, loss=keras.losses.MeanSquaredError())


def test_batches_have_the_budget_of_the_config():
    people = np.repeat(np.arange(12), 3)
    x = features_of_people(people)
    (a, p, n), = fv.training_batches("random triplets", x, people, CONFIG, seed=0)[0]
    images, labels = fv.training_batches("batch-hard triplets", x, people, CONFIG, seed=0)[0]
    (left, right), same = fv.training_batches("contrastive pairs", x, people, CONFIG, seed=0)[0]
    assert 3 * len(a) == len(images) == 2 * len(left) == CONFIG.images_per_step
    with pytest.raises(ValueError, match="variant="):
        fv.training_batches("arcface", x, people, CONFIG)


def test_new_trainable_is_the_head_alone_when_frozen_and_the_embedding_when_fine_tuned():
    head = fv.new_trainable(CONFIG, None, (1280,))
    assert head.name == "embedding_head" and head.input_shape == (None, 1280)
    assert head.output_shape == (None, CONFIG.embedding_dim)
    tuned = fv.FaceTrainConfig(**{**CONFIG.as_dict(), "trainable_layers": 5})
    embedding = fv.new_trainable(tuned, None, (32, 32, 3))
    assert embedding.name == "mobilenet_v2_embedding" and embedding.input_shape == (None, 32, 32, 3)


def test_protocol_scores_every_pair_with_a_model_that_never_saw_its_people(monkeypatch):
    # Four folds, each with its own people; every person has three photos.
    pairs, faces, names = toy_protocol(n_folds=4, size=32)
    features = features_of_people(faces.identities, dim=1280)  # the shape of MobileNetV2's pooled features
    seen = spy_on_training(monkeypatch)
    with pytest.raises(ValueError, match="features="):
        fv.protocol_distances("random triplets", faces, pairs, CONFIG, None, [[0, 1], [2, 3]])
    distances = fv.protocol_distances("random triplets", faces, pairs, CONFIG, None, [[0, 1], [2, 3]],
                                      features=features)
    assert distances.shape == (16,) and np.isfinite(distances).all() and (distances >= 0).all()
    assert seen[0] == set(names[6:]) and seen[1] == set(names[:6])


def test_fold_accuracies_choose_each_threshold_on_the_other_folds():
    # Fold 0's threshold comes from folds 1-2 (0.675), fold 1's from 0 and 2 (0.425),
    # fold 2's from 0-1 (0.55).
    distances = [0.2, 0.4, 0.6, 0.8, 0.3, 0.5, 0.7, 0.9, 0.1, 0.65, 0.45, 1.0]
    labels = [1, 1, 0, 0] * 3
    folds = np.repeat([0, 1, 2], 4)
    np.testing.assert_allclose(metrics.fold_accuracies(distances, labels, folds), [0.75, 0.75, 0.5])


def test_model_pair_distances_embed_only_the_rows_the_pairs_use():
    seen = []

    class Recording(keras.Model):
        def call(self, x):
            seen.append(int(x.shape[0]))
            return x

    x = np.array([[0.0, 0.0], [3.0, 4.0], [9.0, 9.0], [0.0, 1.0]], dtype=np.float32)
    index = np.array([[0, 1], [3, 0], [1, 3]])
    distances = fv.model_pair_distances(Recording(), x, index)
    np.testing.assert_allclose(distances, [5.0, 1.0, np.sqrt(18.0)], rtol=1e-6)
    assert max(seen) == 3  # row 2 is in no pair


def test_embed_cached_averages_face_and_mirror_embeddings_at_unit_length():
    inputs = keras.Input((2,))
    doubled = keras.Model(inputs, keras.layers.Rescaling(2.0)(inputs))  # a stand-in tail: 2 * activations
    activations = np.array([[[3.0, 0.0], [0.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]], dtype=np.float16)
    vectors = fv.embed_cached(doubled, activations)
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [2 ** -0.5, 2 ** -0.5]], rtol=1e-6)


def test_cosine_schedule_decays_to_one_per_cent_by_the_last_step():
    config = fv.FaceTrainConfig(**{**CONFIG.as_dict(), "schedule": "cosine", "learning_rate": 3e-4,
                                   "steps": 10, "epochs": 2})
    optimizer = fv.optimizer_for(config)
    rates = {}
    for step in (0, 10, 20):
        optimizer.iterations.assign(step)
        rates[step] = float(optimizer.learning_rate)
    assert rates[0] == pytest.approx(3e-4)
    assert rates[10] == pytest.approx(3e-4 * (0.01 + 0.99 * 0.5), rel=1e-5)  # half-way: cos = 0
    assert rates[20] == pytest.approx(3e-6)
    assert float(fv.optimizer_for(CONFIG).learning_rate) == pytest.approx(CONFIG.learning_rate)
    with pytest.raises(ValueError, match="schedule='linear'"):
        fv.optimizer_for(fv.FaceTrainConfig(schedule="linear"))


def test_pair_roc_logs_the_validation_auc_of_flip_averaged_distances():
    # activations = embeddings already: an identity "tail" makes the distances hand-checkable
    inputs = keras.Input(shape=(2,))
    identity = keras.Model(inputs, keras.layers.UnitNormalization()(inputs))
    faces = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], dtype="float32")
    activations = np.stack([faces, faces], axis=1)  # the mirror equals the face
    index = np.array([[0, 1], [2, 3], [0, 2], [1, 3]])
    logs = {}
    fv.PairROC(identity, activations, index, [1, 1, 0, 0]).on_epoch_end(0, logs)
    assert logs["val_roc_auc"] == 1.0  # the same-person pairs are the two close ones
    fv.PairROC(identity, activations, index, [0, 0, 1, 1], name="flipped").on_epoch_end(0, logs)
    assert logs["flipped"] == 0.0
