"""Benchmark the fast encoder: anchor vs oracle / model points at levels L0..L3 and confidence thresholds.

For every selected point and sequence (sequence by sequence, all points of one sequence together, so that a
slow spell of a shared machine does not shift one point's TS) this runs the anchor-vs-test sweep of
``pmp-run`` (:mod:`pmp_vvc.evaluation.sweep`, the same jobs and keys as ``pmp-run --seq CFG --test
OPTIONS``) into one output folder, so anchors are encoded once and shared by all points, and finished
encodes are skipped on a rerun (resumable; run it in pieces with ``--points``). The tables are computed from
the finished encodes (typed summaries of the same sweeps), so ``--report-only`` needs no other files. Oracle
points need the anchor's partition dump per sequence and QP: the script makes them first (``OUT/dumps``, one
extra anchor-like encode each, skipped when present); the guided chroma oracle points (``+cgoK``) need the
same dumps of the guided luma point they extend (``OUT/guided-dumps``); the noisy oracle
(``oracle-noisy-partition-LK``) needs the anchor's dumps of each sequence with every sample offset by a
seeded integer in [-NOISE_AMPLITUDE, NOISE_AMPLITUDE] (``OUT/noisy-dumps``, from ``OUT/noisy-inputs``). It
then writes ``OUT/bench.md``, ``OUT/bench.csv`` and ``OUT/ts_bdbr.png`` (time saving vs BD-rate Y), one row
per point: BDBR Y / U / V / YUV, TS mean, EncT, RD-check reduction (luma, all), intra-sample reduction
(luma) and the inference share (guide CPU time over the test's and the anchor's encoding time), averaged
over the sequences.

Examples::

    python bench/bench_fast.py --points oracle-L0,oracle-L1,oracle-L2,oracle-L3,model-L2 \\
        --seq ../shared/data/dev/sequences/carphone.cfg ../shared/data/dev/sequences/CiscoVT2people.cfg
    python bench/bench_fast.py --points 'model-*' -j 2          # every model point, all dev sequences
    python bench/bench_fast.py --report-only                     # tables/plot from what is done
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import math
import shlex
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pmp_vvc.evaluation.records import EncodeResult
    from pmp_vvc.evaluation.sequences import SequenceConfig
    from pmp_vvc.evaluation.summary import RunSummary
    from pmp_vvc.evaluation.sweep import SweepPlan

ROOT = Path(__file__).resolve().parents[1]
DEV_SEQUENCES = ROOT.parent / "shared" / "data" / "dev" / "sequences"
DEFAULT_MODEL = ROOT / "models" / "pmp-vit-rho0.5.onnx"
THRESHOLDS = {2: (0.5, 0.6, 0.7, 0.8, 0.85, 0.9), 3: (0.6, 0.7, 0.8, 0.9)}
MTT2 = "--MaxMTTHierarchyDepthISliceL=2"
MTT2_THRESHOLDS = {1: (0.7, 0.8, 0.9), 2: (0.6, 0.7, 0.8, 0.85, 0.9, 0.95)}
# The chroma tree, searched in full by the points above: VTM's shallower chroma MTT.
CHROMA = {"cmtt2": "--MaxMTTHierarchyDepthISliceC=2", "cmtt1": "--MaxMTTHierarchyDepthISliceC=1"}
CHROMA_THRESHOLDS = (0.8, 0.9)
# The chroma guide (chroma maps ruling the chroma tree at level k): the chroma model with the chroma threshold
# (+cgK-tT; +cgK: the luma threshold), or the anchor's chroma partition (+coK: the chroma ceiling).
CHROMA_GUIDE_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
CHROMA_LUMA = "model-L2-t0.9+mtt2"  # the luma point of the chroma-tree points below
# The luma points of the guided chroma oracle and of the chroma-model points, lowqp0.7+mtt2 with these side
# thresholds (SIDE_THRESHOLDS keys, "" none): the luma-only point of sessions 9-14, the luma of today's
# default point, and one that saves more luma time. GUIDED_LUMAS: point name -> side thresholds key.
GUIDED_SIDES = ("", "s32-0.7-s8-0.95", "s32-0.5-s16-0.85-s8-0.95")
GUIDED_LUMAS = {f"model-L2-lowqp0.7{f'-{side}' if side else ''}+mtt2": side for side in GUIDED_SIDES}
# (threshold, QT threshold) pairs at L2
QT_THRESHOLDS = ((0.5, 0.9), (0.6, 0.9), (0.7, 0.9), (0.6, 0.95), (0.5, 0.95), (0.9, 0.8), (0.9, 0.7))
# Per-QP thresholds at L2 (--PMPThreshold=QP:t,...): lower at low QP, where a wrong skip costs less per
# RD check saved (bench/qp_mix.py)
THRESHOLDS_BY_QP = {
    "lowqp0.5": "22:0.5,27:0.9",
    "lowqp0.6": "22:0.6,27:0.9",
    "lowqp0.7": "22:0.7,27:0.9",
    "lowqp0.8": "22:0.8,27:0.9",
}
BRANCH_THRESHOLDS = (0.0, 0.5, 0.7, 0.8)  # --PMPBranchThreshold of the -bB points
# --PMPSideThreshold of the -sS-T points: another threshold at the luma nodes of one shorter side, where a
# skipped test saves more time (32: a whole subtree) or costs more BD-rate (8) than on average
SIDE_THRESHOLDS = {
    "s32-0.7": "32:0.7",
    "s32-0.5": "32:0.5",
    "s32-0.7-s8-0.95": "32:0.7,8:0.95",
    "s32-0.5-s16-0.8": "32:0.5,16:0.8",
    "s8-0.95": "8:0.95",
    "s32-0.5-s8-0.95": "32:0.5,8:0.95",
    "s32-0.3-s8-0.95": "32:0.3,8:0.95",
    "s32-0.5-s8-0.98-s4-0.98": "32:0.5,8:0.98,4:0.98",
    "s32-0.5-s16-0.85-s8-0.95": "32:0.5,16:0.85,8:0.95",
    "s64-0.5-s32-0.5-s8-0.95": "64:0.5,32:0.5,8:0.95",
    "s32-0.7-s16-0.95-s8-0.95": "32:0.7,16:0.95,8:0.95",
    "s32-0.5-s16-0.95-s8-0.95": "32:0.5,16:0.95,8:0.95",
    "s32-0.7-s8-0.98-s4-0.98": "32:0.7,8:0.98,4:0.98",
    "s32-0.6-s8-0.95": "32:0.6,8:0.95",
}
# The noisy oracle's input: one code value at most, far below the coding noise (bench/perturb_check.py).
NOISE_AMPLITUDE = 1


def guided_luma_options(model: Path, luma: str) -> str:
    """The encoder options of the GUIDED_LUMAS point ``luma`` with ``model``."""
    by_qp = THRESHOLDS_BY_QP["lowqp0.7"]
    side = GUIDED_LUMAS[luma]
    sides = f" --PMPSideThreshold={SIDE_THRESHOLDS[side]}" if side else ""
    return f"--PMPModel={model} --PMPEdgeBlocks=1 --PMPLevel=2 --PMPThreshold={by_qp}{sides} {MTT2}"


@dataclass(frozen=True)
class Point:
    """One operating point: a name and its encoder options (``{dumps}``/``{seq}`` filled per sequence)."""

    name: str
    options: str
    kind: str  # curve of the plot (points of one kind are joined by a line)
    guided: str = ""  # the options of the luma encodes whose dumps ``{guided}`` names


def all_points(model: Path, chroma_model: Path | None = None) -> list[Point]:
    """Every point the bench knows, in table order (the chroma-model points only with ``chroma_model``)."""
    # The anchor's partition with its intra-search states (the anchor's own coding: what the decision rules
    # cost), and the partition alone (every CU searched afresh: what perfect maps give a predictor). Both dump
    # their partition, so that the report tells how much of the anchor's coding they reproduce.
    dump = "{dumps}/{seq}_QP{qp}.dump"
    agree = "--PMPDumpPartition={agree}/{seq}_QP{qp}.dump"
    pts = [
        Point(f"oracle-L{k}", f"--PMPGuide=oracle:{dump} --PMPLevel={k} {agree}", "oracle") for k in range(4)
    ]
    pts += [
        Point(
            f"oracle-partition-L{k}",
            f"--PMPGuide=oracle-partition:{dump} --PMPLevel={k} {agree}",
            "oracle-partition",
        )
        for k in range(4)
    ]
    # The anchor's partition of the same content with a one-code-value noise: a predictor that knew the
    # anchor's decisions up to their instability (the oracle above also knows the noise's outcome).
    pts += [
        Point(
            f"oracle-noisy-partition-L{k}",
            f"--PMPGuide=oracle-partition:{{noisy}}/{{seq}}_QP{{qp}}.dump --PMPLevel={k} {agree}",
            "oracle-noisy-partition",
        )
        for k in range(4)
    ]
    base = f"--PMPModel={model} --PMPEdgeBlocks=1"
    pts += [Point(f"model-L{k}", f"{base} --PMPLevel={k}", "model") for k in range(4)]
    pts += [
        Point(f"model-L{k}-t{t}", f"{base} --PMPLevel={k} --PMPThreshold={t}", "model")
        for k, ts in THRESHOLDS.items()
        for t in ts
    ]
    # What ruling inside the blocks that cross the picture edge brings (the model is trained on whole blocks).
    pts.append(
        Point(
            "model-L2-t0.7-noedge",
            f"--PMPModel={model} --PMPEdgeBlocks=0 --PMPLevel=2 --PMPThreshold=0.7",
            "model-noedge",
        )
    )
    # A stricter threshold where QT is still possible: a wrong QT decision cannot be undone below it.
    for t, q in QT_THRESHOLDS:
        opts = f"{base} --PMPLevel=2 --PMPThreshold={t} --PMPQtThreshold={q}"
        pts += [
            Point(f"model-L2-t{t}-q{q}", opts, "model-qt"),
            Point(f"model-L2-t{t}-q{q}+mtt2", f"{opts} {MTT2}", "model-qt+mtt2"),
        ]
    # VTM's own shallower luma MTT (no third layer; cheap in BD-rate, large in time), alone and with the map
    # guide deciding the QT and the first MTT layers.
    pts.append(Point("vtm-mtt2", MTT2, "vtm"))
    pts.append(Point("model-L0+mtt2", f"{base} --PMPLevel=0 {MTT2}", "model+mtt2"))
    pts += [
        Point(f"model-L{k}-t{t}+mtt2", f"{base} --PMPLevel={k} --PMPThreshold={t} {MTT2}", "model+mtt2")
        for k, ts in MTT2_THRESHOLDS.items()
        for t in ts
    ]
    for name, by_qp in THRESHOLDS_BY_QP.items():
        opts = f"{base} --PMPLevel=2 --PMPThreshold={by_qp}"
        pts.append(Point(f"model-L2-{name}", opts, "model-byqp"))
        pts.append(Point(f"model-L2-{name}+mtt2", f"{opts} {MTT2}", "model+mtt2-byqp"))
        pts += [
            Point(f"model-L2-{name}+mtt2+{c}", f"{opts} {MTT2} {c_opts}", "model+mtt2+chroma-byqp")
            for c, c_opts in CHROMA.items()
        ]
        # Another threshold at the luma nodes of one shorter side; below a split the maps did not imply (a
        # candidate the threshold let in), the branch threshold. Each with VTM's MTT depths (the conservative
        # point's kind), luma-only and with the chroma cut.
        variants = [(side, f"--PMPSideThreshold={v}", "side") for side, v in SIDE_THRESHOLDS.items()]
        variants += [(f"b{b}", f"--PMPBranchThreshold={b}", "branch") for b in BRANCH_THRESHOLDS]
        for tag, extra, kind in variants:
            pts.append(Point(f"model-L2-{name}-{tag}", f"{opts} {extra}", f"model-{kind}"))
            luma = f"{opts} {extra} {MTT2}"
            pts.append(Point(f"model-L2-{name}-{tag}+mtt2", luma, f"model+mtt2-{kind}"))
            cut = f"{luma} {CHROMA['cmtt1']}"
            pts.append(Point(f"model-L2-{name}-{tag}+mtt2+cmtt1", cut, f"model+mtt2+chroma-{kind}"))
    pts += [
        Point(
            f"model-L2-t{t}+mtt2+{name}",
            f"{base} --PMPLevel=2 --PMPThreshold={t} {MTT2} {opts}",
            "model+mtt2+chroma",
        )
        for name, opts in CHROMA.items()
        for t in CHROMA_THRESHOLDS
    ]
    # The chroma ceiling: the anchor's chroma partition at chroma level k, with the anchor's own luma coding
    # (oracle-L2: the anchor's bitstream but for chroma) and at the luma decisions of CHROMA_LUMA.
    luma = f"{base} --PMPLevel=2 --PMPThreshold=0.9 {MTT2}"
    for k in (1, 2, 3):
        pts.append(
            Point(
                f"oracle-L2+co{k}", f"--PMPGuide=oracle:{dump} --PMPLevel=2 --PMPChromaLevel={k}", "oracle+co"
            )
        )
        pts.append(
            Point(
                f"{CHROMA_LUMA}+co{k}",
                f"{luma} --PMPChromaLevel={k} --PMPChromaModel=oracle-partition:{dump}",
                "model+mtt2+co",
            )
        )
    # The chroma ceiling after a guided luma tree: the chroma partition that the full chroma search picks
    # after that luma coding (its own dumps, {guided}), as chroma maps at chroma level k.
    pts += [
        Point(
            f"{name}+cgo{k}",
            f"{guided_luma_options(model, name)} --PMPChromaLevel={k} "
            "--PMPChromaModel=oracle-partition:{guided}/{seq}_QP{qp}.dump",
            "model+mtt2+cgo",
            guided=guided_luma_options(model, name),
        )
        for name in GUIDED_LUMAS
        for k in (1, 2, 3)
    ]
    if chroma_model is not None:  # the chroma model at each luma point
        lumas = [(CHROMA_LUMA, luma, "model+mtt2+cg")]
        lumas += [(name, guided_luma_options(model, name), "model+mtt2-byqp+cg") for name in GUIDED_LUMAS]
        for luma_name, luma_opts, kind in lumas:
            cg = f"{luma_opts} --PMPChromaModel={chroma_model}"
            for k in (1, 2, 3):
                pts.append(Point(f"{luma_name}+cg{k}", f"{cg} --PMPChromaLevel={k}", kind))
                pts += [
                    Point(
                        f"{luma_name}+cg{k}-t{t}",
                        f"{cg} --PMPChromaLevel={k} --PMPChromaThreshold={t}",
                        kind,
                    )
                    for t in CHROMA_GUIDE_THRESHOLDS
                ]
        # The default point's chroma (VTM's chroma MTT depth 1) with the chroma guide on what it leaves: the
        # QT and the one MTT layer (chroma level 1).
        pts += [
            Point(
                f"{name}+cmtt1+cg1-t{t}",
                f"{guided_luma_options(model, name)} {CHROMA['cmtt1']} --PMPChromaModel={chroma_model} "
                f"--PMPChromaLevel=1 --PMPChromaThreshold={t}",
                "model+mtt2-byqp+cmtt1+cg",
            )
            for name in GUIDED_LUMAS
            for t in CHROMA_GUIDE_THRESHOLDS
        ]
    return pts


def select(points: list[Point], spec: str) -> list[Point]:
    """Points matching a comma list of names or shell patterns (``oracle-*``)."""
    chosen = [p for p in points if any(fnmatch.fnmatchcase(p.name, pat.strip()) for pat in spec.split(","))]
    if not chosen:
        raise SystemExit(f"no point matches {spec!r}; known: {', '.join(p.name for p in points)}")
    return chosen


def agreement_dir(point: Point, out: Path) -> Path:
    """Where a point's encodes dump their partitions (``{agree}`` in its options)."""
    return out / "agreement" / point.name


