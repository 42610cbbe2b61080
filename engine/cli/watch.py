"""The watch command: the kiosk's stream decisions without a screen (a camera at a door), one line per decision.

Same engine code as the window (engine.streams.StreamDecisions); liveness is judged passively, since nobody
sees a challenge. Decisions are logged in the gallery and published like the kiosk's (--mqtt, --webhook).
"""
from __future__ import annotations

import sys
import time
from datetime import datetime

from ..events import add_publish_arguments
from . import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK
from .faces import session

RETRY_SECONDS = 2.0


def register(commands) -> None:
    watch = commands.add_parser(
        "watch", help="decide on every face of a camera, video, folder or stream, headless (a door with no screen)",
        description="Follow every face of the source and print one line per decision (time, stream time, track, "
                    "decision, name, distance, spoof score, reasons): a person recognised and live, a stranger, "
                    "a spoof. Liveness is passive (Settings › Liveness › kiosk mode, without the challenge). "
                    "Each decision is logged and published like the kiosk's. Ctrl+C stops (exit 130).")
    watch.add_argument("--source", required=True, metavar="VIDEO|FOLDER|INDEX|URL",
                       help="a video file, a folder of images, a webcam index or an rtsp://, http:// or https:// "
                            "stream")
    watch.add_argument("--once", action="store_true", help="stop at the end of a video or folder (default: loop)")
    watch.add_argument("--gallery", default=None, metavar="FILE_OR_URL",
                       help="gallery file or URL (default: LIKENESS_GALLERY_URL, else the settings' gallery)")
    add_publish_arguments(watch)
    watch.set_defaults(run=run_watch)


def run_watch(args) -> int:
    from ..camera import FrameSource, describe_source
    from ..errors import BadInput, CameraLost
    from ..recognizer import liveness_mode
    from ..streams import StreamDecisions

    source = FrameSource(args.source, loop=not args.once, realtime=False)  # a bad source: one sentence, exit 2
    with session(args, liveness="watch") as recognizer:
        if not recognizer.gallery.names():
            source.close()
            raise BadInput(f"Nobody is enrolled in {recognizer.gallery.status().where}: enroll someone first "
                           "(python main.py enroll NAME PHOTO).")
        decisions, start = StreamDecisions(recognizer, "watch"), None
        try:  # from the line that says Ctrl+C stops on, Ctrl+C stops cleanly
            print(f"watching {describe_source(args.source)} (liveness: {liveness_mode(recognizer.settings, 'watch')}; "
                  "Ctrl+C stops)", file=sys.stderr, flush=True)
            while True:
                try:
                    for frame in source.frames():
                        start = frame.timestamp if start is None else start
                        observed = decisions.observe(frame.image, frame.timestamp)
                        for decision in observed.identify.announced:
                            print(decision_line(decision, decision.time - start), flush=True)
                        for problem in observed.problems:
                            print(f"warning: the log could not be written: {problem}", file=sys.stderr)
                    return EXIT_OK
                except CameraLost as error:
                    if not source.is_live:
                        print(f"error: {error}", file=sys.stderr)
                        return EXIT_BAD_INPUT
                    print(f"warning: {error} Retrying in {RETRY_SECONDS:g} s.", file=sys.stderr, flush=True)
                finally:
                    source.close()
                source = reopen(args.source)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
            return EXIT_INTERRUPTED


def reopen(where: str):
    """A live source again, trying every RETRY_SECONDS until it opens (Ctrl+C stops)."""
    from ..camera import FrameSource
    from ..errors import CameraLost

    while True:
        time.sleep(RETRY_SECONDS)
        try:
            return FrameSource(where, realtime=False)
        except CameraLost as error:
            print(f"warning: {error} Retrying in {RETRY_SECONDS:g} s.", file=sys.stderr, flush=True)


def decision_line(decision, stream_time: float) -> str:
    """One decision in one line, tab-separated: wall-clock time, stream time, track, decision, name, distance, spoof score,
    reasons (a spoof names nobody: who it looked like is among its reasons)."""
    when = datetime.now().strftime("%H:%M:%S")
    distance = f"d={decision.distance:.3f}" if decision.distance is not None else "d=-"
    score = f"spoof score {decision.spoof_score:.2f}" if decision.spoof_score is not None else "spoof score -"
    why = decision.note if decision.kind.event in ("spoof", "challenge_failed") else "; ".join(decision.reasons)
    return "\t".join((when, f"t={stream_time:.2f}s", f"track {decision.track}", str(decision.kind.event),
                      decision.name or "-", distance, score, why or "-"))
