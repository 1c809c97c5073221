"""Transposition of luma training samples: the block, its maps and its node targets, mirrored on the diagonal.

VVC's intra partitioning is not exactly symmetric (split order, reference availability and fast-skip rules
differ between the directions), so a transposed label is the anchor's decision on the transposed block only
as often as the anchor agrees with itself on imperceptibly different content: on BSDS val the partition of
the transposed crops keeps 79.0 % of the labels' split decisions, the noise floor being 79.7 % and the
shipped model 76.5 % (``bench/perturb_check.py``; the model card's "Data"). :func:`transpose` makes those
samples; the training loop (``TrainConfig.transpose``) draws which samples of an epoch it transposes.

The 68x68 input keeps its context above and to the left under transposition; the maps transpose cell for
cell with the directions swapped (horizontal <-> vertical), and each node swaps its position and size and
its modes BT_H <-> BT_V, TT_H <-> TT_V.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.dump import NODE_MODES
from pmp_vvc.errors import ConfigError
from pmp_vvc.learning.labels import Samples
from pmp_vvc.learning.nodes import CostSamples, NodeTable

__all__ = ["MODE_TRANSPOSE", "transpose"]

_SWAP = {"bt_h": "bt_v", "bt_v": "bt_h", "tt_h": "tt_v", "tt_v": "tt_h"}
#: Column ``MODE_TRANSPOSE[m]`` of a node's modes is mode ``m`` of the transposed node.
MODE_TRANSPOSE = tuple(NODE_MODES.index(_SWAP.get(m, m)) for m in NODE_MODES)
G = TypeVar("G", bound=np.generic)
_DIRECTION_SWAP = np.array([0, 2, 1, -1], dtype=np.int8)  # none, hor -> ver, ver -> hor; -1 stays


def _planes_transposed(planes: npt.NDArray[G], which: npt.NDArray[np.bool_]) -> npt.NDArray[G]:
    out = planes.copy()
    out[which] = planes[which].swapaxes(-1, -2)
    return out


def _transpose_samples(samples: Samples, which: npt.NDArray[np.bool_]) -> Samples:
    direction = _planes_transposed(samples.direction, which)
    direction[which] = _DIRECTION_SWAP[direction[which]]
    return Samples(
        _planes_transposed(samples.luma, which),
        samples.bit_depth,
        samples.qp,
        _planes_transposed(samples.qt, which),
        _planes_transposed(samples.mtt, which),
        direction,
        samples.source,
    )


def _modes_transposed(modes: npt.NDArray[G], rows: npt.NDArray[np.bool_]) -> npt.NDArray[G]:
    out = modes.copy()
    out[rows] = modes[rows][:, np.array(MODE_TRANSPOSE)]
    return out


def _transpose_nodes(nodes: NodeTable, which: npt.NDArray[np.bool_]) -> NodeTable:
    rows = which[nodes.sample]
    geometry = nodes.geometry.copy()
    geometry[np.ix_(rows, np.array([1, 2, 3, 4]))] = nodes.geometry[np.ix_(rows, np.array([2, 1, 4, 3]))]
    return NodeTable(
        geometry,
        _modes_transposed(nodes.acceptable, rows),
        _modes_transposed(nodes.tested, rows),
        nodes.weight,
        nodes.scale,
        _modes_transposed(nodes.excess, rows),
        nodes.chroma,
    )


def transpose(samples: Samples | CostSamples, which: npt.NDArray[np.bool_]) -> Samples | CostSamples:
    """Return ``samples`` with the samples where ``which`` is true transposed (maps and nodes with them).

    Raises:
        ConfigError: the samples are the chroma tree's (their transposition is not implemented).
    """
    which = np.asarray(which, dtype=bool)
    if samples.chroma:
        raise ConfigError("transposition augmentation is for luma samples only")
    if isinstance(samples, CostSamples):
        assert isinstance(samples.samples, Samples)
        return CostSamples(_transpose_samples(samples.samples, which), _transpose_nodes(samples.nodes, which))
    return _transpose_samples(samples, which)