def point_options(point: Point, seq: str, out: Path) -> str:
    """The ``--test`` string of a point for one sequence (``{qp}`` is filled by the encoder per QP)."""
    options = point.options.replace("{dumps}", str(out / "dumps")).replace("{seq}", seq)
    options = options.replace("{guided}", str(guided_dumps(point, out))).replace(
        "{noisy}", str(out / "noisy-dumps")
    )
    return options.replace("{agree}", str(agreement_dir(point, out)))


def guided_dumps(point: Point, out: Path) -> Path:
    """Where the dumps of the luma encodes of ``point`` are (one folder per luma options)."""
    return out / "guided-dumps" / hashlib.sha256(point.guided.encode()).hexdigest()[:12]


def input_frames(seq: SequenceConfig, frames: int) -> int:
    """``frames``, capped at the input frames the sequence cfg asks for (short clips code what they have)."""
    return min(frames, seq.frames_to_encode)


def load(cfg: Path) -> SequenceConfig:
    """The sequence of a per-sequence cfg under the AI encoder cfg (as pmp-run reads it)."""
    import pmp_vvc
    from pmp_vvc.evaluation.sequences import load_sequence

    return load_sequence(cfg, encoder_cfgs=[pmp_vvc.vtm_cfg()])


def noisy_input(seq: SequenceConfig, folder: Path, seed: int = 0) -> Path:
    """``folder/<seq>.yuv``: the sequence's file with every sample offset by a seeded integer in
    [-NOISE_AMPLITUDE, NOISE_AMPLITUDE], clipped to its bit depth (made once; kept for the dumps)."""
    import numpy as np

    from perturb_check import add_noise
    from pmp_vvc.codec.vtmcfg import sample_dtype
    from pmp_vvc.files import atomic_path

    target = folder / f"{seq.name}.yuv"
    if target.exists():
        return target
    if seq.bit_depth != seq.bit_depth_chroma:
        raise SystemExit(f"{seq.name}: noisy input needs one bit depth for luma and chroma")
    folder.mkdir(parents=True, exist_ok=True)
    raw = np.fromfile(seq.input_file, dtype=sample_dtype(seq.file_bit_depth))
    noisy = add_noise(raw, np.random.default_rng(seed), NOISE_AMPLITUDE, seq.bit_depth)
    with atomic_path(target, keep_suffix=True) as tmp:
        noisy.tofile(tmp)
    return target


