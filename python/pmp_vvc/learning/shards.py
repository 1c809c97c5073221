"""One shard of a label dataset: a group of equal-size crops coded as one sequence at one QP.

:func:`prepare_group` writes the group's crops as a YUV 4:2:0 sequence with its per-sequence cfg;
:func:`encode_anchor` codes it with the unmodified encoder (no guide, AI cfg, ``TemporalSubsampleRatio 1``)
and ``--PMPDumpPartition``; :func:`samples_from_dump` turns the dump into luma samples (the format of
:func:`pmp_vvc.learning.labels.save_shard`) plus chroma fields (:data:`CHROMA_FIELDS`);
:func:`write_shard` writes them with the unit's RD-cost labels (:mod:`pmp_vvc.learning.compact`);
:func:`encode_prepared` does it all for one unit.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.dump import PicturePartition, read_dump
from pmp_vvc.codec.partition import cus_to_maps
from pmp_vvc.codec.vtmcfg import sample_dtype
from pmp_vvc.errors import EncodeError, InputError
from pmp_vvc.files import atomic_path
from pmp_vvc.learning.compact import UnitLabels
from pmp_vvc.learning.labels import Samples, concat, load_extra, samples_from_picture, save_shard
from pmp_vvc.learning.sources import Crop
from pmp_vvc.modelio import extract_chroma_blocks

__all__ = [
    "CHROMA_FIELDS",
    "AnchorResult",
    "anchor_args",
    "crop_planes",
    "crop_records",
    "encode_anchor",
    "encode_prepared",
    "load_chroma",
    "prepare_group",
    "samples_from_dump",
    "write_sequence",
    "write_shard",
]

#: Chroma fields stored in each shard beside the luma ones: Cb/Cr inputs (32x32 chroma block plus
#: 2 chroma samples of top/left context, zero outside) and the chroma-tree maps in luma cell units.
CHROMA_FIELDS = ("cb", "cr", "qt_c", "mtt_c", "direction_c")


Planes = tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16], npt.NDArray[np.uint16]]


def crop_planes(crops: Sequence[Crop]) -> list[Planes]:
    """(Y, Cb, Cr) of each crop (each source picture is decoded once for consecutive crops)."""
    cache: dict[str, tuple[Any, ...]] = {}
    out: list[Planes] = []
    for crop in crops:
        key = f"{crop.source.path}#{crop.source.frame}"
        if key not in cache:
            cache.clear()
            cache[key] = crop.source.load()
        y, cb, cr, _ = cache[key]
        s, x0, y0 = crop.size, crop.x, crop.y
        out.append(
            (
                y[y0 : y0 + s, x0 : x0 + s],
                cb[y0 // 2 : (y0 + s) // 2, x0 // 2 : (x0 + s) // 2],
                cr[y0 // 2 : (y0 + s) // 2, x0 // 2 : (x0 + s) // 2],
            )
        )
    return out


def write_sequence(planes: Sequence[Planes], bit_depth: int, folder: Path) -> Path:
    """Write equal-size pictures as one 4:2:0 YUV sequence plus its per-sequence cfg; return the cfg."""
    h, w = planes[0][0].shape
    dtype = np.dtype(sample_dtype(bit_depth))
    yuv = folder / "crops.yuv"
    with open(yuv, "wb") as f:
        for picture in planes:
            if picture[0].shape != (h, w):
                raise InputError("pictures of one sequence must have the same size")
            for plane in picture:
                f.write(np.ascontiguousarray(plane, dtype=dtype).tobytes())
    cfg = folder / "crops.cfg"
    cfg.write_text(
        f"InputFile : {yuv.resolve()}\nInputBitDepth : {bit_depth}\nInputChromaFormat : 420\n"
        f"FrameRate : 30\nSourceWidth : {w}\nSourceHeight : {h}\n"
        f"FramesToBeEncoded : {len(planes)}\n"
    )
    return cfg


def prepare_group(crops: Sequence[Crop], folder: Path) -> Path:
    """Decode the crops' sources and write the group's sequence (``crops.yuv``/``.cfg``) and ``planes.npz``.

    The encoder runs as a fresh interpreter (:func:`pmp_vvc.encode` without a guide object), never as a
    fork of the process that decoded the sources (a forked encoder was seen to crash at its end after its
    parent had decoded a large JPEG).
    """
    folder.mkdir(parents=True, exist_ok=True)
    planes = crop_planes(crops)
    cfg = write_sequence(planes, crops[0].bit_depth, folder)
    with atomic_path(folder / "planes.npz", keep_suffix=True) as tmp:
        np.savez(
            tmp,
            y=np.stack([p[0] for p in planes]),
            cb=np.stack([p[1] for p in planes]),
            cr=np.stack([p[2] for p in planes]),
        )
    return cfg


def _load_planes(folder: Path) -> list[Planes]:
    with np.load(folder / "planes.npz", allow_pickle=False) as z:
        y, cb, cr = z["y"], z["cb"], z["cr"]
    return [(y[i], cb[i], cr[i]) for i in range(len(y))]


def anchor_args(cfg: Path, qp: int, bitstream: Path, dump: Path, extra: Sequence[str] = ()) -> list[str]:
    """EncoderApp arguments of the label anchor: AI cfg, every frame coded, partition dump."""
    import pmp_vvc

    return [
        "-c",
        str(pmp_vvc.vtm_cfg()),
        "-c",
        str(cfg),
        "-q",
        str(qp),
        "--TemporalSubsampleRatio=1",
        "-b",
        str(bitstream),
        "-o",
        "/dev/null",
        f"--PMPDumpPartition={dump}",
        *extra,
    ]


@dataclass(frozen=True)
class AnchorResult:
    """Output of one anchor encode of a sequence: partitions, bitstream MD5, bits, CPU seconds."""

    pictures: list[PicturePartition]
    bitstream_md5: str
    bits: int
    cpu_seconds: float


def encode_anchor(
    cfg: Path, qp: int, encoder_args: Sequence[str] = (), keep_bitstream: Path | None = None
) -> AnchorResult:
    """Encode a per-sequence cfg with the anchor at ``qp`` and read back its partition dump."""
    from pmp_vvc import encode

    with tempfile.TemporaryDirectory(prefix="pmp-anchor-") as tmp:
        bitstream, dump = Path(tmp) / "out.bin", Path(tmp) / "dump.bin"
        stats = encode(anchor_args(cfg, qp, bitstream, dump, encoder_args))
        pictures = read_dump(dump)
        md5 = hashlib.md5(bitstream.read_bytes()).hexdigest()
        if keep_bitstream is not None:
            os.replace(bitstream, keep_bitstream)
    return AnchorResult(pictures, md5, stats.total_bits, stats.cpu_time)


def samples_from_dump(
    pictures: Sequence[PicturePartition],
    planes: Sequence[Planes],
    names: Sequence[str],
    qp: int,
    bit_depth: int,
) -> tuple[Samples, dict[str, npt.NDArray[Any]]]:
    """Luma samples and chroma fields of every 64x64 block of the dumped pictures (in POC order).

    Raises:
        EncodeError: the dump does not hold one fully tiled picture per crop at this QP.
    """
    by_poc = {p.poc: p for p in pictures}
    if sorted(by_poc) != list(range(len(planes))):
        raise EncodeError(f"partition dump holds POCs {sorted(by_poc)}, expected 0..{len(planes) - 1}")
    parts: list[Samples] = []
    extra: dict[str, list[npt.NDArray[Any]]] = {f: [] for f in CHROMA_FIELDS}
    for poc, (y, cb, cr) in enumerate(planes):
        pic = by_poc[poc]
        if (pic.width, pic.height) != (y.shape[1], y.shape[0]) or pic.qp != qp:
            raise EncodeError(
                f"dump picture {poc}: {pic.width}x{pic.height} QP {pic.qp}, expected "
                f"{y.shape[1]}x{y.shape[0]} QP {qp}"
            )
        try:
            luma_maps = cus_to_maps(pic.cus, pic.width, pic.height, chroma=False)
            chroma_maps = cus_to_maps(pic.cus, pic.width, pic.height, chroma=True)
        except InputError as err:
            raise EncodeError(
                f"partition dump of picture {poc} ({names[poc]}) is incomplete or inconsistent: {err}"
            ) from err
        parts.append(samples_from_picture(y, luma_maps, qp, bit_depth, names[poc]))
        extra["cb"].append(extract_chroma_blocks(cb, luma_maps.origins))
        extra["cr"].append(extract_chroma_blocks(cr, luma_maps.origins))
        extra["qt_c"].append(chroma_maps.qt)
        extra["mtt_c"].append(chroma_maps.increments)
        extra["direction_c"].append(chroma_maps.direction)
    return concat(parts), {k: np.concatenate(v) for k, v in extra.items()}


def crop_records(crops: Sequence[Crop]) -> list[dict[str, Any]]:
    """Provenance of a group's crops (POC order), as a shard's json and a label set's manifest hold it."""
    return [
        {
            "source": c.source.name,
            "path": c.source.path,
            "kind": c.source.kind,
            "frame": c.source.frame,
            "x": c.x,
            "y": c.y,
            "size": c.size,
            "poc": i,
        }
        for i, c in enumerate(crops)
    ]


