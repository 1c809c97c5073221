"""The anchor's final coding tree as a list of nodes, with the RD cost of every mode tested at each node.

A picture's final tree (each of its two trees, each 128x128 CTU in raster order) is walked depth first
from the CTU root, children in VTM's order, children outside the picture skipped as VTM skips them.
:func:`tree_from_cus` walks the tree the CU rows describe; :func:`tree_from_splits` walks the tree a
sequence of per-node splits describes (the compact label form of :mod:`pmp_vvc.learning.compact`): both
give the same :class:`FinalTree`, so the node order is the one key that ties costs to nodes.
:func:`node_costs` looks up, for each node of the tree, the costs the anchor's search recorded at its
(last) visit of that node (dump version 2, ``PicturePartition.node_costs``; ``inf`` where a mode was not
tested, and for nodes above 64x64, which the dump does not record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.dump import COLUMNS, NODE_MODES, PicturePartition
from pmp_vvc.codec.partition import CTU_SIZE, SERIES_BITS, SPLIT_NONE, SPLIT_QT, children
from pmp_vvc.errors import InputError

__all__ = ["NODE_ROW_COLUMNS", "FinalTree", "node_costs", "tree_from_cus", "tree_from_splits"]

#: Columns of :attr:`FinalTree.nodes`: a CU row's geometry (:data:`COLUMNS` without the POC) and the split
#: the node took (:data:`~pmp_vvc.codec.partition.SPLIT_NONE` for a CU).
NODE_ROW_COLUMNS = (*COLUMNS[1:], "split")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FinalTree:
    """Nodes of one picture's final trees (luma, then chroma) in walk order, and the CU rows they end in."""

    nodes: IntArray  # (N, len(NODE_ROW_COLUMNS))
    cus: IntArray  # (C, len(COLUMNS)), in walk order
    width: int
    height: int

    @property
    def splits(self) -> npt.NDArray[np.uint8]:
        """Split of every node: the tree in compact form (:func:`tree_from_splits` inverts it)."""
        return self.nodes[:, -1].astype(np.uint8)


SplitOf = Callable[[int, int, int, int, int, int], int]


def _walk(width: int, height: int, split_of: SplitOf) -> Iterator[tuple[int, ...]]:
    """Yield node rows (chroma, x, y, w, h, qt, bt, mt, series, split) of both trees, depth first."""
    for chroma in (0, 1):
        for ctu_y in range(0, height, CTU_SIZE):
            for ctu_x in range(0, width, CTU_SIZE):
                stack = [(ctu_x, ctu_y, CTU_SIZE, CTU_SIZE, 0, 0, 0, 0)]
                while stack:
                    x, y, w, h, qt, bt, mt, series = stack.pop()
                    split = split_of(chroma, x, y, w, h, qt + mt)
                    yield chroma, x, y, w, h, qt, bt, mt, series, split
                    if split == SPLIT_NONE:
                        continue
                    level = series | split << (SERIES_BITS * (qt + mt))
                    kids = [
                        (cx, cy, cw, ch, qt + 1, bt, 0, level)
                        if split == SPLIT_QT
                        else (cx, cy, cw, ch, qt, bt + inc, mt + 1, level)
                        for cx, cy, cw, ch, inc in children(x, y, w, h, split)
                        if cx < width and cy < height
                    ]
                    stack.extend(reversed(kids))


def _tree(width: int, height: int, split_of: SplitOf, poc: int) -> FinalTree:
    nodes = np.array(list(_walk(width, height, split_of)), dtype=np.int64).reshape(-1, len(NODE_ROW_COLUMNS))
    leaves = nodes[nodes[:, -1] == SPLIT_NONE, :-1]
    cus = np.concatenate([np.full((len(leaves), 1), poc, dtype=np.int64), leaves], axis=1)
    return FinalTree(nodes, cus, width, height)


def tree_from_cus(cus: IntArray, width: int, height: int) -> FinalTree:
    """Build the final tree whose leaves are the CU rows of one picture (both trees).

    Raises:
        InputError: the CU rows do not tile the picture's trees (a node with no CU at its corner, or a
            CU row the walk does not reach).
    """
    cus = np.asarray(cus, dtype=np.int64).reshape(-1, len(COLUMNS))
    covering: dict[tuple[int, int, int], tuple[int, int, int, int]] = {}
    for _, chroma, x, y, w, h, qt, _, mt, series in cus.tolist():
        covering[(chroma, x, y)] = (w, h, qt + mt, series)

    def split_of(chroma: int, x: int, y: int, w: int, h: int, depth: int) -> int:
        cu = covering.get((chroma, x, y))
        if cu is None:
            raise InputError(f"no CU at ({x},{y}) of the {'chroma' if chroma else 'luma'} tree")
        cw, ch, levels, series = cu
        if (cw, ch) == (w, h) and levels == depth:
            return SPLIT_NONE
        if levels <= depth:
            raise InputError(f"CU at ({x},{y}) ends above the {w}x{h} node its corner lies in")
        return (series >> (SERIES_BITS * depth)) & 31

    poc = int(cus[0, 0]) if len(cus) else 0
    tree = _tree(width, height, split_of, poc)
    if len(tree.cus) != len(cus):
        raise InputError(f"the CU rows hold {len(cus)} CUs, the tree they describe {len(tree.cus)}")
    return tree


def tree_from_splits(splits: npt.NDArray[np.integer], width: int, height: int, poc: int = 0) -> FinalTree:
    """Build a picture's final tree from the splits of its nodes in walk order (:attr:`FinalTree.splits`).

    Raises:
        InputError: the sequence is too short, too long, or holds an unknown split.
    """
    values = np.asarray(splits).tolist()
    pos = 0

    def split_of(chroma: int, x: int, y: int, w: int, h: int, depth: int) -> int:
        nonlocal pos
        if pos >= len(values):
            raise InputError(f"split sequence ends before the tree does ({len(values)} nodes)")
        split = int(values[pos])
        pos += 1
        if not 0 <= split < len(NODE_MODES) or (split != SPLIT_NONE and min(w, h) < 4):
            raise InputError(f"bad split {split} for a {w}x{h} node at node {pos - 1}")
        return split

    tree = _tree(width, height, split_of, poc)
    if pos != len(values):
        raise InputError(f"split sequence holds {len(values)} nodes, the tree {pos}")
    return tree


def node_costs(pic: PicturePartition, tree: FinalTree) -> npt.NDArray[np.float32]:
    """Return the (N, 6) RD cost per tree node and mode (:data:`NODE_MODES`) at the anchor's last visit.

    Raises:
        InputError: the picture has no node records (a version-1 dump).
    """
    if pic.nodes is None or pic.node_costs is None:
        raise InputError(f"picture {pic.poc} of the dump has no node records (dump version 1)")
    key_cols = [0, 1, 2, 3, 4, 8]  # chroma, x, y, w, h, split series: one node of one tree
    last = {tuple(row): i for i, row in enumerate(pic.nodes[:, key_cols].tolist())}
    out = np.full((len(tree.nodes), len(NODE_MODES)), np.inf, dtype=np.float32)
    for i, row in enumerate(tree.nodes[:, key_cols].tolist()):
        j = last.get(tuple(row))
        if j is not None:
            out[i] = pic.node_costs[j]
    return out
