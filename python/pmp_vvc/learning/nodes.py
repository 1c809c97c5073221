"""Node-level training targets from the RD-cost labels: per node, which modes are as good as the best.

The map guide rules a node of either tree (of at most 64x64, inside one block, qtDepth >= 1) from the
probabilities of its six modes (``MapGuide::modeProbabilities`` on the maps, then restricted to the legal
modes). The targets here are what those probabilities should say, from the anchor's RD costs of the node
(:mod:`pmp_vvc.learning.compact`): the modes it tested whose cost is within ``margin`` of the node's best are
*acceptable* (near-ties are not errors), and a node weighs what skipping them all would cost: the
excess of the best other tested mode, times the node's best cost, relative to the best cost of its 64x64
block (capped at 1). Nodes whose tested modes are all acceptable carry no decision and are left out.
Only the anchor's final tree has costs, so these are the nodes the guide meets when it decides as the
anchor did. A table holds the nodes of one tree: the luma tree's, or the chroma tree's (``chroma``; its
own legality), whose costs the dump records beside the luma ones (labels of a guided luma tree, e.g.).

:class:`NodeTable` holds the targets of a sample set (row ``sample`` indexes the samples);
:class:`CostSamples` pairs them with the samples for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.dump import NODE_MODES
from pmp_vvc.codec.partition import BLOCK_SIZE
from pmp_vvc.errors import InputError
from pmp_vvc.learning.chroma import ChromaSamples, chroma_shard, concat_chroma
from pmp_vvc.learning.compact import UNIT_FIELDS, UnitLabels
from pmp_vvc.learning.labels import Samples, concat, load_extra, load_shard

__all__ = ["DEFAULT_MARGIN", "CostSamples", "NodeTable", "legal_modes", "load_cost_shard", "node_table"]

DEFAULT_MARGIN = 0.01
_COLUMNS = ("sample", "x", "y", "w", "h", "qt_level", "layer")

# The guide's default limits (TreeLimits: VTM's all-intra cfg) of each tree: max BT, max TT, max MTT
# depth, min QT size, in luma samples
LIMITS = {False: (32, 32, 3, 8), True: (64, 32, 3, 8)}


def legal_modes(
    w: npt.NDArray[np.int64], h: npt.NDArray[np.int64], layer: npt.NDArray[np.int64], chroma: bool = False
) -> npt.NDArray[np.bool_]:
    """(K, 6) modes the map guide considers legal at each node (``MapGuide::legal``), in NODE_MODES order.

    Chroma-tree nodes (4:2:0) also keep the dual tree's chroma minimum sizes (chroma blocks of at least 16
    samples, none 2 wide, no QT of a 4-wide chroma node).
    """
    max_bt, max_tt, max_mt_depth, min_qt = LIMITS[chroma]
    mtt = layer < max_mt_depth
    bt = mtt & (w <= max_bt) & (h <= max_bt)
    tt = mtt & (w <= max_tt) & (h <= max_tt)
    legal = np.stack(
        [
            np.ones_like(mtt),
            (layer == 0) & (w == h) & (w // 2 >= min_qt),
            bt & (h >= 8),
            bt & (w >= 8),
            tt & (h >= 16),
            tt & (w >= 16),
        ],
        axis=1,
    )
    if chroma:
        area, width = w * h // 4, w // 2
        legal &= np.stack(
            [
                np.ones_like(mtt),
                width > 4,
                area > 16,
                (area > 16) & (width != 4),
                area > 32,
                (area > 32) & (width != 8),
            ],
            axis=1,
        )
    return legal


@dataclass(frozen=True)
class NodeTable:
    """Decision targets of the nodes of one tree (rows sorted by sample): the luma tree's, or the chroma's."""

    geometry: npt.NDArray[np.int64]  # (K, 7) columns sample, x, y (in the block), w, h, qt_level, layer
    acceptable: npt.NDArray[np.bool_]  # (K, 6) modes within the margin of the best
    tested: npt.NDArray[np.bool_]  # (K, 6) modes the anchor tested
    weight: npt.NDArray[np.float32]  # (K,) cost of skipping every acceptable mode, per block cost
    scale: npt.NDArray[np.float32]  # (K,) the node's best cost per its block's best cost
    excess: npt.NDArray[np.float32]  # (K, 6) relative cost excess over the node's best (inf: untested)
    chroma: bool = False

    def __len__(self) -> int:
        return len(self.weight)

    @property
    def sample(self) -> npt.NDArray[np.int64]:
        """Sample index of each node."""
        return self.geometry[:, 0]

    def rows_of(self, samples: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Rows of the nodes of ``samples`` (in that order) and each row's position in ``samples``."""
        starts = np.searchsorted(self.sample, samples, side="left")
        ends = np.searchsorted(self.sample, samples, side="right")
        counts = ends - starts
        pos = np.repeat(np.arange(len(samples)), counts)
        rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        return rows, pos

    def select(self, rows: npt.NDArray[np.int64], new_sample: npt.NDArray[np.int64]) -> NodeTable:
        """Return the rows ``rows`` with their sample index replaced by ``new_sample``."""
        geometry = self.geometry[rows].copy()
        geometry[:, 0] = new_sample
        return NodeTable(
            geometry,
            self.acceptable[rows],
            self.tested[rows],
            self.weight[rows],
            self.scale[rows],
            self.excess[rows],
            self.chroma,
        )

    @staticmethod
    def empty(chroma: bool = False) -> NodeTable:
        """Return a table without nodes (for samples without RD-cost labels) of the luma or chroma tree."""
        modes = len(NODE_MODES)
        return NodeTable(
            np.zeros((0, len(_COLUMNS)), np.int64),
            np.zeros((0, modes), bool),
            np.zeros((0, modes), bool),
            np.zeros(0, np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, modes), np.float32),
            chroma,
        )

    @staticmethod
    def concat(tables: list[NodeTable], offsets: list[int]) -> NodeTable:
        """Join tables of consecutive sample sets (``offsets``: first sample index of each set).

        Raises:
            InputError: the tables are of different trees.
        """
        trees = {t.chroma for t in tables}
        if len(trees) != 1:
            raise InputError("node tables of the luma and the chroma tree cannot be joined")
        geometry = np.concatenate([t.geometry for t in tables])
        geometry[:, 0] += np.repeat(np.asarray(offsets, dtype=np.int64), [len(t) for t in tables])
        return NodeTable(
            geometry,
            np.concatenate([t.acceptable for t in tables]),
            np.concatenate([t.tested for t in tables]),
            np.concatenate([t.weight for t in tables]),
            np.concatenate([t.scale for t in tables]),
            np.concatenate([t.excess for t in tables]),
            trees.pop(),
        )


