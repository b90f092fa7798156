"""The cells a reader writes are the cells that train and judge: a notebook copy whose taught loss and
threshold rule are replaced right after their cells trains and scores with the replacements."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

from pyimagesearch.config import REPO_ROOT

CHAPTER_04 = REPO_ROOT / "04_contrastive-loss" / "04_contrastive_loss.ipynb"

# A reader's edits: a loss that teaches nothing, a threshold that calls every pair "different".
NO_LOSS = """def contrastive_terms(y_true, distance, margin: float = 1.0):
    return 0.0 * ops.reshape(ops.convert_to_tensor(distance), (-1,))"""
NO_THRESHOLD = """def best_threshold(scores, labels, greater_is_same: bool = False) -> float:
    return -1.0"""
REPORT = """import json
print(json.dumps({"loss": [float(v) for v in history.history["loss"]], "threshold": threshold,
                  "test accuracy": accuracy_at(test_d, test_y, threshold)}))"""


def after_cell_defining(nb, name: str) -> int:
    """The index just after the first code cell that defines ``name``."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and f"def {name}(" in cell.source:
            return i + 1
    raise AssertionError(f"no cell defines {name}")


@pytest.mark.mirror
def test_chapter_04_trains_with_its_loss_cell_and_judges_with_its_threshold_cell(tmp_path, monkeypatch):
    nb = nbformat.read(CHAPTER_04, as_version=4)
    for name, edit in (("best_threshold", NO_THRESHOLD), ("contrastive_terms", NO_LOSS)):
        index = after_cell_defining(nb, name)
        # after the cell's own check, which would (rightly) fail on the edited function
        nb.cells.insert(index + 2, nbformat.v4.new_code_cell(edit))
    nb.cells = [cell for cell in nb.cells if "NBVAL_CHECK_OUTPUT" not in cell.source or "def " in cell.source]
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    monkeypatch.setenv("SIAMESE_QUICK", "1")
    monkeypatch.setenv("SIAMESE_OUTPUT_DIR", str(tmp_path / "output"))
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(CHAPTER_04.parent)}}).execute()
    report = json.loads(nb.cells[-1].outputs[0]["text"])
    assert report["loss"] and all(value == 0.0 for value in report["loss"])  # the edited loss trained it
    assert report["threshold"] == -1.0 and report["test accuracy"] == 0.5  # the edited rule judged it
