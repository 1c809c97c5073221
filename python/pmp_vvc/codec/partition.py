"""Per-64x64 partition maps of a picture's CU rows, and the partition tree a set of maps implies.

:func:`cus_to_maps` turns the CUs of one picture and one tree (rows of :data:`~pmp_vvc.codec.dump.COLUMNS`)
into the maps of design §2, one set per 64x64 luma block; :func:`maps_to_splits` / :func:`maps_to_cus` rebuild
the tree the maps imply. The chroma tree uses the same structure in luma sample units (a 64x64 luma block is
a 32x32 chroma node; cells stay 8x8 and 4x4 luma samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.dump import COLUMNS, IntArray
from pmp_vvc.errors import InputError

SPLIT_NONE, SPLIT_QT, SPLIT_BT_H, SPLIT_BT_V, SPLIT_TT_H, SPLIT_TT_V = range(6)
CTU_SIZE = 128
BLOCK_SIZE = 64
#: Shorter sides (luma samples) of the nodes of a 64x64 block: accuracies by node size, side thresholds.
NODE_SIDES = (64, 32, 16, 8, 4)
MTT_LAYERS = 3
SERIES_BITS = 5
QT_CELL, MTT_CELL = 8, 4
QT_GRID, MTT_GRID = BLOCK_SIZE // QT_CELL, BLOCK_SIZE // MTT_CELL


@dataclass(frozen=True)
class PartitionMaps:
    """Partition maps of one picture and tree, one entry per 64x64 luma block in raster order.

    ``qt`` (B,8,8): qtDepth-1 per 8x8 cell; ``mtt_depth`` (B,3,16,16): cumulative btDepth after MTT layer
    k+1 per 4x4 cell; ``direction`` (B,3,16,16): 0 no split at that layer, 1 horizontal, 2 vertical.
    Cells outside the picture are -1. ``origins`` (B,2) holds each block's (x, y). ``truncated`` marks
    blocks holding a CU with more than 3 MTT levels (possible after implicit picture-edge BT splits): the
    maps keep its first 3 layers only.
    """

    qt: npt.NDArray[np.int8]
    mtt_depth: npt.NDArray[np.int8]
    direction: npt.NDArray[np.int8]
    origins: IntArray
    width: int
    height: int
    chroma: bool
    truncated: npt.NDArray[np.bool_]

    @property
    def increments(self) -> npt.NDArray[np.int8]:
        """Per-layer btDepth increments (B,3,16,16) in {0,1,2}, -1 outside the picture."""
        prev = np.concatenate([np.zeros_like(self.mtt_depth[:, :1]), self.mtt_depth[:, :-1]], axis=1)
        return np.where(self.mtt_depth < 0, -1, self.mtt_depth - prev).astype(np.int8)


class SplitNode(NamedTuple):
    """A node of a partition tree in picture luma coordinates; ``split`` is 0 for a leaf (a CU)."""

    x: int
    y: int
    w: int
    h: int
    split: int


# ------------------------------------------------------------------------------------------- tree walking
def _child(
    split: IntArray, px: IntArray, py: IntArray, nx: IntArray, ny: IntArray, nw: IntArray, nh: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """Child of node (nx,ny,nw,nh) under ``split`` that contains point (px,py); also its btDepth step."""
    cx, cy, cw, ch, inc = nx.copy(), ny.copy(), nw.copy(), nh.copy(), np.zeros_like(nx)
    for is_h, bt, tt in ((True, SPLIT_BT_H, SPLIT_TT_H), (False, SPLIT_BT_V, SPLIT_TT_V)):
        o, s = (ny, nh) if is_h else (nx, nw)
        off = (py if is_h else px) - o
        pos, size = (cy, ch) if is_h else (cx, cw)
        m = (split == SPLIT_QT) | (split == bt)
        half = s // 2
        pos[m] = (o + (off >= half) * half)[m]
        size[m] = half[m]
        inc[split == bt] = 1
        m = split == tt
        q = s // 4
        part = (off >= q).astype(np.int64) + (off >= 3 * q)
        pos[m] = (o + np.choose(part, [0 * q, q, 3 * q]))[m]
        size[m] = np.where(part == 1, 2 * q, q)[m]
        inc[m] = np.where(part == 1, 1, 2)[m]
    return cx, cy, cw, ch, inc


def _walk(cus: IntArray) -> tuple[IntArray, IntArray]:
    """Per CU and MTT layer: split direction class (0/1/2) and cumulative btDepth, from the split series."""
    n = len(cus)
    x, y, w, h, qt, bt, mt, series = (cus[:, i] for i in range(2, 10))
    if np.any((qt < 1) | (mt < 0) | (w > BLOCK_SIZE) | (h > BLOCK_SIZE)):
        raise InputError("CU rows with qt_depth < 1 or a side > 64 are not supported (CTU 128, dual tree)")
    nx, ny = x // CTU_SIZE * CTU_SIZE, y // CTU_SIZE * CTU_SIZE
    nw, nh = np.full(n, CTU_SIZE), np.full(n, CTU_SIZE)
    levels = qt + mt
    nlev = int(levels.max(initial=0))
    if np.any((series >> (SERIES_BITS * levels)) != 0) or np.any(series < 0):
        raise InputError("split series with more levels than qt_depth + mt_depth in some CU rows")
    btcum = np.zeros((n, nlev + 1), dtype=np.int64)
    splits = np.zeros((n, nlev + 1), dtype=np.int64)
    for lev in range(nlev):
        act = lev < levels
        s = np.where(act, (series >> (SERIES_BITS * lev)) & 31, 0)
        want_qt = lev < qt
        if np.any(act & ((s < 1) | (s > 5) | ((s == SPLIT_QT) != want_qt))):
            raise InputError("split series inconsistent with qt_depth/mt_depth in some CU rows")
        cx, cy, cw, ch, inc = _child(s, x, y, nx, ny, nw, nh)
        nx, ny, nw, nh = (np.where(act, a, b) for a, b in ((cx, nx), (cy, ny), (cw, nw), (ch, nh)))
        splits[:, lev] = s
        btcum[:, lev + 1] = btcum[:, lev] + np.where(act, inc, 0)
    if np.any((nx != x) | (ny != y) | (nw != w) | (nh != h) | (btcum[:, nlev] != bt)):
        bad = np.flatnonzero((nx != x) | (ny != y) | (nw != w) | (nh != h) | (btcum[:, nlev] != bt))[0]
        raise InputError(f"CU row {cus[bad].tolist()} does not match the node its split series leads to")
    direction = np.zeros((n, MTT_LAYERS), dtype=np.int64)
    depth = np.zeros((n, MTT_LAYERS), dtype=np.int64)
    rows = np.arange(n)
    for k in range(MTT_LAYERS):
        has = k < mt
        at = np.minimum(qt + k, nlev)
        sk = splits[rows, at]
        direction[:, k] = np.where(has, np.where((sk == SPLIT_BT_H) | (sk == SPLIT_TT_H), 1, 2), 0)
        depth[:, k] = np.where(has, btcum[rows, np.minimum(at + 1, nlev)], bt)
    return direction, depth


def _cells(cus: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Every 4x4 luma cell of every CU: (CU index, cell column, cell row)."""
    cw, ch = cus[:, 4] // MTT_CELL, cus[:, 5] // MTT_CELL
    counts = cw * ch
    idx = np.repeat(np.arange(len(cus)), counts)
    off = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return idx, cus[idx, 2] // MTT_CELL + off % cw[idx], cus[idx, 3] // MTT_CELL + off // cw[idx]


