"""pmp-run: encode sequences as anchor and test over QPs; report BD-rate and time saving.

For every sequence cfg and QP, the anchor (the encoder with the encoder cfgs only: vanilla VTM
behaviour) and the test (the same plus ``--test`` options) are encoded, interleaved, under the same
concurrency. Each encode is a child process whose CPU time (user+sys) is measured; its record
``encodes/<seq>_QP<qp>_<key>.json`` (with ``.bin`` and ``.log``) is keyed by sequence, QP, options,
model sha256 and encoder build, so rerunning the same command only runs what is missing.
Outputs in ``--out``: ``summary.csv``, ``summary.json``, ``summary.md``, ``rd.png``, ``ts_bdbr.png``.

Without ``--test``, the test is the default operating point (the shipped model with its options,
``pmp_vvc.modelzoo.DEFAULT_POINT``). Relative file paths in ``--test`` (``--PMPModel=my.onnx``,
``--PMPGuide=oracle:DUMP``, ``--PMPGuide=replay:NPZ``) are taken from the current folder, and every model
is loaded and checked before anything is encoded. SIGTERM (a batch scheduler's time limit) stops the
running encodes and removes their temporaries; a later run also clears those of runs that died.

The work is done by :mod:`pmp_vvc.evaluation.sweep`; this module only reads the command line and prints.

Examples::

    pmp-run --seq hall.cfg --qp 22..37       # test: the default operating point
    pmp-run --demo                           # the same on a bundled clip
    pmp-run --seq ../shared/data/dev/sequences --qp 22..37 --test "--PMPModel default --PMPLevel 2" -j 2
    pmp-run --seq a.cfg b.cfg --qp 22,27,32,37 --frames 1 --test "--MaxMTTHierarchyDepthISliceL=2"

Exit codes: 0 all encodes (and verifications) succeeded; 1 some failed (reported with the tail of
their log, the others finished); 2 bad arguments, inputs or models (nothing encoded); 130 interrupted
(Ctrl-C); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from pmp_vvc.cli.common import executor_parser, parent_parser, run_cli, setup_logging
from pmp_vvc.errors import ConfigError
from pmp_vvc.evaluation.bdrate import METHODS
from pmp_vvc.evaluation.executors import make_executor
from pmp_vvc.evaluation.jobs import default_encoder_cmd
from pmp_vvc.evaluation.qpspec import DEFAULT_QP_SPEC, parse_qp_spec
from pmp_vvc.evaluation.report import markdown, write_reports
from pmp_vvc.evaluation.sequences import find_sequence_cfgs, load_sequence
from pmp_vvc.evaluation.sweep import SweepSpec, check_test_options, plan_sweep, run_sweep

log = logging.getLogger("pmp_vvc.run")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``pmp-run`` argument parser."""
    p = argparse.ArgumentParser(
        prog="pmp-run",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        parents=[parent_parser(), executor_parser("default 1; demo 2")],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--seq",
        nargs="+",
        metavar="CFG|DIR",
        default=[],
        help="VTM per-sequence cfgs, or folders of them (*.cfg)",
    )
    p.add_argument(
        "--qp", default=DEFAULT_QP_SPEC, help="QPs: '22..37' (step 5), '22..37:1' or '22,27,32,37'"
    )
    p.add_argument(
        "--cfg",
        action="append",
        metavar="CFG",
        help="encoder cfg (repeatable, applied in order); default: VTM's encoder_intra_vtm.cfg",
    )
    p.add_argument(
        "--test",
        default=None,
        metavar="OPTIONS",
        help='encoder options of the test, one quoted string, e.g. "--PMPModel default --PMPLevel 2"; '
        "default: the default operating point (pmp_vvc.modelzoo.DEFAULT_POINT). Relative file paths "
        "are taken from the current folder",
    )
    p.add_argument("--test-label", default="", help="name of the test in tables and plots")
    p.add_argument("--frames", type=int, help="override FramesToBeEncoded (input frames, as in the cfg)")
    p.add_argument("--out", default="pmp-run-out", help="output folder (default: ./pmp-run-out)")
    p.add_argument(
        "--verify", action="store_true", help="decode every bitstream and check the reconstruction MD5"
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="encode a short clip made from scikit-image photos (no --seq needed)",
    )
    p.add_argument("--bd-method", choices=METHODS, default="pchip", help="BD interpolation (default pchip)")
    p.add_argument(
        "--class",
        dest="classes",
        action="append",
        default=[],
        metavar="NAME=CLASS",
        help="class of sequence NAME (cfg stem) for class averages; repeatable",
    )
    p.add_argument(
        "--encoder-cmd", help="encoder command (default $PMP_ENCODER_CMD or python -m pmp_vvc.cli.encoder)"
    )
    p.add_argument(
        "--decoder-cmd", help="decoder command for --verify (default $PMP_DECODER_CMD or our module)"
    )
    p.add_argument("--dry-run", action="store_true", help="list the encodes and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip rd.png and ts_bdbr.png")
    return p


_VALUE_OPTIONS = ("--test", "--encoder-cmd", "--decoder-cmd")


