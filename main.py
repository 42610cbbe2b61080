"""Likeness: `python main.py` opens the window; `python main.py <command>` is the command line."""
import sys

GUI_FLAGS = ("--source", "--kiosk", "--once", "--home")


def main(argv: list[str] | None = None) -> int:
    """The window, or one command when argv (default: sys.argv[1:]) starts with one; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].split("=")[0] in GUI_FLAGS:
        from gui.app import run_app

        return run_app(argv)
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