def write_shard(
    out_npz: Path,
    pictures: Sequence[PicturePartition],
    unit: UnitLabels,
    planes: Sequence[Planes],
    crops: Sequence[Crop],
    qp: int,
) -> int:
    """Write the shard of one unit: samples and chroma fields of its pictures' CUs, and its RD-cost labels.

    Returns the number of samples (64x64 blocks).
    """
    names = [f"{c.source.name}+{c.x},{c.y}" for c in crops]
    samples, extra = samples_from_dump(pictures, planes, names, qp, crops[0].bit_depth)
    save_shard(out_npz, samples, extra=extra, unit=unit.arrays())
    return len(samples)


def encode_prepared(
    folder: Path, crops: Sequence[Crop], qp: int, out_npz: Path, encoder_args: Sequence[str] = ()
) -> dict[str, Any]:
    """Encode a group prepared by :func:`prepare_group` at one QP; write its shard and return provenance."""
    from pmp_vvc.codec.buildinfo import build_id

    result = encode_anchor(folder / "crops.cfg", qp, encoder_args)
    pictures = sorted(result.pictures, key=lambda p: p.poc)
    try:
        unit = UnitLabels.from_pictures(pictures)
    except InputError as err:
        raise EncodeError(f"partition dump of {out_npz.stem} does not give RD-cost labels: {err}") from err
    blocks = write_shard(out_npz, pictures, unit, _load_planes(folder), crops, qp)
    return {
        "shard": out_npz.name,
        "qp": qp,
        "blocks": blocks,
        "build_id": build_id(),
        "bitstream_md5": result.bitstream_md5,
        "bits": result.bits,
        "cpu_seconds": round(result.cpu_seconds, 3),
        "encoder_args": list(encoder_args),
        "crops": crop_records(crops),
    }


def load_chroma(path: str | Path) -> dict[str, npt.NDArray[Any]]:
    """Read the chroma fields (:data:`CHROMA_FIELDS`) of a shard written by :func:`encode_prepared`."""
    return load_extra(path, CHROMA_FIELDS)
