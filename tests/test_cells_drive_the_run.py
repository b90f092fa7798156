"""The cells a reader writes are the cells that train and judge: a notebook copy whose taught loss and
threshold rule are replaced right after their cells trains and scores with the replacements."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pyimagesearch.config import REPO_ROOT, output_root

CHAPTER_04 = REPO_ROOT / "04_contrastive-loss" / "04_contrastive_loss.ipynb"

# A reader's edits: a loss that teaches nothing, a threshold that calls every pair "different".
NO_LOSS = """def contrastive_terms(y_true, distance, margin: float = 1.0):
    return 0.0 * ops.reshape(ops.convert_to_tensor(distance), (-1,))"""
NO_THRESHOLD = """def best_threshold(scores, labels, greater_is_same: bool = False) -> float:
    return -1.0"""
REPORT = """import json
print(json.dumps({"loss": [float(v) for v in history.history["loss"]], "threshold": threshold,
                  "test accuracy": accuracy_at(test_d, test_y, threshold)}))"""


def execute(nb, notebook: Path, tmp_path, monkeypatch) -> None:
    """Run ``nb``, a copy of ``notebook``, in quick mode in its folder, writing under ``tmp_path``."""
    monkeypatch.setenv("SIAMESE_QUICK", "1")
    monkeypatch.setenv("SIAMESE_OUTPUT_DIR", str(tmp_path / "output"))
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()


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
    execute(nb, CHAPTER_04, tmp_path, monkeypatch)
    report = json.loads(nb.cells[-1].outputs[0]["text"])
    assert report["loss"] and all(value == 0.0 for value in report["loss"])  # the edited loss trained it
    assert report["threshold"] == -1.0 and report["test accuracy"] == 0.5  # the edited rule judged it


CHAPTER_06 = REPO_ROOT / "06_att-face-identification" / "06_att_face_identification.ipynb"

# A reader's edits of chapter 06: features that are the same for every photo, and a Siamese network whose
# learned weights all start at 0 (every embedding then 0, every distance the same).
SAME_FEATURES = """def backbone_layer_features(images, names, **kwargs):
    return {name: np.full((len(images), 8), 8 ** -0.5, dtype="float32") for name in names}"""
ZERO_WEIGHTS = """def build_feature_metric(input_dim: int) -> keras.Model:
    inputs = keras.Input(shape=(input_dim,), name="features")
    weights = FeatureWeights(name="feature_weights")
    model = keras.Model(inputs, layers.UnitNormalization(name="embedding")(weights(inputs)))
    weights.set_weights([np.zeros(input_dim)])
    return model"""
REPORT_06 = """import json
learned = siamese.get_layer("feature_weights").get_weights()[0]
print(json.dumps({"scores": scores, "weights": sorted(set(learned.tolist()))}, default=float))"""


@pytest.mark.mirror
def test_chapter_06_identifies_with_its_feature_cell_and_trains_the_network_of_its_builder_cell(tmp_path,
                                                                                                monkeypatch):
    nb = nbformat.read(CHAPTER_06, as_version=4)
    for name, edit in (("backbone_layer_features", SAME_FEATURES), ("build_feature_metric", ZERO_WEIGHTS)):
        # after the cell's own check, and before the cells that use it
        nb.cells.insert(after_cell_defining(nb, name) + 1, nbformat.v4.new_code_cell(edit))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT_06))
    execute(nb, CHAPTER_06, tmp_path, monkeypatch)
    printed = [output for output in nb.cells[-1].outputs if output.get("name") == "stdout"]
    report = json.loads(printed[0]["text"])
    scores = report["scores"]
    chance = {"1-shot rank-1": pytest.approx(0.1), "5-shot rank-1": pytest.approx(0.1), "ROC AUC": 0.5}
    # the edited feature function made every photo alike: 1 in 10 queries named right, ROC AUC one half
    assert scores["MobileNetV2 chosen inner layer, frozen"] == chance
    # the edited builder made the network that trained: its weights started at 0 and stayed there
    assert report["weights"] == [0.0] and scores["Siamese: chosen layer + learned weights"] == chance
    assert scores["raw pixels"]["1-shot rank-1"] > 0.5  # raw pixels go through neither cell


CHAPTER_05 = REPO_ROOT / "05_face_recognition_triplet"
# A reader's edits of chapter 05: a triplet hinge and a batch-hard loss that are always zero.
ZERO_HINGE = """def triplet_hinge(d_ap, d_an, margin: float = 0.5):
    return 0.0 * ops.mean(ops.reshape(d_ap, (-1,)))"""
ZERO_BATCH_HARD = """def batch_hard_triplet_loss(labels, embeddings, margin: float = 0.5):
    return 0.0 * ops.sum(ops.convert_to_tensor(embeddings))"""


def run_edited(path, edits: dict[str, str], last: str, report: str, tmp_path, monkeypatch):
    """Run a notebook copy in quick mode with ``edits`` right after their cells, up to the cell that contains
    ``last``, then ``report``; returns the stdout of those two cells."""
    nb = nbformat.read(path, as_version=4)
    for name, edit in edits.items():
        nb.cells.insert(after_cell_defining(nb, name) + 1, nbformat.v4.new_code_cell(edit))
    nb.cells = [cell for cell in nb.cells if "NBVAL_CHECK_OUTPUT" not in cell.source or "def " in cell.source]
    end = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and last in cell.source)
    nb.cells = nb.cells[:end + 1] + [nbformat.v4.new_code_cell(report)]
    execute(nb, path, tmp_path, monkeypatch)
    return "".join(output.get("text", "") for cell in nb.cells[-2:] for output in cell.outputs)


@pytest.mark.mirror
def test_chapter_05_2_trains_with_its_triplet_hinge_cell(tmp_path, monkeypatch):
    report = run_edited(CHAPTER_05 / "02_triplet_training.ipynb", {"triplet_hinge": ZERO_HINGE},
                        "model.fit(", 'import json\nprint("losses", json.dumps(history.history["loss"]))',
                        tmp_path, monkeypatch)
    losses = json.loads(report.split("losses ")[-1])
    assert losses and all(value == 0.0 for value in losses)  # the edited hinge is what trained


@pytest.mark.mirror
def test_chapter_05_3_mines_with_its_batch_hard_cell(tmp_path, monkeypatch):
    report = run_edited(CHAPTER_05 / "03_lfw_protocol.ipynb", {"batch_hard_triplet_loss": ZERO_BATCH_HARD},
                        "for variant in fv.METHODS", "", tmp_path, monkeypatch)
    rows = dict(re.findall(r"^(.+):\n\d+ models, mean training loss by epoch: (.+)$", report, re.MULTILINE))
    hard = next(curve for name, curve in rows.items() if "batch-hard" in name)
    assert set(hard.split(" -> ")) == {"0.0000"}  # the edited mining loss is what trained that row
    others = [curve for name, curve in rows.items() if "batch-hard" not in name]
    assert others and all(set(curve.split(" -> ")) != {"0.0000"} for curve in others)


CHAPTER_07 = REPO_ROOT / "07_deploy" / "07_deploy.ipynb"

# A reader's edits of chapter 07: a verifier that calls every pair "different", a search that finds the first
# enrolled face at distance 0 for every query, a threshold rule that accepts only distance 0.
EDITS_07 = {
    "build_verifier": """_taught_build_verifier = build_verifier
