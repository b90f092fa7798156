"""Tests of the triplet SiameseModel: distances, training (hand-written steps under TensorFlow), saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pyimagesearch.triplet_model import SiameseModel, TFSiameseModel, siamese_model


def embedding_net() -> keras.Model:
    inputs = keras.Input((6,))
    outputs = keras.layers.UnitNormalization()(keras.layers.Dense(4)(inputs))
    return keras.Model(inputs, outputs, name="embedding")


def triplets(n: int = 256, seed: int = 0):
    """Two people as two noisy prototypes: anchors and positives of one, negatives of the other."""
    prototypes = np.random.default_rng(0).normal(size=(2, 6)).astype("float32")
    rng = np.random.default_rng(seed)
    who = rng.integers(0, 2, size=n)
    noise = lambda: rng.normal(scale=1.0, size=(n, 6)).astype("float32")  # noqa: E731
    return prototypes[who] + noise(), prototypes[who] + noise(), prototypes[1 - who] + noise()


def test_call_returns_the_two_distances_and_the_loss_by_hand():
    keras.utils.set_random_seed(0)
    model = SiameseModel(embedding_net(), margin=0.5)
    anchor, positive, negative = (x[:3] for x in triplets())
    d_ap, d_an = (keras.ops.convert_to_numpy(d) for d in model((anchor, positive, negative)))
    e = [keras.ops.convert_to_numpy(model.embedding(x)) for x in (anchor, positive, negative)]
    np.testing.assert_allclose(d_ap, np.linalg.norm(e[0] - e[1], axis=1), atol=1e-5)
    np.testing.assert_allclose(d_an, np.linalg.norm(e[0] - e[2], axis=1), atol=1e-5)
    loss = float(model.triplet_loss((d_ap, d_an)))
    assert loss == pytest.approx(np.mean(np.maximum(d_ap - d_an + 0.5, 0)), abs=1e-5)


def fitted(cls) -> tuple[float, dict]:
    """Held-out loss before training, and the history of 10 epochs on other triplets."""
    keras.utils.set_random_seed(1)
    model = cls(embedding_net(), margin=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    held_out = triplets(seed=2)
    before = model.evaluate(held_out, verbose=0)
    history = model.fit(triplets(), validation_data=(held_out,), epochs=10, batch_size=32, verbose=0)
    return before, history.history


def test_the_portable_model_lowers_the_held_out_loss():
    before, portable = fitted(SiameseModel)
    assert set(portable) == {"loss", "val_loss"}
    assert portable["val_loss"][-1] < 0.75 * before


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the hand-written steps are TensorFlow's")
def test_the_hand_written_tensorflow_steps_train_as_the_portable_model():
    _, portable = fitted(SiameseModel)
    _, by_hand = fitted(TFSiameseModel)
    assert set(by_hand) == {"loss", "val_loss"}
    np.testing.assert_allclose(by_hand["loss"], portable["loss"], rtol=1e-4)
    np.testing.assert_allclose(by_hand["val_loss"], portable["val_loss"], rtol=1e-4)


def test_siamese_model_picks_the_backend_path_and_reloads_safely(tmp_path):
    model = siamese_model(embedding_net(), margin=0.3)
    expected = TFSiameseModel if keras.backend.backend() == "tensorflow" else SiameseModel
    assert type(model) is expected and model.margin == 0.3
    data = triplets(8)
    before = [keras.ops.convert_to_numpy(d) for d in model(data)]
    model.save(tmp_path / "triplet.keras")
    reloaded = keras.models.load_model(tmp_path / "triplet.keras")  # safe_mode=True
    assert type(reloaded) is expected and reloaded.margin == 0.3
    after = [keras.ops.convert_to_numpy(d) for d in reloaded(data)]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
