"""Chapter 07: the verifier model, its SavedModel and ONNX exports, TF Serving's request contract,
the gallery."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers

from pyimagesearch import deploy, serving
from pyimagesearch.gallery import UNKNOWN, FaceGallery, accept_rates, threshold_for_far

SIZE = 32


def tiny_embedding() -> keras.Model:
    """A small random face embedding with the course's input convention (float 0-255 RGB)."""
    keras.utils.set_random_seed(1)
    face = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(face)
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(face, layers.UnitNormalization()(layers.Dense(16)(x)), name="tiny_embedding")


@pytest.fixture(scope="module")
def verifier():
    embedding = tiny_embedding()
    faces = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    distances = np.linalg.norm(embedding.predict(faces[:2].astype("float32"), verbose=0)
                               - embedding.predict(faces[2:].astype("float32"), verbose=0), axis=1)
    threshold = float(distances.mean())  # one pair on each side of it
    return deploy.build_verifier(embedding, threshold), faces, distances, threshold


def test_verifier_gives_the_embedding_distance_and_the_decision(verifier):
    model, faces, distances, threshold = verifier
    out = model.predict({"face_a": faces[:2], "face_b": faces[2:]}, verbose=0)
    np.testing.assert_allclose(out["distance"].ravel(), distances, rtol=1e-5)
    np.testing.assert_array_equal(out["same"].ravel(), (distances <= threshold).astype("float32"))
    assert sorted(out["same"].ravel()) == [0.0, 1.0]


def test_verifier_reloads_in_safe_mode(verifier, tmp_path):
    model, faces, *_ = verifier
    model.save(tmp_path / "v.keras")
    again = keras.models.load_model(tmp_path / "v.keras")
    inputs = {"face_a": faces[:2], "face_b": faces[2:]}
    assert deploy.largest_difference(model.predict(inputs, verbose=0), again.predict(inputs, verbose=0)) == 0


def test_saved_model_and_onnx_match_keras(verifier, tmp_path):
    model, faces, *_ = verifier
    inputs = {"face_a": faces[:2], "face_b": faces[2:]}
    expected = model.predict(inputs, verbose=0)
    folder = deploy.export_saved_model(model, tmp_path / "face_verifier" / "1")
    saved = deploy.saved_model_outputs(folder, inputs)
    assert set(saved) == {"distance", "same"}
    assert deploy.largest_difference(expected, saved) < 1e-5
    onnx_file = deploy.export_onnx(model, tmp_path / "face_verifier.onnx")
    assert deploy.largest_difference(expected, deploy.onnx_outputs(onnx_file, inputs)) < 1e-5


@pytest.mark.parametrize("style", serving.FORMATS)
def test_serving_request_gives_the_same_answer_through_the_saved_model_signature(verifier, tmp_path, style):
    """TF Serving feeds a REST body to ``serving_default``: do the same in process."""
    model, faces, distances, threshold = verifier
    folder = deploy.export_saved_model(model, tmp_path / "1")
    body = json.loads(json.dumps(serving.request_body(faces[0], faces[2], style)))  # through JSON
    outputs = deploy.saved_model_outputs(folder, serving.body_as_arrays(body))
    response = ({"predictions": [{k: v[0].tolist() for k, v in outputs.items()}]} if style == "instances"
                else {"outputs": {k: v.tolist() for k, v in outputs.items()}})
    answer = serving.verdict(response)
    expected = {"distance": round(float(distances[0]), 4), "same_person": bool(distances[0] <= threshold)}
    assert answer == expected


@pytest.mark.mirror
def test_serving_tool_names_a_bad_photo_and_an_unreachable_server(tmp_path):
    from pyimagesearch.config import REPO_ROOT

    photo = tmp_path / "a.jpg"
    photo.write_text("not an image")
    run = subprocess.run([sys.executable, "-m", "pyimagesearch.serving", "verify", str(photo), str(photo)],
                         capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith(f"error: {photo}: not an image file")
    with pytest.raises(ConnectionError, match="no TensorFlow Serving server answers"):
        serving.predict("http://127.0.0.1:9", "face_verifier", {"instances": []}, timeout=5)


def test_threshold_for_far_keeps_the_false_accept_rate():
    distances = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    same = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)  # different people at 0.3, 0.5, 0.6, 0.7, 0.8
    threshold = threshold_for_far(distances, same, far=0.2)  # one of five may be accepted
    assert 0.3 <= threshold < 0.5
    assert accept_rates(distances, same, threshold) == (0.2, 1.0)
    assert threshold_for_far(distances, same, far=0.0) < 0.3



