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


def executor_parser(default_jobs_help: str = "default 1") -> argparse.ArgumentParser:
    """Where the work runs, shared by ``pmp-run`` and ``pmp-dataset`` (``parents=[executor_parser()]``)."""
    from pmp_vvc.evaluation.executors import EXECUTORS

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "-j", "--jobs", type=int, help=f"encodes at once with the local executor ({default_jobs_help})"
    )
    parser.add_argument(
        "--executor", choices=EXECUTORS, default="local", help="where encodes run (default local)"
    )
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address for --executor dask")
    return parser


def setup_logging(args: argparse.Namespace) -> None:
    """Configure the root logger from the parent options."""
    level = logging.WARNING if args.quiet else (logging.INFO if args.verbose < 2 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


class Terminated(BaseException):
    """SIGTERM arrived (see :func:`run_cli`'s ``stop_on_sigterm``)."""


def _on_sigterm(signum: int, frame: object) -> None:
    from pmp_vvc.codec.process import terminate_children

    terminate_children()  # the encoders stop now; their threads see them die and remove temporaries
    raise Terminated


def run_cli(
    main: Callable[[Sequence[str] | None], int],
    argv: Sequence[str] | None = None,
    *,
    stop_on_sigterm: bool = False,
) -> int:
    """Run a CLI ``main`` and turn library errors into a one-line message and exit code 2.

    With ``stop_on_sigterm``, SIGTERM ends every encoder child
    (:func:`pmp_vvc.codec.process.terminate_children`), unwinds ``main`` (its cleanup runs) and gives exit
    code 143; Ctrl-C gives 130.
    """
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if stop_on_sigterm else None
    try:
        return main(argv)
    except PmpError as err:
        print(f"error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from pmp_vvc.codec.process import terminate_children

        terminate_children()
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("stopped (SIGTERM)", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(message: str) -> str:
    """Return the message's first line (library errors keep their log in ``log_tail``)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else message


def native_entry(main: Callable[[Sequence[str] | None], int]) -> None:
    """Console-script entry of a VTM application: Ctrl-C stops it at once, as it stops VTM's own binaries."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(run_cli(main))
