"""pmp-decoder: VTM-23.13's DecoderApp, unchanged (``-b in.bin -o rec.yuv``); log and exit codes are VTM's.

A missing bitstream is reported before VTM starts; an output written by a failed run is removed.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pmp_vvc.buildinfo import extension
from pmp_vvc.cli.common import run_cli
from pmp_vvc.encoder import remove_changed_outputs, snapshot_outputs
from pmp_vvc.errors import InputError


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
    before = snapshot_outputs([Path(recon)] if recon and recon != "/dev/null" else [])
    rc = int(extension().run_decoder(["pmp-decoder", *args]))
    if rc != 0:
        remove_changed_outputs(before)
    return rc


def entry() -> None:
    """Console-script entry point; Ctrl-C stops the decoder at once."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(run_cli(main))


if __name__ == "__main__":
    entry()
