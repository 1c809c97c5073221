"""Accuracy of predicted partition maps: per map, and of the decisions the encoder takes from them.

Works on numpy class maps (argmax of the model logits), so it serves PyTorch and onnxruntime alike, and
on either tree: with ``chroma`` set, the maps are the chroma tree's and a node's decisions follow the
chroma tree's legality (:func:`pmp_vvc.codec.partition.split_decisions`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.partition import BLOCK_SIZE, NODE_SIDES, SPLIT_NONE, PartitionMaps, split_decisions

I8 = npt.NDArray[np.int8]

#: Keys of the split accuracies by node (:func:`decision_accuracies`), in table order.
BY_NODE_KEYS = ("split_edge", "split_inner", *(f"split_side{side}" for side in NODE_SIDES))


def block_maps(qt: I8, mtt_inc: I8, direction: I8, chroma: bool = False) -> PartitionMaps:
    """PartitionMaps for independent 64x64 blocks (of the ``chroma`` tree) from class maps."""
    depth = np.where(mtt_inc < 0, -1, np.cumsum(np.maximum(mtt_inc, 0), axis=1)).astype(np.int8)
    n = len(qt)
    return PartitionMaps(
        qt=qt.astype(np.int8),
        mtt_depth=depth,
        direction=direction.astype(np.int8),
        origins=np.zeros((n, 2), dtype=np.int64),
        width=BLOCK_SIZE,
        height=BLOCK_SIZE,
        chroma=chroma,
        truncated=np.zeros(n, dtype=bool),
    )


def _acc(pred: npt.NDArray[np.integer], true: npt.NDArray[np.integer]) -> float:
    valid = true >= 0
    return float(np.mean(pred[valid] == true[valid])) if valid.any() else float("nan")


def map_accuracies(pred: dict[str, I8], true: dict[str, I8]) -> dict[str, float]:
    """Cell accuracies: qt (8x8 cells), qt16 (exact QT depth per 16x16), mtt/direction per layer."""
    out = {"qt": _acc(pred["qt"], true["qt"]), "qt16": _acc(pred["qt"][:, ::2, ::2], true["qt"][:, ::2, ::2])}
    for name in ("mtt", "direction"):
        for layer in range(3):
            out[f"{name}{layer + 1}"] = _acc(pred[name][:, layer], true[name][:, layer])
    return out


def decision_accuracies(
    pred: dict[str, I8], true: dict[str, I8], unanimous: bool = False, chroma: bool = False
) -> dict[str, float]:
    """Score the encoder decisions at every node of the true trees: split or not, and the split type.

    ``split``: the predicted maps split a node iff the true tree does; ``split_type``: same split exactly;
    ``split_recall`` / ``nosplit_recall``: over true split / true leaf nodes; ``nodes``: nodes counted;
    ``split_side{S}``: ``split`` over the nodes whose shorter side is S luma samples (S in
    :data:`NODE_SIDES`; nan where there are none), which tells at which node sizes a model loses;
    ``split_edge`` / ``split_inner``: over the nodes below the root that touch the block's top or left edge
    (whose context lies partly outside the model's input) / that do not.
    """
    truth = block_maps(true["qt"], true["mtt"], true["direction"], chroma)
    guess = block_maps(pred["qt"], pred["mtt"], pred["direction"], chroma)
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for b in range(len(true["qt"])):
        ox, oy = truth.origins[b].tolist()
        for node, p in split_decisions(truth, guess, b, unanimous):
            t = node.split
            right = (t == SPLIT_NONE) == (p == SPLIT_NONE)
            groups = ["split", f"split_side{min(node.w, node.h)}"]
            if node.w < BLOCK_SIZE or node.h < BLOCK_SIZE:
                groups.append("split_edge" if node.x == ox or node.y == oy else "split_inner")
            for key in groups:
                totals[key] += 1
                hits[key] += right
            hits["split_type"] += t == p
            if t != SPLIT_NONE:
                totals["split_recall"] += 1
                hits["split_recall"] += p != SPLIT_NONE
            else:
                totals["nosplit_recall"] += 1
                hits["nosplit_recall"] += p == SPLIT_NONE
    out = {k: hits[k] / totals["split"] for k in ("split", "split_type")}
    for k in ("split_recall", "nosplit_recall", *BY_NODE_KEYS):
        out[k] = hits[k] / totals[k] if totals[k] else float("nan")
    out["nodes"] = float(totals["split"])
    return out


def all_accuracies(pred: dict[str, I8], true: dict[str, I8], chroma: bool = False) -> dict[str, float]:
    """Map and decision accuracies together (of the chroma tree's maps if ``chroma``)."""
    return {**map_accuracies(pred, true), **decision_accuracies(pred, true, chroma=chroma)}


def constant_baseline(
    train_qp: npt.NDArray[np.integer], train: dict[str, I8], qp: npt.NDArray[np.integer]
) -> dict[str, I8]:
    """Trivial per-QP predictor: the most frequent training class of each map (and MTT layer) at each QP.

    ``train`` holds the training maps (qt, mtt, direction); returns constant maps for blocks at ``qp``
    (a QP absent from training falls back to all training blocks).
    """
    n = len(qp)
    pred = {
        "qt": np.zeros((n, 8, 8), np.int8),
        "mtt": np.zeros((n, 3, 16, 16), np.int8),
        "direction": np.zeros((n, 3, 16, 16), np.int8),
    }

    def mode(a: npt.NDArray[np.integer]) -> int:
        valid = a[a >= 0].astype(np.int64)
        return int(np.bincount(valid).argmax()) if valid.size else 0

    for q in np.unique(qp).tolist():
        src = train_qp == q if np.any(train_qp == q) else np.ones(len(train_qp), dtype=bool)
        sel = qp == q
        pred["qt"][sel] = mode(train["qt"][src])
        for name in ("mtt", "direction"):
            for layer in range(3):
                pred[name][sel, layer] = mode(train[name][src][:, layer])
    return pred


def one_hot_maps(pred: dict[str, I8]) -> dict[str, npt.NDArray[np.float32]]:
    """Probability maps that put all mass on the given classes (a class map as a predictor's output)."""
    classes = {"qt": 4, "mtt": 3, "direction": 3}
    return {
        k: np.moveaxis(np.eye(classes[k], dtype=np.float32)[np.maximum(v, 0)], -1, 1) for k, v in pred.items()
    }


def accuracy_table(
    pred: dict[str, I8], true: dict[str, I8], qp: npt.NDArray[np.integer], chroma: bool = False
) -> dict[str, dict[str, float]]:
    """All accuracies over every block (key ``"all"``) and per QP (keys ``"qp22"``, ...)."""
    out = {"all": all_accuracies(pred, true, chroma)}
    for q in np.unique(qp).tolist():
        sel = qp == q
        out[f"qp{q}"] = all_accuracies(
            {k: v[sel] for k, v in pred.items()}, {k: v[sel] for k, v in true.items()}, chroma
        )
    return out
