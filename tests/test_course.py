"""Tests of the course runner's helpers and the results table."""

import base64
import io
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from pyimagesearch import config, course, results
from pyimagesearch.config import Settings


def test_notebooks_are_listed_in_chapter_order(tmp_path):
    for name in ("02_b/x.ipynb", "01_a/z.ipynb", "01_a/b.ipynb", "00_Setup.ipynb", "notes/n.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = [p.relative_to(tmp_path).as_posix() for p in course.notebooks(tmp_path)]
    assert found == ["00_Setup.ipynb", "01_a/b.ipynb", "01_a/z.ipynb", "02_b/x.ipynb"]


def test_tf_log_lines_are_dropped_and_other_stderr_kept():
    log = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
           "I0000 00:00:1795376398.631593    2906 port.cc:153] oneDNN custom operations are on.\n"
           "I0000 00:00:1795788234.200075   29417 device_compiler.h:208] Compiled cluster using XLA!\n"
           "WARNING:tensorflow:5 out of the last 13 calls to <function f> triggered tf.function retracing.\n")
    cell = new_code_cell("import keras", outputs=[
        new_output("stream", name="stderr", text=log),
        new_output("stream", name="stderr", text=log + "UserWarning: look at this\n"),
        new_output("stream", name="stdout", text="hello\n"),
        new_output("stream", name="stdout", text="WARNING:tensorflow:5 out of the last 9 calls retraced\n"),
    ])
    notebook = new_notebook(cells=[cell])
    course.drop_tf_log_lines(notebook)
    assert [o.text for o in notebook.cells[0].outputs] == ["UserWarning: look at this\n", "hello\n"]
    nbformat.validate(notebook)


def test_a_print_split_by_a_log_line_is_joined_again():
    log = "I0000 00:00:1795788234.200075   29417 device_compiler.h:208] Compiled cluster using XLA!\n"
    cell = new_code_cell("print('model file:', path)", outputs=[
        new_output("stream", name="stdout", text="model file:"),
        new_output("stream", name="stderr", text=log),
        new_output("stream", name="stdout", text=" a.keras\n"),
        new_output("stream", name="stdout", text="pixels in [0, 1]"),
        new_output("stream", name="stderr", text=log),
        new_output("stream", name="stdout", text="\n"),
    ])
    notebook = new_notebook(cells=[cell])
    course.drop_tf_log_lines(notebook)
    assert [(o.name, o.text) for o in notebook.cells[0].outputs] == [
        ("stdout", "model file: a.keras\npixels in [0, 1]\n")]


def test_papermill_paths_are_made_relative_to_the_repository():
    notebook = new_notebook()
    notebook.metadata["papermill"] = {"input_path": str(course.REPO_ROOT / "04_x" / "a.ipynb"),
                                      "output_path": "/elsewhere/b.ipynb"}
    course.relative_papermill_paths(notebook)
    paths = notebook.metadata["papermill"]
    assert paths == {"input_path": "04_x/a.ipynb", "output_path": "/elsewhere/b.ipynb"}


def test_repository_paths_in_outputs_are_made_relative():
    venv_file = f"{course.REPO_ROOT}/.venv/lib/keras/epoch_iterator.py"
    cell = new_code_cell("fit()", outputs=[
        new_output("stream", name="stderr", text=f"{venv_file}:74: UserWarning: shuffle\n"),
        new_output("execute_result", data={"text/plain": f"'{course.REPO_ROOT}/output/a.png'"}),
        new_output("error", ename="E", evalue="", traceback=[f"File {venv_file}", "/elsewhere/x.py"]),
    ])
    notebook = new_notebook(cells=[cell])
    course.relative_output_paths(notebook)
    stream, result, error = notebook.cells[0].outputs
    assert stream.text == ".venv/lib/keras/epoch_iterator.py:74: UserWarning: shuffle\n"
    assert result.data["text/plain"] == "'output/a.png'"
    assert error.traceback == ["File .venv/lib/keras/epoch_iterator.py", "/elsewhere/x.py"]
    nbformat.validate(notebook)


def test_results_round_trip_and_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIAMESE_OUTPUT_DIR", str(tmp_path))
    settings = Settings(quick=True, seed=1, output_dir=tmp_path / "quick", started=910.0)
    monkeypatch.setattr(config.time, "time", lambda: 1000.0)  # 90 s after the setup cell
    results.save_results("04_contrastive", {"test accuracy": 0.98765, "epochs": 2}, settings)
    assert capsys.readouterr().out == (f"results saved to {tmp_path}/quick/results/04_contrastive.json; "
                                       "the notebook ran for 1.5 min in quick mode\n")
    records = results.load_results("quick")
    assert [r["chapter"] for r in records] == ["04_contrastive"] and records[0]["mode"] == "quick"
    assert records[0]["minutes"] == 1.5  # the notebook's time so far, kept with its numbers
    table = results.summary_table(records)
    assert "| 04_contrastive | test accuracy | 0.9877 |" in table
    assert "| 04_contrastive | epochs | 2 |" in table


