"""Chapter 05's CPU path: the backbone cut in two, the cached face-and-mirror activations, CosFace."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from toy_lfw import spy_on_training, toy_protocol

from pyimagesearch import face_verification as fv
from pyimagesearch import lfw
from pyimagesearch.config import REPO_ROOT
from pyimagesearch.models import (
    MirrorImage,
    PickMirror,
    build_backbone_features,
    build_tail_embedding,
    merge_embedding,
    split_backbone,
    with_mirrors,
)
from pyimagesearch.triplets import CosFaceLoss, CosineLogits, LabelledBatches, cosface_loss

SIZE = 32  # MobileNetV2's smallest input: block_12_add is then 2 x 2 x 96
CONFIG = fv.FaceTrainConfig(size=SIZE, embedding_dim=4, cut="block_12_add", images_per_step=12,
                            steps=2, epochs=1, learning_rate=1e-3, seed=0)


def test_cosface_loss_matches_a_hand_computation():
    # Face 0 (identity 0): cosines 0.8, 0.2 -> logits 10 * (0.8 - 0.3) = 5 and 10 * 0.2 = 2,
    # loss log(1 + e^(2 - 5)) = log(1 + e^-3). Face 1 (identity 1): logits 1 and 10 * (0.5 - 0.3) = 2,
    # loss log(1 + e^(1 - 2)) = log(1 + e^-1).
    cosines = np.array([[0.8, 0.2], [0.1, 0.5]], dtype="float32")
    labels = np.array([0, 1])
    expected = (np.log1p(np.exp(-3.0)) + np.log1p(np.exp(-1.0))) / 2  # 0.1809
    assert float(cosface_loss(labels, cosines, scale=10.0, margin=0.3)) == pytest.approx(expected, rel=1e-5)
    as_loss = CosFaceLoss(10.0, 0.3)(labels.astype("float32"), cosines)
    assert float(as_loss) == pytest.approx(expected, rel=1e-5)
    # margin 0: plain normalised softmax, a smaller loss on the same cosines
    assert float(cosface_loss(labels, cosines, scale=10.0, margin=0.0)) < expected
    reloaded = CosFaceLoss.from_config(CosFaceLoss(10.0, 0.3).get_config())
    assert (reloaded.scale, reloaded.margin) == (10.0, 0.3)


def test_cosine_logits_are_cosines_with_unit_centres():
    layer = CosineLogits(3)
    layer.build((None, 2))
    layer.centres.assign(np.array([[2.0, 0.0, 1.0], [0.0, 5.0, 1.0]], dtype="float32"))
    cosines = keras.ops.convert_to_numpy(layer(np.array([[3.0, 4.0]], dtype="float32")))
    np.testing.assert_allclose(cosines, [[0.6, 0.8, 7 / 5 / np.sqrt(2)]], rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2 identities"):
        CosineLogits(1)


def test_labelled_batches_give_identity_codes():
    images = np.arange(10, dtype="float32").reshape(10, 1)
    labels = np.array(list("aabbbcccdd"))
    x, codes = LabelledBatches(images, labels, batch_size=6, steps=2, seed=0)[0]
    assert x.shape == (6, 1) and codes.dtype == np.int32
    np.testing.assert_array_equal(codes, np.searchsorted(np.unique(labels), labels[x[:, 0].astype(int)]))


def test_split_backbone_freezes_the_front_and_equals_the_whole_backbone():
    keras.utils.set_random_seed(1)
    front, tail = split_backbone(input_shape=(SIZE, SIZE, 3), cut="block_12_add", weights=None)
    keras.utils.set_random_seed(1)
    whole = build_backbone_features(input_shape=(SIZE, SIZE, 3), weights=None)
    assert front.trainable_weights == [] and front.output_shape == (None, 2, 2, 96)
    assert len(tail.trainable_weights) > 0 and tail.input_shape == (None, 2, 2, 96)
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(tail(front(images)), whole(images), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="cut='nowhere'"):
        split_backbone(input_shape=(SIZE, SIZE, 3), cut="nowhere", weights=None)


def test_pick_mirror_takes_the_face_at_inference_and_either_in_training():
    pair = np.stack([np.zeros((64, 3)), np.ones((64, 3))], axis=1).astype("float32")  # (64, 2, 3)
    layer = PickMirror(seed=0)
    np.testing.assert_array_equal(layer(pair), np.zeros((64, 3)))
    picked = keras.ops.convert_to_numpy(layer(pair, training=True))
    assert set(np.unique(picked[:, 0])) == {0.0, 1.0} and (picked == picked[:, :1]).all()
    images = np.arange(6, dtype="float32").reshape(1, 1, 3, 2)
    np.testing.assert_array_equal(MirrorImage()(images), images[:, :, ::-1])


def test_cached_activations_hold_faces_and_mirrors_and_are_reused_until_weights_change(tmp_path):
    front, _ = split_backbone(input_shape=(SIZE, SIZE, 3), cut="block_12_add", weights=None)
    images = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    first = fv.cached_activations(front, images, tmp_path, batch_size=2)
    assert first.shape == (3, 2, 2, 2, 96) and first.dtype == np.float16
    np.testing.assert_allclose(first[:, 0], front(images.astype("float32")), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(first[:, 1], front(images[:, :, ::-1].astype("float32")), rtol=1e-2, atol=1e-2)
    stamp = next(tmp_path.glob("activations-*.npy")).stat().st_mtime_ns
    np.testing.assert_array_equal(fv.cached_activations(front, images, tmp_path), first)  # reused
    assert next(tmp_path.glob("activations-*.npy")).stat().st_mtime_ns == stamp
    layer = front.get_layer("mobilenet_v2_upto_block_12_add").get_layer("Conv1")
    layer.set_weights([w * 2 for w in layer.get_weights()])  # other weights: a new file
    fv.cached_activations(front, images, tmp_path)
    assert len(list(tmp_path.glob("activations-*.npy"))) == 2 and not list(tmp_path.glob("*partial*"))


def test_merged_embedding_reloads_safely_and_averages_face_and_mirror(tmp_path):
    front, tail = split_backbone(input_shape=(SIZE, SIZE, 3), cut="block_12_add", weights=None)
    tail_embedding = build_tail_embedding(tail, embedding_dim=4)
    model = merge_embedding(front, tail_embedding)
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    both = tail_embedding(front(images)) + tail_embedding(front(images[:, :, ::-1]))
    expected = both / np.linalg.norm(both, axis=1, keepdims=True)
    np.testing.assert_allclose(model(images), expected, atol=1e-5)
    model.save(tmp_path / "embedding.keras")
    reloaded = keras.models.load_model(tmp_path / "embedding.keras")  # safe_mode=True
    np.testing.assert_allclose(reloaded(images), expected, atol=1e-5)
    assert reloaded.input_shape == (None, SIZE, SIZE, 3)
    # chapter 07 loads the file after importing only pyimagesearch.deploy, in a fresh process
    script = ("import sys, keras; from pyimagesearch import deploy; "
              "print(keras.models.load_model(sys.argv[1]).output_shape)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "embedding.keras")],
                          capture_output=True, text=True, cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0 and "(None, 4)" in done.stdout, done.stderr[-500:]


@pytest.mark.parametrize("variant", fv.METHODS)
def test_every_variant_trains_the_tail_on_cached_activations(variant):
    keras.utils.set_random_seed(0)
    people = np.repeat(np.arange(8), 4)
    activations = np.random.default_rng(0).normal(size=(len(people), 2, 2, 2, 96)).astype("float16")
    model = fv.new_trainable(CONFIG, None, activations.shape[2:])
    tail = model.get_layer("mobilenet_v2_tail")
    before = [w.copy() for w in tail.get_weights()]
    config = fv.FaceTrainConfig(**{**CONFIG.as_dict(), "images_per_person": 4})
    fv.fit(variant, with_mirrors(model), activations, people, config, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, tail.get_weights(), strict=True))


def test_one_tail_model_per_fold_never_sees_the_people_of_its_fold(monkeypatch):
    pairs, faces, names = toy_protocol(n_folds=3, size=SIZE)
    activations = np.random.default_rng(0).normal(size=(len(faces), 2, 2, 2, 96)).astype("float16")
    seen = spy_on_training(monkeypatch)
    distances = fv.protocol_distances("cosface", faces, pairs, CONFIG, None, lfw.fold_groups(3, 3),
                                      features=activations)
    assert distances.shape == (12, 2) and np.isfinite(distances).all()
    assert [sorted(s) for s in seen] == [names[3:], names[:3] + names[6:], names[:6]]  # one model per fold
    assert all(not s & set(pairs.people(fold)) for fold, s in enumerate(seen))
