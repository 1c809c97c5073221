"""The sweep as a library: plan -> pairs of jobs -> run on an executor -> typed summary."""

import math
from pathlib import Path

import pytest

from pmp_vvc.cli.run import main
from pmp_vvc.errors import ConfigError
from pmp_vvc.evaluation.executors import LocalExecutor
from pmp_vvc.evaluation.sequences import load_sequence
from pmp_vvc.evaluation.summary import RunSummary
from pmp_vvc.evaluation.sweep import SweepSpec, plan_sweep, run_plan, run_sweep, summarize_plan
from test_jobs import enc_cfg, fake_encoder, tiny_seq


@pytest.fixture()
def spec(tmp_path: Path) -> SweepSpec:
    cfg, enc = tiny_seq(tmp_path / "seqs", name="alpha"), enc_cfg(tmp_path)
    return SweepSpec(
        sequences=(load_sequence(cfg, encoder_cfgs=[enc]),),
        qps=(22, 27, 32, 37),
        encoder_cfgs=(str(enc),),
        test_options=("--MaxMTTHierarchyDepthISliceL=2",),
        out_dir=tmp_path / "out",
        encoder_cmd=fake_encoder(tmp_path),
        test_label="mtt2",
    )


def test_plan_pairs_interleaved_and_run(spec: SweepSpec) -> None:
    plan = plan_sweep(spec)
    assert [p.qp for p in plan.pairs] == [22, 27, 32, 37]
    assert [j.options for j in plan.jobs[:2]] == [(), ("--MaxMTTHierarchyDepthISliceL=2",)]
    assert plan.done() == {}
    results = run_plan(plan, LocalExecutor(2))
    assert len(results) == 8 and all(r.ok for r in results.values())
    summary = summarize_plan(plan, results)
    assert isinstance(summary, RunSummary) and summary.test_label == "mtt2"
    seq = summary.sequences[0]
    assert seq.bd is not None and seq.time is not None and math.isfinite(seq.time.mean_ts)
    # a second run reuses every record
    again = run_sweep(plan_sweep(spec), LocalExecutor(1))
    assert again.ok and {k: r.run_id for k, r in again.results.items()} == {
        k: r.run_id for k, r in results.items()
    }


def test_same_jobs_as_pmp_run(spec: SweepSpec, capsys: pytest.CaptureFixture[str]) -> None:
    """The bench and the gate plan through the library: the same jobs (keys) as pmp-run for the same input."""
    stems = {j.stem for j in plan_sweep(spec).jobs}
    argv = [
        "--seq",
        str(spec.sequences[0].cfg_path),
        "--cfg",
        spec.encoder_cfgs[0],
        "--out",
        str(spec.out_dir),
        "--test",
        spec.test_options[0],
        "--encoder-cmd",
        " ".join(spec.encoder_cmd),
        "--dry-run",
    ]
    assert main(argv) == 0
    listed = {line.split(":")[0] for line in capsys.readouterr().out.splitlines() if "_QP" in line}
    assert listed == stems


def test_reserved_options_refused(spec: SweepSpec) -> None:
    with pytest.raises(ConfigError, match="must not set -q"):
        plan_sweep(SweepSpec(**{**spec.__dict__, "test_options": ("-q", "22")}))
