"""CI regression gate of the fast encoder: anchor vs the default operating point on a small real clip.

Runs the sweep of ``pmp-run`` (:mod:`pmp_vvc.evaluation.sweep`) on a deterministic clip (photos from
scikit-image, ``pmp_vvc.evaluation.demo.make_demo_clip``) at two QPs with the anchor (VTM-23.13 behaviour)
and with the registry's default point (``pmp_vvc.modelzoo.DEFAULT_POINT``: the shipped model and its
options), interleaved, then compares against the versioned baseline ``bench/ci_baseline.json``. The
baseline names the point (model, sha256, options) it was recorded for; a default point that differs from
it fails the gate until the baseline is re-recorded on purpose. Checks:

* RD-check reduction (luma and all) and intra-sample reduction (all trees; of the deterministic counters
  the one that follows the time best, bench/README.md) must not fall below baseline - tolerance;
* bit cost (bits ratio at equal QP) and the two-QP BD-rate Y (linear in log-rate over PSNR,
  :func:`pmp_vvc.evaluation.bdrate.bd_rate_two_points`; deterministic) must not rise above baseline +
  tolerance;
* time saving (CPU time, noisy on shared machines) is reported and only checked against a loose bound.

Exit code 0: no regression; 1: regression (each one printed); 2: bad setup. ``--update --why TEXT``
rewrites the baseline from this run (a deliberate change: commit the file with its reason).

    python bench/ci_gate.py                    # ~3 min on 2 cores
    python bench/ci_gate.py --update --why "model v2: better split recall"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pmp_vvc.codec.runner import EncodeStats
from pmp_vvc.errors import EncodeError, PmpError
from pmp_vvc.evaluation.bdrate import bd_rate_two_points
from pmp_vvc.files import write_json_atomic

__all__ = ["bd_rate_two_points", "check", "default_point", "main", "measure"]

BASELINE = Path(__file__).resolve().parent / "ci_baseline.json"


def measure(options: Sequence[str], qps: Sequence[int], clip: dict[str, int], work: Path) -> dict[str, float]:
    """Run the anchor-vs-test sweep (interleaved, one encode at a time); return the gate's figures."""
    import pmp_vvc
    from pmp_vvc.evaluation.demo import make_demo_clip
    from pmp_vvc.evaluation.executors import LocalExecutor
    from pmp_vvc.evaluation.sequences import load_sequence
    from pmp_vvc.evaluation.sweep import SweepSpec, failures_of, plan_sweep, run_plan
    from pmp_vvc.evaluation.timesaving import intra_sample_reduction, mean_time_saving, rd_check_reduction

    cfg = make_demo_clip(work, width=clip["width"], height=clip["height"], frames=clip["frames"], name="gate")
    enc = str(pmp_vvc.vtm_cfg())
    seq = load_sequence(cfg, encoder_cfgs=[enc], frames=clip["frames"])
    spec = SweepSpec(
        sequences=(seq,),
        qps=tuple(qps),
        encoder_cfgs=(enc,),
        test_options=tuple(options),
        out_dir=work / "run",
        frames=clip["frames"],
    )
    plan = plan_sweep(spec)
    results = run_plan(plan, LocalExecutor(1), describe=None)
    failed = failures_of(results)
    if failed:
        raise EncodeError(f"{len(failed)} encode(s) failed; first: {failed[0]}")
    pairs = [(results[p.anchor.key].run, results[p.test.key].run) for p in plan.pairs]
    for qp, (a, t) in zip(qps, pairs, strict=True):
        print(
            f"QP {qp}: anchor {a.total_bits} bits {a.cpu_time:.1f} s, test {t.total_bits} bits "
            f"{t.cpu_time:.1f} s, luma RD checks {a.luma.total} -> {t.luma.total}",
            flush=True,
        )
    counters_a, counters_t = [a.counters for a, _ in pairs], [t.counters for _, t in pairs]
    luma = rd_check_reduction(counters_a, counters_t, "luma")
    total = rd_check_reduction(counters_a, counters_t)
    samples = intra_sample_reduction(counters_a, counters_t)
    if luma is None or total is None or samples is None:
        raise EncodeError("the encodes printed no RD-check or intra-sample counters (not pmp-encoder?)")
    return {
        "rdc_reduction_luma": luma / 100,
        "rdc_reduction_total": total / 100,
        "samples_reduction_total": samples / 100,
        "bits_ratio": sum(t.total_bits for _, t in pairs) / sum(a.total_bits for a, _ in pairs) - 1,
        "bd_rate_y_2qp": bd_rate_two_points([_point(a) for a, _ in pairs], [_point(t) for _, t in pairs]),
        "ts_mean": mean_time_saving([a.cpu_time for a, _ in pairs], [t.cpu_time for _, t in pairs]) / 100,
        "inference_share_of_anchor": sum(t.guide.cpu_time if t.guide else 0.0 for _, t in pairs)
        / sum(a.cpu_time for a, _ in pairs),
    }


def _point(stats: EncodeStats) -> tuple[float, float]:
    """(bits, mean Y-PSNR over the pictures) of one encode."""
    return float(stats.total_bits), sum(f.psnr_y for f in stats.frames) / len(stats.frames)


def check(got: dict[str, float], baseline: dict[str, object]) -> list[str]:
    """Regressions of ``got`` against the baseline's values and tolerances."""
    want, tol = baseline["values"], baseline["tolerance"]
    assert isinstance(want, dict) and isinstance(tol, dict)
    bad = []
    for key in ("rdc_reduction_luma", "rdc_reduction_total", "samples_reduction_total"):
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
        print(
            f"REGRESSION: the default point {point} is not the one the baseline was recorded for "
            f"({baseline.get('point')}); re-record it: python bench/ci_gate.py --update --why ..."
        )
        print("gate: FAIL")
        return 1
    qps, clip = baseline["qps"], baseline["clip"]
    print(f"gate: default point ({shlex.join(options)}) vs anchor, QP {qps}, clip {clip}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pmp-gate-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            got = measure(options, qps, clip, work)
        except PmpError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    print(json.dumps({k: round(v, 5) for k, v in got.items()}, indent=1))
    if args.update:
        if not args.why:
            print("error: --update needs --why", file=sys.stderr)
            return 2
        baseline["point"] = point
        baseline["values"] = {k: round(v, 5) for k, v in got.items()}
        baseline["why"] = args.why
        write_json_atomic(args.baseline, baseline)
        print(f"baseline {args.baseline} updated")
        return 0
    bad = check(got, baseline)
    for line in bad:
        print(f"REGRESSION: {line}")
    print("gate: FAIL" if bad else "gate: pass")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
