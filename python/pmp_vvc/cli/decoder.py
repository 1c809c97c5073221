"""pmp-decoder: VTM-23.13's DecoderApp, unchanged (``-b in.bin -o rec.yuv``); log and exit codes are VTM's.

A missing bitstream is reported before VTM starts; an output written by a failed run is removed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pmp_vvc.buildinfo import extension
from pmp_vvc.cli.common import native_entry
from pmp_vvc.errors import InputError
from pmp_vvc.outputs import run_removing_failed_outputs


def _option(args: Sequence[str], short: str, long: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in (short, f"--{long}") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"--{long}="):
            return arg.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the decoder in this process with VTM's command line ``argv`` (default: ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    bitstream = _option(args, "-b", "BitstreamFile")
    if bitstream is not None and not Path(bitstream).is_file():
        raise InputError(f"bitstream not found: {bitstream}")
    recon = _option(args, "-o", "ReconFile")
    outputs = [Path(recon)] if recon and recon != "/dev/null" else []
    return run_removing_failed_outputs(lambda: int(extension().run_decoder(["pmp-decoder", *args])), outputs)


def entry() -> None:
    """Console-script entry point."""
    native_entry(main)


if __name__ == "__main__":
    entry()
