"""1:K identification latency against K stored embeddings (one matrix product + top-64 partition).

    python bench/identify_scale.py [--sizes 1000 100000 1000000] [--repeats 20]

Embeddings are random unit vectors: the cost depends on K and the dimension, not on the faces.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.match import GalleryMatrix, identify  # noqa: E402


def random_gallery(size: int, shots: int = 4) -> GalleryMatrix:
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((size, 128), dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    people = max(1, size // shots)
    return GalleryMatrix(embeddings, np.arange(size) % people, tuple(f"person {i}" for i in range(people)))


def time_ms(gallery: GalleryMatrix, probes: np.ndarray, repeats: int) -> tuple[float, float]:
    identify(probes, gallery, 0.4)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        identify(probes, gallery, 0.4)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    probes = random_gallery(8).embeddings
    print("| K stored | matrix MB | 1 probe median / p95 ms | 8 probes median / p95 ms |")
    print("|---|---|---|---|")
    for size in args.sizes:
        gallery = random_gallery(size)
        one = time_ms(gallery, probes[:1], args.repeats)
        eight = time_ms(gallery, probes, args.repeats)
        print(f"| {size:,} | {gallery.embeddings.nbytes / 2**20:.0f} | {one[0]:.2f} / {one[1]:.2f} | "
              f"{eight[0]:.2f} / {eight[1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
