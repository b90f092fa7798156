"""Pair training throughput: the pair model against the in-batch model, the pair loader against the step.

    python benchmarks/bench_pair_training.py [--extractor improved] [--batch-size 256] [--steps 20]

On random 28x28 images with ten classes (no data files needed), one extractor trained three ways:

* the pair loader alone (``PairDataset``, the course's pairs gathered batch by batch);
* the pair model (``build_siamese``, contrastive loss): ``fit`` on that loader, ``fit`` on the pairs
  gathered once into arrays (``Split.arrays``, what chapters 02 and 04 do), and its step alone
  (``train_on_batch`` on one batch already in memory);
* the in-batch model (chapter 04): ``fit`` on the images, every pair inside each batch scored.

Prints images embedded per second and pairs scored per second. The checks compare numbers measured
in this run, never absolute times, so a busy machine slows every row alike: the in-batch model must
embed images at least ``--min-image-ratio`` times as fast as the pair model fitted on arrays and score
at least ``--min-pair-ratio`` times as many pairs per second; the loader must deliver pairs at least
``--min-loader-ratio`` times as fast as the pair model's step consumes them; fitting on arrays must run
at least ``--min-arrays-ratio`` times as fast as fitting on the loader. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import sys
import time

import keras
import numpy as np

from pyimagesearch import digits
from pyimagesearch.losses import ContrastiveLoss, InBatchContrastiveLoss
from pyimagesearch.models import EXTRACTORS, build_siamese
from pyimagesearch.pairs import make_pair_indices


def random_split(n: int, seed: int = 0) -> digits.Split:
    """``n`` random uint8 28x28 images of ten classes, with the course's pairs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    pairs, pair_labels = make_pair_indices(labels, seed=seed)
    return digits.Split(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), labels, pairs, pair_labels)


def seconds(run) -> float:
    """Wall time of ``run()``."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def loader_seconds(split: digits.Split, batch_size: int, steps: int) -> float:
    """Time for the pair loader to deliver ``steps`` batches."""
    loader = split.dataset(batch_size, shuffle=True, seed=0)
    return seconds(lambda: [loader[i] for i in range(steps)])


def pair_seconds(extractor: str, split: digits.Split, batch_size: int,
                 steps: int) -> tuple[float, float, float]:
    """Seconds for ``steps`` steps: fit on the pair loader, fit on arrays, the step alone on one batch."""
    model = build_siamese(EXTRACTORS[extractor](), head="distance")
    model.compile(keras.optimizers.Adam(1e-3), loss=ContrastiveLoss())
    loader = split.dataset(batch_size, shuffle=True, seed=0)
    model.fit(loader, epochs=1, steps_per_epoch=2, verbose=0)  # traces the training step
    fitted = seconds(lambda: model.fit(loader, epochs=1, steps_per_epoch=steps, verbose=0))
    (left, right), labels = split.arrays()
    model.fit([left[:2 * batch_size], right[:2 * batch_size]], labels[:2 * batch_size],
              batch_size=batch_size, verbose=0)  # traces the step for arrays
    n = steps * batch_size
    arrays = seconds(lambda: model.fit([left[:n], right[:n]], labels[:n], batch_size=batch_size,
                                       shuffle=True, verbose=0))
    pair_batch, batch_labels = loader[0]
    model.train_on_batch(list(pair_batch), batch_labels)  # traces train_on_batch's own function
    alone = seconds(lambda: [model.train_on_batch(list(pair_batch), batch_labels) for _ in range(steps)])
    return fitted, arrays, alone


def in_batch_seconds(extractor: str, split: digits.Split, batch_size: int, steps: int) -> float:
    """``fit`` of the in-batch model on ``steps`` batches of images, after a warm-up."""
    model = digits.in_batch_model(EXTRACTORS[extractor](), head="distance")
    model.compile(keras.optimizers.Adam(1e-3), loss=InBatchContrastiveLoss())
    images, labels = digits.to_model_input(split.images), split.labels
    model.fit(images[:2 * batch_size], labels[:2 * batch_size], batch_size=batch_size, verbose=0)
    n = steps * batch_size
    return seconds(lambda: model.fit(images[:n], labels[:n], batch_size=batch_size, verbose=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extractor", choices=sorted(EXTRACTORS), default="improved")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--min-image-ratio", type=float, default=0.5)
    parser.add_argument("--min-pair-ratio", type=float, default=50.0)
    parser.add_argument("--min-loader-ratio", type=float, default=5.0)
    parser.add_argument("--min-arrays-ratio", type=float, default=1.2)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    b, steps = args.batch_size, args.steps
    split = random_split(max(4 * steps * b, 8 * b))
    loader = loader_seconds(split, b, steps)
    pair_fit, pair_arrays, pair_step = pair_seconds(args.extractor, split, b, steps)
    in_batch = in_batch_seconds(args.extractor, split, b, steps)
    # per step: the pair model embeds 2b images and scores b pairs; in-batch, b images and b(b-1)/2 pairs
    rows = [("pair loader alone", 2 * b, b, loader),
            ("pair model: fit on the loader", 2 * b, b, pair_fit),
            ("pair model: fit on arrays", 2 * b, b, pair_arrays),
            ("pair model: step alone", 2 * b, b, pair_step),
            ("in-batch model: fit", b, b * (b - 1) // 2, in_batch)]
    print(f"{args.extractor} extractor, batch {b}, {steps} steps, Keras {keras.__version__} "
          f"({keras.backend.backend()})")
    print("| what | images/s | pairs scored/s | ms/step |")
    print("|---|---|---|---|")
    rate = {}
    for name, images, pairs, total in rows:
        rate[name] = (images * steps / total, pairs * steps / total)
        print(f"| {name} | {rate[name][0]:,.0f} | {rate[name][1]:,.0f} | {1000 * total / steps:.1f} |")
    checks = [
        ("in-batch images/s over the pair model's", rate["in-batch model: fit"][0]
         / rate["pair model: fit on arrays"][0], args.min_image_ratio),
        ("in-batch pairs/s over the pair model's", rate["in-batch model: fit"][1]
         / rate["pair model: fit on arrays"][1], args.min_pair_ratio),
        ("pair fit on arrays over fit on the loader", pair_fit / pair_arrays, args.min_arrays_ratio),
        ("loader pairs/s over the pair step's", rate["pair loader alone"][1]
         / rate["pair model: step alone"][1], args.min_loader_ratio),
        ("pair fit's speed over the step alone (loader overhead)", pair_step / pair_fit, 0.0),
    ]
    failed = False
    for name, ratio, minimum in checks:
        ok = ratio >= minimum
        failed |= not ok
        verdict = f" (at least {minimum:g}x: {'ok' if ok else 'FAILED'})" if minimum else ""
        print(f"{name}: {ratio:.2f}x{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
