import math
import subprocess
import sys

import pytest

from pmp_vvc.errors import ConfigError
from pmp_vvc.evaluation.bdrate import RDPoint, bd_psnr, bd_rate, compare, psnr_yuv

# design/partition-map.md §6 reference values
RATE_A = [9487.76, 4593.60, 2486.44, 1358.24]
PSNR_A = [40.037, 38.615, 36.845, 34.851]
RATE_T = [9787.80, 4469.00, 2451.52, 1356.24]
PSNR_T = [40.121, 38.651, 36.970, 34.987]


@pytest.mark.parametrize(("method", "expected"), [("pchip", -4.4175), ("cubic", -4.4205), ("akima", -4.4252)])
def test_reference_bd_rate(method: str, expected: float) -> None:
    value, notes = bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T, method)
    assert value == pytest.approx(expected, abs=5e-5)
    assert notes == []


def test_reference_bd_psnr_and_default_method() -> None:
    value, notes = bd_psnr(RATE_A, PSNR_A, RATE_T, PSNR_T)
    assert value == pytest.approx(0.1197, abs=5e-5)
    assert notes == []
    assert bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T)[0] == pytest.approx(-4.4175, abs=5e-5)


def test_point_order_does_not_matter() -> None:
    value, _ = bd_rate(RATE_A[::-1], PSNR_A[::-1], RATE_T, PSNR_T)
    assert value == pytest.approx(-4.4175, abs=5e-5)


def test_compare_all_components() -> None:
    anchor = [RDPoint(r, p, p + 2, p + 3) for r, p in zip(RATE_A, PSNR_A, strict=True)]
    test = [RDPoint(r, p, p + 2, p + 3) for r, p in zip(RATE_T, PSNR_T, strict=True)]
    res = compare(anchor, test)
    assert res.method == "pchip"
    # U and V curves are Y shifted by a constant: same BD-rate; so is YUV
    for v in (res.bd_rate_y, res.bd_rate_u, res.bd_rate_v, res.bd_rate_yuv):
        assert v == pytest.approx(-4.4175, abs=5e-5)
    assert res.bd_psnr_y == pytest.approx(0.1197, abs=5e-5)
    assert res.warnings == ()
    assert anchor[0].psnr_yuv == pytest.approx(psnr_yuv(40.037, 42.037, 43.037))
    assert psnr_yuv(40, 32, 48) == pytest.approx((240 + 32 + 48) / 8)


def test_low_overlap_warns_not_raises() -> None:
    value, notes = bd_rate(RATE_A, PSNR_A, RATE_T, [p + 4.5 for p in PSNR_T])
    assert math.isfinite(value)
    assert any("overlap" in n for n in notes)
    value, notes = bd_rate(RATE_A, PSNR_A, RATE_T, [p + 20 for p in PSNR_T])
    assert math.isnan(value)
    assert any("overlap" in n for n in notes)


def test_non_monotonic_warns_not_raises() -> None:
    bad = [40.037, 38.615, 38.9, 34.851]  # PSNR rises while rate falls between points 2 and 3
    _, notes = bd_rate(RATE_A, bad, RATE_T, PSNR_T, label="seq")
    assert any("not monotonic" in n and n.startswith("seq: anchor") for n in notes)
    _, notes = bd_rate(RATE_A, [40, 39, 39, 35], RATE_T, PSNR_T)  # duplicate PSNR: cannot interpolate
    assert notes


def test_too_few_points_and_bad_method() -> None:
    value, notes = bd_rate([100.0], [30.0], [90.0], [30.0])
    assert math.isnan(value) and "at least 2" in notes[0]
    with pytest.raises(ConfigError, match="unknown BD interpolation"):
        bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T, "linear")


def test_numeric_modules_do_not_import_matplotlib() -> None:
    code = (
        "import sys, pmp_vvc.evaluation.bdrate, pmp_vvc.evaluation.timesaving, pmp_vvc.evaluation.summary, "
        "pmp_vvc.evaluation.report, pmp_vvc.codec.vtmlog, pmp_vvc.evaluation.sequences, "
        "pmp_vvc.evaluation.sweep;"
        "sys.exit('matplotlib' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