def _glue_values(argv: Sequence[str]) -> list[str]:
    """Turn ``--test "--X=1"`` into ``--test=--X=1`` (argparse rejects values that start with ``-``)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in _VALUE_OPTIONS and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _default_cfgs() -> list[str]:
    import pmp_vvc

    vtm_cfg = getattr(pmp_vvc, "vtm_cfg", None)
    if vtm_cfg is None:
        raise ConfigError("no default encoder cfg (pmp_vvc.vtm_cfg is unavailable in this build); pass --cfg")
    return [str(vtm_cfg("encoder_intra_vtm.cfg"))]


def _check_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".pmp-run-write-test.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"cannot write to --out {out}: {err.strerror or err}") from None


def _split_options(text: str | None, what: str) -> tuple[str, ...]:
    try:
        options = tuple(shlex.split(text or ""))
    except ValueError as err:
        raise ConfigError(f"cannot split {what} {text!r}: {err}") from None
    check_test_options(options, what)
    return options


def _classes(items: Sequence[str]) -> dict[str, str]:
    found = {}
    for item in items:
        name, sep, cls = item.partition("=")
        if not sep or not name or not cls:
            raise ConfigError(f"--class expects NAME=CLASS, got {item!r}")
        found[name] = cls
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pmp-run``; return the exit code (library errors propagate to :func:`run_cli`)."""
    args = build_parser().parse_args(_glue_values(sys.argv[1:] if argv is None else argv))
    setup_logging(args)
    qps = parse_qp_spec(args.qp)
    if args.frames is not None and args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    out = Path(args.out)
    _check_out(out)
    cfgs = args.cfg or _default_cfgs()
    for cfg in cfgs:
        if not Path(cfg).is_file():
            raise ConfigError(f"encoder cfg not found: {cfg}")
    seq_paths: list[str | Path] = list(args.seq)
    test_text, label, jobs = args.test, args.test_label, args.jobs
    if args.demo:
        from pmp_vvc.evaluation.demo import make_demo_clip

        seq_paths.append(make_demo_clip(out / "demo"))
        jobs = jobs or min(2, os.cpu_count() or 1)
    if test_text is None:  # the default operating point is the test
        from pmp_vvc import modelzoo

        test_text = shlex.join(modelzoo.default_point_options())
        label = label or modelzoo.default_point_label()
    test_options = _split_options(test_text, "--test")
    classes = _classes(args.classes)
    encoder_cmd = tuple(shlex.split(args.encoder_cmd)) if args.encoder_cmd else default_encoder_cmd()
    decoder_cmd = tuple(shlex.split(args.decoder_cmd)) if args.decoder_cmd else None
    seqs = tuple(
        load_sequence(
            p,
            encoder_cfgs=cfgs,
            extra_options=test_options,
            frames=args.frames,
            seq_class=classes.get(Path(p).stem),
        )
        for p in find_sequence_cfgs(seq_paths)
    )
    spec = SweepSpec(
        sequences=seqs,
        qps=qps,
        encoder_cfgs=tuple(cfgs),
        test_options=test_options,
        out_dir=out,
        frames=args.frames,
        encoder_cmd=encoder_cmd,
        test_label=label,
        bd_method=args.bd_method,
    )
    plan = plan_sweep(spec)
    if args.dry_run:
        done = plan.done()
        for job in plan.jobs:
            if job.key not in done:
                print(f"{job.stem}: {shlex.join(job.options) or '(anchor)'}")
        return 0
    settings = {
        "QPs": ", ".join(map(str, qps)),
        "encoder cfgs": ", ".join(f"`{c}`" for c in cfgs),
        "encoder": f"`{shlex.join(encoder_cmd)}` (build {plan.build_id})",
        "concurrency": f"{args.executor} executor, {jobs or 1} encodes at once"
        if args.executor == "local"
        else f"dask scheduler {args.scheduler}",
        "frames override": str(args.frames) if args.frames is not None else "none (cfg FramesToBeEncoded)",
    }
    executor = make_executor(args.executor, jobs or 1, args.scheduler)
    try:
        outcome = run_sweep(
            plan,
            executor,
            progress=not args.no_progress and not args.quiet,
            verify=args.verify,
            decoder_cmd=decoder_cmd,
            settings=settings,
        )
    finally:
        executor.close()
    summary = outcome.summary
    written = write_reports(summary, out)
    if not args.no_plots:
        from pmp_vvc.evaluation.plots import write_plots

        written += write_plots(summary, out)
    text = markdown(summary)
    sys.stdout.write(text.split("\n## Per QP")[0].rstrip() + "\n\n")
    if outcome.verify is not None:
        sys.stdout.write(
            f"verified {len(outcome.verify) - outcome.bad_verify} of {len(outcome.verify)} bitstreams "
            "(decoder MD5 == encoder)\n"
        )
    sys.stdout.write("wrote " + ", ".join(str(p) for p in written) + "\n")
    for warning in summary.warnings:
        log.warning("%s", warning)
    return 0 if outcome.ok else 1


def entry() -> None:
    """Console-script entry point: SIGTERM stops the encodes and removes their temporaries."""
    raise SystemExit(run_cli(main, stop_on_sigterm=True))


if __name__ == "__main__":
    entry()
