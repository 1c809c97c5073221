"""Does transposing a crop transpose its partition? The check behind "transposes as augmentation or not".

Encodes the crops of one group of a pmp-dataset folder transposed (Y, Cb and Cr swapped x<->y) with the
label anchor at the given QPs, and compares each picture's luma tree with the transpose of the tree the
dataset holds for the untransposed crop:

* ``cu_area``: share of the luma area whose CU is the transposed original CU (same size, swapped sides);
* ``node_split``: at the original final tree's nodes (<= 64x64, qtDepth >= 1), share whose transposed node
  is in the transposed tree and takes the transposed split (QT as QT, BT_H as BT_V, TT_H as TT_V, ...);
* ``qt_cells``: share of 8x8 cells with the same QT depth.

A transposition is a safe augmentation only if these are close to 1. Writes ``transpose_check.json``
(per QP and picture) and prints a table. Example (one group, two QPs, ~4 CPU-min)::

    python bench/transpose_check.py ~/.cache/pmp-vvc/labels/rd-seed11-ds --group 0 --qp 27 37 \
        --out bench-transpose
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from pmp_vvc.codec.partition import SPLIT_BT_H, SPLIT_BT_V, SPLIT_TT_H, SPLIT_TT_V, cus_to_maps
from pmp_vvc.learning import dataset
from pmp_vvc.learning.compact import UNIT_FIELDS, UnitLabels
from pmp_vvc.learning.finaltree import FinalTree, tree_from_cus
from pmp_vvc.learning.labels import load_extra
from pmp_vvc.learning.shards import crop_planes, encode_anchor, write_sequence

SWAP = {SPLIT_BT_H: SPLIT_BT_V, SPLIT_BT_V: SPLIT_BT_H, SPLIT_TT_H: SPLIT_TT_V, SPLIT_TT_V: SPLIT_TT_H}


def compare(original: FinalTree, transposed: FinalTree) -> dict[str, float]:
    """Agreement of a picture's luma tree with the transpose of another's (see the module docstring)."""
    luma = original.cus[original.cus[:, 1] == 0]
    mine = {(int(c[2]), int(c[3]), int(c[4]), int(c[5])) for c in transposed.cus if c[1] == 0}
    same = np.array([(int(c[3]), int(c[2]), int(c[5]), int(c[4])) in mine for c in luma])
    area = luma[:, 4] * luma[:, 5]
    splits = {(int(n[1]), int(n[2]), int(n[3]), int(n[4])): int(n[-1]) for n in transposed.nodes if n[0] == 0}
    nodes = original.nodes[
        (original.nodes[:, 0] == 0) & (original.nodes[:, 3] <= 64) & (original.nodes[:, 4] <= 64)
    ]
    nodes = nodes[nodes[:, 5] >= 1]
    hits = [
        splits.get((int(n[2]), int(n[1]), int(n[4]), int(n[3]))) == SWAP.get(int(n[-1]), int(n[-1]))
        for n in nodes
    ]
    qt_a = cus_to_maps(original.cus, original.width, original.height).qt
    qt_b = cus_to_maps(transposed.cus, transposed.width, transposed.height).qt
    blocks_x = -(-original.width // 64)
    qt_bt = np.empty_like(qt_a)  # block (bx, by) of the transposed picture holds block (by, bx), transposed
    for b in range(len(qt_a)):
        by, bx = divmod(b, blocks_x)
        qt_bt[b] = qt_b[bx * blocks_x + by].T
    return {
        "cu_area": float(area[same].sum() / area.sum()),
        "node_split": float(np.mean(hits)),
        "qt_cells": float(np.mean(qt_a == qt_bt)),
    }


def main() -> None:
    """Run the check."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path, help="pmp-dataset folder whose shards hold RD-cost labels")
    p.add_argument("--group", type=int, default=0, help="crop group to transpose (default 0)")
    p.add_argument("--qp", type=int, nargs="+", default=[27, 37])
    p.add_argument("--out", type=Path, default=Path("bench-transpose"))
    args = p.parse_args()
    plan = dataset.DatasetPlan.from_json(json.loads((args.dataset / "plan.json").read_text()))
    crops = plan.groups[args.group]
    if any(c.size % 128 for c in crops):
        raise SystemExit(
            "crops must be whole CTUs (multiples of 128) so that the transposed grid is the same"
        )
    planes = [(y.T, cb.T, cr.T) for y, cb, cr in crop_planes(crops)]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for qp in args.qp:
        shard = dataset.shard_path(args.dataset, args.group, qp)
        originals = UnitLabels.from_arrays(load_extra(shard, UNIT_FIELDS), str(shard)).trees()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = write_sequence(planes, crops[0].bit_depth, Path(tmp))
            result = encode_anchor(cfg, qp)
        for pic, original in zip(sorted(result.pictures, key=lambda p: p.poc), originals, strict=True):
            row = {"qp": qp, "crop": f"{crops[pic.poc].source.name}@{crops[pic.poc].x},{crops[pic.poc].y}"}
            row.update(compare(original, tree_from_cus(pic.cus, pic.width, pic.height)))
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "transpose_check.json").write_text(json.dumps(rows, indent=1))
    print("\n| QP | pictures | CU area same | node split same | QT cells same |\n|---|---|---|---|---|")
    for qp in args.qp:
        sel = [r for r in rows if r["qp"] == qp]
        means = [np.mean([r[k] for r in sel]) for k in ("cu_area", "node_split", "qt_cells")]
        print(f"| {qp} | {len(sel)} | " + " | ".join(f"{m:.3f}" for m in means) + " |")


if __name__ == "__main__":
    main()
