"""The anchor-vs-test sweep as a library: plan -> pairs of encode jobs -> run on an executor -> summary.

:class:`SweepSpec` says what to compare (sequences, QPs, encoder cfgs, the test's options, frames, output
folder, encoder command). :func:`plan_sweep` checks it and turns it into a :class:`SweepPlan`: one
(anchor, test) pair of keyed :class:`~pmp_vvc.evaluation.jobs.EncodeJob` per sequence and QP, after
making relative file paths in the test's options absolute (against the caller's folder) and checking
every model they name (loads with onnxruntime, matches the interface), so that bad input stops the
sweep before anything is encoded. :func:`run_plan` runs what is not done yet on an executor (anchor and
test of one QP next to each other) and clears temporaries of dead runs first; :func:`summarize_plan`
turns the records into the typed :class:`~pmp_vvc.evaluation.summary.RunSummary`. ``pmp-run``,
``bench/bench_fast.py`` and ``bench/ci_gate.py`` all go through here.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pmp_vvc.codec.options import absolute_paths, option_value
from pmp_vvc.errors import ConfigError
from pmp_vvc.evaluation.executors import Executor, run_all
from pmp_vvc.evaluation.jobs import EncodeJob, default_encoder_cmd, resolve_build_id, run_job, verify_result
from pmp_vvc.evaluation.records import EncodeResult, load_done
from pmp_vvc.evaluation.sequences import SequenceConfig
from pmp_vvc.evaluation.summary import RunSummary, summarize_run, summarize_sequence
from pmp_vvc.files import remove_stale_temporaries

__all__ = [
    "RESERVED_OPTIONS",
    "SweepOutcome",
    "SweepPair",
    "SweepPlan",
    "SweepSpec",
    "check_models",
    "check_test_options",
    "failures_of",
    "plan_sweep",
    "run_plan",
    "run_sweep",
    "summarize_plan",
    "verify_results",
]

log = logging.getLogger(__name__)

#: Options the sweep sets itself; the test's options must not set them.
RESERVED_OPTIONS = ("-c", "-q", "--QP", "-b", "--BitstreamFile", "-o", "--ReconFile", "-i", "--InputFile")


@dataclass(frozen=True)
class SweepSpec:
    """What to compare: every sequence at every QP, anchor (cfgs only) and test (cfgs + options)."""

    sequences: tuple[SequenceConfig, ...]
    qps: tuple[int, ...]
    encoder_cfgs: tuple[str, ...]
    test_options: tuple[str, ...]
    out_dir: Path
    frames: int | None = None
    encoder_cmd: tuple[str, ...] = ()
    test_label: str = ""
    bd_method: str = "pchip"
    anchor_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class SweepPair:
    """The anchor and the test encode of one sequence at one QP."""

    seq: SequenceConfig
    qp: int
    anchor: EncodeJob
    test: EncodeJob


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: the pairs of jobs, in the order they should run."""

    spec: SweepSpec
    test_options: tuple[str, ...]  # as keyed: paths absolute, shipped model names replaced by files
    build_id: str
    pairs: tuple[SweepPair, ...]

    @property
    def jobs(self) -> tuple[EncodeJob, ...]:
        """Every distinct job, pairs interleaved (anchor, test, anchor, test, ...)."""
        unique = {j.key: j for p in self.pairs for j in (p.anchor, p.test)}
        return tuple(unique.values())

    @property
    def encodes_dir(self) -> Path:
        """Where the records, bitstreams and logs go."""
        return self.spec.out_dir / "encodes"

    def done(self) -> dict[str, EncodeResult]:
        """Return the finished records of the plan's jobs, by job key."""
        return {job.key: r for job in self.jobs if (r := load_done(job)) is not None}


