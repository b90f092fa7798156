"""A face gallery for 1:N identification: enrol named embeddings, find the nearest, say "unknown"
beyond a threshold calibrated for a target false-accept rate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

UNKNOWN = "unknown"
INDEXES = ("numpy", "faiss")


def threshold_for_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """The largest distance threshold whose false-accept rate on these pairs is at most ``far``.

    A pair is accepted when ``distance <= threshold``. Of the ``n`` different-person pairs, the
    ``k`` nearest may pass, the most with ``k / n <= far``; the threshold is the largest number
    below the next smallest of their distances, so pairs tied with that one are all refused. It is
    taken in the distances' own precision: float32 distances get a float32 threshold, which a
    comparison in float32 cannot round up onto that next distance.
    """
    distances = np.asarray(distances)
    dtype = distances.dtype.type if np.issubdtype(distances.dtype, np.floating) else np.float64
    different = np.sort(distances.astype(dtype)[~np.asarray(same, dtype=bool)])
    if different.size == 0:
        raise ValueError("calibration needs pairs of different people")
    allowed = int(np.count_nonzero(np.arange(1, different.size + 1) / different.size <= far))
    if allowed == different.size:
        return float(different[-1])
    return float(np.nextafter(different[allowed], dtype(-np.inf)))  # just below the first one too many


def accept_rates(distances: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """(false-accept rate, true-accept rate) of ``distance <= threshold`` on labelled pairs."""
    accepted, same = np.asarray(distances) <= threshold, np.asarray(same, dtype=bool)
    return float(accepted[~same].mean()), float(accepted[same].mean())


def nearest(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: (distances, row indices) of the ``k`` rows nearest each query, nearest first."""
    squared = (queries ** 2).sum(1)[:, None] - 2 * queries @ vectors.T + (vectors ** 2).sum(1)
    rows = np.argpartition(squared, k - 1, axis=1)[:, :k]  # the k nearest, in no order
    rows = np.take_along_axis(rows, np.take_along_axis(squared, rows, 1).argsort(1), 1)
    return np.sqrt(np.maximum(np.take_along_axis(squared, rows, 1), 0)), rows


@dataclass(frozen=True)
class Match:
    """One answer of :meth:`FaceGallery.identify`: a name and its distance."""

    name: str
    distance: float


@dataclass
class FaceGallery:
    """Named unit-length embeddings searched by Euclidean distance.

    ``index`` is ``"numpy"`` (brute force, :func:`nearest`), ``"faiss"`` (a flat FAISS index) or a
    function with :func:`nearest`'s signature, ``(vectors, queries, k) -> (distances, rows)``.
    """

    threshold: float
    index: str | Callable = "numpy"
    names: list[str] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    _faiss: object = field(default=None, repr=False)

    def __post_init__(self):
        if not callable(self.index) and self.index not in INDEXES:
            raise ValueError(f"index={self.index!r}: choose one of {', '.join(INDEXES)}")

    def __len__(self) -> int:
        return len(self.names)

    def enrol(self, name: str, embeddings: np.ndarray) -> None:
        """Add one or more embeddings (rows) under ``name``."""
        rows = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        self.vectors = rows if len(self) == 0 else np.concatenate([self.vectors, rows])
        self.names += [name] * len(rows)
        self._faiss = None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, row indices) of the ``k`` nearest enrolled embeddings of each query row."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, len(self))
        if callable(self.index):
            return self.index(self.vectors, queries, k)
        if self.index == "faiss":
            return self._faiss_search(queries, k)
        return nearest(self.vectors, queries, k)

    def _faiss_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        if self._faiss is None:
            self._faiss = faiss.IndexFlatL2(self.vectors.shape[1])
            self._faiss.add(self.vectors)
        squared, nearest = self._faiss.search(queries, k)
        return np.sqrt(np.maximum(squared, 0)), nearest

    def identify(self, embedding: np.ndarray, k: int = 5) -> list[Match]:
        """The ``k`` nearest distinct people, nearest first; the first is ``unknown`` beyond the threshold."""
        if len(self) == 0:
            raise ValueError("the gallery is empty: enrol someone first")
        distances, rows = self.search(embedding, min(len(self), max(k * 4, k)))
        matches, seen = [], set()
        for distance, row in zip(distances[0], rows[0], strict=True):
            if self.names[row] not in seen:
                seen.add(self.names[row])
                matches.append(Match(self.names[row], float(distance)))
        matches = matches[:k]
        if matches[0].distance > self.threshold:
            matches.insert(0, Match(UNKNOWN, matches[0].distance))
            matches = matches[:k]
        return matches

    def save(self, path: str | Path) -> Path:
        """Write names, embeddings and threshold to one ``.npz`` file."""
        path = Path(path)
        np.savez(path, names=np.array(self.names), vectors=self.vectors, threshold=self.threshold)
        return path

    @classmethod
    def load(cls, path: str | Path, index: str | Callable = "numpy") -> FaceGallery:
        """Read a gallery written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(float(data["threshold"]), index, [str(n) for n in data["names"]],
                           data["vectors"].astype(np.float32))
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"{path}: not a face gallery file ({error})") from None


def enrol_folder(gallery: FaceGallery, folder: str | Path, embed: Callable[[Path], np.ndarray]) -> list[str]:
    """Enrol every ``folder/<name>/<photo>`` with ``embed(photo)``; returns the problems, one line each."""
    problems = []
    for person in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        for photo in sorted(p for p in person.iterdir() if p.is_file()):
            try:
                gallery.enrol(person.name, embed(photo))
            except ValueError as error:  # ImageError, NoFaceError
                problems.append(str(error))
    return problems
