"""How gallery lookup time grows: brute-force NumPy against a FAISS flat index, same interface.

    python benchmarks/bench_gallery.py [--dim 128] [--queries 100]

Galleries of LFW's 13,233 faces and of 1,000,000 random unit vectors; each query asks for the
5 nearest. Prints milliseconds per query (one query at a time, as a service answers them) and
checks that both indexes return the same neighbours.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pyimagesearch.gallery import FaceGallery


def unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random unit-length float32 rows."""
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ms_per_query(gallery: FaceGallery, queries: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean milliseconds per single-query search, and the rows found."""
    gallery.search(queries[:1], 5)  # builds the FAISS index outside the timing
    start, found = time.perf_counter(), []
    for q in queries:
        found.append(gallery.search(q, 5)[1][0])
    return (time.perf_counter() - start) * 1000 / len(queries), np.array(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| faces | NumPy ms/query | FAISS ms/query | FAISS speed-up | same neighbours |")
    print("|---|---|---|---|---|")
    for n in (13_233, 1_000_000):
        vectors, queries = unit_vectors(n, args.dim, rng), unit_vectors(args.queries, args.dim, rng)
        times, found = {}, {}
        for index in ("numpy", "faiss"):
            names = [str(i) for i in range(n)]
            gallery = FaceGallery(threshold=1.0, index=index, names=names, vectors=vectors)
            times[index], found[index] = ms_per_query(gallery, queries)
        same = float((found["numpy"] == found["faiss"]).all(axis=1).mean())
        speed_up = times["numpy"] / times["faiss"]
        print(f"| {n:,} | {times['numpy']:.2f} | {times['faiss']:.2f} | {speed_up:.1f}x | {same:.0%} |")


if __name__ == "__main__":
    main()
