"""Training samples: 68x68 luma inputs (64x64 block + 4 samples of top/left context), QP and map targets.

A sample is one 64x64 luma block of one coded picture at one QP. Its input is the original luma of the
block plus 4 rows above and 4 columns to its left; context outside the picture is **zero** (after
normalisation 0.0 is below any legal limited-range sample, so the model sees where the picture edge is).
Targets are the luma-tree maps of :mod:`pmp_vvc.codec.partition`: QT depth (8,8), MTT depth *increments* per
layer (3,16,16) and directions per layer (3,16,16), -1 where the block leaves the picture.

Samples are stored as npz shards (:func:`save_shard` / :func:`load_shard`); :func:`starter_samples` builds
them from the vanilla VTM-23.13 starter labels (``../shared/data/labels``) and caches the result under
:func:`cache_dir`. Samples are stored as coded; VVC intra partitioning is not exactly symmetric, so a
transposed sample (:mod:`pmp_vvc.learning.augment`, ``pmp-train --transpose``) is an approximate label.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.partition import PartitionMaps, cus_to_maps
from pmp_vvc.errors import InputError
from pmp_vvc.files import atomic_path
from pmp_vvc.modelio import SAMPLE_SIZE, extract_blocks

QPS = (22, 27, 32, 37)
SHARD_VERSION = 1
STARTER_LABEL_ENCODER = "VTM-23.13 vanilla, encoder_intra_vtm.cfg, TemporalSubsampleRatio 1"
_FIELDS = ("luma", "qp", "qt", "mtt", "direction", "source")


@dataclass(frozen=True)
class Samples:
    """A set of training samples (all arrays share the first axis N)."""

    luma: npt.NDArray[np.uint16]  # (N, 68, 68) original samples, zero context outside the picture
    bit_depth: int
    qp: npt.NDArray[np.int16]  # (N,)
    qt: npt.NDArray[np.int8]  # (N, 8, 8) qtDepth - 1, -1 outside
    mtt: npt.NDArray[np.int8]  # (N, 3, 16, 16) btDepth increment per layer in {0, 1, 2}, -1 outside
    direction: npt.NDArray[np.int8]  # (N, 3, 16, 16) 0 none, 1 horizontal, 2 vertical, -1 outside
    source: npt.NDArray[np.str_]  # (N,) provenance, e.g. "batch000/poc3@64,128 qp22"
    chroma: ClassVar[bool] = False  # the targets are the luma tree's

    def __len__(self) -> int:
        return int(self.luma.shape[0])

    def subset(self, index: npt.NDArray[np.int64] | slice) -> Samples:
        """Return the samples selected by ``index`` (same bit depth)."""
        return Samples(
            self.luma[index],
            self.bit_depth,
            self.qp[index],
            self.qt[index],
            self.mtt[index],
            self.direction[index],
            self.source[index],
        )

    def normalised_luma(self, index: npt.NDArray[np.int64] | slice = slice(None)) -> npt.NDArray[np.float32]:
        """Model input (n, 1, 68, 68) float32 in [0, 1] (divided by 2**bit_depth - 1)."""
        return normalise(self.luma[index], self.bit_depth)[:, None]

    def model_inputs(
        self, index: npt.NDArray[np.int64] | slice = slice(None)
    ) -> tuple[npt.NDArray[Any], ...]:
        """Return the luma model's inputs (luma, qp as float32) in the order of ``modelio.INPUTS``."""
        return self.normalised_luma(index), self.qp[index].astype(np.float32)

    def maps(self, index: npt.NDArray[np.int64] | slice = slice(None)) -> dict[str, npt.NDArray[np.int8]]:
        """Return the target maps (``qt``, ``mtt``, ``direction``) of the luma tree."""
        return {"qt": self.qt[index], "mtt": self.mtt[index], "direction": self.direction[index]}


class OnSamples:
    """Base of sample sets built on luma samples (their ``base``): length, QPs and provenance are theirs."""

    base: Samples

    def __len__(self) -> int:
        return len(self.base)

    @property
    def qp(self) -> npt.NDArray[np.int16]:
        """Slice QP of each sample."""
        return self.base.qp

    @property
    def source(self) -> npt.NDArray[np.str_]:
        """Provenance of each sample."""
        return self.base.source


