"""LFW for chapter 05: cropped faces as arrays, the protocol's pairs as indices, person-disjoint training.

The official protocol (``pairs.txt``) has 10 folds of 300 matched and 300 mismatched pairs,
and no person appears in two folds. In the *unrestricted* setting a model evaluated on a fold
may train on any image of the people who are not in that fold. :func:`fold_groups` splits the
10 folds into groups; one model per group, trained on everyone outside its group's folds,
scores that group's pairs. With 10 groups that is exactly one model per fold.

:func:`ensure_crops` finds notebook 05.1's crops, or makes them, so that a later notebook runs
in a fresh runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from pyimagesearch import crop_faces
from pyimagesearch.config import Settings, relative_to_repo
from pyimagesearch.datasets import LFWPairs, as_indices, list_image_folder, load_lfw, load_lfw_pairs
from pyimagesearch.pairs import make_pair_indices

CROP_SIZE = 112  # pixels, the size notebook 05.1 crops at


def crop_people(settings: Settings) -> list[str] | None:
    """The people notebook 05.1 crops: those of the small protocol in quick mode, everyone (None) in full."""
    return settings.pick(sorted(load_lfw_pairs("pairs").first(10).people()), None)


def missing_crops(src: Path, crop_dir: Path, people: list[str] | None = None) -> int:
    """How many photos under ``src`` (of ``people``) have neither a crop in ``crop_dir`` nor a report row."""
    todo = crop_faces.plan_crops(Path(src).resolve(), Path(crop_dir).resolve(), "jpg", people)[0]
    reported = crop_faces.read_report(Path(crop_dir) / crop_faces.REPORT_NAME)
    return sum(job.name not in reported for job in todo)


def ensure_crops(settings: Settings) -> Path:
    """The folder of notebook 05.1's face crops under ``settings.output_dir``, made first if incomplete."""
    src, crop_dir, people = load_lfw().root, settings.output_dir / "lfw_crops", crop_people(settings)
    missing = missing_crops(src, crop_dir, people)
    if missing:
        print(f"{missing:,} face crops of notebook 05.1 missing in {relative_to_repo(crop_dir)}: "
              f"cropping them now ({settings.mode} mode)")
        crop_faces.crop_folder(src, crop_dir, kind="caffe", confidence=0.5, margin=0.2,
                               size=CROP_SIZE, workers=2, batch_size=8, people=people, progress=False)
    return crop_dir


@dataclass(frozen=True)
class Faces:
    """Face crops as ``(N, size, size, 3)`` uint8 RGB with each image's person and LFW name."""

    images: np.ndarray
    identities: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, mask) -> Faces:
        """The faces where ``mask`` (boolean or indices) selects them."""
        index = as_indices(mask)
        return Faces(self.images[index], self.identities[index], [self.names[i] for i in index])


def read_face(path: Path, size: int) -> np.ndarray:
    """One crop as ``(size, size, 3)`` uint8 RGB; a clear error names an unreadable file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a readable image (re-run the cropping tool)")
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_faces(crop_dir: str | Path, size: int = 112, people=None, progress: bool = False) -> Faces:
    """The crops under ``crop_dir/<person>/`` (of ``people`` only, if given), resized to ``size``."""
    folder = list_image_folder(crop_dir)
    chosen = [i for i, person in enumerate(folder.identities) if people is None or person in people]
    if not chosen:
        raise ValueError(f"{crop_dir}: no face crops" + (" of the people asked for" if people else ""))
    paths = [folder.paths[i] for i in chosen]
    images = np.stack([read_face(p, size) for p in tqdm(paths, desc="Loading faces", disable=not progress)])
    names = [f"{p.parent.name}/{p.stem}.jpg" for p in paths]  # the names the pairs files use
    return Faces(images, np.array([folder.identities[i] for i in chosen]), names)


def pair_indices(faces: Faces, pairs: LFWPairs) -> np.ndarray:
    """``(len(pairs), 2)`` indices into ``faces`` of each pair's images; a missing crop is an error."""
    position = {name: i for i, name in enumerate(faces.names)}
    missing = sorted({n for n in pairs.left + pairs.right if n not in position})
    if missing:
        raise KeyError(f"{len(missing)} images of the pairs have no face crop, e.g. {missing[:3]}; "
                       "crop them (a lower --confidence) or leave those pairs out")
    return np.array([[position[a], position[b]] for a, b in zip(pairs.left, pairs.right, strict=True)])


def fold_groups(n_folds: int, n_groups: int) -> list[list[int]]:
    """The folds ``0..n_folds-1`` in ``n_groups`` consecutive groups of (nearly) equal size."""
    if not 1 <= n_groups <= n_folds:
        raise ValueError(f"n_groups={n_groups}: choose 1 to {n_folds}")
    return [group.tolist() for group in np.array_split(np.arange(n_folds), n_groups)]


def training_mask(faces: Faces, pairs: LFWPairs, folds) -> np.ndarray:
    """True for the faces of people who appear in none of ``folds`` (they may train its model)."""
    excluded = set().union(*(pairs.people(fold) for fold in folds))
    return ~np.isin(faces.identities, sorted(excluded))


def hold_out_people(identities, fraction: float, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masks (kept, held out) that hold out about ``fraction`` of the people, all their images."""
    people = np.unique(identities)
    rng = np.random.default_rng(seed)
    held = rng.choice(people, size=max(1, round(fraction * len(people))), replace=False)
    held_out = np.isin(identities, held)
    return ~held_out, held_out


def validation_pairs(identities, rows, draws: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pairs among the faces ``rows``: ``(P, 2)`` face indices and 1 where both show one person.

    Every face whose person has another face among ``rows`` is an anchor, paired with another
    face of that person and with a face of someone else (``pairs.make_pair_indices``), ``draws``
    times with seeds ``seed``, ``seed + 1``, ...; repeated pairs are dropped.
    """
    identities, rows = np.asarray(identities), np.asarray(rows)
    people, counts = np.unique(identities[rows], return_counts=True)
    anchors = rows[np.isin(identities[rows], people[counts >= 2])]
    made = [make_pair_indices(identities[anchors], seed=seed + draw) for draw in range(draws)]
    both = np.concatenate([anchors[index] for index, _ in made])
    labels = np.concatenate([labels for _, labels in made])
    index, first = np.unique(np.sort(both, axis=1), axis=0, return_index=True)
    return index, labels[first]
