"""A toy LFW protocol for the chapter-05 tests: folds with their own people, and a spy on training."""

from __future__ import annotations

import numpy as np

from pyimagesearch import face_verification as fv
from pyimagesearch import lfw
from pyimagesearch.datasets import parse_lfw_pairs


def toy_protocol(n_folds: int, size: int) -> tuple:
    """``(pairs, faces, names)``: per fold three people of three blank photos, two matched and two
    mismatched pairs."""
    lines, names = [f"{n_folds} 2"], []
    for fold in range(n_folds):
        a, b, c = (f"P{fold}{k}" for k in range(3))
        lines += [f"{a} 1 2", f"{b} 1 3", f"{a} 1 {b} 1", f"{b} 2 {c} 1"]
        names += [a, b, c]
    identities = np.repeat(names, 3)
    faces = lfw.Faces(np.zeros((len(identities), size, size, 3), np.uint8), identities,
                      [f"{p}/{p}_{n:04d}.jpg" for p in names for n in (1, 2, 3)])
    return parse_lfw_pairs("\n".join(lines)), faces, names


def spy_on_training(monkeypatch) -> list[set]:
    """The people each model of ``face_verification.fit`` trains on, recorded as it runs."""
    seen, original = [], fv.fit

    def spy(variant, model, x, labels, config, **kwargs):
        seen.append(set(labels))
        return original(variant, model, x, labels, config, **kwargs)

    monkeypatch.setattr(fv, "fit", spy)
    return seen