def make_dumps(
    seq_cfgs: Sequence[Path],
    qps: Sequence[int],
    frames: int,
    dumps: Path,
    options: str = "",
    noisy: Path | None = None,
    jobs: int = 1,
) -> None:
    """Partition dumps ``dumps/<seq>_QP<qp>.dump``: the anchor's command line (pmp-run's) plus ``options``
    (of the noisy inputs in folder ``noisy``, if given), ``jobs`` encodes at once; existing dumps are kept."""
    import pmp_vvc
    from pmp_vvc.evaluation.executors import LocalExecutor

    dumps.mkdir(parents=True, exist_ok=True)
    cfg = str(pmp_vvc.vtm_cfg())
    extra = shlex.split(options)
    todo: list[tuple[Path, list[str]]] = []
    for path in seq_cfgs:
        seq = load(path)
        source = seq.input_file if noisy is None else noisy_input(seq, noisy)
        for qp in qps:
            target = dumps / f"{seq.name}_QP{qp}.dump"
            if not target.exists():
                args = ["-c", cfg, "-c", str(seq.cfg_path), "-i", str(source), "-q", str(qp)]
                todo.append((target, [*args, "-f", str(input_frames(seq, frames))]))

    def dump(item: tuple[Path, list[str]]) -> Path:
        target, args = item
        with tempfile.TemporaryDirectory() as tmp:
            part = Path(tmp) / "dump"
            outputs = ["-b", str(Path(tmp) / "a.bin"), "-o", str(Path(tmp) / "a.yuv")]
            pmp_vvc.encode([*args, *outputs, f"--PMPDumpPartition={part}", *extra])
            part.replace(target)
        return target

    for target in LocalExecutor(jobs).map_unordered(dump, todo):
        print(f"dump {target.name}", flush=True)