@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threshold_for_far_by_hand_with_ties(dtype):
    """Different people at 0.3, 0.5, 0.5, 0.7, 0.9 (n = 5), same people at 0.1, 0.2, 0.4, 0.6.

    FAR 0.2 lets one different pair pass: the threshold lies just below 0.5. FAR 0.4 would let
    two pass, but the second and third are tied at 0.5, so the threshold stays below 0.5 (FAR 0.2).
    FAR 0.6 lets three pass: just below 0.7. Each threshold is the largest with FAR <= target: the
    next number up, in the distances' precision, accepts more than the target.
    """
    distances = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.5, 0.7, 0.6, 0.9], dtype=dtype)
    same = np.array([1, 0, 1, 0, 1, 0, 0, 1, 0], bool)
    #            target FAR -> (accepted below, FAR, TAR)
    by_hand = {0.0: (0.3, 0.0, 0.5), 0.2: (0.5, 0.2, 0.75), 0.4: (0.5, 0.2, 0.75),
               0.6: (0.7, 0.6, 1.0), 1.0: (None, 1.0, 1.0)}
    for far, (below, far_expected, tar_expected) in by_hand.items():
        threshold = threshold_for_far(distances, same, far)
        if below is None:  # every pair may pass: the largest different distance
            assert threshold == distances.max()
        else:
            assert threshold < distances.dtype.type(below)
            assert np.nextafter(distances.dtype.type(threshold), distances.dtype.type(np.inf)) == \
                distances.dtype.type(below)
        assert accept_rates(distances, same, threshold) == (far_expected, tar_expected)
        assert accept_rates(distances.astype("float64"), same, threshold) == (far_expected, tar_expected)
        assert accept_rates(distances, same, threshold)[0] <= far
        up = np.nextafter(distances.dtype.type(threshold), distances.dtype.type(np.inf))
        if below is not None:
            assert accept_rates(distances, same, up)[0] > far  # the largest such threshold


def test_threshold_for_far_counts_whole_pairs():
    """100 different pairs at 0.01, 0.02, ... 1.00 (float32): FAR 1 % lets exactly one pass, 29 % exactly 29.

    (0.29 * 100 is 28.999999999999996 in floating point: rounding it down would let only 28 pass.)
    """
    distances = np.r_[np.arange(1, 101) / 100, 0.0].astype("float32")
    same = np.r_[np.zeros(100, bool), True]  # and one same-person pair at 0
    for far, passing in ((0.01, 1), (0.29, 29), (0.005, 0)):
        threshold = threshold_for_far(distances, same, far)
        assert int((distances[:100] <= threshold).sum()) == passing
        assert accept_rates(distances, same, threshold) == (passing / 100, 1.0)

@pytest.mark.parametrize("index", ["numpy", "faiss", "function"])
def test_gallery_identifies_saves_loads_and_says_unknown(tmp_path, index):
    from pyimagesearch.gallery import nearest

    index = nearest if index == "function" else index  # a search function of one's own
    gallery = FaceGallery(threshold=0.5, index=index)
    gallery.enrol("ada", np.array([[1.0, 0.0], [0.9, 0.1]]))
    gallery.enrol("bob", np.array([0.0, 1.0]))
    gallery.enrol("cy", np.array([-1.0, 0.0]))
    top = gallery.identify(np.array([0.95, 0.0]), k=2)
    assert [m.name for m in top] == ["ada", "bob"]
    assert top[0].distance == pytest.approx(0.05, abs=1e-6)
    assert top[1].distance == pytest.approx(np.hypot(0.95, 1.0), abs=1e-6)
    loaded = FaceGallery.load(gallery.save(tmp_path / "g.npz"), index=index)
    assert loaded.names == gallery.names and loaded.threshold == 0.5
    assert [m.name for m in loaded.identify(np.array([0.1, -1.0]), k=3)] == [UNKNOWN, "ada", "cy"]


def test_gallery_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "g.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"g\.npz: not a face gallery file"):
        FaceGallery.load(bad)
