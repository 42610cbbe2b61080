"""Command line: `python main.py <command> ...`. Each module in this package registers its commands.

Exit codes: 0 ok, 1 decision negative (different person, not recognized, spoof), 2 bad input.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import BadInput, LikenessError

EXIT_OK, EXIT_NEGATIVE, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from . import faces, liveness, style, training

    parser = argparse.ArgumentParser(prog="python main.py", description="Likeness: face recognition and neural style transfer.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (faces, liveness, style, training):
        module.register(commands)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except LikenessError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(error, BadInput) else 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