def normalise(luma: npt.NDArray[np.integer], bit_depth: int) -> npt.NDArray[np.float32]:
    """Scale integer samples to [0, 1] by their bit depth."""
    return (luma.astype(np.float32) / np.float32((1 << bit_depth) - 1)).astype(np.float32)


def samples_from_picture(
    plane: npt.NDArray[np.integer], maps: PartitionMaps, qp: int, bit_depth: int, source: str
) -> Samples:
    """One sample per 64x64 block of a picture, from its luma plane and luma-tree maps."""
    if plane.shape != (maps.height, maps.width) or maps.chroma:
        raise InputError(
            f"{source}: luma plane {plane.shape} does not match luma maps {maps.width}x{maps.height}"
        )
    n = len(maps.origins)
    return Samples(
        luma=extract_blocks(plane, maps.origins),
        bit_depth=bit_depth,
        qp=np.full(n, qp, dtype=np.int16),
        qt=maps.qt.copy(),
        mtt=maps.increments,
        direction=maps.direction.copy(),
        source=np.array([f"{source}@{x},{y} qp{qp}" for x, y in maps.origins.tolist()]),
    )


def concat(parts: list[Samples]) -> Samples:
    """Concatenate sample sets of the same bit depth."""
    if not parts:
        raise InputError("no samples to concatenate")
    if len({p.bit_depth for p in parts}) != 1:
        raise InputError("cannot concatenate samples of different bit depths")
    cat = {f: np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS}
    return Samples(bit_depth=parts[0].bit_depth, **cat)


def save_shard(
    path: str | Path,
    samples: Samples,
    extra: Mapping[str, npt.NDArray[Any]] | None = None,
    unit: Mapping[str, npt.NDArray[Any]] | None = None,
) -> None:
    """Write samples to an npz shard (atomically: temporary file, then rename).

    ``extra`` adds further per-sample arrays (first axis N, names not clashing with the sample fields),
    e.g. the chroma fields of :mod:`pmp_vvc.learning.dataset`; ``unit`` adds arrays of any shape that
    belong to the shard as a whole (its RD-cost labels, :mod:`pmp_vvc.learning.compact`).
    :func:`load_shard` ignores both, :func:`load_extra` reads them.
    """
    path = Path(path)
    extra, unit = dict(extra or {}), dict(unit or {})
    for name, arr in extra.items():
        if len(arr) != len(samples):
            raise InputError(f"extra shard field {name!r}: length {len(arr)} != {len(samples)}")
    clash = set(extra) & set(unit) | (set(extra) | set(unit)) & {*_FIELDS, "version", "bit_depth"}
    if clash:
        raise InputError(f"extra shard fields {sorted(clash)} clash with other fields")
    arrays: dict[str, Any] = {
        "version": SHARD_VERSION,
        "bit_depth": samples.bit_depth,
        **{f: getattr(samples, f) for f in _FIELDS},
        **extra,
        **unit,
    }
    with atomic_path(path, keep_suffix=True) as tmp:
        np.savez_compressed(tmp, **arrays)


def load_extra(path: str | Path, names: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    """Read extra arrays of a shard (see :func:`save_shard`); InputError if absent."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [n for n in names if n not in z.files]
            if missing:
                raise InputError(f"{path}: shard has no field(s) {missing}")
            return {n: z[n] for n in names}
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read sample shard {path}: {err}") from err


def load_shard(path: str | Path) -> Samples:
    """Read an npz shard written by :func:`save_shard`; InputError if missing, corrupt or inconsistent."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != SHARD_VERSION:
                raise InputError(f"{path}: shard version {int(z['version'])}, expected {SHARD_VERSION}")
            samples = Samples(bit_depth=int(z["bit_depth"]), **{f: z[f] for f in _FIELDS})
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"cannot read sample shard {path}: {err}") from err
    n = len(samples)
    shapes = {
        "luma": (n, SAMPLE_SIZE, SAMPLE_SIZE),
        "qp": (n,),
        "qt": (n, 8, 8),
        "mtt": (n, 3, 16, 16),
        "direction": (n, 3, 16, 16),
        "source": (n,),
    }
    for field, shape in shapes.items():
        if getattr(samples, field).shape != shape:
            got = getattr(samples, field).shape
            raise InputError(f"{path}: field {field} has shape {got}, expected {shape}")
    return samples


