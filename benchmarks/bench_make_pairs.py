"""Benchmark: the loop make_pairs against make_pair_indices on MNIST's 60,000 training labels.

    python benchmarks/bench_make_pairs.py

Times both in the same run (the fast one as the best of several repeats) and measures
the memory that the training pairs take with tracemalloc: materialised float32 image
pairs (make_pairs + astype(float32), what a classic notebook feeds to fit) against index
pairs (make_pair_indices, pixels gathered per batch by PairDataset). Exits with status 1
unless the index version is at least 50x faster and needs at most 1/10 of the memory.
Needs the MNIST files (SIAMESE_DATA_DIR, the cache or a download).
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np

from pyimagesearch.datasets import load_mnist
from pyimagesearch.pairs import PairDataset, make_pair_indices, make_pairs

MIN_SPEEDUP = 50.0
MAX_MEMORY_RATIO = 0.1
MiB = 2**20


def best_time(function, repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``function()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def traced_peak(function) -> tuple[int, object]:
    """Peak bytes allocated while ``function()`` runs (tracemalloc sees NumPy buffers)."""
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def materialised_pairs(images, labels):
    """The classic way: pixel pairs, then float32 scaled to [0, 1] for training."""
    pair_images, pair_labels = make_pairs(images, labels, seed=0)
    pixels = pair_images.astype(np.float32)
    pixels /= 255.0  # in place: no second float copy
    return pixels, pair_labels


def index_pairs(images, labels):
    """The lean way: index pairs, plus one gathered batch of a PairDataset."""
    pairs, pair_labels = make_pair_indices(labels, seed=0)
    PairDataset(images, pairs, pair_labels, batch_size=64)[0]
    return pairs, pair_labels


def main() -> int:
    (images, labels), _ = load_mnist()
    print(f"MNIST train: {images.shape} {images.dtype}, {len(labels):,} labels")

    loop_s = best_time(lambda: make_pairs(images, labels, seed=0), repeats=1)
    fast_s = best_time(lambda: make_pair_indices(labels, seed=0), repeats=7)
    speedup = loop_s / fast_s
    print(f"make_pairs (loop, pixels):   {loop_s * 1000:9.1f} ms")
    print(f"make_pair_indices (best of 7): {fast_s * 1000:7.1f} ms")
    print(f"speed-up: {speedup:,.0f}x (target >= {MIN_SPEEDUP:.0f}x)")

    dense_peak, (dense, dense_labels) = traced_peak(lambda: materialised_pairs(images, labels))
    dense_bytes = dense.nbytes + dense_labels.nbytes
    del dense, dense_labels
    index_peak, (pairs, pair_labels) = traced_peak(lambda: index_pairs(images, labels))
    index_bytes = pairs.nbytes + pair_labels.nbytes
    memory_ratio = index_peak / dense_peak
    print(f"float32 image pairs: {dense_bytes / MiB:8.1f} MiB held, peak {dense_peak / MiB:8.1f} MiB")
    print(f"index pairs:         {index_bytes / MiB:8.1f} MiB held, peak {index_peak / MiB:8.1f} MiB")
    print(f"memory ratio (peak): 1/{1 / memory_ratio:,.0f} (target <= 1/{1 / MAX_MEMORY_RATIO:.0f}); "
          f"held: 1/{dense_bytes / index_bytes:,.0f}")

    failures = []
    if speedup < MIN_SPEEDUP:
        failures.append(f"speed-up {speedup:.1f}x < {MIN_SPEEDUP:.0f}x")
    if memory_ratio > MAX_MEMORY_RATIO:
        failures.append(f"memory ratio {memory_ratio:.3f} > {MAX_MEMORY_RATIO}")
    print("FAILED: " + "; ".join(failures) if failures else "OK: both targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
