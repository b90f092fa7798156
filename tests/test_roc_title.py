"""The ROC figure's title counts every curve's pairs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pyimagesearch import plots  # noqa: E402


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
