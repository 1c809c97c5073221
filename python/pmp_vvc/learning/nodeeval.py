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
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pmp_vvc.learning.nodes import NodeTable

__all__ = ["GUIDE_THRESHOLDS", "guide_node_metrics", "node_decision_metrics"]

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
