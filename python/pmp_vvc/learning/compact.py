"""The compact form of a label dataset: what a repository can hold, from which the shards are made again.

One (crop group, QP) unit keeps the anchor's final trees as the split of every node in walk order
(:mod:`pmp_vvc.learning.finaltree`; the CU rows follow from them) and the RD cost of every mode tested
at each node, quantised: per node the best cost as a float16 log2 (to 0.5 %), per mode a byte coding
its relative excess over the best on a log scale (:data:`CODES_PER_OCTAVE` codes per octave of ``excess
+ ``:data:`EXCESS_FLOOR`, i.e. to 1.5 %; saturating at +77 %; the best mode's code is 0),
:data:`UNTESTED` where the mode was not tested. The order of a node's modes survives to that
resolution. With the pictures' sizes these are the arrays of :data:`UNIT_FIELDS`; shards carry the same
arrays, so a shard made from an encode and one made from its compact unit are identical.

A label set folder holds ``labels.json`` (the manifest: format, sources by name with their sha256, crops,
QPs, encoder build, per unit bits and CPU time) and ``units/gGGGGGG-qpQQ.npz``. The pixels are not in
it: :func:`pmp_vvc.learning.labelset.materialise` reads them again from the source images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.dump import PicturePartition
from pmp_vvc.errors import InputError
from pmp_vvc.learning.finaltree import FinalTree, node_costs, tree_from_cus, tree_from_splits

__all__ = [
    "CODES_PER_OCTAVE",
    "EXCESS_FLOOR",
    "UNIT_FIELDS",
    "UNTESTED",
    "UnitLabels",
    "dequantise_costs",
    "quantise_costs",
]

EXCESS_FLOOR = 0.0005
CODES_PER_OCTAVE = 24
UNTESTED = 255
#: Arrays of one unit, in its compact file and in its shard.
UNIT_FIELDS = ("tree_dims", "tree_splits", "tree_sizes", "cost_best_log2", "cost_codes")


def quantise_costs(costs: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.float16], npt.NDArray[np.uint8]]:
    """(N, 6) costs (``inf``: not tested) -> per-node float16 log2 of the best cost, per-mode excess codes."""
    costs = np.asarray(costs, dtype=np.float64)
    tested = np.isfinite(costs)
    best = np.where(tested, costs, np.inf).min(axis=1)
    has = np.isfinite(best) & (best > 0)
    best_log2 = np.where(has, np.log2(np.where(has, best, 1.0)), 0.0).astype(np.float16)
    excess = costs / np.where(has, best, 1.0)[:, None] - 1.0  # to the exact best: its own code is 0
    codes = np.round(CODES_PER_OCTAVE * np.log2(1.0 + np.where(tested, excess, 0.0) / EXCESS_FLOOR))
    out = np.minimum(codes, UNTESTED - 1).astype(np.uint8)
    out[~tested | ~has[:, None]] = UNTESTED
    return best_log2, out


def dequantise_costs(
    best_log2: npt.NDArray[np.float16], codes: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float32]:
    """Inverse of :func:`quantise_costs` (to its resolution): (N, 6) float32 costs, ``inf`` where untested."""
    excess = EXCESS_FLOOR * (np.exp2(codes.astype(np.float64) / CODES_PER_OCTAVE) - 1.0)
    costs = np.exp2(best_log2.astype(np.float64))[:, None] * (1.0 + excess)
    return np.where(codes == UNTESTED, np.inf, costs).astype(np.float32)


@dataclass(frozen=True)
class UnitLabels:
    """The labels of one unit (its pictures in POC order): final trees and quantised node costs."""

    tree_dims: npt.NDArray[np.int32]  # (width, height) per picture
    tree_splits: npt.NDArray[np.uint8]  # all pictures' node splits, concatenated
    tree_sizes: npt.NDArray[np.int32]  # nodes per picture
    cost_best_log2: npt.NDArray[np.float16]
    cost_codes: npt.NDArray[np.uint8]

    @classmethod
    def from_pictures(cls, pictures: list[PicturePartition]) -> UnitLabels:
        """Labels of a version-2 dump's pictures (in POC order).

        Raises:
            InputError: a picture's CU rows do not form a tree, or it has no node records.
        """
        trees = [tree_from_cus(p.cus, p.width, p.height) for p in pictures]
        best, codes = quantise_costs(
            np.concatenate([node_costs(p, t) for p, t in zip(pictures, trees, strict=True)])
        )
        return cls(
            np.array([(p.width, p.height) for p in pictures], dtype=np.int32).reshape(-1, 2),
            np.concatenate([t.splits for t in trees]),
            np.array([len(t.nodes) for t in trees], dtype=np.int32),
            best,
            codes,
        )

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[np.generic]], where: str) -> UnitLabels:
        """Rebuild from :meth:`arrays` output (a unit file or a shard, named ``where`` in errors)."""
        missing = [f for f in UNIT_FIELDS if f not in arrays]
        if missing:
            raise InputError(f"{where}: no RD-cost labels (missing {', '.join(missing)})")
        unit = cls(
            arrays["tree_dims"].astype(np.int32).reshape(-1, 2),
            arrays["tree_splits"].astype(np.uint8),
            arrays["tree_sizes"].astype(np.int32),
            arrays["cost_best_log2"].astype(np.float16),
            arrays["cost_codes"].astype(np.uint8),
        )
        n = int(unit.tree_sizes.sum())
        if (
            len(unit.tree_dims) != len(unit.tree_sizes)
            or len(unit.tree_splits) != n
            or len(unit.cost_best_log2) != n
            or unit.cost_codes.shape != (n, 6)
        ):
            raise InputError(f"{where}: RD-cost label arrays disagree in length")
        return unit

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """Return the four arrays by :data:`UNIT_FIELDS` name."""
        return {f: getattr(self, f) for f in UNIT_FIELDS}

    def trees(self) -> list[FinalTree]:
        """Rebuild the final tree of each picture (POC order)."""
        ends = np.cumsum(self.tree_sizes)
        return [
            tree_from_splits(self.tree_splits[end - n : end], int(w), int(h), poc)
            for poc, ((w, h), n, end) in enumerate(zip(self.tree_dims, self.tree_sizes, ends, strict=True))
        ]

    def costs(self) -> npt.NDArray[np.float32]:
        """Return the (N, 6) node costs of all pictures' nodes, in the trees' walk order."""
        return dequantise_costs(self.cost_best_log2, self.cost_codes)
