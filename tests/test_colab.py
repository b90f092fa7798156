"""Colab: the bootstrap installs nothing over Colab's own packages, and every notebook runs alone
in a fresh runtime that gets the course the way Colab does (its first cell clones and installs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pyimagesearch.config import REPO_ROOT, data_dir
from pyimagesearch.course import notebooks

COLAB_FREEZE = Path(__file__).parent / "data" / "colab-pip-freeze.txt"
COLAB_REQUIREMENTS = REPO_ROOT / "colab-requirements.txt"
KERNEL = "course-fresh-runtime"


def _colab_packages() -> dict[str, str]:
    """Colab's preinstalled distributions, name -> version."""
    packages = {}
    for line in COLAB_FREEZE.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            packages[canonicalize_name(name)] = version.strip()
    return packages


def _bootstrap_requirements() -> list[Requirement]:
    lines = COLAB_REQUIREMENTS.read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_colab_bootstrap_installs_nothing_over_colabs_packages():
    colab = _colab_packages()
    assert "tensorflow" in colab and "opencv-python" in colab  # the snapshot is Colab's list
    for requirement in _bootstrap_requirements():
        name = canonicalize_name(requirement.name)
        assert not name.startswith(("tensorflow", "keras", "opencv", "jax", "torch")), name
        assert name in colab, f"{name} is not on Colab: the bootstrap would install it"
        assert requirement.specifier.contains(colab[name]), f"Colab has {name} {colab[name]}: {requirement}"


@pytest.fixture(scope="session")
def course_url(tmp_path_factory) -> str:
    """A repository holding this checkout's tracked files as they are now, to clone like GitHub."""
    git = ["git", "-c", "user.name=course", "-c", "user.email=course@localhost"]
    snapshot = subprocess.run(git + ["stash", "create"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip() or "HEAD"
    bare = tmp_path_factory.mktemp("remote") / "course.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(git + ["push", "-q", str(bare), f"{snapshot}:refs/heads/main"], cwd=REPO_ROOT, check=True)
    subprocess.run(["git", "--git-dir", str(bare), "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    return f"file://{bare}"


@pytest.fixture(scope="session")
def fresh_kernel(tmp_path_factory) -> Path:
    """A Jupyter kernel in a new environment that has the course's libraries but not the course.

    Its site-packages lists this environment's site-packages as a plain path, so the libraries
    import, but the editable install of ``pyimagesearch`` (a ``.pth`` hook there) is not run.
    """
    root = tmp_path_factory.mktemp("fresh")
    env = root / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([env / "bin" / "python", "-c", where], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "course_libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    spec = root / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(env / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh runtime", "language": "python"}))
    return root


def test_fresh_runtime_lacks_the_course(fresh_kernel, tmp_path):
    python = fresh_kernel / "env" / "bin" / "python"
    missing = subprocess.run([python, "-c", "import pyimagesearch"], cwd=tmp_path, capture_output=True,
                             text=True)
    assert "No module named 'pyimagesearch'" in missing.stderr
    subprocess.run([python, "-c", "import keras, cv2, sklearn, imutils, ipykernel"], cwd=tmp_path, check=True)


@pytest.mark.parametrize("path", notebooks(), ids=[p.relative_to(REPO_ROOT).as_posix() for p in notebooks()])
def test_notebook_runs_alone_in_a_fresh_runtime(path, course_url, fresh_kernel, tmp_path, monkeypatch):
    """nbval runs the notebook alone in an empty folder, quick mode, the course cloned by its first cell.

    This is the test suite's one run of each notebook: nbval in lax mode (every cell without
    error, ``# NBVAL_CHECK_OUTPUT`` cells equal to their saved outputs) with a kernel that lacks
    the package, the way Colab starts.
    """
    shutil.copy(path, tmp_path / path.name)
    monkeypatch.setenv("JUPYTER_PATH", str(fresh_kernel / "jupyter"))
    monkeypatch.setenv("SIAMESE_BOOTSTRAP", "1")
    monkeypatch.setenv("SIAMESE_COURSE_URL", course_url)
    monkeypatch.setenv("SIAMESE_QUICK", "1")
    if data_dir() is not None:  # a relative value means this checkout's root, not the empty folder
        monkeypatch.setenv("SIAMESE_DATA_DIR", str(data_dir()))
    for name in ("SIAMESE_COURSE_DIR", "SIAMESE_OUTPUT_DIR", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-cell-timeout=900", f"--nbval-kernel-name={KERNEL}", path.name],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, f"nbval failed on {path.name} in a fresh runtime:\n{run.stdout[-6000:]}"
    clone = tmp_path / "siamese-networks-keras"
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, clone.name])
    assert (clone / "output" / "quick").is_dir()  # the notebook wrote into its own clone
