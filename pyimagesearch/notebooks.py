"""The cells every notebook shares, and the `#@save` cells kept identical to the package.

    python -m pyimagesearch.notebooks          # stamp badge, Colab cell and setup cell everywhere
    python -m pyimagesearch.notebooks --check  # list every difference, exit 1 if any

A code cell whose first line is ``#@save pyimagesearch/<module>.py`` defines functions or classes
that the package holds too: each definition in the cell must equal, character for character, the
one of the same name in that module (d2l's ``#@save`` idea, checked instead of generated).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from pyimagesearch.config import REPO_ROOT

# The one place that says where the course lives; every notebook's first code cell copies it.
COURSE_URL = "https://github.com/siamese-networks-keras/siamese-networks-keras"
COLAB_URL = "https://colab.research.google.com/github/" + COURSE_URL.removeprefix("https://github.com/")
BADGE_ALT = "Open In Colab"
SAVE_MARK = re.compile(r"^#@save (pyimagesearch/\w+\.py)\s*$")

SETUP_SOURCE = """\
# Setup: the same cell opens every notebook of the course.
%matplotlib inline
from pyimagesearch import config

settings = config.setup(quick=QUICK)"""

BOOTSTRAP_TEMPLATE = """\
# Colab: get the course (on your own machine this cell does nothing).
import os
import sys

CHAPTER = "{chapter}"  # this notebook's folder in the course
COURSE_URL = "{url}"
if "google.colab" in sys.modules or os.environ.get("SIAMESE_BOOTSTRAP") == "1":
    import subprocess

    course = os.environ.setdefault("SIAMESE_COURSE_DIR", os.path.abspath("siamese-networks-keras"))
    if not os.path.isdir(course):
        url = os.environ.get("SIAMESE_COURSE_URL", COURSE_URL)
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", url, course], check=True)
    # Only what Colab lacks: TensorFlow, Keras and OpenCV are Colab's own and stay as they are.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
                    os.path.join(course, "colab-requirements.txt")], check=True)
    sys.path.insert(0, course)  # the package imports at once, without a restart
    os.chdir(os.path.join(course, CHAPTER))"""


def made_by_notebook(path: Path, notebook: Path, settings, what: str) -> Path:
    """``path``, made first by running ``notebook`` in ``settings``' mode if missing; ``what`` names it."""
    import os

    import nbformat
    from nbclient import NotebookClient

    from pyimagesearch.config import relative_to_repo

    if path.is_file():
        return path
    print(f"No {what} in {relative_to_repo(settings.output_dir)}: running {notebook.name} "
          f"in {settings.mode} mode to make it")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["SIAMESE_QUICK"] = "1" if settings.quick else "0"
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=3600, resources={"metadata": {"path": str(notebook.parent)}}).execute()
    if not path.is_file():
        raise FileNotFoundError(f"{relative_to_repo(path)}: {notebook.name} ran but saved no {what}")
    return path

def chapter_of(notebook: Path) -> str:
    """The notebook's folder relative to the repository ("." for the top-level notebook)."""
    return notebook.resolve().parent.relative_to(REPO_ROOT).as_posix()


def badge(notebook: Path) -> str:
    """The markdown "Open in Colab" badge linking to this notebook on GitHub."""
    path = notebook.resolve().relative_to(REPO_ROOT).as_posix()
    image = "https://colab.research.google.com/assets/colab-badge.svg"
    return f"[![{BADGE_ALT}]({image})]({COLAB_URL}/blob/main/{path})"


def bootstrap_source(notebook: Path) -> str:
    """The Colab cell for this notebook."""
    return BOOTSTRAP_TEMPLATE.format(chapter=chapter_of(notebook), url=COURSE_URL)


def _parameters_index(cells) -> int:
    """Index of the cell tagged ``parameters`` (papermill's)."""
    for i, cell in enumerate(cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    raise ValueError("no cell tagged 'parameters'")


def shared_cell_problems(notebook: Path, nb=None) -> list[str]:
    """What differs from the course's shared cells: badge, Colab cell, parameters, setup cell."""
    import nbformat

    nb = nb or nbformat.read(notebook, as_version=4)
    cells, name = nb.cells, notebook.name
    problems = []
    if not cells or badge(notebook) not in cells[0].source:
        problems.append(f"{name}: first cell lacks the Colab badge {badge(notebook)}")
    try:
        p = _parameters_index(cells)
    except ValueError as error:
        return problems + [f"{name}: {error}"]
    if p < 1 or cells[p - 1].source != bootstrap_source(notebook):
        problems.append(f"{name}: the cell before the parameters is not the Colab cell")
    if p + 1 >= len(cells) or cells[p + 1].source != SETUP_SOURCE:
        problems.append(f"{name}: the cell after the parameters is not the setup cell")
    return problems


def stamp(notebook: Path) -> bool:
    """Put the badge, the Colab cell and the setup cell in place; True when the file changed."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    before = nbformat.writes(nb)
    cells = nb.cells
    first = cells[0].source
    if BADGE_ALT not in first:
        title, _, rest = first.partition("\n")
        cells[0].source = f"{title}\n\n{badge(notebook)}\n{rest}"
    else:
        cells[0].source = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)", badge(notebook), first)
    p = _parameters_index(cells)
    if p >= 1 and cells[p - 1].source.startswith("# Colab:"):
        cells[p - 1].source = bootstrap_source(notebook)
    else:
        cells.insert(p, nbformat.v4.new_code_cell(bootstrap_source(notebook)))
        p += 1
    if p + 1 < len(cells) and cells[p + 1].source.startswith("# Setup:"):
        cells[p + 1].source = SETUP_SOURCE
    else:
        cells.insert(p + 1, nbformat.v4.new_code_cell(SETUP_SOURCE))
    changed = nbformat.writes(nb) != before
    if changed:
        nbformat.write(nb, notebook)
    return changed


def _definitions(tree: ast.Module, source: str) -> dict[str, str]:
    """Top-level function and class definitions of a module, decorators included, by name."""
    lines = source.splitlines()
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found[node.name] = "\n".join(lines[start - 1:node.end_lineno])
    return found


def saved_cell_problems(notebook: Path, nb=None) -> list[str]:
    """Where a ``#@save`` cell's definitions differ from the package's (empty when in sync)."""
    import nbformat

    nb = nb or nbformat.read(notebook, as_version=4)
    problems, modules = [], {}
    for i, cell in enumerate(nb.cells):
        mark = SAVE_MARK.match(cell.source.partition("\n")[0]) if cell.cell_type == "code" else None
        if not mark:
            continue
        where = f"{notebook.name} cell {i} ({mark.group(1)})"
        module = REPO_ROOT / mark.group(1)
        if not module.is_file():
            problems.append(f"{where}: no such module")
            continue
        if module not in modules:
            text = module.read_text()
            modules[module] = _definitions(ast.parse(text), text)
        cell_defs = _definitions(ast.parse(cell.source), cell.source)
        if not cell_defs:
            problems.append(f"{where}: marked #@save but defines no function or class")
        for name, code in cell_defs.items():
            if name not in modules[module]:
                problems.append(f"{where}: {name} is not in the module")
            elif modules[module][name] != code:
                problems.append(f"{where}: {name} differs from the module's")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Stamp the shared cells into every notebook, or with --check list what is out of step."""
    from pyimagesearch.course import notebooks

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, change nothing")
    args = parser.parse_args(argv)
    problems = []
    for notebook in notebooks():
        if args.check:
            problems += shared_cell_problems(notebook) + saved_cell_problems(notebook)
        elif stamp(notebook):
            print(f"stamped {notebook.relative_to(REPO_ROOT)}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