def cache_dir() -> Path:
    """Cache root for labels, checkpoints and runs: $PMP_VVC_CACHE or ~/.cache/pmp-vvc."""
    env = os.environ.get("PMP_VVC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pmp-vvc"


def starter_batches(root: str | Path) -> list[Path]:
    """Batch folders of the starter labels (``batchNNN`` holding ``crops.npz``)."""
    root = Path(root)
    batches = sorted(p for p in root.glob("batch*") if (p / "crops.npz").is_file())
    if not batches:
        raise InputError(f"no starter-label batches (batchNNN/crops.npz) under {root}")
    return batches


def _batch_samples(batch: Path, qps: tuple[int, ...]) -> Samples:
    with np.load(batch / "crops.npz", allow_pickle=False) as z:
        luma = z["luma"]
    parts = []
    for qp in qps:
        label = batch / f"qp{qp}.npz"
        if not label.is_file():
            raise InputError(f"missing starter label file {label}")
        with np.load(label, allow_pickle=False) as z:
            cus = z["cus"]
        for poc, plane in enumerate(luma):
            maps = cus_to_maps(cus[cus[:, 0] == poc], plane.shape[1], plane.shape[0], chroma=False)
            parts.append(samples_from_picture(plane, maps, qp, 8, f"{batch.name}/poc{poc}"))
    return concat(parts)


def starter_samples(
    root: str | Path, batches: list[str] | None = None, qps: tuple[int, ...] = QPS, cache: bool = True
) -> Samples:
    """Build samples from the starter labels (all batches or the named ones), cached as a shard."""
    paths = starter_batches(root)
    if batches is not None:
        missing = set(batches) - {p.name for p in paths}
        if missing:
            raise InputError(f"starter-label batches not found under {root}: {sorted(missing)}")
        paths = [p for p in paths if p.name in set(batches)]
    key = hashlib.sha256(
        repr(([(p.name, (p / "crops.npz").stat().st_size) for p in paths], qps, SHARD_VERSION)).encode()
    ).hexdigest()[:16]
    shard = cache_dir() / "labels" / f"starter-{key}.npz"
    if cache and shard.is_file():
        return load_shard(shard)
    samples = concat([_batch_samples(p, qps) for p in paths])
    if cache:
        shard.parent.mkdir(parents=True, exist_ok=True)
        save_shard(shard, samples)
    return samples


def label_statistics(samples: Samples) -> dict[int, dict[str, list[float]]]:
    """Per QP: class frequencies of QT depth (per 16x16), MTT increment and direction (per 4x4 and layer).

    Returns ``{qp: {"blocks": [n], "qt": [f64, f32, f16, f8], "mtt1": [f0, f1, f2], ..., "direction3":
    [none, hor, ver]}}``; cells outside the picture are not counted.
    """
    out: dict[int, dict[str, list[float]]] = {}

    def freq(a: npt.NDArray[np.int8], n: int) -> list[float]:
        valid = a[a >= 0].astype(np.int64)
        return [float(v) for v in np.bincount(valid, minlength=n)[:n] / max(1, valid.size)]

    for qp in sorted(np.unique(samples.qp).tolist()):
        sel = samples.qp == qp
        row: dict[str, list[float]] = {
            "blocks": [float(sel.sum())],
            "qt": freq(samples.qt[sel][:, ::2, ::2], 4),
        }
        for layer in range(3):
            row[f"mtt{layer + 1}"] = freq(samples.mtt[sel][:, layer], 3)
            row[f"direction{layer + 1}"] = freq(samples.direction[sel][:, layer], 3)
        out[int(qp)] = row
    return out
