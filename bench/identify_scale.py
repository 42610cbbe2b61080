"""1:K identification latency against K stored embeddings (one matrix product + top-64 partition).

    python bench/identify_scale.py [--sizes 1000 100000 1000000] [--repeats 20] [--shots 4] [--rules best mean]

Embeddings are random unit vectors (seeded): the cost depends on K, the dimension and the number of probes,
not on what the faces look like. "best" compares with all K rows; "mean" with one row per person (K / shots),
whose means are computed once after each gallery change (the "mean build" column).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.match import RULES, GalleryMatrix, identify  # noqa: E402


def random_gallery(size: int, shots: int, seed: int = 0) -> GalleryMatrix:
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((size, 128), dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    people = max(1, size // shots)
    return GalleryMatrix(embeddings, np.sort(np.arange(size) % people), tuple(f"person {i}" for i in range(people)))


def time_ms(work, repeats: int) -> tuple[float, float]:
    """Median and 95th percentile of `repeats` timed calls, after one warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times)), float(np.percentile(times, 95))


def mean_build_ms(gallery: GalleryMatrix) -> float:
    fresh = GalleryMatrix(gallery.embeddings, gallery.owners, gallery.names)  # a new object: nothing cached
    start = time.perf_counter()
    _ = fresh.per_person_means  # a cached property: the first access computes it
    return 1000 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--shots", type=int, default=4, help="stored embeddings per person")
    parser.add_argument("--rules", nargs="+", choices=RULES, default=["best", "mean"])
    args = parser.parse_args()
    probes = random_gallery(8, 1, seed=1).embeddings
    print(f"{args.shots} embeddings per person, {args.repeats} repeats; times in ms")
    print()
    print("| K stored | matrix MiB | rule | rows compared | 1 probe median / p95 | 8 probes median / p95 | mean build |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        gallery = random_gallery(size, args.shots)
        for rule in args.rules:
            rows = len(gallery.per_person_means.embeddings) if rule == "mean" else size
            one = time_ms(lambda: identify(probes[:1], gallery, 0.4, rule), args.repeats)
            eight = time_ms(lambda: identify(probes, gallery, 0.4, rule), args.repeats)
            build = f"{mean_build_ms(gallery):.0f}" if rule == "mean" else "-"
            print(f"| {size:,} | {gallery.embeddings.nbytes / 2**20:.1f} | {rule} | {rows:,} | "
                  f"{one[0]:.2f} / {one[1]:.2f} | {eight[0]:.2f} / {eight[1]:.2f} | {build} |", flush=True)


if __name__ == "__main__":
    main()
