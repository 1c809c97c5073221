"""Per-QP operating points: would a different point at each QP beat one point at every QP?

The encodes of one QP do not depend on those of another, so a *mix* (point A at QP 22, point B at QP 27,
...) is measured exactly by taking each QP's encode from its point: this script needs no encode of its own.
It reads the finished encodes of ``bench_fast.py`` points (same ``--out``, ``--frames``, ``--model``) and,
for every assignment of the selected points to the QPs, the sequence BD-rates (PCHIP against the shared
anchor), TS and luma RD-check reduction, averaged over the sequences as in ``bench.md``.

Picking the best mix on the same sequences it is scored on would flatter it, so the comparison is
leave-one-sequence-out: for each BD-rate Y budget (the uniform points' own BD-rates) and each sequence, the
mix with the largest luma RD-check reduction within the budget on the *other* sequences is scored on the
held-out one, and the same is done for the best uniform point. ``--objective yuv`` does the same with
BD-rate YUV and the reduction of all RD checks (points that differ in the chroma tree). Output:
``OUT/qp_mix.md``, ``OUT/qp_mix.csv`` (every mix, in-sample) and ``OUT/qp_mix.png``.

```sh
python bench/qp_mix.py --out OUT --points 'model-L2-t*+mtt2'
python bench/qp_mix.py --out OUT --objective yuv --chroma-model CHROMA \
    --points 'model-L2-t0.9+mtt2,model-L2-t0.9+mtt2+cmtt1,model-L2-t0.9+mtt2+cg1-t0.7'
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
    rdc_all: float


@dataclass(frozen=True)
class Objective:
    """What a mix pays (a BD-rate field of :class:`Score`) and what it buys (an RD-check reduction field)."""

    cost: str
    saving: str
    cost_label: str
    saving_label: str

    def of(self, s: Score) -> tuple[float, float]:
        """(cost, saving) of a score."""
        return getattr(s, self.cost), getattr(s, self.saving)


#: ``--objective``: the luma tree's trade-off, or the whole picture's (for points that differ in chroma).
OBJECTIVES = {
    "luma": Objective("bd_y", "rdc_luma", "BD-rate Y", "luma RD checks"),
    "yuv": Objective("bd_yuv", "rdc_all", "BD-rate YUV", "all RD checks"),
}


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
    """The sequence summary of ``mix`` (QP -> point name), reduced to the figures of :class:`Score`."""
    from pmp_vvc.evaluation.summary import summarize_sequence

    pairs = {qp: seq.by_point[name][qp] for qp, name in mix.items()}
    s: SequenceSummary = summarize_sequence(seq.name, seq.seq_class, seq.size, seq.coded_frames, pairs)
    t = s.time
    if s.bd is None or t is None or t.rdc_reduction_luma is None or t.rdc_reduction_total is None:
        raise SystemExit(f"{seq.name}: no BD-rate or RD-check counters for {dict(mix)}")
    return Score(s.bd.bd_rate_y, s.bd.bd_rate_yuv, t.mean_ts, t.rdc_reduction_luma, t.rdc_reduction_total)


def mean_score(scores: Sequence[Score]) -> Score:
    """Arithmetic means over sequences."""
    n = len(scores)
    return Score(
        sum(s.bd_y for s in scores) / n,
        sum(s.bd_yuv for s in scores) / n,
        sum(s.ts for s in scores) / n,
        sum(s.rdc_luma for s in scores) / n,
        sum(s.rdc_all for s in scores) / n,
    )


def best_within(
    table: Mapping[tuple[str, ...], Sequence[Score]], keep: Sequence[int], budget: float, goal: Objective
) -> tuple[str, ...]:
    """The assignment with the largest mean saving on sequences ``keep`` at a mean cost within budget."""
    means = {mix: goal.of(mean_score([scores[i] for i in keep])) for mix, scores in table.items()}
    fits = [(saving, mix) for mix, (cost, saving) in means.items() if cost <= budget]
    if not fits:  # nothing within the budget: the cheapest
        return min(means, key=lambda m: means[m][0])
    return max(fits)[1]


def held_out(
    table: Mapping[tuple[str, ...], Sequence[Score]], budget: float, n_seqs: int, goal: Objective
) -> tuple[Score, list[tuple[str, ...]]]:
    """Mean over sequences of the held-out score of the assignment picked on the others."""
    picks = [best_within(table, [j for j in range(n_seqs) if j != i], budget, goal) for i in range(n_seqs)]
    return mean_score([table[mix][i] for i, mix in enumerate(picks)]), picks


def per_qp_costs(seqs: Sequence[SeqPairs], name: str, qp: int) -> tuple[float, float]:
    """Mean over sequences of one point's rate cost at one QP and its luma RD-check reduction (both %).

    The rate cost is the rate increase at equal PSNR-Y, with the PSNR change turned into rate along the
    anchor's own local slope (dPSNR / dlog rate towards the neighbouring QP): a per-QP stand-in for BD-rate.
    """
    from pmp_vvc.evaluation.timesaving import rd_check_reduction

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
        luma = rd_check_reduction([a.counters], [t.counters], "luma")
        if luma is None:
            raise SystemExit(f"{seq.name} QP {qp}: no luma RD-check counters for {name}")
        saved.append(luma)
    return sum(costs) / len(costs), sum(saved) / len(saved)


def _f(v: float) -> str:
    return f"{v:+.2f} %" if math.isfinite(v) else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    """Score every per-QP mix of the selected points and write the comparison."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", default="model-L2-t*+mtt2", help="points to mix (bench_fast names/patterns)")
    p.add_argument(
        "--objective",
        choices=sorted(OBJECTIVES),
        default="luma",
        help="luma: BD-rate Y against luma RD checks; yuv: BD-rate YUV against all RD checks",
    )
    p.add_argument("--seq", nargs="+", type=Path, help="sequence cfgs (default: all dev sequences)")
    p.add_argument("--model", type=Path, default=bench_fast.DEFAULT_MODEL, help="as given to bench_fast.py")
    p.add_argument("--chroma-model", type=Path, help="as given to bench_fast.py (for its +cg points)")
    p.add_argument("--qp", default="22..37", help="QPs, as given to bench_fast.py")
    p.add_argument("--frames", type=int, default=1, help="as given to bench_fast.py")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="bench_fast.py's output folder")
    args = p.parse_args(argv)
    args.out = args.out.absolute()
    goal = OBJECTIVES[args.objective]
    chroma = args.chroma_model.resolve() if args.chroma_model else None
    points = bench_fast.select(bench_fast.all_points(args.model.resolve(), chroma), args.points)
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
        w.writerow([f"QP{q}" for q in qps] + ["bdbr_y", "bdbr_yuv", "ts_mean", "rdc_luma", "rdc_all"])
        for mix, scores in table.items():
            m = mean_score(scores)
            values = (m.bd_y, m.bd_yuv, m.ts, m.rdc_luma, m.rdc_all)
            w.writerow([*mix, *(f"{v:.4f}" for v in values)])

    cost, saving = goal.cost_label, goal.saving_label
    lines = [
        f"# Per-QP mixes of {', '.join(names)} ({n} sequences, QP {', '.join(map(str, qps))})",
        "",
        f"Leave-one-sequence-out, per {cost} budget: the best mix and the best uniform point picked on the",
        "other sequences, scored on the held-out one (means over the held-out sequences).",
        "",
        f"The last column but one: the mix's reduction of {saving} minus the uniform curve's at the mix's",
        f"{cost} (linear between the held-out uniform rows).",
        "",
        f"| budget | uniform: BD-rate Y / YUV, {saving}, TS "
        f"| mix: BD-rate Y / YUV, {saving}, TS | gain | mix picked on all sequences |",
        "|---|---|---|---|---|",
    ]
    budgets = sorted(goal.of(mean_score(uniform[nm]))[0] for nm in names)
    single = {(nm,): uniform[nm] for nm in names}
    curve = [(held_out(single, b, n, goal)[0], held_out(table, b, n, goal)[0]) for b in budgets]
    ref = sorted(goal.of(u) for u, _ in curve)
    for budget, (uni, mixed) in zip(budgets, curve, strict=True):
        at, got = goal.of(mixed)
        gain = got - float(np.interp(at, [r[0] for r in ref], [r[1] for r in ref]))
        inside = ref[0][0] <= at <= ref[-1][0]
        full = best_within(table, range(n), budget, goal)
        lines.append(
            f"| {_f(budget)} | {_f(uni.bd_y)} / {_f(uni.bd_yuv)}, -{goal.of(uni)[1]:.1f} %, {uni.ts:.1f} % "
            f"| {_f(mixed.bd_y)} / {_f(mixed.bd_yuv)}, -{got:.1f} %, {mixed.ts:.1f} % "
            f"| {f'{gain:+.1f}' if inside else 'n/a'} "
            f"| {', '.join(f'QP{q}: {m}' for q, m in zip(qps, full, strict=True))} |"
        )
    if args.objective == "luma":
        lines += [
            "",
            "Per QP: the rate cost at equal PSNR-Y (the PSNR change turned into rate along the anchor's",
            "local slope) / the luma RD-check reduction, means over the sequences.",
            "",
            "| point | " + " | ".join(f"QP {q}" for q in qps) + " |",
            "|---|" + "---|" * len(qps),
        ]
        for name in names:
            cells = [per_qp_costs(seqs, name, q) for q in qps]
            lines.append(f"| {name} | " + " | ".join(f"{c:+.2f} % / -{r:.1f} %" for c, r in cells) + " |")
    (args.out / "qp_mix.md").write_text("\n".join(lines) + "\n")
    plot(curve, table, goal, args.out / "qp_mix.png")
    print("\n".join(lines))
    return 0


def plot(
    curve: Sequence[tuple[Score, Score]],
    table: Mapping[tuple[str, ...], Sequence[Score]],
    goal: Objective,
    path: Path,
) -> None:
    """Saving against cost: every mix (in-sample), and the held-out curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    every = [goal.of(mean_score(s)) for s in table.values()]
    ax.scatter([c for c, _ in every], [v for _, v in every], s=4, c="0.75", label="every mix (in-sample)")
    for k, (label, style) in enumerate((("uniform point (held out)", "o-"), ("per-QP mix (held out)", "s-"))):
        pts = [goal.of(c[k]) for c in curve]
        ax.plot([c for c, _ in pts], [v for _, v in pts], style, label=label)
    ax.set_xlabel(f"{goal.cost_label} (%)")
    ax.set_ylabel(f"{goal.saving_label}: reduction (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