@dataclass(frozen=True)
class SweepOutcome:
    """A finished sweep: its plan, every record by job key, verification lines, the summary."""

    plan: SweepPlan
    results: Mapping[str, EncodeResult]
    summary: RunSummary
    failures: tuple[str, ...]
    verify: tuple[str, ...] | None = None
    bad_verify: int = 0

    @property
    def ok(self) -> bool:
        """Every encode (and verification) succeeded."""
        return not self.failures and not self.bad_verify


def check_test_options(options: Sequence[str], what: str = "--test") -> None:
    """ConfigError if the options set what the sweep sets itself (cfgs, QP, input, outputs)."""
    for opt in options:
        if opt.split("=", 1)[0] in RESERVED_OPTIONS:
            raise ConfigError(f"{what} must not set {opt.split('=', 1)[0]} (pmp-run sets it)")


def check_models(options: Sequence[str]) -> None:
    """Load the models the options name and check their interfaces; ModelError (or ConfigError) if it fails.

    The model of ``--PMPModel`` (if any), and with ``--PMPChromaLevel`` > 0 the chroma model it runs
    (``--PMPChromaModel`` or the luma model's companion).
    """
    from pmp_vvc.codec.options import MapGuideOptions, chroma_oracle_dump
    from pmp_vvc.codec.vtmcfg import parse_option_args
    from pmp_vvc.modelio import CHROMA, check_model
    from pmp_vvc.modelzoo import resolve_chroma_model, resolve_model

    found = option_value(options, "PMPModel")
    if found is None:
        return
    check_model(resolve_model(found[2]))
    chroma = option_value(options, "PMPChromaModel")
    spec = chroma[2] if chroma else ""
    if (
        MapGuideOptions.parse(parse_option_args(options)).chroma_level > 0
        and chroma_oracle_dump(spec) is None
    ):
        check_model(resolve_chroma_model(found[2], spec), CHROMA)


def plan_sweep(spec: SweepSpec, base: str | Path | None = None) -> SweepPlan:
    """Check ``spec`` and build its jobs; relative paths in the test's options are taken from ``base``.

    ``base`` defaults to the current folder (where the user typed the command).

    Raises:
        ConfigError: reserved options in the test's options, or no sequence or QP.
        ModelError: a model named by ``--PMPModel`` is missing, corrupt or has the wrong interface.
        BuildError: the encoder is not built or its command is not found.
    """
    if not spec.sequences or not spec.qps:
        raise ConfigError("a sweep needs at least one sequence and one QP")
    check_test_options(spec.test_options)
    test_options = absolute_paths(spec.test_options, base)
    anchor_options = absolute_paths(spec.anchor_options, base)
    check_models(test_options)
    encoder_cmd = spec.encoder_cmd or default_encoder_cmd()
    build_id = resolve_build_id(encoder_cmd)
    pairs: list[SweepPair] = []
    for seq in spec.sequences:
        for qp in spec.qps:
            common = {
                "seq_name": seq.name,
                "seq_cfg": seq.cfg_path,
                "input_file": seq.input_file,
                "qp": qp,
                "encoder_cfgs": spec.encoder_cfgs,
                "frames": spec.frames,
                "build_id": build_id,
                "out_dir": spec.out_dir / "encodes",
                "encoder_cmd": encoder_cmd,
            }
            anchor = EncodeJob.create(**common, options=anchor_options)  # type: ignore[arg-type]
            test = EncodeJob.create(**common, options=test_options)  # type: ignore[arg-type]
            pairs.append(SweepPair(seq, qp, anchor, test))
    resolved = pairs[0].test.options
    return SweepPlan(spec=spec, test_options=resolved, build_id=build_id, pairs=tuple(pairs))


def _describe(result: EncodeResult) -> str:
    return f"{result.job.seq_name} QP{result.job.qp} {result.status}"


