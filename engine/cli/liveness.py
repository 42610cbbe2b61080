"""The liveness command: passive verdict per face of videos and images (a file cannot answer a challenge)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BadInput
from ..events import add_publish_arguments
from ..images import IMAGE_SUFFIXES, load_image, video_frames, why_unreadable
from . import EXIT_BAD_INPUT, EXIT_NEGATIVE, EXIT_OK, one_line
from .faces import session


def register(commands) -> None:
    liveness = commands.add_parser(
        "liveness", help="is each face live, or a photo / screen replay? (trained model and passive cues)",
        description="Judge every face of each video or image with the passive liveness cues. "
                    "Exit 0 when every face looks live, 1 when a spoof is found, 2 on bad input.")
    liveness.add_argument("files", nargs="+", type=Path, metavar="VIDEO_OR_IMAGE")
    liveness.add_argument("--threshold", type=float, default=None,
                          help="spoof score at or above which a face is a spoof (default: Settings › Liveness, "
                               "the camera's point for videos and the still's for images)")
    liveness.add_argument("--every", type=int, default=1, metavar="N", help="look at every N-th video frame (speed)")
    add_publish_arguments(liveness)
    liveness.set_defaults(run=run_liveness)


def run_liveness(args) -> int:
    from ..config import load_settings

    settings = load_settings().liveness
    given = args.threshold
    thresholds = (settings.threshold, settings.still_threshold) if given is None else (given, given)
    if not all(0.0 < threshold <= 1.0 for threshold in thresholds):
        print("error: --threshold must be in (0, 1].", file=sys.stderr)
        return EXIT_BAD_INPUT
    unreadable = [(path, why) for path in args.files if (why := why_unreadable(path))]
    for path, why in unreadable:
        print(f"error: Cannot read {one_line(path)}: {why}.", file=sys.stderr)
    if unreadable:
        return EXIT_BAD_INPUT
    spoof_found, bad_input = False, False
    with session(args, with_gallery=False) as recognizer:  # publishes each spoof found (--mqtt, --webhook)
        for path in args.files:
            try:
                spoofs = judge_file(path, recognizer, thresholds, max(1, args.every))
            except BadInput as error:
                print(f"{one_line(path)}: error: {one_line(error)}", file=sys.stderr)
                bad_input = True
                continue
            for report in spoofs:
                recognizer.record("spoof", reasons=report.reasons, live=False, spoof_score=report.score, source="cli")
            spoof_found |= bool(spoofs)
    if bad_input:
        return EXIT_BAD_INPUT
    return EXIT_NEGATIVE if spoof_found else EXIT_OK


def judge_file(path: Path, recognizer, thresholds: tuple[float, float], every: int) -> list:
    """Print one line per face; returns the TrackReports of the faces judged spoofs. thresholds: (a video's, an
    image's)."""
    is_image = path.suffix.lower() in IMAGE_SUFFIXES
    threshold = thresholds[1] if is_image else thresholds[0]
    frames = image_frames(path) if is_image else video_frames(path, every)
    reports, too_short = recognizer.judge_liveness(frames, 1 if is_image else 5, threshold)
    if not reports:
        print(f"{one_line(path)}: no face to judge")
    for report in reports:
        x1, y1, x2, y2 = report.mean_box
        where = f"face {report.track_id} at ({x1:.0f}, {y1:.0f})-({x2:.0f}, {y2:.0f})"
        span = "" if is_image else f", {report.frames} frames from frame {report.first_frame}"
        verdict = "live" if report.live else "SPOOF suspected"
        reasons = "; ".join(report.reasons) or "no sign of a screen or a print"
        print(f"{one_line(path)}: {where}{span}: {verdict} (score {report.score:.2f}, threshold {threshold:.2f}): {reasons}")
    if too_short:
        print(f"{one_line(path)}: {too_short} face track(s) shorter than 5 frames not judged", file=sys.stderr)
    return [report for report in reports if not report.live]


def image_frames(path: Path):
    yield 0, 0.0, load_image(path)

