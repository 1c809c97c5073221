"""A durable label set: a ``pmp-dataset`` folder packed into its compact form, and made into shards again.

:func:`pack` writes the compact form (:mod:`pmp_vvc.learning.compact`) of every finished shard of a
dataset folder: ``labels.json`` and ``units/gGGGGGG-qpQQ.npz``. Sources are recorded by name (relative to
the data root the dataset was made from, e.g. ``../shared/data/train``) with the sha256 of their file,
so the set holds no pixels and no machine's paths. :func:`materialise` turns a label set back into a
normal dataset folder (``plan.json``, shards, their json, ``manifest.json``) without encoding: it reads
the crops again from the sources under a data root, checks their sha256, rebuilds each unit's CU rows
from its trees and writes the shard exactly as an encode would have (``tests/test_labelset.py``). A rerun
skips the shards already made.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pmp_vvc.codec.dump import PicturePartition
from pmp_vvc.errors import ConfigError, InputError
from pmp_vvc.files import atomic_path, write_json_atomic
from pmp_vvc.learning.compact import UNIT_FIELDS, UnitLabels
from pmp_vvc.learning.dataset import DatasetPlan, check_plan, shard_path, write_manifest
from pmp_vvc.learning.labels import load_extra
from pmp_vvc.learning.shards import crop_planes, crop_records, write_shard
from pmp_vvc.learning.sources import Crop, Source

__all__ = ["FORMAT", "is_label_set", "materialise", "pack"]

log = logging.getLogger(__name__)

FORMAT = "pmp-vvc-labels"
VERSION = 1


def is_label_set(folder: str | Path) -> bool:
    """Tell whether ``folder`` holds a packed label set (``labels.json``)."""
    return (Path(folder) / "labels.json").is_file()


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a JSON object")
    return data


def pack(dataset_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Pack a dataset folder's finished shards into the label set ``out_dir``; return its manifest.

    Raises:
        InputError: the folder has no ``plan.json`` or no finished shard, or a shard has no RD-cost labels
            (made before they existed).
    """
    src, out = Path(dataset_dir), Path(out_dir)
    plan = DatasetPlan.from_json(_read_json(src / "plan.json"))
    units, sha = [], {}
    (out / "units").mkdir(parents=True, exist_ok=True)
    for group in range(len(plan.groups)):
        for qp in plan.qps:
            npz = shard_path(src, group, qp)
            if not (npz.is_file() and npz.with_suffix(".json").is_file()):
                continue
            unit = UnitLabels.from_arrays(load_extra(npz, UNIT_FIELDS), str(npz))
            with atomic_path(out / "units" / npz.name) as tmp, open(tmp, "wb") as fh:
                np.savez_compressed(fh, allow_pickle=False, **unit.arrays())
            record = _read_json(npz.with_suffix(".json"))
            units.append(
                {
                    k: record[k]
                    for k in ("shard", "qp", "blocks", "build_id", "bitstream_md5", "bits", "cpu_seconds")
                }
            )
            units[-1]["group"] = group
    if not units:
        raise InputError(f"{src} has no finished shards to pack")
    for c in plan.crops:
        if c.source.path not in sha:
            sha[c.source.path] = _sha256(c.source.path)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "plan": {**plan.to_json(), "crops": [_crop_entry(c, sha[c.source.path]) for c in plan.crops]},
        "units": units,
        "blocks": sum(u["blocks"] for u in units),
        "cpu_seconds": round(sum(u["cpu_seconds"] for u in units), 1),
    }
    write_json_atomic(out / "labels.json", manifest)
    return manifest


def _crop_entry(crop: Crop, sha256: str) -> dict[str, Any]:
    return {
        "source": {"kind": crop.source.kind, "name": crop.source.name, "frame": crop.source.frame},
        "sha256": sha256,
        "x": crop.x,
        "y": crop.y,
        "size": crop.size,
        "bit_depth": crop.bit_depth,
    }


def _resolve(entry: dict[str, Any], data_root: Path) -> Crop:
    source = entry["source"]
    if source["kind"] != "image":
        raise ConfigError(f"label set source {source['name']}: only photo sources can be materialised")
    path = data_root / source["name"]
    # resolved like pmp-dataset's own sources, so that its plan and this one compare equal and it resumes here
    return Crop(Source("image", str(path.resolve()), source["name"], source["frame"]), **_geometry(entry))


def _geometry(entry: dict[str, Any]) -> dict[str, int]:
    return {k: int(entry[k]) for k in ("x", "y", "size", "bit_depth")}


def materialise(
    label_set: str | Path,
    out_dir: str | Path,
    data_root: str | Path,
    progress: Callable[[int, int], None] | None = None,
    max_units: int | None = None,
) -> dict[str, Any]:
    """Make a label set's shards in ``out_dir`` from the sources under ``data_root``; return the manifest.

    ``max_units``: only the set's first units (in its order), e.g. the data of a model trained before the
    set grew.

    Raises:
        InputError: the label set is unreadable, or a source is missing or differs from the one packed
            (sha256).
        ConfigError: ``out_dir`` holds a dataset made from another plan.
    """
    folder, out, root = Path(label_set), Path(out_dir).absolute(), Path(data_root)
    manifest = _read_json(folder / "labels.json")
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise InputError(f"{folder}: not a {FORMAT} v{VERSION} label set")
    entries = manifest["plan"]["crops"]
    crops = tuple(_resolve(e, root) for e in entries)
    settings = manifest["plan"]
    plan = DatasetPlan(
        crops, tuple(settings["qps"]), int(settings["group_size"]), tuple(settings["encoder_args"])
    )
    groups = plan.groups
    units = manifest["units"][:max_units]
    used = {c for u in units for c in groups[int(u["group"])]}  # only these sources are read
    checked: dict[str, str] = {}
    for crop, entry in zip(crops, entries, strict=True):
        path = crop.source.path
        if crop not in used:
            continue
        if path not in checked:
            if not Path(path).is_file():
                raise InputError(f"source {crop.source.name} of the label set is not under {root}")
            checked[path] = _sha256(path)
        if checked[path] != entry["sha256"]:
            raise InputError(f"source {path} differs from the one the labels were made from (sha256)")
    (out / "shards").mkdir(parents=True, exist_ok=True)
    check_plan(out, plan)
    for done, record in enumerate(units, start=1):
        group, qp = int(record["group"]), int(record["qp"])
        npz = shard_path(out, group, qp)
        if not (npz.is_file() and npz.with_suffix(".json").is_file()):
            _materialise_unit(folder / "units" / npz.name, npz, groups[group], qp, record, folder)
        if progress is not None:
            progress(done, len(units))
    return write_manifest(out)


def _materialise_unit(
    unit_file: Path, npz: Path, crops: tuple[Crop, ...], qp: int, record: dict[str, Any], folder: Path
) -> None:
    with np.load(unit_file, allow_pickle=False) as z:
        unit = UnitLabels.from_arrays(dict(z), str(unit_file))
    planes = crop_planes(crops)
    trees = unit.trees()
    pictures = [PicturePartition(poc, t.width, t.height, qp, t.cus) for poc, t in enumerate(trees)]
    blocks = write_shard(npz, pictures, unit, planes, crops, qp)
    write_json_atomic(
        npz.with_suffix(".json"),
        {**record, "blocks": blocks, "crops": crop_records(crops), "materialised_from": str(folder)},
    )
