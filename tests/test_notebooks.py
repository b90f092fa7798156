"""Every notebook: the shared first cells, `#@save` cells identical to the package, clean sources."""

from __future__ import annotations

import re
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from pyimagesearch import notebooks
from pyimagesearch.config import REPO_ROOT
from pyimagesearch.course import notebooks as course_notebooks

NOTEBOOKS = course_notebooks()
IDS = [p.relative_to(REPO_ROOT).as_posix() for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_opens_with_badge_colab_cell_and_setup_cell(path):
    assert notebooks.shared_cell_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_saved_cells_equal_the_package(path):
    assert notebooks.saved_cell_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_lesson_code_is_in_cells_not_printed_from_the_package(path):
    nb = nbformat.read(path, as_version=4)
    sources = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "getsource" not in sources
    if path.name != "00_GPU_Setup.ipynb":  # chapter 00 checks the machine; it teaches no code
        assert "#@save pyimagesearch/" in sources


def _fake_notebook(tmp_path, cell_source: str):
    path = tmp_path / "05_x" / "x.ipynb"
    path.parent.mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("# x"), new_code_cell(cell_source)]), path)
    return path


def test_sync_check_fails_when_a_saved_cell_differs_from_the_package(tmp_path):
    module = (REPO_ROOT / "pyimagesearch" / "images.py").read_text()
    original = re.search(r"^class ImageError.*?(?=\n\n\n)", module, re.S | re.M).group(0)
    in_sync = _fake_notebook(tmp_path, f"#@save pyimagesearch/images.py\n{original}\n")
    assert notebooks.saved_cell_problems(in_sync) == []

    edited = original.replace('"""A file', '"""An edited file')
    (tmp_path / "05_x").rename(tmp_path / "old")
    out_of_sync = _fake_notebook(tmp_path, f"#@save pyimagesearch/images.py\n{edited}\n")
    assert notebooks.saved_cell_problems(out_of_sync) == [
        "x.ipynb cell 1 (pyimagesearch/images.py): ImageError differs from the module's"]


def test_sync_check_names_missing_definitions_and_empty_saved_cells(tmp_path):
    path = _fake_notebook(tmp_path, "#@save pyimagesearch/images.py\ndef not_in_the_package():\n    pass\n")
    assert notebooks.saved_cell_problems(path) == [
        "x.ipynb cell 1 (pyimagesearch/images.py): not_in_the_package is not in the module"]
    (tmp_path / "05_x").rename(tmp_path / "old")
    path = _fake_notebook(tmp_path, "#@save pyimagesearch/images.py\nX = 1\n")
    assert notebooks.saved_cell_problems(path) == [
        "x.ipynb cell 1 (pyimagesearch/images.py): marked #@save but defines no function or class"]


def test_colab_cell_names_the_notebooks_own_folder():
    chapter = REPO_ROOT / "04_contrastive-loss" / "04_contrastive_loss.ipynb"
    assert 'CHAPTER = "04_contrastive-loss"' in notebooks.bootstrap_source(chapter)
    assert 'CHAPTER = "."' in notebooks.bootstrap_source(REPO_ROOT / "00_GPU_Setup.ipynb")
    assert notebooks.badge(chapter).endswith("/blob/main/04_contrastive-loss/04_contrastive_loss.ipynb)")


# Where this checkout lies and the usual home and temporary folders: no tracked file names them.
_MACHINE_WORDS = re.compile("|".join(re.escape(word) for word in (
    f"{REPO_ROOT.parent}/", "/root/", "/home/", "/Users/", "/tmp/")))


def test_tracked_files_name_no_machine_path_or_build_infrastructure():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    hits = []
    for name in tracked:
        if not name.endswith((".py", ".ipynb", ".md", ".toml", ".txt", ".yaml", ".yml", ".cfg")):
            continue
        if name.startswith("tests/"):
            continue  # the tests build temporary folders
        text = (REPO_ROOT / name).read_text(errors="replace")
        hits += [f"{name}: {m.group(0)!r}" for m in _MACHINE_WORDS.finditer(text)]
    assert hits == []


def test_made_by_notebook_runs_the_notebook_only_when_the_file_is_missing(tmp_path):
    from types import SimpleNamespace

    settings = SimpleNamespace(output_dir=tmp_path / "output", mode="quick", quick=True)
    target = tmp_path / "made.txt"
    writer = tmp_path / "writer.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"open({str(target)!r}, 'a').write('x')")]
    nbformat.write(nb, writer)
    assert notebooks.made_by_notebook(target, writer, settings, "file") == target
    assert notebooks.made_by_notebook(target, writer, settings, "file") == target  # found: not run again
    assert target.read_text() == "x"
    with pytest.raises(FileNotFoundError, match="writer.ipynb ran but saved no file"):
        notebooks.made_by_notebook(tmp_path / "never.txt", writer, settings, "file")
