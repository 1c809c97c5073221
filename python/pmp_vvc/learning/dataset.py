"""``pmp-dataset``: partition labels from the anchor encoder, as resumable sample shards with provenance.

Pipeline: sources (PNG/JPEG photos, or YUV sequences through their VTM per-sequence cfg) -> YUV 4:2:0
(photos: BT.601 limited range, 8-bit, chroma = mean of 2x2, the starter labels' matrix) -> square crops
on a 64-aligned grid, spread round-robin over many sources under a pixel budget
(:func:`~pmp_vvc.learning.sources.plan_crops`) -> groups of equal-size crops coded as the frames of one
sequence by the unmodified encoder (no guide, AI cfg, ``TemporalSubsampleRatio 1``) at each QP with
``--PMPDumpPartition`` -> one npz shard per (group, QP) in the format of
:func:`pmp_vvc.learning.labels.save_shard`, extended with chroma fields -> ``manifest.json`` of
provenance. The inputs and the crop plan are :mod:`pmp_vvc.learning.sources`, one shard is
:mod:`pmp_vvc.learning.shards`; this module plans the groups and runs the shards on an executor of
:mod:`pmp_vvc.evaluation.executors` (local threads, each waiting on one encoder process, or Dask).

Output folder layout (default ``labels.cache_dir()/labels/<name>``)::

    plan.json                 the crops and encoder settings (written once; a rerun must match it)
    shards/gGGGGG-qpQQ.npz    samples of crop group G at QP QQ (written atomically)
    shards/gGGGGG-qpQQ.json   provenance of that shard: crops, QP, encoder build id, CPU time, bits
    manifest.json             all finished shards' provenance (rewritten after every shard)

A run skips every shard whose npz and json exist, so a killed run rerun with the same arguments finishes
only what is missing. Units run in group-major order (all QPs of group 0, then group 1, ...), so a run
stopped early still has balanced QPs.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pmp_vvc.errors import ConfigError, EncodeError, InputError, PmpError
from pmp_vvc.evaluation.executors import Executor, LocalExecutor
from pmp_vvc.files import remove_stale_temporaries, write_json_atomic
from pmp_vvc.learning.labels import QPS, cache_dir
from pmp_vvc.learning.shards import encode_prepared, prepare_group
from pmp_vvc.learning.sources import Crop, Source

__all__ = [
    "DatasetPlan",
    "ShardOutcome",
    "ShardUnit",
    "build_dataset",
    "check_plan",
    "default_out_dir",
    "qps_from",
    "run_unit",
    "shard_encoder_args",
    "shard_paths",
    "write_manifest",
]

log = logging.getLogger(__name__)

PLAN_VERSION = 1


@dataclass(frozen=True)
class DatasetPlan:
    """Everything that determines a dataset's content (stored as ``plan.json``)."""

    crops: tuple[Crop, ...]
    qps: tuple[int, ...]
    group_size: int
    encoder_args: tuple[str, ...]

    @property
    def groups(self) -> list[tuple[Crop, ...]]:
        """Crops in groups of ``group_size`` that share size and bit depth (one encoder run each)."""
        out: list[tuple[Crop, ...]] = []
        current: list[Crop] = []
        for crop in self.crops:
            if current and (
                len(current) == self.group_size
                or (crop.size, crop.bit_depth) != (current[0].size, current[0].bit_depth)
            ):
                out.append(tuple(current))
                current = []
            current.append(crop)
        if current:
            out.append(tuple(current))
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (for ``plan.json``)."""
        return {
            "version": PLAN_VERSION,
            "qps": list(self.qps),
            "group_size": self.group_size,
            "encoder_args": list(self.encoder_args),
            "crops": [asdict(c) for c in self.crops],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetPlan:
        """Inverse of :meth:`to_json`."""
        if data.get("version") != PLAN_VERSION:
            raise InputError(f"plan.json version {data.get('version')}, expected {PLAN_VERSION}")
        crops = tuple(
            Crop(source=Source(**c["source"]), x=c["x"], y=c["y"], size=c["size"], bit_depth=c["bit_depth"])
            for c in data["crops"]
        )
        return cls(crops, tuple(data["qps"]), int(data["group_size"]), tuple(data["encoder_args"]))


def _first_difference(old: Any, new: Any, where: str = "") -> str:
    """Where two JSON values first differ, as ``key[i].key: old -> new`` (for the plan mismatch error)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{where}: {len(old)} entries -> {len(new)}"
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")
    return f"{where}: {old!r} -> {new!r}"


def check_plan(out_dir: Path, plan: DatasetPlan) -> None:
    """Write ``plan.json`` into a new dataset folder; ConfigError if the folder holds another plan."""
    path = out_dir / "plan.json"
    new = plan.to_json()
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read {path}: {err}") from err
        if old != new:
            raise ConfigError(
                f"{out_dir} holds a dataset made with other crops or settings (plan.json: "
                f"{_first_difference(old, new)}); use another output folder or the same arguments"
            )
    else:
        write_json_atomic(path, new)


def write_manifest(out_dir: Path) -> dict[str, Any]:
    """Gather the shard records of ``out_dir/shards`` into ``manifest.json``; return it."""
    records = []
    for path in sorted((out_dir / "shards").glob("g*-qp*.json")):
        if path.with_suffix(".npz").is_file():
            records.append(json.loads(path.read_text()))
    manifest = {
        "colour": "photos: BT.601 limited range, 8-bit, 4:2:0 (mean of 2x2)",
        "shards": records,
        "blocks": sum(r["blocks"] for r in records),
    }
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest


