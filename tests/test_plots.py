"""Tests of chapter 05's figures: detection boxes, the triplet prediction figure, ROC curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from pyimagesearch import plots  # noqa: E402
from pyimagesearch.face_detection import Detection  # noqa: E402


def test_draw_detections_draws_the_box_on_a_copy():
    image = np.zeros((60, 60), np.uint8)
    drawn = plots.draw_detections(image, [Detection(10, 20, 40, 50, 0.9, ((25.0, 35.0),) * 5)])
    assert drawn.shape == (60, 60, 3) and not image.any()
    assert tuple(drawn[35, 10]) == plots.GREEN and tuple(drawn[20, 25]) == plots.GREEN
    assert tuple(drawn[35, 25]) == plots.RED  # a landmark
    assert not drawn[5:8, 50:55].any()  # far from the box, nothing


def test_show_triplets_colours_each_row_by_its_ranking(tmp_path):
    faces = np.zeros((2, 8, 8), np.uint8)
    fig = plots.show_triplets(faces, faces, faces, [0.2, 0.9], [0.8, 0.5], path=tmp_path / "t.png")
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes]
    assert titles[1] == ("positive  d=0.20", "tab:green") and titles[5] == ("negative  d=0.50", "tab:red")
    assert (tmp_path / "t.png").stat().st_size > 0


def test_roc_curves_report_their_auc():
    labels = np.array([1, 1, 0, 0])
    fig = plots.plot_roc_curves({"perfect": (np.array([0.1, 0.2, 0.8, 0.9]), labels),
                                 "reversed": (np.array([0.9, 0.8, 0.2, 0.1]), labels)})
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend == ["perfect (AUC 1.000)", "reversed (AUC 0.000)"]
    assert fig.axes[0].get_title() == "LFW verification, 4 pairs"
