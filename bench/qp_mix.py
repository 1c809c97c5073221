"""Per-QP operating points: would a different point at each QP beat one point at every QP?

The encodes of one QP do not depend on those of another, so a *mix* (point A at QP 22, point B at QP 27,
...) is measured exactly by taking each QP's encode from its point: this script needs no encode of its own.
It reads the finished encodes of ``bench_fast.py`` points (same ``--out``, ``--frames``, ``--model``) and,
for every assignment of the selected points to the QPs, the sequence BD-rates (PCHIP against the shared
anchor), TS and luma RD-check reduction, averaged over the sequences as in ``bench.md``.

Picking the best mix on the same sequences it is scored on would flatter it, so the comparison is
leave-one-sequence-out: for each BD-rate Y budget (the uniform points' own BD-rates) and each sequence, the
mix with the largest luma RD-check reduction within the budget on the *other* sequences is scored on the
held-out one, and the same is done for the best uniform point. Output: ``OUT/qp_mix.md``, ``OUT/qp_mix.csv``
(every mix, in-sample) and ``OUT/qp_mix.png``.

```sh
python bench/qp_mix.py --out OUT --points 'model-L2-t*+mtt2'
```
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import bench_fast

if TYPE_CHECKING:
    from pmp_vvc.evaluation.records import EncodeResult
    from pmp_vvc.evaluation.summary import SequenceSummary

Pairs = dict[int, tuple["EncodeResult | None", "EncodeResult | None"]]


@dataclass(frozen=True)
class SeqPairs:
    """One sequence's finished (anchor, test) records per QP, for every selected point."""

    name: str
    seq_class: str
    size: tuple[int, int]
    coded_frames: int
    by_point: Mapping[str, Pairs]


@dataclass(frozen=True)
class Score:
    """One assignment of points to QPs on one sequence."""

    bd_y: float
    bd_yuv: float
    ts: float
    rdc_luma: float


def collect(points: Sequence[bench_fast.Point], args: argparse.Namespace) -> list[SeqPairs]:
    """Every sequence's records per point and QP (sequences where a point misses a QP are left out)."""
    out = []
    for cfg in sorted(args.seq or bench_fast.DEV_SEQUENCES.glob("*.cfg")):
        by_point: dict[str, Pairs] = {}
        seq = None
        for point in points:
            plan = bench_fast.point_plan(point, cfg, args)
            done = plan.done()
            seq = plan.pairs[0].seq
            by_point[point.name] = {p.qp: (done.get(p.anchor.key), done.get(p.test.key)) for p in plan.pairs}
        complete = all(
            a is not None and t is not None for pairs in by_point.values() for a, t in pairs.values()
        )
        if seq is None or not complete:
            print(f"{cfg.stem}: not every point has every QP; left out", file=sys.stderr)
            continue
        out.append(SeqPairs(seq.name, seq.seq_class, (seq.width, seq.height), seq.coded_frames, by_point))
    return out


def score(seq: SeqPairs, mix: Mapping[int, str]) -> Score:
    """The sequence summary of ``mix`` (QP -> point name), reduced to its four figures."""
    from pmp_vvc.evaluation.summary import summarize_sequence

    pairs = {qp: seq.by_point[name][qp] for qp, name in mix.items()}
    s: SequenceSummary = summarize_sequence(seq.name, seq.seq_class, seq.size, seq.coded_frames, pairs)
    if s.bd is None or s.time is None or s.time.rdc_reduction_luma is None:
        raise SystemExit(f"{seq.name}: no BD-rate or RD-check counters for {dict(mix)}")
    return Score(s.bd.bd_rate_y, s.bd.bd_rate_yuv, s.time.mean_ts, s.time.rdc_reduction_luma)


def mean_score(scores: Sequence[Score]) -> Score:
    """Arithmetic means over sequences."""
    n = len(scores)
    return Score(
        sum(s.bd_y for s in scores) / n,
        sum(s.bd_yuv for s in scores) / n,
        sum(s.ts for s in scores) / n,
        sum(s.rdc_luma for s in scores) / n,
    )


