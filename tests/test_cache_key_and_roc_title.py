"""The feature cache is keyed by the weights too; the ROC figure's title counts every curve's pairs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pyimagesearch import face_verification as fv  # noqa: E402
from pyimagesearch import plots  # noqa: E402


def small_backbone() -> keras.Model:
    inputs = keras.Input((4, 4, 3))
    outputs = keras.layers.Dense(2, name="project")(keras.layers.GlobalAveragePooling2D()(inputs))
    return keras.Model(inputs, outputs, name="small")


def test_cached_features_are_recomputed_when_the_weights_change(tmp_path):
    model = small_backbone()
    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    first = fv.cached_features(model, images, tmp_path)
    np.testing.assert_allclose(fv.cached_features(model, images, tmp_path), first)
    assert len(list(tmp_path.glob("features-small-4px-*.npy"))) == 1
    kernel, bias = model.get_layer("project").get_weights()
    model.get_layer("project").set_weights([kernel * 2 + 1, bias])  # e.g. other pretrained weights
    second = fv.cached_features(model, images, tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    assert not np.allclose(second, first)
    np.testing.assert_allclose(second, model.predict(images.astype(np.float32), verbose=0), rtol=1e-6)


def test_roc_title_counts_the_pairs_of_every_curve_not_the_last_one():
    labels = np.array([1, 1, 0, 0])
    fig = plots.plot_roc_curves({"four": (np.array([0.1, 0.2, 0.8, 0.9]), labels),
                                 "six": (np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.7]), np.r_[labels, 1, 0])})
    assert fig.axes[0].get_title() == "LFW verification, 4 / 6 pairs"
    fig = plots.plot_roc_curves({"a": (np.array([0.1, 0.9]), np.array([1, 0])),
                                 "b": (np.array([0.9, 0.1]), np.array([1, 0]))})
    assert fig.axes[0].get_title() == "LFW verification, 2 pairs"
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_roc_curves({})
