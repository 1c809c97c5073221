"""The CI gate's checks (bench/ci_gate.py) without encoding: thresholds, BD math, the point check."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import pytest

from conftest import BENCH, bench_script

GATE = BENCH / "ci_gate.py"


@pytest.fixture(scope="module")
def gate() -> ModuleType:
    return bench_script("ci_gate")


def test_check_flags_each_regression(gate: ModuleType) -> None:
    baseline = json.loads((GATE.parent / "ci_baseline.json").read_text())
    good = dict(baseline["values"])
    assert gate.check(good, baseline) == []
    tol = baseline["tolerance"]
    worse = {
        "rdc_reduction_luma": good["rdc_reduction_luma"] - 2 * tol["rdc_reduction_luma"],
        "rdc_reduction_total": good["rdc_reduction_total"] - 2 * tol["rdc_reduction_total"],
        "samples_reduction_total": good["samples_reduction_total"] - 2 * tol["samples_reduction_total"],
        "bits_ratio": good["bits_ratio"] + 2 * tol["bits_ratio"],
        "bd_rate_y_2qp": good["bd_rate_y_2qp"] + 2 * tol["bd_rate_y_2qp"],
        "ts_mean": tol["ts_min"] / 2,
        "inference_share_of_anchor": 2 * tol["inference_share_max"],
    }
    for key, value in worse.items():
        bad = gate.check({**good, key: value}, baseline)
        assert len(bad) == 1, (key, bad)


def test_two_point_bd_rate(gate: ModuleType) -> None:
    anchor = [(1000.0, 40.0), (500.0, 36.0)]
    assert gate.bd_rate_two_points(anchor, anchor) == pytest.approx(0.0)
    assert gate.bd_rate_two_points(anchor, [(1100.0, 40.0), (550.0, 36.0)]) == pytest.approx(0.10)
    assert math.isnan(gate.bd_rate_two_points(anchor, [(100.0, 30.0), (50.0, 26.0)]))  # no PSNR overlap


def test_baseline_is_recorded_for_the_default_point(
    gate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = json.loads((GATE.parent / "ci_baseline.json").read_text())
    point, options = gate.default_point()
    assert baseline["point"] == point  # a changed default point must come with a re-recorded baseline
    assert any(o.startswith("--PMPModel=") for o in options)
    other = tmp_path / "baseline.json"
    other.write_text(json.dumps({**baseline, "point": {**point, "options": ["--PMPLevel=3"]}}))
    assert gate.main(["--baseline", str(other)]) == 1  # refused before any encode
    assert "not the one the baseline was recorded for" in capsys.readouterr().out
