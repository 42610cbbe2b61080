"""The shared gallery on PostgreSQL: start-up sync, live sync of one change, and 1:K on the synced matrix.

    python bench/shared_gallery.py [--sizes 10000 100000] [--dimension 640] [--changes 50] [--url postgresql://...]

Without --url a throwaway server is started on loopback (tests/postgres_server.py) and stopped at the end; with
--url each size gets a fresh database on that server (the login must be allowed to CREATE DATABASE).
- start-up: PostgresGallery() on a gallery of N people (one random unit vector each): connect, schema check,
  LISTEN, load everything into the matrix, write the local copy.
- change: a commit at another connection (a person added, or one deleted) until the kiosk's matrix shows it;
  p50 and p99 over --changes changes, half additions, half deletions.
- 1:K: identify() of one probe and of 8 probes against the synced matrix (median of 20).
Progress goes to stderr, the table to stdout.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import psycopg  # noqa: E402

from engine.gallery.base import Shot  # noqa: E402
from engine.gallery.postgres import PostgresGallery  # noqa: E402
from bench.identify_scale import time_ms  # noqa: E402
from engine.match import identify  # noqa: E402

REPEATS = 20  # timed 1:K calls, after one warm-up


def unit_vectors(n: int, dimension: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dimension), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def new_database(admin_url: str) -> str:
    name = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def fill(url: str, encoder: str, people: int, dimension: int, copy_dir: Path) -> None:
    vectors = unit_vectors(people, dimension, 0)
    stamp = "2024-01-01T00:00:00+00:00"
    shots = (Shot(f"person {i}", stamp, vectors[i].tobytes(), "bench", stamp, None) for i in range(people))
    with PostgresGallery(url, encoder, copy_dir=copy_dir / "filler") as g:
        g.load(shots, [], progress=lambda done: say(f"  filled {done}/{people}") if done % 20000 == 0 else None)


def wait_for(condition) -> float:
    while not condition():
        time.sleep(0.0002)
    return time.perf_counter()


def change_delays(url: str, kiosk: PostgresGallery, dimension: int, changes: int) -> list[float]:
    """Seconds from a commit at another connection to the kiosk's matrix showing it."""
    delays = []
    with psycopg.connect(url, autocommit=True) as other:
        for i in range(changes):
            name = f"visitor {i // 2}"
            with other.transaction():
                if i % 2 == 0:
                    person = other.execute("INSERT INTO likeness.people (name, created) VALUES (%s, now()) RETURNING id",
                                           (name,)).fetchone()[0]
                    other.execute("INSERT INTO likeness.embeddings (person_id, vector, source, created) "
                                  "VALUES (%s, %s, 'bench', now())", (person, unit_vectors(1, dimension, i)[0].tobytes()))
                else:
                    other.execute("DELETE FROM likeness.people WHERE name = %s", (name,))
            committed = time.perf_counter()
            present = i % 2 == 0
            seen = wait_for(lambda: (name in kiosk.matrix().names) == present)
            delays.append(seen - committed)
    return delays


def run_size(admin_url: str, people: int, dimension: int, changes: int, scratch: Path) -> dict:
    encoder = ("dlib+facenet" if dimension == 640 else "bench") + ":000000000000"
    url = new_database(admin_url)
    say(f"{people} people, {dimension}-D: filling {url.rsplit('/', 1)[1]}")
    started = time.perf_counter()
    fill(url, encoder, people, dimension, scratch)
    filled = time.perf_counter() - started
    say("  start-up sync")
    started = time.perf_counter()
    kiosk = PostgresGallery(url, encoder, copy_dir=scratch / f"kiosk{people}")
    startup = time.perf_counter() - started
    assert len(kiosk.matrix().embeddings) == people
    say(f"  {changes} changes")
    delays = np.array(change_delays(url, kiosk, dimension, changes)) * 1000
    probes = unit_vectors(8, dimension, 99)
    one = time_ms(lambda: identify(probes[:1], kiosk.matrix(), tau=0.6), REPEATS)[0]  # the median
    eight = time_ms(lambda: identify(probes, kiosk.matrix(), tau=0.6), REPEATS)[0]
    kiosk.close()
    return {"people": people, "dim": dimension, "fill s": filled, "start-up s": startup,
            "change p50 ms": float(np.percentile(delays, 50)), "change p99 ms": float(np.percentile(delays, 99)),
            "1:K 1 probe ms": one, "1:K 8 probes ms": eight}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dimension", type=int, default=640, choices=[128, 640])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--url", help="an existing server's URL (a login that may create databases)")
    args = parser.parse_args()
    server = None
    if args.url is None:
        from postgres_server import PostgresServer

        say("starting a throwaway PostgreSQL server")
        server = PostgresServer()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rows = [run_size(args.url or server.url(), n, args.dimension, args.changes, Path(scratch))
                    for n in args.sizes]
    finally:
        if server:
            server.close()
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
