"""Test-wide settings: the test suite (unit tests and notebooks) runs in quick mode.

``pytest`` runs each notebook once, alone in a fresh runtime (``tests/test_colab.py``, nbval in a
kernel without the package). Name a notebook or its chapter folder (``pytest 04_contrastive-loss``)
to run it with nbval here, in place, in this environment.
"""

import os
from pathlib import Path

# Read by pyimagesearch.config.setup() in every notebook; the kernels that nbval
# starts inherit this process's environment.
os.environ.setdefault("SIAMESE_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """Skip a notebook in place unless it, or a folder below the repository root holding it, was named."""
    if collection_path.suffix != ".ipynb":
        return None
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return not any(p != ROOT and (p == collection_path or p in collection_path.parents) for p in named)
