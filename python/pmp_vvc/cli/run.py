"""pmp-run: encode sequences as anchor and test over QPs; report BD-rate and time saving.

For every sequence cfg and QP, the anchor (the encoder with the encoder cfgs only: vanilla VTM
behaviour) and the test (the same plus ``--test`` options) are encoded, interleaved, under the same
concurrency. Each encode is a child process whose CPU time (user+sys) is measured; its record
``encodes/<seq>_QP<qp>_<key>.json`` (with ``.bin`` and ``.log``) is keyed by sequence, QP, options,
model sha256 and encoder build, so rerunning the same command only runs what is missing.
Outputs in ``--out``: ``summary.csv``, ``summary.json``, ``summary.md``, ``rd.png``, ``ts_bdbr.png``.

Examples::

    pmp-run --demo                 # test: the shipped model's default point (pmp_vvc.modelzoo.DEFAULT_POINT)
    pmp-run --seq ../shared/data/dev/sequences --qp 22..37 --test "--PMPModel default --PMPLevel 2" -j 2
    pmp-run --seq a.cfg b.cfg --qp 22,27,32,37 --frames 1 --test "--MaxMTTHierarchyDepthISliceL=2"

Exit codes: 0 all encodes (and verifications) succeeded; 1 some failed (reported with the tail of
their log, the others finished); 2 bad arguments or inputs (nothing encoded); 130 interrupted.
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

from pmp_vvc.bdrate import METHODS
from pmp_vvc.cli.common import parent_parser, run_cli, setup_logging
from pmp_vvc.encodejob import (
    EncodeJob,
    EncodeResult,
    default_encoder_cmd,
    load_done,
    resolve_build_id,
    run_job,
    verify_result,
)
from pmp_vvc.errors import ConfigError
from pmp_vvc.executors import EXECUTORS, make_executor, run_all
from pmp_vvc.qpspec import DEFAULT_QP_SPEC, parse_qp_spec
from pmp_vvc.report import markdown, summarize_run, summarize_sequence, write_reports
from pmp_vvc.seqcfg import SequenceConfig, find_sequence_cfgs, load_sequence

log = logging.getLogger("pmp_vvc.run")

#: Options the driver sets itself; ``--test`` must not override them.
_RESERVED = ("-c", "-q", "--QP", "-b", "--BitstreamFile", "-o", "--ReconFile", "-i", "--InputFile")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``pmp-run`` argument parser."""
    p = argparse.ArgumentParser(
        prog="pmp-run",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        parents=[parent_parser()],
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
        help='encoder options of the test, one quoted string, e.g. "--PMPModel default --PMPLevel 2"',
    )
    p.add_argument("--test-label", default="", help="name of the test in tables and plots")
    p.add_argument("--frames", type=int, help="override FramesToBeEncoded (input frames, as in the cfg)")
    p.add_argument(
        "-j", "--jobs", type=int, help="encodes at once with the local executor (default 1; demo 2)"
    )
    p.add_argument("--out", default="pmp-run-out", help="output folder (default: ./pmp-run-out)")
    p.add_argument(
        "--verify", action="store_true", help="decode every bitstream and check the reconstruction MD5"
    )
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="where encodes run (default local)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address for --executor dask")
    p.add_argument(
        "--demo",
        action="store_true",
        help="encode a short clip made from scikit-image photos (no --seq needed); "
        "without --test, the test is the shipped model's default operating point",
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
    for opt in options:
        if opt.split("=", 1)[0] in _RESERVED:
            raise ConfigError(f"{what} must not set {opt.split('=', 1)[0]} (pmp-run sets it)")
    return options


def _classes(items: Sequence[str]) -> dict[str, str]:
    found = {}
    for item in items:
        name, sep, cls = item.partition("=")
        if not sep or not name or not cls:
            raise ConfigError(f"--class expects NAME=CLASS, got {item!r}")
        found[name] = cls
    return found


def _describe(result: EncodeResult) -> str:
    return f"{result.job.seq_name} QP{result.job.qp} {result.status}"


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
        from pmp_vvc import modelzoo
        from pmp_vvc.demo import make_demo_clip

        seq_paths.append(make_demo_clip(out / "demo"))
        if test_text is None:
            test_text = shlex.join(modelzoo.default_point_options())
            label = label or modelzoo.default_point_label()
        jobs = jobs or min(2, os.cpu_count() or 1)
    if test_text is None:
        raise ConfigError(
            "--test OPTIONS is required (the options that make the test differ from the anchor)"
        )
    test_options = _split_options(test_text, "--test")
    classes = _classes(args.classes)
    encoder_cmd = tuple(shlex.split(args.encoder_cmd)) if args.encoder_cmd else default_encoder_cmd()
    decoder_cmd = tuple(shlex.split(args.decoder_cmd)) if args.decoder_cmd else None
    seqs: list[SequenceConfig] = [
        load_sequence(
            p,
            encoder_cfgs=cfgs,
            extra_options=test_options,
            frames=args.frames,
            seq_class=classes.get(Path(p).stem),
        )
        for p in find_sequence_cfgs(seq_paths)
    ]
    build_id = resolve_build_id(encoder_cmd)
    plan: list[tuple[SequenceConfig, int, EncodeJob, EncodeJob]] = []
    for seq in seqs:
        for qp in qps:
            common = {
                "seq_name": seq.name,
                "seq_cfg": seq.cfg_path,
                "input_file": seq.input_file,
                "qp": qp,
                "encoder_cfgs": cfgs,
                "frames": args.frames,
                "build_id": build_id,
                "out_dir": out / "encodes",
                "encoder_cmd": encoder_cmd,
            }
            plan.append(
                (seq, qp, EncodeJob.create(**common), EncodeJob.create(**common, options=test_options))
            )
    unique = {j.key: j for _, _, a, t in plan for j in (a, t)}
    results: dict[str, EncodeResult] = {}
    for key, job in unique.items():
        if (done := load_done(job)) is not None:
            results[key] = done
    todo = [j for k, j in unique.items() if k not in results]
    pixels = sum(s.coded_pixels for s in seqs) * len(qps) * 2
    log.info(
        "%d sequences x %d QPs: %d encodes, %d already done, %d to run (~%.0f CPU-s at 200 µs/pixel)",
        len(seqs),
        len(qps),
        len(unique),
        len(results),
        len(todo),
        pixels * 200e-6 * len(todo) / max(1, len(unique)),
    )
    if args.dry_run:
        for job in todo:
            print(f"{job.stem}: {shlex.join(job.options) or '(anchor)'}")
        return 0
    executor = make_executor(args.executor, jobs or 1, args.scheduler)
    try:
        for result in run_all(
            executor, run_job, todo, progress=not args.no_progress and not args.quiet, describe=_describe
        ):
            results[result.job.key] = result
    finally:
        executor.close()
    failures = []
    for result in results.values():
        if not result.ok:
            why = result.errors[0] if result.errors else f"exit code {result.exit_code}"
            failures.append(
                f"{result.job.stem} ({shlex.join(result.job.options) or 'anchor'}): {why}; "
                f"log: {result.job.path('.log')}"
            )
            log.error("encode %s failed: %s\n%s", result.job.stem, why, result.log_tail or "")
    verify = None
    bad_verify = 0
    if args.verify:
        verify = []
        for result in results.values():
            if result.ok:
                ok, message = verify_result(result, decoder_cmd)
                bad_verify += not ok
                verify.append(("OK " if ok else "MISMATCH ") + message)
                if not ok:
                    log.error("%s", message)
    summaries = []
    for seq in seqs:
        pairs = {qp: (results.get(a.key), results.get(t.key)) for s, qp, a, t in plan if s is seq}
        summaries.append(
            summarize_sequence(
                seq.name, seq.seq_class, (seq.width, seq.height), seq.coded_frames, pairs, args.bd_method
            )
        )
    summary = summarize_run(
        summaries,
        bd_method=args.bd_method,
        anchor_options=(),
        test_options=test_options,
        test_label=label,
        failures=failures,
        verify=verify,
        settings={
            "QPs": ", ".join(map(str, qps)),
            "encoder cfgs": ", ".join(f"`{c}`" for c in cfgs),
            "encoder": f"`{shlex.join(encoder_cmd)}` (build {build_id})",
            "concurrency": f"{args.executor} executor, {jobs or 1} encodes at once"
            if args.executor == "local"
            else f"dask scheduler {args.scheduler}",
            "frames override": str(args.frames)
            if args.frames is not None
            else "none (cfg FramesToBeEncoded)",
        },
    )
    written = write_reports(summary, out)
    if not args.no_plots:
        from pmp_vvc.plots import write_plots

        written += write_plots(summary, out)
    text = markdown(summary)
    sys.stdout.write(text.split("\n## Per QP")[0].rstrip() + "\n\n")
    if verify is not None:
        sys.stdout.write(
            f"verified {len(verify) - bad_verify} of {len(verify)} bitstreams (decoder MD5 == encoder)\n"
        )
    sys.stdout.write("wrote " + ", ".join(str(p) for p in written) + "\n")
    for warning in summary.warnings:
        log.warning("%s", warning)
    return 1 if failures or bad_verify else 0


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    entry()