def point_plan(point: Point, cfg: Path, args: argparse.Namespace) -> SweepPlan:
    """The sweep of one point on one sequence (what pmp-run would plan for the same command line)."""
    import pmp_vvc
    from pmp_vvc.evaluation.qpspec import parse_qp_spec
    from pmp_vvc.evaluation.sequences import load_sequence
    from pmp_vvc.evaluation.sweep import SweepSpec, plan_sweep

    options = tuple(shlex.split(point_options(point, cfg.stem, args.out)))
    enc = str(pmp_vvc.vtm_cfg())
    frames = input_frames(load(cfg), args.frames)
    seq = load_sequence(cfg, encoder_cfgs=[enc], extra_options=options, frames=frames)
    spec = SweepSpec(
        sequences=(seq,),
        qps=parse_qp_spec(args.qp),
        encoder_cfgs=(enc,),
        test_options=options,
        out_dir=args.out / "runs",
        frames=frames,
        test_label=point.name,
    )
    return plan_sweep(spec)


def run_points(points: Sequence[Point], seq_cfgs: Sequence[Path], args: argparse.Namespace) -> int:
    """Run the sweeps of ``points``, sequence by sequence: all points of one sequence, then the next.

    One sweep per point and sequence (oracle dumps are per sequence). In this order the encodes of a
    sequence's anchor and of all its points run close together in time, so that a slow spell of a shared
    machine shifts them alike instead of one point's TS.
    """
    from pmp_vvc.errors import PmpError
    from pmp_vvc.evaluation.executors import LocalExecutor
    from pmp_vvc.evaluation.sweep import run_sweep

    worst = 0
    for point in points:
        if "{agree}" in point.options:
            agreement_dir(point, args.out).mkdir(parents=True, exist_ok=True)
    for cfg in seq_cfgs:
        for point in points:
            try:
                plan = point_plan(point, cfg, args)
                outcome = run_sweep(plan, LocalExecutor(args.jobs), verify=args.verify)
                rc = 0 if outcome.ok else 1
            except PmpError as err:
                print(f"error: {err}", file=sys.stderr)
                rc = 2
            worst = max(worst, rc)
            print(f"{point.name} {cfg.stem}: exit {rc}", flush=True)
    return worst


