"""Chapter 07's cells drive its run: a notebook copy whose verifier, gallery search and threshold rule
are replaced right after their cells exports, searches and calibrates with the replacements."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

from pyimagesearch.config import REPO_ROOT, output_root

CHAPTER_07 = REPO_ROOT / "07_deploy" / "07_deploy.ipynb"

# A reader's edits: a verifier that calls every pair "different", a search that finds the first
# enrolled face at distance 0 for every query, a threshold rule that accepts only distance 0.
EDITS = {
    "build_verifier": """_taught_build_verifier = build_verifier
def build_verifier(embedding, threshold):
    return _taught_build_verifier(embedding, -1.0)""",
    "nearest": """def nearest(vectors, queries, k):
    return np.zeros((len(queries), k)), np.zeros((len(queries), k), dtype=int)""",
    "threshold_for_far": """def threshold_for_far(distances, same, far):
    return 0.0""",
}
REPORT = """import json
print(json.dumps({"open_set": open_set, "val_far": val_far, "val_tar": val_tar, "rank1": rank1,
                  "strangers_named": strangers_named, "exported": float(exported_right.mean()),
                  "first_enrolled_share": sum(p == str(enrolled[0]) for p, _ in queries) / len(queries),
                  "different_share": len(different_rows) / len(rows)}))"""


def defining(nb, name: str) -> int:
    """The index of the first code cell that defines ``name``."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and f"def {name}(" in cell.source:
            return i
    raise AssertionError(f"no cell defines {name}")


@pytest.mark.mirror
def test_chapter_07_exports_searches_and_calibrates_with_its_cells(tmp_path, monkeypatch):
    nb = nbformat.read(CHAPTER_07, as_version=4)
    # the cells' own checks would (rightly) fail on the edited functions
    nb.cells = [cell for cell in nb.cells if "NBVAL_CHECK_OUTPUT" not in cell.source or "def " in cell.source]
    for cell in nb.cells:
        cell.source = cell.source.replace("assert val_far <= TARGET_FAR\n", "").replace(
            "assert val_far <= TARGET_FAR", "")
    for name, edit in EDITS.items():
        nb.cells.insert(defining(nb, name) + 1, nbformat.v4.new_code_cell(edit))
    figure = next(i for i, cell in enumerate(nb.cells) if "exported_right =" in cell.source)
    nb.cells = nb.cells[: figure + 1] + [nbformat.v4.new_code_cell(REPORT)]

    # what an earlier quick run made (embedding, crops, cache) is reused; anything missing is made
    output = tmp_path / "output"
    (output / "quick").mkdir(parents=True)
    for name in ("05_embedding.keras", "lfw_crops", "cache"):
        if (output_root() / "quick" / name).exists():
            (output / "quick" / name).symlink_to(output_root() / "quick" / name)
    monkeypatch.setenv("SIAMESE_QUICK", "1")
    monkeypatch.setenv("SIAMESE_OUTPUT_DIR", str(output))
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(CHAPTER_07.parent)}}).execute()
    report = json.loads(nb.cells[-1].outputs[0]["text"])
    assert report["open_set"] == report["val_far"] == report["val_tar"] == 0.0  # the edited rule
    assert report["strangers_named"] == 1.0  # the edited search: everyone is at distance 0 of the first face
    assert report["rank1"] == report["first_enrolled_share"]  # ... and named after its person
    assert report["exported"] == report["different_share"]  # the edited verifier: every pair "different"
