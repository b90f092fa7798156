"""The LFW verification protocol: the official pairs files (``pairs.txt``, ``pairsDevTrain.txt``,
``pairsDevTest.txt``) parsed into :class:`LFWPairs`, with labels 1 = same person."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyimagesearch.resources import LFW_PAIRS, fetch

__all__ = ["LFWPairs", "as_indices", "load_lfw_pairs", "parse_lfw_pairs"]



def as_indices(selection) -> np.ndarray:
    """Row indices from a boolean mask or from indices."""
    selection = np.asarray(selection)
    return np.flatnonzero(selection) if selection.dtype == bool else selection


@dataclass(frozen=True)
class LFWPairs:
    """Pairs of LFW images (relative paths) with labels 1 = same person, 0 = different."""

    left: list[str]
    right: list[str]
    labels: np.ndarray
    folds: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_folds(self) -> int:
        """Number of folds (10 for ``pairs.txt``, 1 for the development files)."""
        return int(self.folds.max()) + 1

    def people(self, fold: int | None = None) -> set[str]:
        """The people in the pairs (of one fold): those a model evaluated there must not train on."""
        chosen = range(len(self)) if fold is None else np.flatnonzero(self.folds == fold)
        return {Path(path).parent.name for i in chosen for path in (self.left[i], self.right[i])}

    def subset(self, index) -> LFWPairs:
        """The pairs at ``index`` (indices or a boolean mask), with their labels and folds."""
        index = as_indices(index)
        return LFWPairs([self.left[i] for i in index], [self.right[i] for i in index],
                        self.labels[index], self.folds[index])

    def first(self, n: int) -> LFWPairs:
        """The first ``n`` matched and ``n`` mismatched pairs of every fold (a small protocol)."""
        keep = np.zeros(len(self), dtype=bool)
        for fold in range(self.n_folds):
            for label in (1, 0):
                keep[np.flatnonzero((self.folds == fold) & (self.labels == label))[:n]] = True
        return self.subset(keep)

    def paths(self, root: str | Path) -> tuple[list[Path], list[Path]]:
        """The pairs' image paths under an LFW image folder."""
        root = Path(root)
        return [root / p for p in self.left], [root / p for p in self.right]


def _lfw_image(name: str, number: str) -> str:
    """Relative path of ``name``'s image number ``number`` in LFW."""
    return f"{name}/{name}_{int(number):04d}.jpg"


def parse_lfw_pairs(text: str, source: str = "pairs file") -> LFWPairs:
    """Parse an LFW pairs file: a header line, then per fold n matched and n mismatched pairs.

    Every problem is a ValueError naming ``source`` (and the line) and what was expected.
    """
    lines = [line.split() for line in text.strip().splitlines()]
    if not lines:
        raise ValueError(f"{source}: empty file; expected an LFW pairs file (a header line "
                         "'folds pairs-per-fold' or 'pairs', then one pair per line)")
    try:
        header = [int(v) for v in lines[0]]
    except ValueError:
        header = []
    if len(header) not in (1, 2) or min(header) < 1:
        raise ValueError(f"{source}, line 1: expected a header 'folds pairs-per-fold' or 'pairs' "
                         f"(positive whole numbers), got {' '.join(lines[0])[:60]!r}")
    n_folds, per_fold = header if len(header) == 2 else (1, header[0])
    body = lines[1:]
    if len(body) != n_folds * 2 * per_fold:
        raise ValueError(f"{source}: header says {n_folds} x 2 x {per_fold} pairs, found {len(body)} lines")
    left, right, labels = [], [], []
    for number, fields in enumerate(body, start=2):
        same = (number - 2) % (2 * per_fold) < per_fold
        try:
            if same and len(fields) == 3:
                left.append(_lfw_image(fields[0], fields[1]))
                right.append(_lfw_image(fields[0], fields[2]))
            elif not same and len(fields) == 4:
                left.append(_lfw_image(fields[0], fields[1]))
                right.append(_lfw_image(fields[2], fields[3]))
            else:
                raise ValueError
        except ValueError:
            kind = "matched (name i j)" if same else "mismatched (name1 i name2 j)"
            raise ValueError(f"{source}, line {number}: expected a {kind} pair, "
                             f"got {' '.join(fields)[:80]!r}") from None
        labels.append(int(same))
    folds = np.repeat(np.arange(n_folds), 2 * per_fold)
    return LFWPairs(left, right, np.array(labels, dtype=np.int64), folds)


def load_lfw_pairs(which: str = "pairs", path: str | Path | None = None) -> LFWPairs:
    """An official LFW protocol file: ``"pairs"`` (10 folds x 300 + 300),
    ``"pairsDevTrain"`` (1,100 + 1,100) or ``"pairsDevTest"`` (500 + 500).

    A file that is empty, binary or not in the pairs format raises ValueError naming it.
    """
    if which not in LFW_PAIRS:
        raise ValueError(f"which={which!r}: choose one of {', '.join(LFW_PAIRS)}")
    file = fetch(LFW_PAIRS[which], path)
    if not file.is_file():
        raise ValueError(f"{file}: not a file; expected the LFW {which}.txt file")
    data = file.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{file}: not a text file (byte {error.start} is not UTF-8 text); expected "
                         f"the LFW {which}.txt file") from None
    if "\x00" in text:
        raise ValueError(f"{file}: not a text file (it contains NUL bytes); "
                         f"expected the LFW {which}.txt file")
    return parse_lfw_pairs(text, source=str(file))
