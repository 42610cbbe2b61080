"""How much work a large export costs `import`: the bound on SQLite's work is one VM instruction per byte of the
file (engine/gallery/export.py), and this measures what a real export needs.

    python bench/import_scale.py --people 200000

Writes a gallery of that many people (one random unit vector each, no thumbnail) in a temporary folder, exports
it, imports the export into an empty gallery, and counts the SQLite VM instructions that reading it takes.
"""
from __future__ import annotations

import argparse
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine.gallery import Gallery  # noqa: E402
from engine.gallery.export import STEP, WORK_PER_BYTE  # noqa: E402

ENCODER = "bench_encoder:000000000000"


def instructions_to_read(path: Path) -> int:
    """The SQLite VM instructions of read_export's two queries on the file (counted by a progress handler)."""
    db = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
    calls = [0]

    def count() -> int:
        calls[0] += 1
        return 0

    db.set_progress_handler(count, STEP)
    db.execute("SELECT DISTINCT encoder FROM embeddings").fetchall()
    db.execute("SELECT p.name, e.vector, e.source, e.thumbnail FROM embeddings e JOIN people p ON p.id=e.person_id "
               "ORDER BY p.id, e.id").fetchall()
    db.close()
    return calls[0] * STEP


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="likeness-import-") as temp:
        folder = Path(temp)
        vectors = np.random.default_rng(0).normal(size=(args.people, 128)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with Gallery(folder / "source.sqlite", ENCODER) as source:
            source._merge([(f"P{i}", vectors[i].tobytes(), "camera", None) for i in range(args.people)])
            source.export(folder / "export.likeness")
        size = (folder / "export.likeness").stat().st_size
        started = time.monotonic()
        with Gallery(folder / "target.sqlite", ENCODER) as target:
            report = target.import_(folder / "export.likeness")
        took = time.monotonic() - started
        per_byte = instructions_to_read(folder / "export.likeness") / size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.people} people, export {size / 1e6:.0f} MB: imported ({report}) in {took:.0f} s, peak {peak:.0f} MB; "
          f"SQLite read it in {per_byte:.4f} VM instructions per byte (bound {WORK_PER_BYTE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
