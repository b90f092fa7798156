"""Course-wide settings: the quick/full switch, the seed and the paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    """The read-only offline mirror named by ``SIAMESE_DATA_DIR``, if set."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser().resolve() if value else None


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
    settings = Settings(quick=quick, seed=seed, output_dir=output_root() / ("quick" if quick else "full"))
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    mirror = data_dir()
    print(
        f"{settings.mode} mode | seed {seed} | Keras {keras.__version__} ({keras.backend.backend()}) | "
        f"data mirror: {relative_to_repo(mirror) if mirror else 'not set'} | "
        f"outputs: {relative_to_repo(settings.output_dir)}"
    )
    return settings


def relative_to_repo(path: Path) -> str:
    """A path relative to the repository when it lies inside it (saved outputs name no machine)."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
