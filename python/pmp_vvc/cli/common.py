"""Pieces every pmp-vvc CLI shares: logging options and the mapping of library errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from pmp_vvc.errors import PmpError


def parent_parser() -> argparse.ArgumentParser:
    """Options common to every CLI (pass as ``parents=[parent_parser()]``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors")
    return parser


def setup_logging(args: argparse.Namespace) -> None:
    """Configure the root logger from the parent options."""
    level = logging.WARNING if args.quiet else (logging.INFO if args.verbose < 2 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a CLI ``main`` and turn library errors into a one-line message and exit code 2."""
    try:
        return main(argv)
    except PmpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def native_entry(main: Callable[[Sequence[str] | None], int]) -> None:
    """Console-script entry of a VTM application: Ctrl-C stops it at once, as it stops VTM's own binaries."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(run_cli(main))