def run_plan(
    plan: SweepPlan,
    executor: Executor,
    *,
    progress: bool = False,
    describe: Callable[[EncodeResult], str] | None = _describe,
) -> dict[str, EncodeResult]:
    """Run the plan's jobs that are not done yet; return every record by job key.

    Temporaries that runs which died left in the encodes folder are removed first.
    """
    removed = remove_stale_temporaries(plan.encodes_dir)
    if removed:
        log.info("removed %d temporaries of runs that died", len(removed))
    results = plan.done()
    todo = [j for j in plan.jobs if j.key not in results]
    seqs = {p.seq.name: p.seq for p in plan.pairs}
    pixels = sum(s.coded_pixels for s in seqs.values()) * len(plan.spec.qps) * 2
    log.info(
        "%d sequences x %d QPs: %d encodes, %d already done, %d to run (~%.0f CPU-s at 200 µs/pixel)",
        len(seqs),
        len(plan.spec.qps),
        len(plan.jobs),
        len(results),
        len(todo),
        pixels * 200e-6 * len(todo) / max(1, len(plan.jobs)),
    )
    for result in run_all(executor, run_job, todo, progress=progress, describe=describe):
        results[result.job.key] = result
    return results


def failures_of(results: Mapping[str, EncodeResult]) -> list[str]:
    """One line per failed encode: stem, options, first error, log path."""
    lines = []
    for result in results.values():
        if not result.ok:
            why = result.errors[0] if result.errors else f"exit code {result.exit_code}"
            lines.append(
                f"{result.job.stem} ({shlex.join(result.job.options) or 'anchor'}): {why}; "
                f"log: {result.job.path('.log')}"
            )
            log.error("encode %s failed: %s (log: %s)", result.job.stem, why, result.job.path(".log"))
            log.debug("end of the log of %s:\n%s", result.job.stem, result.log_tail or "")
    return lines


def verify_results(
    results: Mapping[str, EncodeResult], decoder_cmd: Sequence[str] | None = None
) -> tuple[list[str], int]:
    """Decode every successful bitstream; return the report lines and the number of mismatches."""
    lines: list[str] = []
    bad = 0
    for result in results.values():
        if result.ok:
            ok, message = verify_result(result, decoder_cmd)
            bad += not ok
            lines.append(("OK " if ok else "MISMATCH ") + message)
            if not ok:
                log.error("%s", message)
    return lines, bad


def summarize_plan(
    plan: SweepPlan,
    results: Mapping[str, EncodeResult],
    *,
    failures: Sequence[str] = (),
    verify: Sequence[str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> RunSummary:
    """Summarize the plan's records (missing or failed pairs are left out and noted)."""
    spec = plan.spec
    summaries = []
    for seq in dict.fromkeys(p.seq for p in plan.pairs):
        pairs = {
            p.qp: (results.get(p.anchor.key), results.get(p.test.key)) for p in plan.pairs if p.seq is seq
        }
        summaries.append(
            summarize_sequence(
                seq.name, seq.seq_class, (seq.width, seq.height), seq.coded_frames, pairs, spec.bd_method
            )
        )
    return summarize_run(
        summaries,
        bd_method=spec.bd_method,
        anchor_options=plan.pairs[0].anchor.options,
        test_options=plan.test_options,
        test_label=spec.test_label,
        failures=failures,
        verify=verify,
        settings=settings,
    )


def run_sweep(
    plan: SweepPlan,
    executor: Executor,
    *,
    progress: bool = False,
    verify: bool = False,
    decoder_cmd: Sequence[str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> SweepOutcome:
    """Run a planned sweep on ``executor`` (what is done is reused) and summarize it."""
    results = run_plan(plan, executor, progress=progress)
    failures = failures_of(results)
    lines, bad = verify_results(results, decoder_cmd) if verify else (None, 0)
    summary = summarize_plan(plan, results, failures=failures, verify=lines, settings=settings)
    return SweepOutcome(
        plan=plan,
        results=results,
        summary=summary,
        failures=tuple(failures),
        verify=tuple(lines) if lines is not None else None,
        bad_verify=bad,
    )