def _blocks(grid: npt.NDArray[np.int8], nby: int, nbx: int) -> npt.NDArray[np.int8]:
    """Cut a (..., nby*16, nbx*16) picture cell grid into (B, ..., 16, 16) blocks in raster order."""
    lead = grid.shape[:-2]
    g = grid.reshape(*lead, nby, MTT_GRID, nbx, MTT_GRID)
    g = np.moveaxis(g, (-4, -2), (0, 1))
    return np.ascontiguousarray(g.reshape(nby * nbx, *lead, MTT_GRID, MTT_GRID))


def cus_to_maps(cus: IntArray, width: int, height: int, chroma: bool = False) -> PartitionMaps:
    """Partition maps of one picture's luma (or chroma) tree; raises InputError unless the CUs tile it."""
    cus = np.asarray(cus, dtype=np.int64).reshape(-1, len(COLUMNS))
    cus = cus[cus[:, 1] == int(chroma)]
    if len(np.unique(cus[:, 0])) > 1:
        raise InputError("cus_to_maps needs the CUs of a single picture (several POCs given)")
    if np.any((cus[:, 2:6] % MTT_CELL) != 0):
        raise InputError("CU positions and sizes must be multiples of 4 luma samples")
    nbx, nby = -(-width // BLOCK_SIZE), -(-height // BLOCK_SIZE)
    gw, gh = nbx * MTT_GRID, nby * MTT_GRID
    direction, depth = _walk(cus)
    idx, cx, cy = _cells(cus)
    if np.any((cx >= -(-width // MTT_CELL)) | (cy >= -(-height // MTT_CELL))):
        raise InputError(f"CUs reach outside the {width}x{height} picture")
    cover = np.zeros((gh, gw), dtype=np.int64)
    np.add.at(cover, (cy, cx), 1)
    inside = np.zeros((gh, gw), dtype=bool)
    inside[: -(-height // MTT_CELL), : -(-width // MTT_CELL)] = True
    if np.any(cover[inside] != 1):
        gaps, over = int(np.sum(cover[inside] == 0)), int(np.sum(cover > 1))
        raise InputError(
            f"CUs do not tile the {width}x{height} picture: {gaps} cells uncovered, {over} overlapped"
        )
    qt_grid = np.full((gh, gw), -1, dtype=np.int8)
    qt_grid[cy, cx] = cus[idx, 6] - 1
    dep_grid = np.full((MTT_LAYERS, gh, gw), -1, dtype=np.int8)
    dir_grid = np.full((MTT_LAYERS, gh, gw), -1, dtype=np.int8)
    dep_grid[:, cy, cx] = depth[idx].T
    dir_grid[:, cy, cx] = direction[idx].T
    deep = np.zeros((gh, gw), dtype=np.int8)
    deep[cy, cx] = cus[idx, 8] > MTT_LAYERS
    by, bx = np.divmod(np.arange(nbx * nby), nbx)
    return PartitionMaps(
        qt=_blocks(qt_grid, nby, nbx)[:, ::2, ::2].copy(),
        mtt_depth=_blocks(dep_grid, nby, nbx),
        direction=_blocks(dir_grid, nby, nbx),
        origins=np.stack([bx * BLOCK_SIZE, by * BLOCK_SIZE], axis=1).astype(np.int64),
        width=width,
        height=height,
        chroma=chroma,
        truncated=np.asarray(_blocks(deep, nby, nbx).reshape(nbx * nby, -1).any(axis=1), dtype=bool),
    )


# ------------------------------------------------------------------------------------ maps back to a tree
def children(x: int, y: int, w: int, h: int, split: int) -> list[tuple[int, int, int, int, int]]:
    """Children (x, y, w, h, btDepth step) of a node under ``split``."""
    if split == SPLIT_QT:
        return [(x + dx, y + dy, w // 2, h // 2, 0) for dy in (0, h // 2) for dx in (0, w // 2)]
    if split == SPLIT_BT_H:
        return [(x, y, w, h // 2, 1), (x, y + h // 2, w, h // 2, 1)]
    if split == SPLIT_BT_V:
        return [(x, y, w // 2, h, 1), (x + w // 2, y, w // 2, h, 1)]
    q = (h if split == SPLIT_TT_H else w) // 4
    parts = ((0, q, 2), (q, 2 * q, 1), (3 * q, q, 2))
    if split == SPLIT_TT_H:
        return [(x, y + o, w, s, inc) for o, s, inc in parts]
    return [(x + o, y, s, h, inc) for o, s, inc in parts]


class _Decoder:
    """Rebuilds the tree of one block from its maps (see :func:`maps_to_splits` for the rules)."""

    def __init__(self, maps: PartitionMaps, block: int, max_bt: int, unanimous: bool = False) -> None:
        self.maps, self.b, self.max_bt, self.unanimous = maps, block, max_bt, unanimous
        self.ox, self.oy = (int(v) for v in maps.origins[block])
        dep = maps.mtt_depth[block]
        prev = np.concatenate([np.zeros_like(dep[:1]), dep[:-1]])
        self.inc = np.where(dep < 0, -1, dep - prev)
        self.nodes: list[SplitNode] = []
        self.levels: list[tuple[int, int]] = []
        self.cus: list[list[int]] = []

    def _region(
        self, arr: npt.NDArray[np.int8], cell: int, x: int, y: int, w: int, h: int
    ) -> npt.NDArray[np.int8]:
        r0, c0 = (y - self.oy) // cell, (x - self.ox) // cell
        return arr[..., r0 : r0 + max(h // cell, 1), c0 : c0 + max(w // cell, 1)]

    def _implied(self, x: int, y: int, w: int, h: int, qt_level: int, layer: int) -> int:
        """Return the split the maps imply for a node (0: none)."""
        if layer == 0 and w == h and w >= 16:
            qt = self._region(self.maps.qt[self.b], QT_CELL, x, y, w, h)
            valid = qt[qt >= 0]
            if valid.size and np.count_nonzero(valid > qt_level) * 2 > valid.size:
                return SPLIT_QT
        if layer >= MTT_LAYERS:
            return SPLIT_NONE
        d = self._region(self.maps.direction[self.b, layer], MTT_CELL, x, y, w, h)
        valid = d[d >= 0]
        if self.unanimous:
            vals = np.unique(valid)
            cls = int(vals[0]) if vals.size == 1 else 0
        else:  # plurality (ties go to the lower class: none before horizontal before vertical)
            cls = int(np.argmax(np.bincount(valid, minlength=3))) if valid.size else 0
        if cls == 0:
            return SPLIT_NONE
        horizontal = cls == 1
        qw, qh = (w, h // 4) if horizontal else (w // 4, h)
        quarter = self._region(self.inc[layer], MTT_CELL, x, y, qw, qh)
        q = quarter[quarter >= 0]
        if (
            q.size
            and np.count_nonzero(q >= 2) * 2 > q.size
            and self._legal(qw, qh)
            and not (self.maps.chroma and max(w, h) == BLOCK_SIZE)  # VTM's chroma tree: no TT of a 64 side
        ):
            return SPLIT_TT_H if horizontal else SPLIT_TT_V
        if self._legal(*((w, h // 2) if horizontal else (w // 2, h))):
            return SPLIT_BT_H if horizontal else SPLIT_BT_V
        return SPLIT_NONE

    def _legal(self, w: int, h: int) -> bool:
        """Whether a split's smallest child (w x h luma samples) is allowed in this tree.

        Luma: sides of at least 4. Chroma (4:2:0): at least 4 chroma samples wide and 16 in area, i.e. 8 luma
        samples wide and 64 in area (VTM's chroma minimum sizes in the dual tree).
        """
        if self.maps.chroma:
            return w >= 8 and h >= 4 and w * h >= 64
        return w >= 4 and h >= 4

    def _edge_split(self, x: int, y: int, w: int, h: int, layer: int) -> int:
        """VTM's implicit split of a node that crosses the picture's right and/or bottom edge."""
        out_r, out_b = x + w > self.maps.width, y + h > self.maps.height
        bt_ok = w <= self.max_bt and h <= self.max_bt
        if out_r and out_b and layer == 0:
            return SPLIT_QT
        if out_b and bt_ok:
            return SPLIT_BT_H
        if out_r and bt_ok:
            return SPLIT_BT_V
        return SPLIT_QT if layer == 0 else (SPLIT_BT_H if out_b else SPLIT_BT_V)

    def visit(
        self, x: int, y: int, w: int, h: int, qt_level: int, layer: int, bt: int, series: int, level: int
    ) -> None:
        """Visit a node, record it, and recurse into the children of its implied split."""
        if x >= self.maps.width or y >= self.maps.height:
            return
        split = self._implied(x, y, w, h, qt_level, layer)
        if split == SPLIT_NONE and (x + w > self.maps.width or y + h > self.maps.height):
            split = self._edge_split(x, y, w, h, layer)
        self.nodes.append(SplitNode(x, y, w, h, split))
        self.levels.append((qt_level, layer))
        if split == SPLIT_NONE:
            self.cus.append([0, int(self.maps.chroma), x, y, w, h, qt_level + 1, bt, layer, series])
            return
        for cx, cy, cw, ch, inc in children(x, y, w, h, split):
            is_qt = split == SPLIT_QT
            self.visit(
                cx,
                cy,
                cw,
                ch,
                qt_level + is_qt,
                layer + (not is_qt),
                bt + inc,
                series | (split << (SERIES_BITS * level)),
                level + 1,
            )


def _decode(maps: PartitionMaps, block: int) -> _Decoder:
    if not 0 <= block < len(maps.origins):
        raise InputError(f"block index {block} out of range (0..{len(maps.origins) - 1})")
    dec = _Decoder(maps, block, max_bt=64 if maps.chroma else 32)
    ox, oy = (int(v) for v in maps.origins[block])
    dec.visit(ox, oy, BLOCK_SIZE, BLOCK_SIZE, 0, 0, 0, SPLIT_QT, 1)
    return dec


def maps_to_splits(maps: PartitionMaps, block: int) -> list[SplitNode]:
    """Every node (pre-order) of the tree the maps imply for one 64x64 block.

    Rules: a square node >= 16 with no MTT split above it is QT-split while more than half of its valid QT
    cells exceed its QT level; otherwise at MTT layer m (< 3) the most frequent direction class over its
    valid cells (ties: none, then horizontal) splits it when it is not "none" (true maps are uniform over
    a node, so this only matters for predicted, noisy maps),
    TT when most cells of its first quarter have increment 2, BT otherwise, where the tree allows the
    children (luma: sides >= 4; chroma: >= 8 luma samples wide, >= 64 in area, and no TT of a node with a
    side of 64 luma samples, the 64x64 root included). A node crossing the picture edge that the maps
    leave unsplit gets VTM's implicit split; nodes wholly outside the picture are skipped.
    """
    return _decode(maps, block).nodes


def tree_nodes(maps: PartitionMaps, block: int) -> list[tuple[SplitNode, int, int]]:
    """Every node of :func:`maps_to_splits` with its QT level (qtDepth - 1) and MTT layer (mtDepth)."""
    dec = _decode(maps, block)
    return [(node, ql, layer) for node, (ql, layer) in zip(dec.nodes, dec.levels, strict=True)]


def split_decisions(
    truth: PartitionMaps, pred: PartitionMaps, block: int, unanimous: bool = False
) -> list[tuple[SplitNode, int]]:
    """For every node of the true tree of a block: (the node, split the predicted maps imply there).

    The node's ``split`` is the true one; the implied split is the decision the encoder takes at that node
    when steered by ``pred`` (picture-edge fallback splits are not applied to the prediction).
    ``unanimous``: an MTT split needs the same direction in every cell of the node (the stricter rule of
    TIP-23) instead of the plurality of its cells.
    """
    guide = _Decoder(pred, block, max_bt=64 if pred.chroma else 32, unanimous=unanimous)
    return [
        (node, guide._implied(node.x, node.y, node.w, node.h, ql, layer))
        for node, ql, layer in tree_nodes(truth, block)
    ]


def maps_to_cus(maps: PartitionMaps, poc: int = 0) -> IntArray:
    """CU rows (columns of :data:`COLUMNS`, split series from the CTU root) implied by all blocks' maps."""
    rows = [cu for b in range(len(maps.origins)) for cu in _decode(maps, b).cus]
    out = np.array(rows, dtype=np.int64).reshape(-1, len(COLUMNS))
    out[:, 0] = poc
    return sort_cus(out)


def sort_cus(cus: IntArray) -> IntArray:
    """CU rows in a canonical order (poc, tree, y, x) for comparisons."""
    cus = np.asarray(cus, dtype=np.int64).reshape(-1, len(COLUMNS))
    return cus[np.lexsort((cus[:, 2], cus[:, 3], cus[:, 1], cus[:, 0]))]