def best_within(
    table: Mapping[tuple[str, ...], Sequence[Score]], keep: Sequence[int], budget: float
) -> tuple[str, ...]:
    """The assignment with the largest mean luma RD-check reduction on sequences ``keep`` within budget."""
    fits = [
        (mean_score([scores[i] for i in keep]).rdc_luma, mix)
        for mix, scores in table.items()
        if mean_score([scores[i] for i in keep]).bd_y <= budget
    ]
    if not fits:  # nothing within the budget: the cheapest
        return min(table, key=lambda m: mean_score([table[m][i] for i in keep]).bd_y)
    return max(fits)[1]


def held_out(
    table: Mapping[tuple[str, ...], Sequence[Score]], budget: float, n_seqs: int
) -> tuple[Score, list[tuple[str, ...]]]:
    """Mean over sequences of the held-out score of the assignment picked on the others."""
    picks = [best_within(table, [j for j in range(n_seqs) if j != i], budget) for i in range(n_seqs)]
    return mean_score([table[mix][i] for i, mix in enumerate(picks)]), picks


def per_qp_costs(seqs: Sequence[SeqPairs], name: str, qp: int) -> tuple[float, float]:
    """Mean over sequences of one point's rate cost at one QP and its luma RD-check reduction (both %).

    The rate cost is the rate increase at equal PSNR-Y, with the PSNR change turned into rate along the
    anchor's own local slope (dPSNR / dlog rate towards the neighbouring QP): a per-QP stand-in for BD-rate.
    """
    costs, saved = [], []
    for seq in seqs:
        pairs = seq.by_point[name]
        qps = sorted(pairs)
        other = qps[qps.index(qp) + 1] if qp != qps[-1] else qps[-2]
        a, t = pairs[qp]
        b = pairs[other][0]
        assert a is not None and t is not None and b is not None
        assert a.summary is not None and t.summary is not None and b.summary is not None
        slope = (a.summary.psnr_y - b.summary.psnr_y) / math.log(a.summary.bitrate / b.summary.bitrate)
        log_rate = math.log(t.summary.bitrate / a.summary.bitrate)
        costs.append(100 * (math.exp(log_rate - (t.summary.psnr_y - a.summary.psnr_y) / slope) - 1))
        luma = [sum(c.total for c in r.counters if c.channel == "luma") for r in (a, t)]
        saved.append(100 * (1 - luma[1] / luma[0]))
    return sum(costs) / len(costs), sum(saved) / len(saved)


