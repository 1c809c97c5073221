"""pmp-encoder: VTM-23.13's EncoderApp with the pmp-vvc partition guide.

The command line is EncoderApp's own (``-c encoder_intra_vtm.cfg -c seq.cfg -q 32 -b out.bin``), parsed
by VTM, plus the ``--PMP*`` options listed by ``pmp-encoder --help``. The log and exit codes are VTM's.
Before encoding, the input is checked (VTM hangs on a YUV file shorter than the frames asked for);
an ``InputFile`` in a cfg is relative to that cfg's folder (:mod:`pmp_vvc.codec.vtmcfg`); outputs of a
failed run are removed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pmp_vvc.cli.common import native_entry
from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.process import run_removing_failed_outputs
from pmp_vvc.codec.vtmcfg import check_encoder_args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the encoder in this process with VTM's command line ``argv`` (default: ``sys.argv[1:]``)."""
    merged = check_encoder_args(list(sys.argv[1:] if argv is None else argv))
    # A cfg's relative InputFile is relative to the cfg's folder: VTM is told the path that was checked.
    args = merged.vtm_args(list(sys.argv[1:] if argv is None else argv))
    # Set before the guide imports numpy: the encoder is single-threaded, and OpenBLAS's idle worker
    # threads spin after start-up, which showed as 1.3 % of a guided encode's CPU time (perf).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from pmp_vvc.codec.guides import guide_from_options

    return run_removing_failed_outputs(
        lambda: int(extension().run_encoder(["pmp-encoder", *args], guide_factory=guide_from_options)),
        merged.outputs,
    )


def entry() -> None:
    """Console-script entry point."""
    native_entry(main)


if __name__ == "__main__":
    entry()
