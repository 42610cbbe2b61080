"""Robustness of the command line (issue 12's proof): malformed inputs, and kill -9 during gallery writes.

    .venv/bin/python bench/robustness.py                # the whole corpus, 100 kill rounds per operation
    .venv/bin/python bench/robustness.py --quick        # a few inputs, 10 rounds (a minute or two)

Part 1 generates a corpus of malformed files (empty, random bytes, truncated JPEG and PNG, a header declaring
100000x100000 pixels, one pixel wide or high, a folder, a pipe, /dev/null, a missing file) and of valid but
unusual ones (16-bit, CMYK, an animated GIF, bytes after a JPEG's end, a non-UTF-8 and a 250-character file
name, a name with a tab and a newline, the test photos; since issue 20 also a GIF declaring 16000x16000
and a JPEG cut short with an end marker appended), and runs each through embed, enroll, verify, identify,
liveness and style (as the content and as the style image), each a subprocess of the real CLI with a private
LIKENESS_HOME and a 60 s limit.
A bad input must be refused cleanly: exit 2, a sentence on stderr, no traceback, the gallery's people and
embeddings unchanged. A valid input must end in a
decision (exit 0 or 1); a photo without a face may be either. Anything else (a traceback, exit 3 or another
code, a timeout, a signal) is a failure.

Part 2 kills enroll, `people delete` and import with SIGKILL after a random delay (uniform between half and
1.05 times the command's median duration, measured first: most of a run is start-up and model loading, the
writes come at its end), each round on a fresh copy of a prepared gallery, then checks the
file: PRAGMA integrity_check, no person without embeddings, no embedding without its person, one vector
length, the gallery either as before the command or as after it, and `people list` still opening it.

Progress goes to stderr, the Markdown tables to stdout; the exit code is 1 when anything failed.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT / "tests" / "fixtures" / "faces"
TIMEOUT_S = 60
KILL_FROM, KILL_TO = 0.5, 1.05  # the kill delay, in typical durations of the command
VALID_PHOTOS = ("obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg")
QUICK_INPUTS = {"empty.jpg", "random.jpg", "truncated-60pct.jpg", "declares-100000x100000.png", "1px-wide.png",
                "folder.jpg", "pipe.jpg", "trailing-garbage.jpg", "cmyk.jpg", "obama.jpg", "declares-16000x16000.gif",
                "cut-then-end-marker.jpg", "name with a tab and a newline"}


@dataclass
class Item:
    label: str
    path: Path
    kind: str  # "bad": must be refused; "good": must be decided; "either": a photo without a face


@dataclass
class Run:
    rc: int | None  # None: timed out
    stderr: str


# --- the corpus --------------------------------------------------------------------------------------------

def make_corpus(folder: Path, quick: bool, rng: random.Random) -> list[Item]:
    jpeg = (FACES / "obama.jpg").read_bytes()
    rgb = np.asarray(Image.open(FACES / "obama.jpg").convert("RGB"))
    items = bad_files(folder, jpeg, rgb, rng) + good_files(folder, jpeg, rgb)
    items.append(Item("no_face_golden_gate.jpg", FACES / "no_face_golden_gate.jpg", "either"))
    if quick:
        items = [item for item in items if item.label in QUICK_INPUTS]
    return items


def write(folder: Path, name: str, data: bytes, kind: str = "bad") -> Item:
    path = folder / name
    path.write_bytes(data)
    return Item(name, path, kind)


def bad_files(folder: Path, jpeg: bytes, rgb: np.ndarray, rng: random.Random) -> list[Item]:
    png = cv2.imencode(".png", rgb[:, :, ::-1])[1].tobytes()
    items = [
        write(folder, "empty.jpg", b""),
        write(folder, "random.jpg", rng.randbytes(5000)),
        write(folder, "random.png", rng.randbytes(5000)),
        write(folder, "jpeg-magic-then-random.jpg", b"\xff\xd8\xff\xe0" + rng.randbytes(5000)),
        write(folder, "png-signature-then-random.png", png[:8] + rng.randbytes(5000)),
        write(folder, "text.png", b"this is not an image\n"),
        write(folder, "declares-100000x100000.png", png_declaring(100_000, 100_000)),
        write(folder, "declares-16000x16000.gif", gif_declaring(16_000, 16_000)),  # a video to `liveness`
        write(folder, "cut-then-end-marker.jpg", jpeg[: len(jpeg) * 6 // 10] + b"\xff\xd9"),
    ]
    items += truncations(folder, "jpg", jpeg, (2, 200, 0.3, 0.6, 0.95, len(jpeg) - 2))
    items += truncations(folder, "png", png, (8, 50, 0.3, 0.6, 0.95, len(png) - 12))
    items += one_pixel_images(folder, rgb)
    items += not_regular_files(folder)
    return items


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF of 45 bytes whose screen and image claim width x height pixels."""
    buffer = io.BytesIO()
    Image.new("L", (2, 2)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    image = data.index(b"\x2c")  # the image descriptor
    data[image + 5:image + 9] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return bytes(data)


def png_declaring(width: int, height: int) -> bytes:
    """A valid little PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 4)) + chunk(b"IEND", b"")


def truncations(folder: Path, suffix: str, data: bytes, cuts) -> list[Item]:
    """The file cut at each length (an int: bytes; a float: a share of its length)."""
    items = []
    for cut in cuts:
        length = int(len(data) * cut) if isinstance(cut, float) else cut
        name = f"truncated-{round(cut * 100)}pct.{suffix}" if isinstance(cut, float) else f"truncated-{cut}B.{suffix}"
        items.append(write(folder, name, data[:length]))
    return items


def one_pixel_images(folder: Path, rgb: np.ndarray) -> list[Item]:
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    shapes = {"1px-wide.png": (1, 300), "1px-high.png": (300, 1), "1px-high.jpg": (300, 1), "1x1.png": (1, 1)}
    for name, size in shapes.items():
        cv2.imwrite(str(folder / name), cv2.resize(bgr, size))
    return [Item(name, folder / name, "bad") for name in shapes]


def not_regular_files(folder: Path) -> list[Item]:
    (folder / "folder.jpg").mkdir()
    os.mkfifo(folder / "pipe.jpg")
    return [Item("folder.jpg", folder / "folder.jpg", "bad"), Item("pipe.jpg", folder / "pipe.jpg", "bad"),
            Item("/dev/null", Path("/dev/null"), "bad"), Item("missing.jpg", folder / "missing.jpg", "bad")]


def good_files(folder: Path, jpeg: bytes, rgb: np.ndarray) -> list[Item]:
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    cv2.imwrite(str(folder / "16-bit.png"), bgr.astype(np.uint16) * 257)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    items = [Item(name, folder / name, "good") for name in ("16-bit.png", "cmyk.jpg", "animated.gif")]
    items.append(write(folder, "trailing-garbage.jpg", jpeg + b"garbage after the end marker" * 40, "good"))
    odd = Path(os.fsdecode(b"caf\xe9-obama.jpg"))  # Latin-1, not UTF-8
    items.append(write(folder, str(odd), jpeg, "good"))
    items[-1].label = "non-UTF-8 name (caf\\xe9-obama.jpg)"
    items.append(write(folder, "o" * 246 + ".jpg", jpeg, "good"))
    items[-1].label = "250-character name"
    items.append(write(folder, "tab\tand\nnewline.jpg", jpeg, "good"))
    items[-1].label = "name with a tab and a newline"
    items += [Item(name, FACES / name, "good") for name in VALID_PHOTOS]
    return items


# --- running the CLI ---------------------------------------------------------------------------------------

class Cli:
    """The real command line in subprocesses, all with one private LIKENESS_HOME."""

    def __init__(self, home: Path):
        self.env = dict(os.environ, LIKENESS_HOME=str(home))

    def command(self, args) -> list:
        return [sys.executable, str(ROOT / "main.py"), *args]

    def run(self, args, timeout: float = TIMEOUT_S) -> Run:
        try:
            done = subprocess.run(self.command(args), env=self.env, cwd=ROOT, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            return Run(None, (expired.stderr or b"").decode("utf-8", "replace"))
        return Run(done.returncode, done.stderr.decode("utf-8", "replace"))

    def must(self, args) -> None:
        run = self.run(args)
        if run.rc != 0:
            sys.exit(f"set-up command {args} failed (exit {run.rc}):\n{run.stderr}")

    def start(self, args) -> subprocess.Popen:
        return subprocess.Popen(self.command(args), env=self.env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fresh_copy(source: Path, target: Path) -> None:
    """target becomes a byte copy of the gallery file source, with no -wal or -shm left from an earlier run."""
    for leftover in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(source, target)


def people_state(gallery: Path) -> tuple:
    """((name, number of embeddings), ...) sorted by name: what a command must leave alone or change whole."""
    with contextlib.closing(sqlite3.connect(gallery)) as db:
        return tuple(db.execute("SELECT p.name, COUNT(e.id) FROM people p LEFT JOIN embeddings e "
                                "ON e.person_id = p.id GROUP BY p.id ORDER BY p.name").fetchall())


# --- part 1: malformed inputs ------------------------------------------------------------------------------

@dataclass
class Context:
    gallery: Path
    base: Path  # the prepared gallery each run starts from
    content: Path
    style: Path
    out: Path


STYLE_FLAGS = ("--iters", "2", "--size", "64", "--cpu")
COMMANDS = {
    "embed": lambda p, c: ["embed", p],
    "enroll": lambda p, c: ["enroll", "probe", p, "--gallery", c.gallery],
    "verify": lambda p, c: ["verify", "obama", p, "--gallery", c.gallery],
    "identify": lambda p, c: ["identify", p, "--gallery", c.gallery],
    "liveness": lambda p, c: ["liveness", p],
    "style (as content)": lambda p, c: ["style", p, c.style, "-o", c.out, *STYLE_FLAGS],
    "style (as style)": lambda p, c: ["style", c.content, p, "-o", c.out, *STYLE_FLAGS],
}
USES_GALLERY = {"enroll", "verify", "identify"}


def judge(run: Run, item: Item, command: str, gallery_changed: bool) -> tuple[str, str]:
    """("clean" | "accepted" | "failure", why)."""
    if run.rc is None:
        return "failure", f"no answer within {TIMEOUT_S} s"
    if run.rc < 0:
        return "failure", f"killed by signal {signal.Signals(-run.rc).name}"
    if "Traceback" in run.stderr:
        return "failure", f"traceback (exit {run.rc})"
    if run.rc not in (0, 1, 2):
        return "failure", f"exit {run.rc}"
    if gallery_changed and not (command == "enroll" and run.rc == 0):
        return "failure", f"the gallery's people or embeddings changed (exit {run.rc})"
    if run.rc == 2:
        if not run.stderr.strip():
            return "failure", "exit 2 with nothing on stderr to say why"
        if item.kind == "good":
            return "failure", "a valid image was refused"
        return "clean", ""
    if item.kind == "bad":
        return "failure", f"a bad input was accepted (exit {run.rc})"
    return "accepted", ""


def try_inputs(cli: Cli, items: list[Item], context: Context) -> tuple[dict, list]:
    """Run every input through every command; returns the counts per command and the failures."""
    counts = {command: {"tried": 0, "clean": 0, "accepted": 0, "failure": 0} for command in COMMANDS}
    failures, total, done = [], len(items) * len(COMMANDS), 0
    base_state = people_state(context.base)
    for command, arguments in COMMANDS.items():
        for item in items:
            done += 1
            progress(f"inputs {done}/{total}: {command} {item.label[:40]}")
            if command in USES_GALLERY:
                fresh_copy(context.base, context.gallery)
            run = cli.run(arguments(item.path, context))
            changed = command in USES_GALLERY and people_state(context.gallery) != base_state
            outcome, why = judge(run, item, command, changed)
            counts[command]["tried"] += 1
            counts[command][outcome] += 1
            if outcome == "failure":
                failures.append((command, item.label, why, run.stderr))
    progress_end()
    return counts, failures


def inputs_table(counts: dict) -> str:
    lines = ["| command | inputs tried | clean refusals | accepted (valid) | failures |", "|---|---|---|---|---|"]
    for command, c in counts.items():
        lines.append(f"| {command} | {c['tried']} | {c['clean']} | {c['accepted']} | {c['failure']} |")
    total = {key: sum(c[key] for c in counts.values()) for key in ("tried", "clean", "accepted", "failure")}
    lines.append(f"| all | {total['tried']} | {total['clean']} | {total['accepted']} | {total['failure']} |")
    return "\n".join(lines)


def failures_text(failures: list) -> str:
    if not failures:
        return "No failures."
    parts = [f"{len(failures)} failure(s):"]
    for command, label, why, stderr in failures:
        tail = "\n".join(stderr.strip().splitlines()[-6:]) or "(nothing on stderr)"
        parts.append(f"\n- **{command}** on `{label}`: {why}\n\n```\n{tail}\n```")
    return "\n".join(parts)


# --- part 2: kill -9 during gallery writes -----------------------------------------------------------------

@dataclass
class Operation:
    name: str
    base: Path  # the gallery each round starts from
    args: list


def prepare_galleries(cli: Cli, folder: Path) -> dict[str, Path]:
    """One person (obama), two (obama, biden), and an export file holding two others; made once with the CLI."""
    paths = {name: folder / f"{name}.sqlite" for name in ("one", "two", "exported", "export")}
    cli.must(["enroll", "obama", FACES / "obama.jpg", "--gallery", paths["one"]])
    shutil.copyfile(paths["one"], paths["two"])
    cli.must(["enroll", "biden", FACES / "biden.jpg", "--gallery", paths["two"]])
    cli.must(["enroll", "biden", FACES / "biden.jpg", "--gallery", paths["exported"]])
    cli.must(["enroll", "barack", FACES / "obama2.jpg", FACES / "obama.jpg", "--gallery", paths["exported"]])
    cli.must(["export", paths["export"], "--gallery", paths["exported"]])
    return paths


def operations(galleries: dict[str, Path], gallery: Path) -> list[Operation]:
    return [
        Operation("enroll", galleries["one"],
                  ["enroll", "barack", FACES / "obama2.jpg", FACES / "obama.jpg", "--gallery", gallery]),
        Operation("delete", galleries["two"], ["people", "delete", "biden", "--gallery", gallery]),
        Operation("import", galleries["one"], ["import", galleries["export"], "--gallery", gallery]),
    ]


def typical_duration(cli: Cli, operation: Operation, gallery: Path) -> tuple[float, tuple]:
    """Median seconds of three uninterrupted runs, and the gallery's state after one."""
    times = []
    for _ in range(3):
        fresh_copy(operation.base, gallery)
        start = time.monotonic()
        cli.must(operation.args)
        times.append(time.monotonic() - start)
    return statistics.median(times), people_state(gallery)


def gallery_problems(gallery: Path, states: tuple, vector_bytes: int) -> dict:
    """What is wrong with the gallery file after a kill: integrity, half-enrolled people, anything else."""
    with contextlib.closing(sqlite3.connect(gallery)) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        half = db.execute("SELECT COUNT(*) FROM people p WHERE NOT EXISTS "
                          "(SELECT 1 FROM embeddings e WHERE e.person_id = p.id)").fetchone()[0]
        orphans = db.execute("SELECT COUNT(*) FROM embeddings e WHERE NOT EXISTS "
                             "(SELECT 1 FROM people p WHERE p.id = e.person_id)").fetchone()[0]
        lengths = {row[0] for row in db.execute("SELECT length(vector) FROM embeddings")}
    other = []
    if orphans:
        other.append(f"{orphans} embedding(s) without a person")
    if lengths - {vector_bytes}:
        other.append(f"vector lengths {sorted(lengths)} bytes, expected {vector_bytes}")
    state = people_state(gallery)
    if state not in states:
        other.append(f"neither the state before nor after: {state}")
    return {"integrity": integrity == [("ok",)], "half": half, "other": other, "state": state}


def kill_rounds(cli: Cli, operation: Operation, gallery: Path, rounds: int, rng: random.Random) -> dict:
    duration, after = typical_duration(cli, operation, gallery)
    before = people_state(operation.base)
    vector_bytes = vector_length(operation.base)
    result = {"rounds": rounds, "killed": 0, "integrity": 0, "half": 0, "other": [], "committed": 0,
              "duration": duration}
    for number in range(1, rounds + 1):
        progress(f"kill -9 {operation.name}: round {number}/{rounds} (typical run {duration:.2f} s)")
        fresh_copy(operation.base, gallery)
        process = cli.start(operation.args)
        time.sleep(rng.uniform(KILL_FROM * duration, KILL_TO * duration))
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
        rc = process.wait()
        check = gallery_problems(gallery, (before, after), vector_bytes)
        result["killed"] += killed
        result["integrity"] += check["integrity"]
        result["half"] += check["half"] > 0
        result["committed"] += killed and check["state"] == after and after != before
        other = check["other"] + ([] if killed or rc == 0 else [f"finished with exit {rc}"])
        if (listed := cli.run(["people", "list", "--gallery", gallery])).rc != 0:
            other.append(f"people list then exits {listed.rc}: {listed.stderr.strip()[-200:]}")
        result["other"] += [f"round {number}: {problem}" for problem in other]
    progress_end()
    return result


def vector_length(gallery: Path) -> int:
    with contextlib.closing(sqlite3.connect(gallery)) as db:
        return db.execute("SELECT length(vector) FROM embeddings LIMIT 1").fetchone()[0]


def kills_table(results: dict) -> str:
    lines = ["| operation | rounds | killed mid-way | integrity ok | half-enrolled | other problems |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['rounds']} | {r['killed']} | {r['integrity']}/{r['rounds']} | {r['half']} "
                     f"| {len(r['other'])} |")
    notes = ", ".join(f"{name} {r['committed']} of {r['killed']} (typical run {r['duration']:.2f} s)"
                      for name, r in results.items())
    lines.append(f"\nKilled rounds whose change was already complete in the gallery: {notes}; "
                 "in every other killed round the gallery must be exactly as before.")
    for r in results.values():
        lines += [f"- {problem}" for problem in r["other"]]
    return "\n".join(lines)


# --- the whole proof ---------------------------------------------------------------------------------------

def progress(text: str) -> None:
    print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)


