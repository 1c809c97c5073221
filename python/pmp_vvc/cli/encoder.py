"""pmp-encoder: VTM-23.13's EncoderApp with the pmp-vvc partition guide.

The command line is EncoderApp's own (``-c encoder_intra_vtm.cfg -c seq.cfg -q 32 -b out.bin``), parsed
by VTM, plus the ``--PMP*`` options listed by ``pmp-encoder --help``. The log and exit codes are VTM's.
Before encoding, the input is checked (VTM hangs on a YUV file shorter than the frames asked for);
outputs of a failed run are removed.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from pmp_vvc.buildinfo import extension
from pmp_vvc.cli.common import run_cli
from pmp_vvc.encoder import remove_changed_outputs, snapshot_outputs
from pmp_vvc.vtmargs import check_encoder_args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the encoder in this process with VTM's command line ``argv`` (default: ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    merged = check_encoder_args(args)
    before = snapshot_outputs(merged.outputs)
    from pmp_vvc.guides import guide_from_options

    rc = int(extension().run_encoder(["pmp-encoder", *args], guide_factory=guide_from_options))
    if rc != 0:
        remove_changed_outputs(before)
    return rc


def entry() -> None:
    """Console-script entry point; Ctrl-C stops the encoder at once, as it does VTM's."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(run_cli(main))


if __name__ == "__main__":
    entry()
