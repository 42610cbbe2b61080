"""Command line: `python main.py <command> ...`. Each module in this package registers its commands.

Exit codes (exit_codes(), also in --help): 0 done, 1 a negative decision, 2 refused with a sentence saying why,
3 internal error (one sentence; the traceback goes to the log file), 130 interrupted.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from pathlib import Path
from typing import cast

import cv2

from ..config import keep_library_caches_private, load_settings_with_warnings
from ..errors import LikenessError
from ..logs import LOGGER, log_file, start_logging

EXIT_OK, EXIT_NEGATIVE, EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def exit_codes() -> str:
    return f"""exit codes:
  0    done; for a decision: the same person, everyone recognized, every face live
  1    a negative decision: a different person, somebody not recognized, a spoof
  2    refused, with one sentence on stderr saying why: an image, video, file, name, gallery or model
       that cannot be used, or a wrong command line
  3    internal error (a bug): one sentence on stderr, the traceback in {log_file()}
  130  interrupted (Ctrl+C)
A wrong key in settings.toml is named on stderr and keeps its default; the command goes on."""


def one_line(text: object) -> str:
    """Text as part of one output line: tabs, newlines and other unprintable characters written as escapes
    (\\t, \\n, \\x1b, \\u200b), so that a file name can neither split a result line nor forge another."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def output_file(text: str) -> Path:
    """An argparse type for a file a command will write: its folder must exist, checked before any work starts
    (a style transfer must not run for minutes and then find nowhere to save)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    if not path.absolute().parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {path.absolute().parent} does not exist")
    return path


def build_parser() -> argparse.ArgumentParser:
    from . import faces, liveness, report, server, style, training, watch

    parser = argparse.ArgumentParser(prog="python main.py",
                                     description="Likeness: face recognition and neural style transfer.",
                                     epilog=exit_codes(), formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (faces, liveness, report, server, style, training, watch):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command (argv: its words, default sys.argv[1:]); returns the exit code."""
    keep_library_caches_private()  # `calibrate` draws with matplotlib
    log = start_logging()
    warnings_to_log()
    quiet_decoders()
    print_any_file_name()
    try:
        args = build_parser().parse_args(argv)
        for problem in load_settings_with_warnings()[1]:
            print(f"warning: {problem}", file=sys.stderr)
        return args.run(args)
    except LikenessError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: it must never read as a decision
        return report_bug(error, log)


def warnings_to_log() -> None:
    """Python warnings of the libraries (numpy's RuntimeWarning, ...) go to the log file, not to stderr, where a
    command says what matters in one sentence."""
    logging.captureWarnings(True)
    python_warnings = logging.getLogger("py.warnings")
    python_warnings.propagate = False
    python_warnings.handlers = logging.getLogger(LOGGER).handlers[:] or [logging.NullHandler()]


def quiet_decoders() -> None:
    """OpenCV and FFmpeg print their own complaints about a damaged file; the command says it in one sentence."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "-8"  # quiet; read when the first video is opened


def print_any_file_name() -> None:
    """A file name that is not UTF-8 prints with \\udcXX escapes instead of stopping the command."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict":
            cast(io.TextIOWrapper, stream).reconfigure(errors="backslashreplace")


def report_bug(error: Exception, log: Path | None) -> int:
    """One sentence on stderr, the traceback in the log file; returns EXIT_INTERNAL_ERROR."""
    if log is not None:
        logging.getLogger(LOGGER).exception("unexpected error")
    where = f"the traceback is in {log}" if log else f"the log file {log_file()} could not be written"
    what = (str(error).splitlines() or [""])[0][:200]
    print(f"internal error ({type(error).__name__}: {what}); {where}.", file=sys.stderr)
    return EXIT_INTERNAL_ERROR
