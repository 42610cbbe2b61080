"""Many machines, one gallery, end to end: a reception desk (its own process, a Recognizer on the PostgreSQL
gallery) enrolls a person and later deletes them, while a kiosk session (a Recognizer on the same server, in
this process) keeps matching a photo of that person; measured is the time from the desk's commit to the kiosk
recognising the person, and from the deletion's commit to the kiosk no longer recognising them.

    python bench/shared_kiosks.py [--rounds 100] [--url postgresql://...]

Without --url a throwaway server is started on loopback (tests/postgres_server.py). The desk reports the time
its enroll() or delete() returned, i.e. just after the commit. The kiosk matches the photo's embedding
(computed once) against its synced matrix in a loop, so the resolution is about 1 ms; detecting and encoding
a camera frame adds its own 40 ms or so (bench/speed.py). Progress on stderr.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from engine.config import RecognitionSettings, Settings  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.match import identify  # noqa: E402
from engine.recognizer import Recognizer  # noqa: E402

FACES = ROOT / "tests/fixtures/faces"
NAME = "Barack Obama"


class Desk:
    """The desk in its own process (this script with --desk): each line sent is "enroll" or "delete"; each
    answer is the time.time() at which the change had committed."""

    def __init__(self, url: str):
        self.process = subprocess.Popen([sys.executable, __file__, "--desk", url], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def do(self, change: str) -> float:
        self.process.stdin.write(change + "\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)


def run_desk(url: str) -> None:
    desk = Recognizer.from_settings(Settings(recognition=RecognitionSettings(use_gpu=False)), gallery=url)
    face = desk.find_face(load_image(FACES / "obama.jpg")).face
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "enroll":
            desk.enroll(NAME, [face], ["obama.jpg"], source="desk")
        else:
            desk.delete(NAME, source="desk")
        print(time.time(), flush=True)
    desk.close()


def recognised(kiosk: Recognizer, probe: np.ndarray) -> bool:
    matrix = kiosk.gallery.matrix()
    if len(matrix.names) == 0:
        return False
    match = identify(probe[None], matrix, kiosk.tau)[0]
    return match.recognized and match.name == NAME


def seen_after(kiosk: Recognizer, probe: np.ndarray, want: bool, timeout: float = 10.0) -> float:
    """time.time() at which the kiosk's answer first became `want`."""
    deadline = time.monotonic() + timeout
    while recognised(kiosk, probe) != want:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the kiosk did not {'see' if want else 'forget'} the change within {timeout} s")
        time.sleep(0.001)
    return time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--url", help="a gallery database on an existing server (default: a throwaway one)")
    parser.add_argument("--desk", metavar="URL", help=argparse.SUPPRESS)  # the desk's own process
    args = parser.parse_args()
    if args.desk:
        return run_desk(args.desk)
    os.environ["LIKENESS_HOME"] = tempfile.mkdtemp()
    server = None
    if args.url is None:
        from postgres_server import PostgresServer

        server = PostgresServer()
    url = args.url or server.new_database()
    settings = Settings(recognition=RecognitionSettings(use_gpu=False))
    kiosk = Recognizer.from_settings(settings, gallery=url)
    probe = kiosk.find_face(load_image(FACES / "obama2.jpg")).face.embedding
    desk, added, removed = Desk(url), [], []
    try:
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr)
            committed = desk.do("enroll")
            added.append(seen_after(kiosk, probe, True) - committed)
            committed = desk.do("delete")
            removed.append(seen_after(kiosk, probe, False) - committed)
    finally:
        desk.close()
        kiosk.close()
        if server is not None:
            server.close()
    print(f"\n{args.rounds} rounds, desk (own process) -> kiosk session, loopback server:")
    print("| change | p50 ms | p99 ms | max ms |\n|---|---|---|---|")
    for change, delays in (("enrolled at the desk: recognised at the kiosk", added),
                           ("deleted at the desk: no longer recognised", removed)):
        ms = 1000 * np.array(delays)
        print(f"| {change} | {np.median(ms):.1f} | {np.percentile(ms, 99):.1f} | {ms.max():.1f} |")


if __name__ == "__main__":
    main()