def progress_end() -> None:
    print(file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="Malformed inputs through every command that reads an image, and "
                                                 "kill -9 during enroll, delete and import (issue 12's proof).")
    parser.add_argument("--rounds", type=int, default=100, help="kill -9 rounds per operation (default 100)")
    parser.add_argument("--quick", action="store_true", help="a few inputs and 10 rounds, to try the script")
    parser.add_argument("--seed", type=int, default=12, help="random bytes and kill delays")
    parser.add_argument("--kills-only", action="store_true", help="skip the malformed inputs (part 1)")
    args = parser.parse_args()
    rounds = 10 if args.quick else args.rounds
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="likeness-robustness-") as temp:
        folder = Path(temp)
        for sub in ("home", "corpus", "galleries"):
            (folder / sub).mkdir()
        cli = Cli(folder / "home")
        progress("preparing the galleries")
        galleries = prepare_galleries(cli, folder / "galleries")
        gallery = folder / "galleries" / "work.sqlite"
        context = Context(gallery, galleries["two"], FACES / "obama.jpg", FACES / "biden.jpg", folder / "out.png")
        failures: list = []
        if not args.kills_only:
            counts, failures = try_inputs(cli, make_corpus(folder / "corpus", args.quick, rng), context)
            print("## Malformed inputs through the command line\n")
            print(inputs_table(counts))
            print()
            print(failures_text(failures))
        results = {op.name: kill_rounds(cli, op, gallery, rounds, rng) for op in operations(galleries, gallery)}
        print("\n## kill -9 during gallery writes\n")
        print(kills_table(results))
    print(f"\n{time.monotonic() - started:.0f} s in all.")
    return 1 if failures or any(r["other"] or r["half"] or r["integrity"] < r["rounds"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
