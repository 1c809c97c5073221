"""CI regression gate of the fast encoder: anchor vs the default operating point on a small real clip.

Encodes a deterministic clip (photos from scikit-image, ``pmp_vvc.demo.make_demo_clip``) at two QPs with
the anchor (VTM-23.13 behaviour) and with the registry's default point (``pmp_vvc.modelzoo.DEFAULT_POINT``:
the shipped model and its options), interleaved, then compares against the versioned baseline
``bench/ci_baseline.json``. The baseline names the point (model, sha256, options) it was recorded for; a
default point that differs from it fails the gate until the baseline is re-recorded on purpose. Checks:

* RD-check reduction (luma and all; deterministic counters) must not fall below baseline - tolerance;
* bit cost (bits ratio at equal QP) and the two-QP BD-rate Y (linear in log-rate over PSNR; deterministic)
  must not rise above baseline + tolerance;
* time saving (CPU time, noisy on shared machines) is reported and only checked against a loose bound.

Exit code 0: no regression; 1: regression (each one printed); 2: bad setup. ``--update --why TEXT``
rewrites the baseline from this run (a deliberate change: commit the file with its reason).

    python bench/ci_gate.py                    # ~3 min on 2 cores
    python bench/ci_gate.py --update --why "model v2: better split recall"
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BASELINE = Path(__file__).resolve().parent / "ci_baseline.json"


def bd_rate_two_points(anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]]) -> float:
    """BD-rate (fraction) of two (bits, psnr) points per side, log-rate linear in PSNR over the overlap."""
    def fit(pts: Sequence[tuple[float, float]]) -> tuple[float, float, float, float]:
        (r0, p0), (r1, p1) = sorted(pts, key=lambda t: t[1])
        slope = (math.log(r1) - math.log(r0)) / (p1 - p0)
        return p0, p1, math.log(r0), slope

    a, t = fit(anchor), fit(test)
    lo, hi = max(a[0], t[0]), min(a[1], t[1])
    if hi <= lo:
        return math.nan

    def mean_log_rate(f: tuple[float, float, float, float]) -> float:
        p0, _, l0, s = f
        return l0 + s * ((lo + hi) / 2 - p0)  # mean of a linear function over [lo, hi]

    return math.exp(mean_log_rate(t) - mean_log_rate(a)) - 1


def measure(options: Sequence[str], qps: Sequence[int], clip: dict[str, int], work: Path) -> dict[str, float]:
    """Encode anchor and test per QP (interleaved) and return the gate's figures."""
    import pmp_vvc
    from pmp_vvc.demo import make_demo_clip

    cfg = make_demo_clip(work, width=clip["width"], height=clip["height"], frames=clip["frames"], name="gate")
    yuv = next(work.glob("gate_*.yuv"))
    # -o: the AI cfg's ReconFile would otherwise write rec.yuv into the working directory
    base = ["-c", str(pmp_vvc.vtm_cfg()), "-c", str(cfg), "-i", str(yuv), "-f", str(clip["frames"]),
            "-o", "/dev/null"]
    keys = ("luma_a", "luma_t", "all_a", "all_t", "cpu_a", "cpu_t", "bits_a", "bits_t", "inf")
    sums = dict.fromkeys(keys, 0.0)
    pts_a, pts_t, ts = [], [], []
    for qp in qps:
        a = pmp_vvc.encode([*base, "-q", str(qp), "-b", str(work / f"a{qp}.bin")])
        t = pmp_vvc.encode([*base, "-q", str(qp), "-b", str(work / f"t{qp}.bin"), *options])
        sums["luma_a"] += a.luma.total
        sums["luma_t"] += t.luma.total
        sums["all_a"] += a.rd_checks
        sums["all_t"] += t.rd_checks
        sums["bits_a"] += a.total_bits
        sums["bits_t"] += t.total_bits
        sums["cpu_a"] += a.cpu_time
        sums["cpu_t"] += t.cpu_time
        sums["inf"] += t.guide.cpu_time if t.guide else 0.0
        ts.append(1 - t.cpu_time / a.cpu_time)
        pts_a.append((float(a.total_bits), _mean_psnr_y(a)))
        pts_t.append((float(t.total_bits), _mean_psnr_y(t)))
        print(f"QP {qp}: anchor {a.total_bits} bits {a.cpu_time:.1f} s, test {t.total_bits} bits "
              f"{t.cpu_time:.1f} s, luma RD checks {a.luma.total} -> {t.luma.total}", flush=True)
    return {
        "rdc_reduction_luma": 1 - sums["luma_t"] / sums["luma_a"],
        "rdc_reduction_total": 1 - sums["all_t"] / sums["all_a"],
        "bits_ratio": sums["bits_t"] / sums["bits_a"] - 1,
        "bd_rate_y_2qp": bd_rate_two_points(pts_a, pts_t),
        "ts_mean": sum(ts) / len(ts),
        "inference_share_of_anchor": sums["inf"] / sums["cpu_a"],
    }


