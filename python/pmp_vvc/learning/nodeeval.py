"""Offline score of the map guide's node decisions against the anchor's RD costs.

For every node of a cost-labelled sample set (:class:`~pmp_vvc.learning.nodes.NodeTable`) the C++ map
guide (``pmp_vvc._vtm.MapGuide``, the encoder's own) decides from the model's maps at a level and
threshold, as in the encoder (chroma-tree nodes: the chroma guide at that level and threshold); the
modes it leaves are compared with the anchor's costs:

* ``node_hit``: the guide leaves an acceptable mode (within the margin of the node's best);
* ``skip_cost``: mean over blocks of the RD cost the guide's skips add, per block cost (at each node, the
  excess of the best tested mode it leaves over the node's best; 0 where it leaves none, since the encoder
  then falls back to VTM's own search) -- the cost-weighted metric;
* ``tested_skipped``: the share of the modes the anchor tested that the guide vetoes (its saving).

:func:`guide_split_accuracies` scores split-or-not at every node of the true trees as the guide sees it:
split iff the guide's probability of no split (``MapGuide::candidates``) is below one half, where the
map-argmax accuracies of :mod:`pmp_vvc.learning.evaluate` decode the argmax maps instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.partition import NODE_SIDES, SPLIT_NONE, tree_nodes
from pmp_vvc.learning.evaluate import block_maps
from pmp_vvc.learning.nodes import NodeTable

__all__ = [
    "GUIDE_MODES",
    "GUIDE_THRESHOLDS",
    "guide_node_metrics",
    "guide_split_accuracies",
    "node_decision_metrics",
]

#: The guide's mode names (``MapGuide::candidates``) in the order of the split codes (SPLIT_NONE ..).
GUIDE_MODES = ("NO_SPLIT", "QT", "BT_H", "BT_V", "TT_H", "TT_V")
#: Thresholds of the map guide (at L2) at which validation and ``pmp-train --evaluate`` score the nodes.
GUIDE_THRESHOLDS = (0.9, 0.7)


def node_decision_metrics(
    maps: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]],
    nodes: NodeTable,
    level: int = 2,
    threshold: float = 0.9,
) -> dict[str, float]:
    """Score the guide's decisions on ``nodes`` from per-sample class probabilities (qt, mtt, direction)."""
    from pmp_vvc import _vtm

    if nodes.chroma:  # the chroma guide rules the chroma tree at the level and threshold
        guide = _vtm.MapGuide(None, level=level, threshold=threshold, chroma_level=level)
    else:
        guide = _vtm.MapGuide(None, level=level, threshold=threshold)
    allowed = np.ones((len(nodes), 6), dtype=bool)
    starts = np.searchsorted(nodes.sample, np.arange(len(maps[0]) + 1))
    cu = _vtm.CuQuery()
    cu.chroma = nodes.chroma
    set_maps = guide.set_chroma_maps if nodes.chroma else guide.set_maps
    for s in np.flatnonzero(np.diff(starts)).tolist():
        set_maps(64, 64, *(np.ascontiguousarray(m[s : s + 1]) for m in maps))
        for row in range(int(starts[s]), int(starts[s + 1])):
            _, x, y, w, h, qt_level, layer = nodes.geometry[row].tolist()
            cu.x, cu.y, cu.width, cu.height = x, y, w, h
            cu.qt_depth, cu.mt_depth, cu.bt_depth = qt_level + 1, layer, layer
            veto = guide.decide(cu).veto
            allowed[row] = [not veto & (1 << bit) for bit in range(6)]
    left = allowed & nodes.tested
    hit = (left & nodes.acceptable).any(axis=1)
    best_left = np.where(left, nodes.excess, np.inf).min(axis=1)
    cost = np.where(left.any(axis=1), nodes.scale * best_left, 0.0)
    blocks = len(np.unique(nodes.sample))
    return {
        "node_hit": float(hit.mean()) if len(nodes) else float("nan"),
        "skip_cost": float(cost.sum() / blocks) if blocks else float("nan"),
        "tested_skipped": float((nodes.tested & ~allowed).sum() / max(1, nodes.tested.sum())),
        "cost_nodes": float(len(nodes)),
    }


def guide_node_metrics(probs: dict[str, npt.NDArray[np.float32]], nodes: NodeTable) -> dict[str, float]:
    """:func:`node_decision_metrics` at L2 and each of :data:`GUIDE_THRESHOLDS`, keys suffixed ``_tT``."""
    maps = (probs["qt"], probs["mtt"], probs["direction"])
    out: dict[str, float] = {}
    for t in GUIDE_THRESHOLDS:
        out.update({f"{k}_t{t}": v for k, v in node_decision_metrics(maps, nodes, 2, t).items()})
    return out


def guide_split_accuracies(
    probs: dict[str, npt.NDArray[np.float32]], true: dict[str, npt.NDArray[np.int8]], chroma: bool = False
) -> dict[str, float]:
    """Split or not at every node of the true trees, decided from the guide's node probabilities.

    ``probs``: the model's class probabilities per sample; ``true``: the samples' class maps. A node the
    guide does not rule on (MTT layer 3, which cannot split further) counts as not split. Keys
    ``guide_split``, ``guide_split_recall`` (over the true split nodes), ``guide_split_type`` (the guide's
    likeliest mode is the true split, none included) and ``guide_split_side{S}`` (by the node's shorter
    side, as ``split_side{S}``).
    """
    from pmp_vvc import _vtm

    guide = _vtm.MapGuide(None, level=3, threshold=0.9, chroma_level=3)
    set_maps = guide.set_chroma_maps if chroma else guide.set_maps
    truth = block_maps(true["qt"], true["mtt"], true["direction"], chroma)
    cu = _vtm.CuQuery()
    cu.chroma = chroma
    # per node: true split, whether the guide splits, its likeliest mode, the node's shorter side
    rows: list[tuple[int, bool, int, int]] = []
    for b in range(len(true["qt"])):
        set_maps(64, 64, *(np.ascontiguousarray(probs[k][b : b + 1]) for k in ("qt", "mtt", "direction")))
        for node, qt_level, layer in tree_nodes(truth, b):
            cu.x, cu.y, cu.width, cu.height = node.x, node.y, node.w, node.h
            cu.qt_depth, cu.mt_depth, cu.bt_depth = qt_level + 1, layer, layer
            got = guide.candidates(cu)
            p = [got[1][m] for m in GUIDE_MODES] if got is not None else [1.0]
            rows.append((node.split, p[0] < 0.5, int(np.argmax(p)), min(node.w, node.h)))
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    split, pred, side = table[:, 0] != SPLIT_NONE, table[:, 1] == 1, table[:, 3]
    right = split == pred

    def mean(sel: npt.NDArray[np.bool_]) -> float:
        return float(right[sel].mean()) if sel.any() else float("nan")

    out = {
        "guide_split": float(right.mean()) if len(right) else float("nan"),
        "guide_split_recall": float(pred[split].mean()) if split.any() else float("nan"),
        "guide_split_type": float(np.mean(table[:, 2] == table[:, 0])) if len(table) else float("nan"),
    }
    out.update({f"guide_split_side{s}": mean(side == s) for s in NODE_SIDES})
    return out