def test_markdown_table_aligns_columns_by_key():
    table = results.markdown_table([{"model": "course", "acc": 0.912345}, {"model": "improved", "auc": 1.0}])
    assert table.splitlines() == ["| model | acc | auc |", "|---|---|---|",
                                  "| course | 0.9123 |  |", "| improved |  | 1 |"]


def test_png_outputs_get_smaller_and_keep_their_pixels():
    from PIL import Image

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(40, 50), dtype=np.uint8)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])  # how matplotlib saves a grey photo
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    figure = new_output("display_data", data={"image/png": png, "text/plain": "fig"})
    cell = new_code_cell("fig", outputs=[figure])
    notebook = new_notebook(cells=[cell])
    course.compress_png_outputs(notebook)
    smaller = notebook.cells[0].outputs[0]["data"]["image/png"]
    assert len(smaller) < len(png)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(smaller))).convert("L"))
    assert (pixels == grey).all()
    nbformat.validate(notebook)


def test_wide_png_outputs_are_scaled_to_the_maximum_width():
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, size=(100, 1000, 3), dtype=np.uint8)).save(
        buffer, format="PNG")
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    notebook = new_notebook(cells=[new_code_cell("fig", outputs=[
        new_output("display_data", data={"image/png": png, "text/plain": "fig"})])])
    course.compress_png_outputs(notebook, max_width=500)
    image = Image.open(io.BytesIO(base64.b64decode(notebook.cells[0].outputs[0]["data"]["image/png"])))
    assert image.size == (500, 50)


def test_going_further_notebooks_are_told_by_the_letter_after_their_number():
    assert course.is_going_further(Path("04b_in_batch_training.ipynb"))
    assert not course.is_going_further(Path("04_contrastive_loss.ipynb"))
    assert not course.is_going_further(Path("00_GPU_Setup.ipynb"))


def test_runs_from_selects_folders_and_adds_the_extra_runs_when_asked():
    names = [name for _, name, _ in course.runs_from(only=("04_contrastive-loss",))]
    assert names == ["04_contrastive_loss.ipynb", "04b_in_batch_training.ipynb"]
    assert [name for _, name, _ in course.runs_from(only=("04_contrastive-loss",), main=True)] == names[:1]
    runs = course.runs_from(only=("04_contrastive-loss/04_contrastive_loss.ipynb",), extras=True)
    assert [(p.relative_to(course.REPO_ROOT).as_posix(), name, params) for p, name, params in runs] == [
        ("04_contrastive-loss/04_contrastive_loss.ipynb", "04_contrastive_loss.ipynb", None),
        ("04_contrastive-loss/04_contrastive_loss.ipynb", "04_contrastive_loss-fashion_mnist.ipynb",
         {"DATASET": "fashion_mnist"})]
    assert [p.name for p, *_ in course.runs_from(start="06")][:1] == ["06_att_face_identification.ipynb"]


def _tracked_state() -> str:
    import subprocess

    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=course.REPO_ROOT,
                          capture_output=True, text=True, check=True).stdout


def test_a_quick_run_leaves_the_tracked_files_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAMESE_OUTPUT_DIR", str(tmp_path))
    before = _tracked_state()
    assert course.main(["--quick", "--only", "00_GPU_Setup.ipynb"]) == 0
    assert (tmp_path / "quick" / "notebooks" / "00_GPU_Setup.ipynb").is_file()
    assert _tracked_state() == before


def test_in_place_is_refused_in_quick_mode():
    with pytest.raises(SystemExit):
        course.main(["--quick", "--in-place"])


def test_the_runner_prints_nothing_of_the_kernels_stderr(tmp_path):
    import subprocess
    import sys

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys\nos.write(2, b'I0000 port.cc:153] oneDNN custom operations are on\\n')\n"
        "print('to stderr', file=sys.stderr)\nprint('to stdout')")])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    code = ("from pathlib import Path\nfrom pyimagesearch.course import run_notebook\n"
            f"run_notebook(Path({str(path)!r}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=course.REPO_ROOT)
    assert run.returncode == 0 and run.stderr == ""
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    streams = [(o.name, o.text) for o in outputs if o.output_type == "stream"]
    assert ("stdout", "to stdout\n") in streams and ("stderr", "to stderr\n") in streams  # in the notebook
