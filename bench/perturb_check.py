"""How much of the anchor's partition survives a perturbation of the content it codes?

Two questions behind the model's training and its targets:

* ``--perturb transpose``: does transposing a crop transpose its partition (transposes as augmentation or
  not)? Y, Cb and Cr are swapped x<->y, and the result is transposed back before it is compared.
* ``--perturb noise``: how stable is the anchor's decision itself? Each sample gets an independent,
  seeded integer offset in ``[-A, A]`` (``--amplitude``, default 1: a change of at most one code value,
  far below the coding noise). The anchor's partition of the noisy crop, read as a predictor of the
  partition of the clean one, is what a predictor that knew the anchor's decision rule up to that noise
  would score: a reference for the model's decision accuracies.

The crops of the chosen groups of a pmp-dataset folder are encoded perturbed with the same label anchor
(and the dataset's encoder arguments) at the given QPs, and each picture's luma tree is compared with the
one the dataset holds for the unperturbed crop:

* ``cu_area``: share of the luma area whose CU is the (transposed) original CU;
* ``node_split``: at the original final tree's nodes (<= 64x64, qtDepth >= 1), share whose (transposed)
  node is in the perturbed tree and takes the (transposed) split (QT as QT, BT_H as BT_V, ...);
* ``qt_cells``: share of 8x8 cells with the same QT depth;
* per QP and over all, the decision accuracies ``pmp-train --evaluate`` gives a model
  (:func:`pmp_vvc.learning.evaluate.decision_accuracies`: ``split``, ``split_type``, ``split_recall``,
  ...) of the perturbed encode's maps (transposed back) against the dataset's trees, and split or not as
  the map guide decides it from them (:func:`pmp_vvc.learning.nodeeval.guide_split_accuracies`).

Writes ``perturb_check.json`` (per picture, and the decision accuracies) and prints tables. Examples
(~4 CPU-min for one group at two QPs; all of BSDS val at four QPs ~20 CPU-min)::

    python bench/perturb_check.py ~/.cache/pmp-vvc/labels/rd-seed11-ds --perturb transpose --group 0 \
        --qp 27 37 --out bench-transpose
    python bench/perturb_check.py ~/.cache/pmp-vvc/labels/bsds500-val --perturb noise --group all \
        --qp 22 27 32 37 --out bench-noise
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.partition import SPLIT_BT_H, SPLIT_BT_V, SPLIT_TT_H, SPLIT_TT_V, cus_to_maps
from pmp_vvc.files import atomic_path
from pmp_vvc.learning import dataset
from pmp_vvc.learning.compact import UNIT_FIELDS, UnitLabels
from pmp_vvc.learning.evaluate import decision_accuracies, one_hot_maps
from pmp_vvc.learning.finaltree import FinalTree, tree_from_cus
from pmp_vvc.learning.labels import load_extra
from pmp_vvc.learning.nodeeval import GUIDE_THRESHOLDS, guide_node_metrics, guide_split_accuracies
from pmp_vvc.learning.nodes import CostSamples, load_cost_shard
from pmp_vvc.learning.shards import Planes, crop_planes, encode_anchor, write_sequence

SWAP = {SPLIT_BT_H: SPLIT_BT_V, SPLIT_BT_V: SPLIT_BT_H, SPLIT_TT_H: SPLIT_TT_V, SPLIT_TT_V: SPLIT_TT_H}
PICTURE_KEYS = ("cu_area", "node_split", "qt_cells")
DECISION_KEYS = (
    "split",
    "split_type",
    "split_recall",
    "guide_split",
    "guide_split_recall",
    "nodes",
    *(f"{k}_t{t}" for t in GUIDE_THRESHOLDS for k in ("node_hit", "skip_cost", "tested_skipped")),
)
Maps = dict[str, npt.NDArray[np.int8]]
Array = npt.NDArray[np.unsignedinteger]


def perturb(planes: Planes, kind: str, rng: np.random.Generator, amplitude: int, bit_depth: int) -> Planes:
    """The planes of one crop, transposed or with integer noise in [-amplitude, amplitude]."""
    if kind == "transpose":
        return (planes[0].T, planes[1].T, planes[2].T)
    return (
        add_noise(planes[0], rng, amplitude, bit_depth),
        add_noise(planes[1], rng, amplitude, bit_depth),
        add_noise(planes[2], rng, amplitude, bit_depth),
    )


def add_noise(samples: Array, rng: np.random.Generator, amplitude: int, bit_depth: int) -> Array:
    """``samples`` with an integer from [-amplitude, amplitude] added to each, clipped to the bit depth."""
    offsets = rng.integers(-amplitude, amplitude + 1, samples.shape)
    noisy: Array = np.clip(samples.astype(np.int32) + offsets, 0, (1 << bit_depth) - 1).astype(samples.dtype)
    return noisy


def tree_maps(tree: FinalTree, transposed: bool = False) -> Maps:
    """Luma class maps (qt, mtt increments, direction) of a picture's tree, per 64x64 block in raster order.

    ``transposed``: the tree is of the transposed picture; the maps are transposed back (blocks, cells, and
    the horizontal/vertical classes).
    """
    maps = cus_to_maps(tree.cus, tree.width, tree.height)
    out = {"qt": maps.qt, "mtt": maps.increments, "direction": maps.direction}
    if not transposed:
        return out
    # Block (bx, by) of the original picture is block (by, bx) of the transposed one (``tree``'s).
    row = -(-tree.width // 64)
    order = [bx * row + by for by in range(row) for bx in range(-(-tree.height // 64))]
    direction = out["direction"][order].swapaxes(-1, -2)
    return {
        "qt": out["qt"][order].swapaxes(-1, -2),
        "mtt": out["mtt"][order].swapaxes(-1, -2),
        "direction": np.where(direction > 0, 3 - direction, direction).astype(np.int8),
    }


def compare(original: FinalTree, perturbed: FinalTree, transposed: bool = True) -> dict[str, float]:
    """Agreement of a picture's luma tree with another's (the transpose of another's if ``transposed``)."""

    def flip(a: int, b: int, c: int, d: int) -> tuple[int, int, int, int]:
        return (b, a, d, c) if transposed else (a, b, c, d)

    luma = original.cus[original.cus[:, 1] == 0]
    mine = {(int(c[2]), int(c[3]), int(c[4]), int(c[5])) for c in perturbed.cus if c[1] == 0}
    same = np.array([flip(int(c[2]), int(c[3]), int(c[4]), int(c[5])) in mine for c in luma])
    area = luma[:, 4] * luma[:, 5]
    splits = {(int(n[1]), int(n[2]), int(n[3]), int(n[4])): int(n[-1]) for n in perturbed.nodes if n[0] == 0}
    nodes = original.nodes[
        (original.nodes[:, 0] == 0) & (original.nodes[:, 3] <= 64) & (original.nodes[:, 4] <= 64)
    ]
    nodes = nodes[nodes[:, 5] >= 1]
    swap = SWAP if transposed else {}
    hits = [
        splits.get(flip(int(n[1]), int(n[2]), int(n[3]), int(n[4]))) == swap.get(int(n[-1]), int(n[-1]))
        for n in nodes
    ]
    qt_a = tree_maps(original)["qt"]
    qt_b = tree_maps(perturbed, transposed)["qt"]
    return {
        "cu_area": float(area[same].sum() / area.sum()),
        "node_split": float(np.mean(hits)),
        "qt_cells": float(np.mean(qt_a == qt_b)),
    }


def _stack(maps: list[Maps]) -> Maps:
    return {k: np.concatenate([m[k] for m in maps]) for k in ("qt", "mtt", "direction")}


@dataclass
class ShardCheck:
    """One (group, QP) shard: its pictures' agreement rows, the perturbed encode's maps, its labels."""

    rows: list[dict[str, object]]
    maps: Maps
    labels: CostSamples


def perturbed_trees(
    plan: dataset.DatasetPlan, g: int, qp: int, planes: list[Planes], args: argparse.Namespace
) -> list[FinalTree]:
    """The anchor's trees of a group's perturbed crops at ``qp``, by picture (kept in ``OUT/encodes``)."""
    tag = f"{args.perturb}-a{args.amplitude}-s{args.seed}" if args.perturb == "noise" else args.perturb
    keep = args.out / "encodes" / f"{tag}-g{g:06d}-qp{qp}.npz"
    if not keep.exists():
        with tempfile.TemporaryDirectory() as tmp:
            result = encode_anchor(
                write_sequence(planes, plan.groups[g][0].bit_depth, Path(tmp)), qp, plan.encoder_args
            )
        keep.parent.mkdir(parents=True, exist_ok=True)
        pics = sorted(result.pictures, key=lambda pic: pic.poc)
        with atomic_path(keep, keep_suffix=True) as tmp_file:
            np.savez(
                tmp_file, cus=np.concatenate([pic.cus for pic in pics]), size=[pics[0].width, pics[0].height]
            )
    with np.load(keep) as z:
        cus, (width, height) = z["cus"], z["size"].tolist()
    return [tree_from_cus(cus[cus[:, 0] == poc], width, height) for poc in np.unique(cus[:, 0]).tolist()]


def check_group(plan: dataset.DatasetPlan, g: int, args: argparse.Namespace) -> list[ShardCheck]:
    """Encode one group's crops perturbed at each QP (or read the kept encodes) and compare."""
    crops = plan.groups[g]
    transposed = args.perturb == "transpose"
    if transposed and any(c.size % 128 for c in crops):
        raise SystemExit("crops must be whole CTUs (multiples of 128) to keep the grid when transposed")
    rng = np.random.default_rng([args.seed, g])
    depth = crops[0].bit_depth
    planes = [perturb(pl, args.perturb, rng, args.amplitude, depth) for pl in crop_planes(crops)]
    out = []
    for qp in args.qp:
        shard = dataset.shard_path(args.dataset, g, qp)
        originals = UnitLabels.from_arrays(load_extra(shard, UNIT_FIELDS), str(shard)).trees()
        trees = perturbed_trees(plan, g, qp, planes, args)
        rows = []
        for poc, (tree, original) in enumerate(zip(trees, originals, strict=True)):
            crop = crops[poc]
            row: dict[str, object] = {"group": g, "qp": qp, "crop": f"{crop.source.name}@{crop.x},{crop.y}"}
            row.update(compare(original, tree, transposed))
            print(json.dumps(row), flush=True)
            rows.append(row)
        maps = _stack([tree_maps(t, transposed) for t in trees])
        out.append(ShardCheck(rows, maps, load_cost_shard(shard)))
    return out


def scores(checks: list[ShardCheck]) -> dict[str, float]:
    """Decision accuracies and the guide's node metrics of the perturbed encodes' maps over some shards."""
    labels = CostSamples.join([c.labels for c in checks])
    guess, true = _stack([c.maps for c in checks]), labels.maps()
    probs = one_hot_maps(guess)
    return {
        **decision_accuracies(guess, true),
        **guide_node_metrics(probs, labels.nodes),
        **guide_split_accuracies(probs, true),
    }


def main() -> None:
    """Run the check."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path, help="pmp-dataset folder whose shards hold RD-cost labels")
    p.add_argument("--perturb", choices=("transpose", "noise"), default="transpose")
    p.add_argument("--amplitude", type=int, default=1, help="noise: largest offset in code values")
    p.add_argument("--seed", type=int, default=0, help="noise: seed of the offsets")
    p.add_argument("--group", nargs="+", default=["0"], help="crop groups to perturb, or 'all'")
    p.add_argument("--qp", type=int, nargs="+", default=[27, 37])
    p.add_argument("--out", type=Path, default=Path("bench-perturb"), help="output folder (kept encodes)")
    args = p.parse_args()
    if args.amplitude < 1:
        raise SystemExit("--amplitude must be at least 1")
    plan = dataset.DatasetPlan.from_json(json.loads((args.dataset / "plan.json").read_text()))
    groups = list(range(len(plan.groups))) if args.group == ["all"] else [int(g) for g in args.group]
    checks = [c for g in groups for c in check_group(plan, g, args)]
    by_qp = {str(qp): [c for c in checks if c.rows[0]["qp"] == qp] for qp in args.qp}
    decisions = {name: scores(sel) for name, sel in {**by_qp, "all": checks}.items()}
    rows = [r for c in checks for r in c.rows]
    report = {"perturb": args.perturb, "amplitude": args.amplitude, "seed": args.seed, "groups": groups}
    report.update({"pictures": rows, "decisions": decisions})
    (args.out / "perturb_check.json").write_text(json.dumps(report, indent=1))
    keys = (*PICTURE_KEYS, *DECISION_KEYS)
    print(f"\n{args.perturb}\n| QP | pictures | " + " | ".join(keys) + " |")
    print("|---" * (2 + len(keys)) + "|")
    for name in decisions:
        picked = [r for r in rows if name == "all" or str(r["qp"]) == name]
        means = [float(np.mean([float(str(r[k])) for r in picked])) for k in PICTURE_KEYS]
        acc = decisions[name]
        cells = [f"{m:.3f}" for m in means] + [f"{acc[k]:.4g}" for k in DECISION_KEYS]
        print(f"| {name} | {len(picked)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