def shard_paths(out_dir: str | Path) -> list[Path]:
    """Finished shard files of a dataset folder (npz with its provenance json), sorted."""
    folder = Path(out_dir) / "shards"
    return sorted(p for p in folder.glob("g*-qp*.npz") if p.with_suffix(".json").is_file())


def shard_encoder_args(npz: str | Path) -> tuple[str, ...]:
    """Return the extra encoder options a shard was made with (from its provenance json; none without)."""
    record = Path(npz).with_suffix(".json")
    if not record.is_file():
        return ()
    try:
        return tuple(json.loads(record.read_text()).get("encoder_args", []))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {record}: {err}") from err


@dataclass(frozen=True)
class ShardUnit:
    """One (group, QP) shard to encode: everything a worker needs (picklable, for Dask)."""

    out_dir: str
    group: int
    crops: tuple[Crop, ...]
    qp: int
    encoder_args: tuple[str, ...]

    @property
    def npz(self) -> Path:
        """The shard file."""
        return shard_path(Path(self.out_dir), self.group, self.qp)


@dataclass(frozen=True)
class ShardOutcome:
    """A finished unit: its provenance record, or the error that stopped it."""

    unit: ShardUnit
    record: dict[str, Any] | None
    error: str | None


def shard_path(out_dir: Path, group: int, qp: int) -> Path:
    """``out_dir/shards/gGGGGGG-qpQQ.npz``."""
    return out_dir / "shards" / f"g{group:06d}-qp{qp}.npz"


def run_unit(unit: ShardUnit) -> ShardOutcome:
    """Prepare the unit's group (its own work folder), encode it, write the shard and its provenance.

    Never raises for a bad input or a failed encode: the error is returned (the other units go on).
    """
    work = Path(unit.out_dir) / "work" / f"g{unit.group:06d}-qp{unit.qp}"
    try:
        prepare_group(unit.crops, work)
        record = encode_prepared(work, unit.crops, unit.qp, unit.npz, unit.encoder_args)
        write_json_atomic(unit.npz.with_suffix(".json"), record)
        return ShardOutcome(unit, record, None)
    except PmpError as err:
        return ShardOutcome(unit, None, f"g{unit.group:06d} QP {unit.qp}: {err}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_dataset(
    plan: DatasetPlan,
    out_dir: str | Path,
    jobs: int = 1,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    max_units: int | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Encode every missing (group, QP) shard of ``plan`` into ``out_dir``; return the manifest.

    Each shard is a :class:`ShardUnit` run by :func:`run_unit` on ``executor`` (default: a local one with
    ``jobs`` encodes at once; a :class:`~pmp_vvc.evaluation.executors.DaskExecutor` runs them on a
    cluster whose workers see ``out_dir``). ``progress(done, total, record)`` is called after each
    finished shard (``done`` counts shards already present too). ``max_units`` stops after that many new
    shards. A shard whose encode fails is logged and skipped (the others go on); EncodeError is raised at
    the end if any failed, after the manifest of the finished ones is written.
    """
    out = Path(out_dir).absolute()
    (out / "shards").mkdir(parents=True, exist_ok=True)
    check_plan(out, plan)
    groups = plan.groups
    units = [
        ShardUnit(str(out), g, groups[g], qp, tuple(plan.encoder_args))
        for g in range(len(groups))
        for qp in plan.qps
    ]
    todo = [u for u in units if not (u.npz.is_file() and u.npz.with_suffix(".json").is_file())]
    if max_units is not None:
        todo = todo[:max_units]
    done = len(shard_paths(out))
    remove_stale_temporaries(out / "shards")
    log.info("dataset %s: %d shards planned, %d done, %d to encode", out, len(units), done, len(todo))
    t0 = time.monotonic()
    failed: list[str] = []
    runner = executor if executor is not None else LocalExecutor(jobs)
    try:
        for outcome in runner.map_unordered(run_unit, todo):
            if outcome.record is None:
                failed.append(outcome.error or "unknown error")
                log.error("shard failed (left for a rerun): %s", (outcome.error or "")[:2000])
                continue
            done += 1
            write_manifest(out)
            if progress is not None:
                progress(done, len(units), outcome.record)
            log.debug(
                "shard %s done (%d/%d, %.0f s elapsed)",
                outcome.record["shard"],
                done,
                len(units),
                time.monotonic() - t0,
            )
    finally:
        if executor is None:
            runner.close()
    manifest = write_manifest(out)
    if failed:
        raise EncodeError(f"{len(failed)} shard(s) failed (rerun to retry them); first: {failed[0][:500]}")
    return manifest


def default_out_dir(name: str) -> Path:
    """Default dataset folder: ``cache_dir()/labels/<name>``."""
    return cache_dir() / "labels" / name


def qps_from(values: Sequence[int] | None) -> tuple[int, ...]:
    """QPs to encode (default 22, 27, 32, 37); ConfigError outside 0..63."""
    qps = tuple(values) if values else QPS
    if any(not 0 <= q <= 63 for q in qps):
        raise ConfigError(f"QPs must be in 0..63, got {list(qps)}")
    return qps
