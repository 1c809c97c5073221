"""Chroma-tree training samples: a luma sample plus its Cb/Cr inputs and the chroma tree's target maps.

The chroma model (:class:`~pmp_vvc.learning.model.ChromaNet`) sees the luma model's inputs (68x68 luma,
QP) plus ``cb``, ``cr``: the 32x32 chroma block of the 64x64 luma area (4:2:0) with 2 samples of top/left
context, zero outside the picture (:func:`pmp_vvc.modelio.extract_chroma_blocks`). Its targets are the
chroma tree's maps in luma cell units (:func:`pmp_vvc.codec.partition.cus_to_maps` with ``chroma=True``).
Samples come from pmp-dataset shards (their chroma fields, :func:`pmp_vvc.learning.shards.load_chroma`)
or from the starter labels, whose batches hold the crops' Cb/Cr and both trees' CUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.partition import cus_to_maps
from pmp_vvc.errors import InputError
from pmp_vvc.learning.labels import (
    QPS,
    OnSamples,
    Samples,
    concat,
    load_shard,
    normalise,
    starter_batches,
    starter_samples,
)
from pmp_vvc.modelio import CHROMA_SAMPLE_SIZE, extract_chroma_blocks

__all__ = ["ChromaSamples", "chroma_shard", "concat_chroma", "starter_chroma_samples"]

Index = npt.NDArray[np.int64] | slice


@dataclass(frozen=True)
class ChromaSamples(OnSamples):
    """Chroma-tree samples: ``base`` holds the luma inputs, QP and provenance; the rest is chroma."""

    base: Samples
    cb: npt.NDArray[np.uint16]  # (N, 34, 34) 32x32 chroma block plus 2 samples of context, zero outside
    cr: npt.NDArray[np.uint16]
    qt: npt.NDArray[np.int8]  # (N, 8, 8) chroma tree's qtDepth - 1 per 8x8 luma cell, -1 outside
    mtt: npt.NDArray[np.int8]  # (N, 3, 16, 16) chroma tree's btDepth increments per layer
    direction: npt.NDArray[np.int8]  # (N, 3, 16, 16) chroma tree's directions per layer
    chroma: ClassVar[bool] = True

    def __post_init__(self) -> None:
        n, c = len(self.base), CHROMA_SAMPLE_SIZE
        shapes = {
            "cb": (n, c, c),
            "cr": (n, c, c),
            "qt": (n, 8, 8),
            "mtt": (n, 3, 16, 16),
            "direction": (n, 3, 16, 16),
        }
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise InputError(
                    f"chroma field {name} has shape {getattr(self, name).shape}, expected {shape}"
                )

    def subset(self, index: Index) -> ChromaSamples:
        """Return the samples selected by ``index``."""
        return ChromaSamples(
            self.base.subset(index),
            self.cb[index],
            self.cr[index],
            self.qt[index],
            self.mtt[index],
            self.direction[index],
        )

    def model_inputs(self, index: Index = slice(None)) -> tuple[npt.NDArray[Any], ...]:
        """Return the chroma model's inputs (luma, qp, cb, cr) in the order of ``modelio.CHROMA_INPUTS``."""
        depth = self.base.bit_depth
        cb, cr = (normalise(p[index], depth)[:, None] for p in (self.cb, self.cr))
        return (*self.base.model_inputs(index), cb, cr)

    def maps(self, index: Index = slice(None)) -> dict[str, npt.NDArray[np.int8]]:
        """Return the target maps (``qt``, ``mtt``, ``direction``) of the chroma tree."""
        return {"qt": self.qt[index], "mtt": self.mtt[index], "direction": self.direction[index]}


def concat_chroma(parts: Sequence[ChromaSamples]) -> ChromaSamples:
    """Concatenate chroma sample sets of the same bit depth."""
    if not parts:
        raise InputError("no chroma samples to concatenate")
    fields = ("cb", "cr", "qt", "mtt", "direction")
    return ChromaSamples(
        concat([p.base for p in parts]), *(np.concatenate([getattr(p, f) for p in parts]) for f in fields)
    )


def chroma_shard(path: str | Path) -> ChromaSamples:
    """Chroma samples of a pmp-dataset shard; InputError if it has no chroma fields."""
    from pmp_vvc.learning.shards import load_chroma

    fields = load_chroma(path)
    return ChromaSamples(
        load_shard(path), fields["cb"], fields["cr"], fields["qt_c"], fields["mtt_c"], fields["direction_c"]
    )


def starter_chroma_samples(
    root: str | Path, batches: list[str] | None = None, qps: tuple[int, ...] = QPS
) -> ChromaSamples:
    """Chroma samples of the starter labels (all batches or the named ones), aligned with their luma ones."""
    base = starter_samples(root, batches, qps)
    names = None if batches is None else set(batches)
    fields: dict[str, list[npt.NDArray[Any]]] = {f: [] for f in ("cb", "cr", "qt", "mtt", "direction")}
    sources: list[str] = []
    for batch in starter_batches(root):  # the order of starter_samples: batch, QP, picture, block
        if names is not None and batch.name not in names:
            continue
        with np.load(batch / "crops.npz", allow_pickle=False) as z:
            cb_planes, cr_planes = z["cb"], z["cr"]
            height, width = (int(v) for v in z["luma"].shape[1:])
        for qp in qps:
            with np.load(batch / f"qp{qp}.npz", allow_pickle=False) as z:
                cus = z["cus"]
            for poc, (cb, cr) in enumerate(zip(cb_planes, cr_planes, strict=True)):
                maps = cus_to_maps(cus[cus[:, 0] == poc], width, height, chroma=True)
                fields["cb"].append(extract_chroma_blocks(cb, maps.origins))
                fields["cr"].append(extract_chroma_blocks(cr, maps.origins))
                fields["qt"].append(maps.qt)
                fields["mtt"].append(maps.increments)
                fields["direction"].append(maps.direction)
                sources += [f"{batch.name}/poc{poc}@{x},{y} qp{qp}" for x, y in maps.origins.tolist()]
    if sources != base.source.tolist():
        raise InputError(f"{root}: chroma labels do not line up with the luma samples of the starter batches")
    return ChromaSamples(base, *(np.concatenate(fields[f]) for f in ("cb", "cr", "qt", "mtt", "direction")))