# ------------------------------------------------------------------------------------------------- report
def _mean(values: Sequence[float | None]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def point_agreement(point: Point, seq_cfgs: Sequence[Path], args: argparse.Namespace) -> dict[str, float]:
    """Mean over sequences and QPs of the test's agreement with the anchor (NaN for points without dumps)."""
    from pmp_vvc.codec.dump import read_dump
    from pmp_vvc.evaluation.agreement import AGREEMENT_KEYS, mode_agreement
    from pmp_vvc.evaluation.qpspec import parse_qp_spec

    found: list[dict[str, float]] = []
    if "{agree}" in point.options:
        for cfg in seq_cfgs:
            for qp in parse_qp_spec(args.qp):
                name = f"{cfg.stem}_QP{qp}.dump"
                test, anchor = agreement_dir(point, args.out) / name, args.out / "dumps" / name
                if test.is_file() and anchor.is_file():
                    found.append(mode_agreement(read_dump(anchor), read_dump(test)))
    return {f"agree_{k}": _mean([f[k] for f in found]) for k in AGREEMENT_KEYS}


def finished(
    point: Point, seq_cfgs: Sequence[Path], args: argparse.Namespace
) -> Iterator[tuple[RunSummary, list[tuple[EncodeResult, EncodeResult]]]]:
    """Per sequence: the summary of the point's finished encodes and its finished (anchor, test) pairs."""
    from pmp_vvc.evaluation.sweep import summarize_plan

    for cfg in seq_cfgs:
        plan = point_plan(point, cfg, args)
        done = plan.done()
        pairs = [(done.get(p.anchor.key), done.get(p.test.key)) for p in plan.pairs]
        yield summarize_plan(plan, done), [(a, t) for a, t in pairs if a is not None and t is not None]


def point_row(
    point: Point, seq_cfgs: Sequence[Path], args: argparse.Namespace
) -> dict[str, float | str] | None:
    """Averages over the sequences of one point, from its finished encodes (None if none is done yet)."""
    from pmp_vvc.evaluation.timesaving import enc_t_of_ratios

    seqs = []
    infer, cpu_test, cpu_anchor = 0.0, 0.0, 0.0
    chroma_checks, all_checks = 0, 0  # of the test encodes
    for summary, pairs in finished(point, seq_cfgs, args):
        seqs.extend(s for s in summary.sequences if s.bd is not None and s.time is not None)
        for a, t in pairs:
            chroma_checks += sum(c.total for c in t.counters if c.channel == "chroma")
            all_checks += sum(c.total for c in t.counters)
            if t.guide is not None:
                infer += t.guide.cpu_time
                cpu_test += t.cpu_time
                cpu_anchor += a.cpu_time
    if not seqs:
        return None

    def bd(name: str) -> float:
        return _mean([getattr(s.bd, name) for s in seqs]) / 100

    def time(name: str) -> float:
        return _mean([getattr(s.time, name) for s in seqs]) / 100

    return {
        "point": point.name,
        "sequences": len(seqs),
        "bdbr_y": bd("bd_rate_y"),
        "bdbr_u": bd("bd_rate_u"),
        "bdbr_v": bd("bd_rate_v"),
        "bdbr_yuv": bd("bd_rate_yuv"),
        "ts_mean": time("mean_ts"),
        "enc_t": enc_t_of_ratios([s.time.enc_t for s in seqs if s.time and math.isfinite(s.time.enc_t)]),
        "rdc_luma": time("rdc_reduction_luma"),
        "rdc_chroma": time("rdc_reduction_chroma"),
        "rdc_all": time("rdc_reduction_total"),
        "samples_luma": time("samples_reduction_luma"),
        "samples_all": time("samples_reduction_total"),
        "chroma_share": chroma_checks / all_checks if all_checks else math.nan,
        "infer_test": infer / cpu_test if cpu_test else math.nan,
        "infer_anchor": infer / cpu_anchor if cpu_anchor else math.nan,
        **point_agreement(point, seq_cfgs, args),
    }


# Deterministic counters whose test/anchor ratio may stand for the time ratio: (name, channel, measure).
TIME_PROXIES = (
    ("RD checks, all trees", None, "total"),
    ("RD checks, luma", "luma", "total"),
    ("intra samples, all trees", None, "intra_samples"),
    ("intra samples, luma", "luma", "intra_samples"),
)


def time_proxies(
    points: Sequence[Point], seq_cfgs: Sequence[Path], args: argparse.Namespace
) -> dict[str, float]:
    """R² of T_test/T_anchor on each counter's test/anchor ratio over every finished pair (``pairs``: n)."""
    from pmp_vvc.evaluation.timesaving import proxy_fit

    def amount(stats: EncodeResult, channel: str | None, measure: str) -> float | None:
        values = [getattr(c, measure) for c in stats.counters if channel is None or c.channel == channel]
        return float(sum(values)) if values and None not in values else None

    time_ratios: list[float] = []
    counter_ratios: dict[str, list[float]] = {name: [] for name, _, _ in TIME_PROXIES}
    for point in points:
        for _, pairs in finished(point, seq_cfgs, args):
            for a, t in pairs:
                ratios = {}
                for name, channel, measure in TIME_PROXIES:
                    ca, ct = amount(a, channel, measure), amount(t, channel, measure)
                    if not (ca and ct is not None):
                        break
                    ratios[name] = ct / ca
                else:
                    if a.cpu_time > 0:
                        time_ratios.append(t.cpu_time / a.cpu_time)
                        for name, ratio in ratios.items():
                            counter_ratios[name].append(ratio)
    return {"pairs": len(time_ratios)} | {
        name: proxy_fit(time_ratios, ratios) for name, ratios in counter_ratios.items()
    }


def _pct(v: float | str) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, float) and math.isfinite(v) else "n/a"


