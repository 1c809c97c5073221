import csv
import json
import math
from pathlib import Path

import pytest

from pmp_vvc.codec.runner import EncodeStats
from pmp_vvc.codec.vtmlog import ChannelCounters, SummaryStats
from pmp_vvc.evaluation.jobs import EncodeJob
from pmp_vvc.evaluation.records import EncodeResult
from pmp_vvc.evaluation.report import markdown, write_reports
from pmp_vvc.evaluation.summary import summarize_run, summarize_sequence

RATE_A = [9487.76, 4593.60, 2486.44, 1358.24]
PSNR_A = [40.037, 38.615, 36.845, 34.851]
RATE_T = [9787.80, 4469.00, 2451.52, 1356.24]
PSNR_T = [40.121, 38.651, 36.970, 34.987]
QPS = [22, 27, 32, 37]


def result(
    qp: int, rate: float, psnr: float, cpu: float, status: str = "ok", luma: int = 1000
) -> EncodeResult:
    job = EncodeJob(
        seq_name="s",
        seq_cfg="/s.cfg",
        seq_cfg_sha256="0",
        input_file="/s.yuv",
        qp=qp,
        encoder_cfgs=(),
        encoder_cfgs_sha256=(),
        options=(),
        frames=None,
        model_sha256=None,
        build_id="b",
        out_dir="/out",
    )
    return EncodeResult(
        job=job,
        status=status,
        run_id="r",
        host="h",
        started="t0",
        finished="t1",
        command=(),
        run=EncodeStats(
            frames=(),
            summary=SummaryStats(1, rate, psnr, psnr + 2, psnr + 3, 0.0) if status == "ok" else None,
            counters=(
                ChannelCounters("luma", luma, 0, 0, 0, 0, 0),
                ChannelCounters("chroma", 100, 0, 0, 0, 0, 0),
            ),
            guide=None,
            errors=() if status == "ok" else ("boom",),
            complete=status == "ok",
            exit_code=0,
            cpu_user=cpu,
            cpu_sys=0.0,
            wall_time=cpu,
            max_rss_kb=1,
        ),
        versions={},
    )


def pairs(
    t_anchor: float = 10.0, t_test: float = 4.0, fail_qp: int | None = None
) -> dict[int, tuple[EncodeResult | None, EncodeResult | None]]:
    out: dict[int, tuple[EncodeResult | None, EncodeResult | None]] = {}
    for i, qp in enumerate(QPS):
        a = result(qp, RATE_A[i], PSNR_A[i], t_anchor)
        t = result(qp, RATE_T[i], PSNR_T[i], t_test, "failed" if qp == fail_qp else "ok", luma=500)
        out[qp] = (a, t)
    return out


def test_sequence_summary_reference_values() -> None:
    s = summarize_sequence("seqA", "B", (1920, 1080), 1, pairs())
    assert s.bd is not None and s.time is not None
    assert s.bd.bd_rate_y == pytest.approx(-4.4175, abs=5e-5)
    assert s.bd.bd_rate_u == pytest.approx(-4.4175, abs=5e-5)
    assert s.bd.bd_psnr_y == pytest.approx(0.1197, abs=5e-5)
    assert s.time.mean_ts == pytest.approx(60.0)
    assert s.time.enc_t == pytest.approx(0.4)
    assert s.time.rdc_reduction_luma == pytest.approx(50.0)
    assert s.time.rdc_reduction_total == pytest.approx(100 * (1 - 600 / 1100))
    assert s.missing_qps == () and s.warnings == ()


def test_missing_qp_is_a_warning() -> None:
    s = summarize_sequence("seqB", "C", (832, 480), 1, pairs(fail_qp=37))
    assert s.missing_qps == (37,)
    assert any("QP 37 missing" in w for w in s.warnings)
    assert s.bd is not None and math.isfinite(s.bd.bd_rate_y)
    none = summarize_sequence("seqC", "C", (832, 480), 1, {22: (None, None)})
    assert none.bd is None and none.time is None


def test_run_summary_classes_and_files(tmp_path: Path) -> None:
    a = summarize_sequence("seqA", "B", (1920, 1080), 1, pairs(10, 4))
    b = summarize_sequence("seqB", "C", (832, 480), 1, pairs(10, 8))
    c = summarize_sequence("seqC", "B", (1920, 1080), 1, pairs(10, 5))
    run = summarize_run(
        [a, b, c],
        bd_method="pchip",
        anchor_options=(),
        test_options=("--PMPLevel=2",),
        test_label="L2",
        failures=["x failed"],
        verify=["OK x"],
    )
    assert [cl.name for cl in run.classes] == ["B", "C"]
    cls_b = run.classes[0]
    assert cls_b.sequences == 2
    assert cls_b.mean_ts == pytest.approx((60 + 50) / 2)
    assert cls_b.enc_t == pytest.approx(math.sqrt(0.4 * 0.5))  # geometric mean over all (seq, QP)
    assert run.overall is not None and run.overall.sequences == 3
    assert run.overall.bd_rate_y == pytest.approx(-4.4175, abs=5e-5)
    files = write_reports(run, tmp_path)
    assert [f.name for f in files] == ["summary.csv", "summary.json", "summary.md"]
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["schema"] == "pmp-vvc/run-summary" and data["schema_version"] == 1
    assert data["sequences"][0]["time"]["ts_per_qp"]["22"] == pytest.approx(60.0)
    rows = list(csv.DictReader((tmp_path / "summary.csv").read_text().splitlines()))
    assert [r["kind"] for r in rows] == ["sequence"] * 3 + ["class", "class", "overall"]
    assert float(rows[0]["bd_rate_y"]) == pytest.approx(-4.4175, abs=5e-5)
    md = (tmp_path / "summary.md").read_text()
    assert "| B | seqA | -4.42% |" in md and "**Class B** (2)" in md and "**Overall** (3)" in md
    assert "## Failures" in md and "## Verification" in md and "L2" in md
    assert not list(tmp_path.glob(".*tmp"))


def test_nan_becomes_null(tmp_path: Path) -> None:
    s = summarize_sequence("s", "S", (16, 16), 1, {22: pairs()[22]})  # one point: BD is nan
    run = summarize_run([s], bd_method="pchip", anchor_options=(), test_options=())
    write_reports(run, tmp_path)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["sequences"][0]["bd"]["bd_rate_y"] is None
    assert "n/a" in markdown(run)


def test_plots(tmp_path: Path) -> None:
    from pmp_vvc.evaluation.plots import write_plots

    run = summarize_run(
        [summarize_sequence("seqA", "B", (1920, 1080), 1, pairs())],
        bd_method="pchip",
        anchor_options=(),
        test_options=(),
    )
    for path in write_plots(run, tmp_path):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
