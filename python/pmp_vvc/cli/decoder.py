"""pmp-decoder: VTM-23.13's DecoderApp, unchanged (``-b in.bin -o rec.yuv``); log and exit codes are VTM's.

A missing bitstream is reported before VTM starts; an output written by a failed run is removed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pmp_vvc.cli.common import native_entry
from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.process import run_removing_failed_outputs
from pmp_vvc.codec.vtmcfg import check_decoder_args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the decoder in this process with VTM's command line ``argv`` (default: ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    outputs = check_decoder_args(args)
    return run_removing_failed_outputs(lambda: int(extension().run_decoder(["pmp-decoder", *args])), outputs)


def entry() -> None:
    """Console-script entry point."""
    native_entry(main)


if __name__ == "__main__":
    entry()
