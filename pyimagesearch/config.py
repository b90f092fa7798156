"""Course-wide settings: the quick/full switch, the seed and the paths.

Environment variables:

* ``SIAMESE_QUICK``: 1 = quick mode, 0 or unset = full mode.
* ``SIAMESE_DATA_DIR``: the read-only offline data mirror (laid out like the course's
  ``shared/data``). A relative value is resolved once against the repository root
  (``REPO_ROOT``), never against the working folder, so the README's
  ``export SIAMESE_DATA_DIR=../shared/data`` (typed at the repository root) means the
  same folder in every chapter's notebook, whose kernel runs in the chapter folder.
  A set value that is not an existing folder is an error, not a silent fallback.
* ``SIAMESE_CACHE_DIR``: where downloads are kept (default ``~/.cache/siamese-keras``).
* ``SIAMESE_OUTPUT_DIR``: where notebooks write (default ``output/`` in the repository).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

SEED = 42
REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"

QUICK_ENV = "SIAMESE_QUICK"
DATA_ENV = "SIAMESE_DATA_DIR"
CACHE_ENV = "SIAMESE_CACHE_DIR"
OUTPUT_ENV = "SIAMESE_OUTPUT_DIR"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def quick_from_env(default: bool = False) -> bool:
    """Read the quick/full switch from ``SIAMESE_QUICK`` (1/true/yes = quick)."""
    value = os.environ.get(QUICK_ENV)
    if value is None:
        return default
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{QUICK_ENV}={value!r}: use 1 (quick mode) or 0 (full mode).")


def data_dir() -> Path | None:
    """The read-only offline mirror named by ``SIAMESE_DATA_DIR``, or None when unset.

    ``~`` is expanded and a relative value is resolved against the repository root
    (``REPO_ROOT``), not the working folder. The path is returned whether or not it
    exists; :func:`data_dir_problem` says when it is unusable.
    """
    value = os.environ.get(DATA_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def data_dir_problem() -> str | None:
    """Why the set ``SIAMESE_DATA_DIR`` cannot be used (one line), or None when it is fine or unset."""
    mirror = data_dir()
    if mirror is None or mirror.is_dir():
        return None
    what = "is not a folder" if mirror.exists() else "does not exist"
    return (f"{DATA_ENV}={os.environ[DATA_ENV].strip()!r} names {mirror}, which {what} (a relative "
            f"value is resolved against the repository root {REPO_ROOT}, not the working folder). "
            f"Point it at a copy of the course's data mirror, e.g. export {DATA_ENV}=../shared/data "
            "from the repository root, or unset it to use the cache and downloads.")


def cache_dir() -> Path:
    """Where downloads are kept: ``SIAMESE_CACHE_DIR`` or ``~/.cache/siamese-keras``."""
    value = os.environ.get(CACHE_ENV)
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "siamese-keras"


def output_root() -> Path:
    """Where notebooks write models, figures and results (``output/`` in the repo)."""
    value = os.environ.get(OUTPUT_ENV)
    return Path(value).expanduser() if value else REPO_ROOT / "output"


@dataclass(frozen=True)
class Settings:
    """What the setup cell of every notebook decides once."""

    quick: bool
    seed: int
    output_dir: Path
    started: float = field(default_factory=time.time)  # when the notebook's setup ran

    def minutes(self) -> float:
        """Minutes since the setup cell ran."""
        return (time.time() - self.started) / 60

    @property
    def mode(self) -> str:
        """``"quick"`` or ``"full"``."""
        return "quick" if self.quick else "full"

    def pick(self, quick_value, full_value):
        """Return ``quick_value`` in quick mode and ``full_value`` in full mode."""
        return quick_value if self.quick else full_value


def setup(quick: bool | None = None, seed: int = SEED) -> Settings:
    """Seed every generator, choose the mode and create this mode's output folder.

    ``quick=None`` reads ``SIAMESE_QUICK`` (full mode when unset); quick- and
    full-mode runs write to separate folders so a CI run never overwrites the
    models of a full run.
    """
    import keras  # deferred: importing the package stays cheap

    quick = quick_from_env() if quick is None else bool(quick)
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # errors only: TF's Python logger warns about retracing when a chapter builds many models
        tf.get_logger().setLevel("ERROR")
    settings = Settings(quick=quick, seed=seed, output_dir=output_root() / ("quick" if quick else "full"))
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"{settings.mode} mode | seed {seed} | Keras {keras.__version__} ({keras.backend.backend()}) | "
        f"data mirror: {mirror_status()} | "
        f"outputs: {relative_to_repo(settings.output_dir)}"
    )
    return settings


def mirror_status() -> str:
    """Whether a data mirror is in use, never its path (saved notebooks name no machine's folders):
    ``"in use"``, ``"not set"`` or ``"missing (SIAMESE_DATA_DIR is not an existing folder)"``."""
    if data_dir() is None:
        return "not set"
    return f"missing ({DATA_ENV} is not an existing folder)" if data_dir_problem() else "in use"


def relative_to_repo(path: Path) -> str:
    """A path relative to the repository when it lies inside it (saved outputs name no machine)."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