def build_verifier(embedding, threshold):
    return _taught_build_verifier(embedding, -1.0)""",
    "nearest": """def nearest(vectors, queries, k):
    return np.zeros((len(queries), k)), np.zeros((len(queries), k), dtype=int)""",
    "threshold_for_far": """def threshold_for_far(distances, same, far):
    return 0.0""",
}
REPORT_07 = """import json
print(json.dumps({"open_set": open_set, "val_far": val_far, "val_tar": val_tar, "rank1": rank1,
                  "val_named": val_named,
                  "strangers_named": strangers_named, "exported": float(exported_right.mean()),
                  "first_enrolled_share": sum(p == str(enrolled[0]) for p, _ in queries) / len(queries),
                  "different_share": len(different_rows) / len(rows)}))"""


@pytest.mark.mirror
def test_chapter_07_exports_searches_and_calibrates_with_its_cells(tmp_path, monkeypatch):
    nb = nbformat.read(CHAPTER_07, as_version=4)
    # the cells' own checks would (rightly) fail on the edited functions
    nb.cells = [cell for cell in nb.cells if "NBVAL_CHECK_OUTPUT" not in cell.source or "def " in cell.source]
    for cell in nb.cells:
        cell.source = cell.source.replace("assert val_named <= TARGET_NAMED", "")
    for name, edit in EDITS_07.items():
        nb.cells.insert(after_cell_defining(nb, name), nbformat.v4.new_code_cell(edit))
    figure = next(i for i, cell in enumerate(nb.cells) if "exported_right =" in cell.source)
    nb.cells = nb.cells[: figure + 1] + [nbformat.v4.new_code_cell(REPORT_07)]

    # what an earlier quick run made (embedding, crops, cache) is reused; anything missing is made
    output = tmp_path / "output"
    (output / "quick").mkdir(parents=True)
    for name in ("05_embedding.keras", "lfw_crops", "cache"):
        if (output_root() / "quick" / name).exists():
            (output / "quick" / name).symlink_to(output_root() / "quick" / name)
    execute(nb, CHAPTER_07, tmp_path, monkeypatch)
    report = json.loads(nb.cells[-1].outputs[0]["text"])
    assert report["open_set"] == report["val_far"] == report["val_tar"] == 0.0  # the edited rule
    assert report["val_named"] == 1.0  # the edited rule and search calibrate the gallery
    assert report["strangers_named"] == 1.0  # the edited search: everyone is at distance 0 of the first face
    assert report["rank1"] == report["first_enrolled_share"]  # ... and named after its person
    assert report["exported"] == report["different_share"]  # the edited verifier: every pair "different"