def _f(v: float) -> str:
    return f"{v:+.2f} %" if math.isfinite(v) else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    """Score every per-QP mix of the selected points and write the comparison."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", default="model-L2-t*+mtt2", help="points to mix (bench_fast names/patterns)")
    p.add_argument("--seq", nargs="+", type=Path, help="sequence cfgs (default: all dev sequences)")
    p.add_argument("--model", type=Path, default=bench_fast.DEFAULT_MODEL, help="as given to bench_fast.py")
    p.add_argument("--qp", default="22..37", help="QPs, as given to bench_fast.py")
    p.add_argument("--frames", type=int, default=1, help="as given to bench_fast.py")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="bench_fast.py's output folder")
    args = p.parse_args(argv)
    args.out = args.out.absolute()
    points = bench_fast.select(bench_fast.all_points(args.model.resolve()), args.points)
    seqs = collect(points, args)
    if len(seqs) < 2:
        print("error: fewer than two sequences with every point at every QP", file=sys.stderr)
        return 2
    qps = sorted(seqs[0].by_point[points[0].name])
    names = [pt.name for pt in points]
    table = {
        mix: [score(s, dict(zip(qps, mix, strict=True))) for s in seqs]
        for mix in itertools.product(names, repeat=len(qps))
    }
    uniform = {name: table[(name,) * len(qps)] for name in names}
    n = len(seqs)

    with (args.out / "qp_mix.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"QP{q}" for q in qps] + ["bdbr_y", "bdbr_yuv", "ts_mean", "rdc_luma"])
        for mix, scores in table.items():
            m = mean_score(scores)
            w.writerow([*mix, f"{m.bd_y:.4f}", f"{m.bd_yuv:.4f}", f"{m.ts:.4f}", f"{m.rdc_luma:.4f}"])

    lines = [
        f"# Per-QP mixes of {', '.join(names)} ({n} sequences, QP {', '.join(map(str, qps))})",
        "",
        "Leave-one-sequence-out, per BD-rate Y budget: the best mix and the best uniform point picked on the",
        "other sequences, scored on the held-out one (means over the held-out sequences).",
        "",
        "The last column but one: the mix's luma RD-check reduction minus the uniform curve's at the mix's",
        "BD-rate Y (linear between the held-out uniform rows).",
        "",
        "| budget Y | uniform: BD-rate Y / YUV, luma RD checks, TS "
        "| mix: BD-rate Y / YUV, luma RD checks, TS | gain | mix picked on all sequences |",
        "|---|---|---|---|---|",
    ]
    budgets = sorted(mean_score(uniform[nm]).bd_y for nm in names)
    single = {(nm,): uniform[nm] for nm in names}
    curve = [(held_out(single, b, n)[0], held_out(table, b, n)[0]) for b in budgets]
    ref = sorted((u.bd_y, u.rdc_luma) for u, _ in curve)
    for budget, (uni, mixed) in zip(budgets, curve, strict=True):
        gain = mixed.rdc_luma - float(np.interp(mixed.bd_y, [r[0] for r in ref], [r[1] for r in ref]))
        inside = ref[0][0] <= mixed.bd_y <= ref[-1][0]
        full = best_within(table, range(n), budget)
        lines.append(
            f"| {_f(budget)} | {_f(uni.bd_y)} / {_f(uni.bd_yuv)}, -{uni.rdc_luma:.1f} %, {uni.ts:.1f} % "
            f"| {_f(mixed.bd_y)} / {_f(mixed.bd_yuv)}, -{mixed.rdc_luma:.1f} %, {mixed.ts:.1f} % "
            f"| {f'{gain:+.1f}' if inside else 'n/a'} "
            f"| {', '.join(f'QP{q}: {m}' for q, m in zip(qps, full, strict=True))} |"
        )
    lines += [
        "",
        "Per QP: the rate cost at equal PSNR-Y (the PSNR change turned into rate along the anchor's local",
        "slope) / the luma RD-check reduction, means over the sequences.",
        "",
        "| point | " + " | ".join(f"QP {q}" for q in qps) + " |",
        "|---|" + "---|" * len(qps),
    ]
    for name in names:
        cells = [per_qp_costs(seqs, name, q) for q in qps]
        lines.append(f"| {name} | " + " | ".join(f"{c:+.2f} % / -{r:.1f} %" for c, r in cells) + " |")
    (args.out / "qp_mix.md").write_text("\n".join(lines) + "\n")
    plot(curve, table, args.out / "qp_mix.png")
    print("\n".join(lines))
    return 0


def plot(
    curve: Sequence[tuple[Score, Score]], table: Mapping[tuple[str, ...], Sequence[Score]], path: Path
) -> None:
    """Luma RD-check reduction against BD-rate Y: every mix (in-sample), and the held-out curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    every = [mean_score(s) for s in table.values()]
    ax.scatter(
        [s.bd_y for s in every], [s.rdc_luma for s in every], s=4, c="0.75", label="every mix (in-sample)"
    )
    for k, (label, style) in enumerate((("uniform point (held out)", "o-"), ("per-QP mix (held out)", "s-"))):
        ax.plot([c[k].bd_y for c in curve], [c[k].rdc_luma for c in curve], style, label=label)
    ax.set_xlabel("BD-rate Y (%)")
    ax.set_ylabel("luma RD-check reduction (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