def node_table(unit: UnitLabels, margin: float = DEFAULT_MARGIN, chroma: bool = False) -> NodeTable:
    """Build the targets of one unit's luma (or chroma-tree) nodes; samples numbered as in its shard.

    Samples are the unit's 64x64 blocks (POC, then block raster), whose cost is their tree's root node's.
    """
    tree_id = int(chroma)
    trees = unit.trees()
    costs = unit.costs()
    parts, start, first_sample = [], 0, 0
    for final in trees:
        n = len(final.nodes)
        tree, x, y, w, h, qt, _, mt, _, _ = (final.nodes[:, i] for i in range(10))
        c = costs[start : start + n]
        start += n
        blocks_x = -(-final.width // BLOCK_SIZE)
        block = (y // BLOCK_SIZE) * blocks_x + x // BLOCK_SIZE
        tested = np.isfinite(c)
        best = np.where(tested, c, np.inf).min(axis=1)
        root = (tree == tree_id) & (w == BLOCK_SIZE) & (h == BLOCK_SIZE) & np.isfinite(best)
        block_cost = np.full(int(block.max(initial=0)) + 1, np.nan)
        block_cost[block[root]] = best[root]
        keep = (tree == tree_id) & (w <= BLOCK_SIZE) & (h <= BLOCK_SIZE) & (qt >= 1)
        keep &= tested.sum(axis=1) >= 2
        with np.errstate(invalid="ignore", divide="ignore"):
            excess = np.where(tested, c / best[:, None] - 1.0, np.inf)
        acceptable = tested & (excess <= margin)
        other = np.where(tested & ~acceptable, excess, np.inf).min(axis=1)
        keep &= np.isfinite(other) & np.isfinite(block_cost[block])
        scale = best / block_cost[block]
        weight = np.minimum(scale * other, 1.0)
        geometry = np.stack([first_sample + block, x % BLOCK_SIZE, y % BLOCK_SIZE, w, h, qt - 1, mt], axis=1)[
            keep
        ]
        parts.append((geometry, acceptable[keep], tested[keep], weight[keep], scale[keep], excess[keep]))
        first_sample += blocks_x * -(-final.height // BLOCK_SIZE)
    geometry = np.concatenate([p[0] for p in parts]).astype(np.int64)
    order = np.argsort(geometry[:, 0], kind="stable")
    return NodeTable(
        geometry[order],
        np.concatenate([p[1] for p in parts])[order],
        np.concatenate([p[2] for p in parts])[order],
        np.concatenate([p[3] for p in parts]).astype(np.float32)[order],
        np.concatenate([p[4] for p in parts]).astype(np.float32)[order],
        np.concatenate([p[5] for p in parts]).astype(np.float32)[order],
        chroma,
    )


@dataclass(frozen=True)
class CostSamples:
    """Samples of one tree with the node targets of those that have RD-cost labels (the others: maps only).

    ``samples``: luma :class:`Samples`, or :class:`ChromaSamples` with chroma-tree nodes.
    """

    samples: Samples | ChromaSamples
    nodes: NodeTable

    def __post_init__(self) -> None:
        if self.samples.chroma != self.nodes.chroma:
            raise InputError("the node targets are not of the samples' tree")

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def chroma(self) -> bool:
        """Whether the targets are the chroma tree's."""
        return self.samples.chroma

    @property
    def qp(self) -> npt.NDArray[np.int16]:
        """Slice QP of each sample."""
        return self.samples.qp

    @property
    def source(self) -> npt.NDArray[np.str_]:
        """Provenance of each sample."""
        return self.samples.source

    def subset(self, index: npt.NDArray[np.int64]) -> CostSamples:
        """Return the samples at ``index`` with their nodes."""
        rows, pos = self.nodes.rows_of(np.asarray(index))
        return CostSamples(self.samples.subset(index), self.nodes.select(rows, pos))

    def model_inputs(self, index: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float32], ...]:
        """Model inputs of the samples at ``index`` (those of their tree's model)."""
        return self.samples.model_inputs(index)

    def maps(self, index: npt.NDArray[np.int64] | slice = slice(None)) -> dict[str, npt.NDArray[np.int8]]:
        """Target maps of the samples at ``index``."""
        return self.samples.maps(index)

    def node_batch(self, index: npt.NDArray[np.int64]) -> NodeTable:
        """Nodes of the samples at ``index``, their sample column renumbered to positions in ``index``."""
        rows, pos = self.nodes.rows_of(np.asarray(index))
        return self.nodes.select(rows, pos)

    @staticmethod
    def join(parts: list[CostSamples]) -> CostSamples:
        """Concatenate sample sets (of one tree) with their nodes."""
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]]).tolist()
        nodes = NodeTable.concat([p.nodes for p in parts], offsets)
        chroma = [p.samples for p in parts if isinstance(p.samples, ChromaSamples)]
        luma = [p.samples for p in parts if isinstance(p.samples, Samples)]
        return CostSamples(concat_chroma(chroma) if nodes.chroma else concat(luma), nodes)


def load_cost_shard(path: str | Path, margin: float = DEFAULT_MARGIN, chroma: bool = False) -> CostSamples:
    """Load a shard's samples of one tree with the node targets of its RD-cost labels (none if it has none).

    ``chroma``: the chroma tree's samples and nodes (InputError if the shard has no chroma fields).
    """
    samples: Samples | ChromaSamples = chroma_shard(path) if chroma else load_shard(path)
    with np.load(path, allow_pickle=False) as z:
        has_costs = all(f in z.files for f in UNIT_FIELDS)
    if not has_costs:
        return CostSamples(samples, NodeTable.empty(chroma))
    unit = UnitLabels.from_arrays(load_extra(path, UNIT_FIELDS), str(path))
    return CostSamples(samples, node_table(unit, margin, chroma))