def write_report(
    rows: list[dict[str, float | str]],
    points: Sequence[Point],
    args: argparse.Namespace,
    seq_cfgs: Sequence[Path],
) -> None:
    """bench.md, bench.csv, time_proxies.json and ts_bdbr.png in ``args.out``."""
    from pmp_vvc.evaluation.agreement import AGREEMENT_KEYS

    cols = (
        "bdbr_y",
        "bdbr_u",
        "bdbr_v",
        "bdbr_yuv",
        "ts_mean",
        "enc_t",
        "rdc_luma",
        "rdc_chroma",
        "rdc_all",
        "samples_luma",
        "samples_all",
        "chroma_share",
        "infer_test",
        "infer_anchor",
    )
    head = (
        "point",
        "seqs",
        "BDBR-Y",
        "BDBR-U",
        "BDBR-V",
        "BDBR-YUV",
        "TS mean",
        "EncT",
        "RD checks -luma",
        "RD checks -chroma",
        "RD checks -all",
        "intra samples -luma",
        "intra samples -all",
        "chroma share of RD checks",
        "inference / test time",
        "inference / anchor time",
    )
    lines = [
        f"Sequences: {', '.join(c.stem for c in seq_cfgs)}; QP {args.qp}; frames {args.frames}; "
        "CPU time of the encoder process, onnxruntime single-threaded.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        lines.append(f"| {r['point']} | {r['sequences']} | " + " | ".join(_pct(r[c]) for c in cols) + " |")
    # What the oracles reproduce of the anchor's coding: luma area in the anchor's CUs, and on those CUs the
    # anchor's modes.
    agree = [f"agree_{k}" for k in AGREEMENT_KEYS]
    explained = [r for r in rows if isinstance(r[agree[0]], float) and math.isfinite(r[agree[0]])]
    if explained:
        lines += [
            "",
            "Agreement with the anchor's final luma CUs (share of luma area; modes on the CUs of the same "
            "position and size):",
            "",
            "| point | partition | intra mode | ISP | MTS | LFNST | all modes |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [f"| {r['point']} | " + " | ".join(_pct(r[c]) for c in agree) + " |" for r in explained]
    cols += tuple(agree)
    from pmp_vvc.files import atomic_path, write_json_atomic, write_text_atomic

    proxies = time_proxies(points, seq_cfgs, args)
    lines += [
        "",
        f"Which counter follows the time: R² of a line fitting T_test/T_anchor on the counter's test/anchor "
        f"ratio, over the {proxies['pairs']} paired encodes above:",
        "",
        "| counter | R² |",
        "|---|---|",
    ]
    lines += [f"| {name} | {proxies[name]:.3f} |" for name, _, _ in TIME_PROXIES]
    write_json_atomic(args.out / "time_proxies.json", proxies)

    write_text_atomic(args.out / "bench.md", "\n".join(lines) + "\n")
    with open(args.out / "bench.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["point", "sequences", *cols])
        for r in rows:
            writer.writerow([r["point"], r["sequences"], *(r[c] for c in cols)])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # BD-rate Y (the target's measure) beside BD-rate YUV (what the chroma points cost).
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    kinds = {p.name: p.kind for p in points}
    for ax, key, name in ((axes[0], "bdbr_y", "BD-rate Y (%)"), (axes[1], "bdbr_yuv", "BD-rate YUV (%)")):
        for kind, marker in (
            ("oracle", "s-"),
            ("oracle-partition", "s--"),
            ("oracle-noisy-partition", "s:"),
            ("model", "o-"),
            ("model-noedge", "o"),
            ("model-qt", "v-"),
            ("model+mtt2", "d-"),
            ("model-qt+mtt2", "x-"),
            ("model+mtt2+chroma", "P"),
            ("model-byqp", "o:"),
            ("model+mtt2-byqp", "d:"),
            ("model+mtt2+chroma-byqp", "P"),
            ("oracle+co", "s:"),
            ("model+mtt2+co", "*-"),
            ("model+mtt2+cgo", "*:"),
            ("model+mtt2+cg", "X-"),
            ("model+mtt2-byqp+cg", "X:"),
            ("model+mtt2-byqp+cmtt1+cg", "h:"),
            ("model+mtt2-branch", "D-"),
            ("model+mtt2+chroma-branch", "D:"),
            ("model+mtt2-side", "p"),
            ("model+mtt2+chroma-side", "h"),
            ("vtm", "^"),
        ):
            sel = sorted(
                (r for r in rows if kinds.get(str(r["point"])) == kind), key=lambda r: float(r["ts_mean"])
            )
            if sel:
                ax.plot(
                    [100 * float(r["ts_mean"]) for r in sel],
                    [100 * float(r[key]) for r in sel],
                    marker,
                    label=kind,
                )
                for r in sel:
                    xy = (100 * float(r["ts_mean"]), 100 * float(r[key]))
                    label = str(r["point"]).split("-", 1)[1].replace("+mtt2", "")
                    ax.annotate(label, xy, fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("time saving TS (%)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(args.out / "ts_bdbr.png", keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seq", nargs="+", type=Path, help="sequence cfgs (default: all dev sequences)")
    p.add_argument("--points", default="oracle-*,model-L2", help="comma list of point names/patterns")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model of the model points")
    p.add_argument(
        "--chroma-model",
        type=Path,
        help="chroma ONNX model of the chroma-guide points (+cgK...; without it there are no such points)",
    )
    p.add_argument("--qp", default="22..37", help="QPs (pmp-run syntax)")
    p.add_argument(
        "--frames",
        type=int,
        default=1,
        help="input frames, at most the cfg's (AI cfg: 1 -> 1 picture, 9 -> 2)",
    )
    p.add_argument("-j", "--jobs", type=int, default=1, help="encodes at once")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="output folder (shared anchors)")
    p.add_argument("--verify", action="store_true", help="decode every bitstream and check its MD5")
    p.add_argument("--report-only", action="store_true", help="only write the tables/plot from finished runs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected points, then report every point that has results."""
    args = build_parser().parse_args(argv)
    args.out = args.out.absolute()  # option strings hold paths under it (oracle dumps)
    from pmp_vvc.errors import PmpError
    from pmp_vvc.evaluation.qpspec import parse_qp_spec
    from pmp_vvc.modelio import CHROMA, check_model

    try:  # before any encode: a report of every point follows the runs
        check_model(args.model)
        if args.chroma_model:
            check_model(args.chroma_model, CHROMA)
    except PmpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seq_cfgs = sorted(args.seq or DEV_SEQUENCES.glob("*.cfg"))
    points = all_points(args.model.resolve(), args.chroma_model.resolve() if args.chroma_model else None)
    rc = 0
    if not args.report_only:
        chosen = select(points, args.points)
        qps = parse_qp_spec(args.qp)
        if any("{dumps}" in p.options for p in chosen):
            make_dumps(seq_cfgs, qps, args.frames, args.out / "dumps", jobs=args.jobs)
        if any("{noisy}" in p.options for p in chosen):
            noisy = args.out / "noisy-inputs"
            make_dumps(seq_cfgs, qps, args.frames, args.out / "noisy-dumps", noisy=noisy, jobs=args.jobs)
        for point in {p.guided: p for p in chosen if p.guided}.values():
            dumps = guided_dumps(point, args.out)
            make_dumps(seq_cfgs, qps, args.frames, dumps, point.guided, jobs=args.jobs)
        rc = run_points(chosen, seq_cfgs, args)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [r for p in points if (r := point_row(p, seq_cfgs, args)) is not None]
    write_report(rows, points, args, seq_cfgs)
    print((args.out / "bench.md").read_text())
    return rc


if __name__ == "__main__":
    sys.exit(main())