def _mean_psnr_y(stats: object) -> float:
    frames = stats.frames  # type: ignore[attr-defined]
    return sum(f.psnr_y for f in frames) / len(frames)


def check(got: dict[str, float], baseline: dict[str, object]) -> list[str]:
    """Regressions of ``got`` against the baseline's values and tolerances."""
    want, tol = baseline["values"], baseline["tolerance"]
    assert isinstance(want, dict) and isinstance(tol, dict)
    bad = []
    for key in ("rdc_reduction_luma", "rdc_reduction_total"):
        if not got[key] >= want[key] - tol[key]:
            bad.append(f"{key} {got[key]:.4f} < baseline {want[key]:.4f} - {tol[key]}")
    for key in ("bits_ratio", "bd_rate_y_2qp"):
        if not got[key] <= want[key] + tol[key]:
            bad.append(f"{key} {got[key]:.4f} > baseline {want[key]:.4f} + {tol[key]}")
    if not got["ts_mean"] >= tol["ts_min"]:
        bad.append(f"ts_mean {got['ts_mean']:.3f} < loose bound {tol['ts_min']} (CPU time; noisy)")
    if not got["inference_share_of_anchor"] <= tol["inference_share_max"]:
        bad.append(f"inference share {got['inference_share_of_anchor']:.4f} > {tol['inference_share_max']}")
    return bad


def default_point() -> tuple[dict[str, object], list[str]]:
    """The registry's default point as recorded in the baseline, and its encoder options."""
    from pmp_vvc import modelzoo

    point = modelzoo.DEFAULT_POINT
    sha256 = modelzoo.MODELS[point.model].sha256
    record = {"model": point.model, "sha256": sha256, "options": list(point.options)}
    return record, [*modelzoo.default_point_options(), "--PMPThreads=1"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gate; 0 pass, 1 regression, 2 setup error."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", type=Path, default=BASELINE, help="baseline JSON (bench/ci_baseline.json)")
    p.add_argument("--update", action="store_true", help="write this run's values into the baseline")
    p.add_argument("--why", default="", help="reason for --update (stored in the baseline)")
    p.add_argument("--keep", type=Path, help="keep the encodes in this folder (default: a temporary one)")
    args = p.parse_args(argv)
    try:
        baseline = json.loads(args.baseline.read_text())
    except (OSError, ValueError) as err:
        print(f"error: cannot read baseline {args.baseline}: {err}", file=sys.stderr)
        return 2
    point, options = default_point()
    if not args.update and baseline.get("point") != point:
        print(f"REGRESSION: the default point {point} is not the one the baseline was recorded for "
              f"({baseline.get('point')}); re-record it: python bench/ci_gate.py --update --why ...")
        print("gate: FAIL")
        return 1
    qps, clip = baseline["qps"], baseline["clip"]
    print(f"gate: default point ({shlex.join(options)}) vs anchor, QP {qps}, clip {clip}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pmp-gate-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        got = measure(options, qps, clip, work)
    print(json.dumps({k: round(v, 5) for k, v in got.items()}, indent=1))
    if args.update:
        if not args.why:
            print("error: --update needs --why", file=sys.stderr)
            return 2
        baseline["point"] = point
        baseline["values"] = {k: round(v, 5) for k, v in got.items()}
        baseline["why"] = args.why
        args.baseline.write_text(json.dumps(baseline, indent=1) + "\n")
        print(f"baseline {args.baseline} updated")
        return 0
    bad = check(got, baseline)
    for line in bad:
        print(f"REGRESSION: {line}")
    print("gate: FAIL" if bad else "gate: pass")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
