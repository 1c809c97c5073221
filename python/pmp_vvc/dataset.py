"""``pmp-dataset``: partition labels from the anchor encoder, as resumable sample shards with provenance.

Pipeline: sources (PNG/JPEG photos, or YUV sequences through their VTM per-sequence cfg) -> YUV 4:2:0
(photos: BT.601 limited range, 8-bit, chroma = mean of 2x2, :func:`pmp_vvc.demo.rgb_to_yuv420`, the
starter labels' matrix) -> square crops on a 64-aligned grid, spread round-robin over many sources under
a pixel budget (:func:`plan_crops`) -> groups of equal-size crops coded as the frames of one sequence by
the unmodified encoder (no guide, AI cfg, ``TemporalSubsampleRatio 1``) at each QP with
``--PMPDumpPartition`` -> one npz shard per (group, QP) in the format of :func:`pmp_vvc.labels.save_shard`,
extended with chroma fields (:data:`CHROMA_FIELDS`) -> ``manifest.json`` of provenance.

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

import hashlib
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pmp_vvc.errors import ConfigError, EncodeError, InputError, PmpError
from pmp_vvc.labels import (
    CONTEXT,
    QPS,
    Samples,
    cache_dir,
    concat,
    load_extra,
    samples_from_picture,
    save_shard,
)
from pmp_vvc.partition import BLOCK_SIZE, CTU_SIZE, PicturePartition, cus_to_maps, read_dump

__all__ = [
    "CHROMA_FIELDS",
    "IMAGE_SUFFIXES",
    "Crop",
    "DatasetPlan",
    "Source",
    "build_dataset",
    "encode_anchor",
    "encode_prepared",
    "find_images",
    "load_chroma",
    "plan_crops",
    "prepare_group",
    "read_image_yuv",
    "read_sequence_yuv",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Chroma fields stored in each shard beside the luma ones: Cb/Cr inputs (32x32 chroma block plus
#: 2 chroma samples of top/left context, zero outside) and the chroma-tree maps in luma cell units.
CHROMA_FIELDS = ("cb", "cr", "qt_c", "mtt_c", "direction_c")
CHROMA_CONTEXT = CONTEXT // 2
PLAN_VERSION = 1


@dataclass(frozen=True)
class Source:
    """An input: a photo (``kind="image"``) or one frame of a YUV sequence (``kind="yuv"``)."""

    kind: str
    path: str  # absolute path of the image or of the sequence's per-sequence cfg
    name: str  # provenance name (path relative to the source root, or cfg stem + frame)
    frame: int = 0

    def load(self) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16], npt.NDArray[np.uint16], int]:
        """Return (Y, Cb, Cr, bit depth) of the whole picture."""
        if self.kind == "image":
            y, cb, cr = read_image_yuv(self.path)
            return y, cb, cr, 8
        if self.kind == "yuv":
            return read_sequence_yuv(self.path, self.frame)
        raise ConfigError(f"unknown source kind {self.kind!r}")


@dataclass(frozen=True)
class Crop:
    """A square crop of a source at a 64-aligned luma position."""

    source: Source
    x: int
    y: int
    size: int
    bit_depth: int


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
            if current and (len(current) == self.group_size or (crop.size, crop.bit_depth) !=
                            (current[0].size, current[0].bit_depth)):
                out.append(tuple(current))
                current = []
            current.append(crop)
        if current:
            out.append(tuple(current))
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (for ``plan.json``)."""
        return {"version": PLAN_VERSION, "qps": list(self.qps), "group_size": self.group_size,
                "encoder_args": list(self.encoder_args), "crops": [asdict(c) for c in self.crops]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetPlan:
        """Inverse of :meth:`to_json`."""
        if data.get("version") != PLAN_VERSION:
            raise InputError(f"plan.json version {data.get('version')}, expected {PLAN_VERSION}")
        crops = tuple(Crop(source=Source(**c["source"]), x=c["x"], y=c["y"], size=c["size"],
                           bit_depth=c["bit_depth"]) for c in data["crops"])
        return cls(crops, tuple(data["qps"]), int(data["group_size"]), tuple(data["encoder_args"]))


# ------------------------------------------------------------------------------------------------ inputs
def find_images(roots: Iterable[str | Path], exclude: Iterable[str] = ()) -> list[Source]:
    """Photos (PNG/JPEG, recursive, sorted) under each root; ``exclude`` holds names to leave out.

    A source's name is its path relative to the root given (for ``../shared/data/train``:
    ``bsds500/12003.jpg``, the starter labels' convention); a file given directly is named by its file name.
    """
    skip = set(exclude)
    out: list[Source] = []
    for root in roots:
        root = Path(root)
        if root.is_file():
            files, base = [root], root.parent
        elif root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            base = root
        else:
            raise InputError(f"image source not found: {root}")
        for path in files:
            name = path.relative_to(base).as_posix()
            if name not in skip:
                out.append(Source("image", str(path.resolve()), name))
    if not out:
        raise InputError("no PNG/JPEG images found in the given sources")
    return out


def read_image_yuv(path: str | Path) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16],
                                              npt.NDArray[np.uint16]]:
    """Read a photo as 8-bit BT.601 limited-range YUV 4:2:0 (odd last row/column dropped)."""
    from PIL import Image, UnidentifiedImageError

    from pmp_vvc.demo import rgb_to_yuv420

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise InputError(f"cannot read image {path}: {err}") from err
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    y, cb, cr = rgb_to_yuv420(rgb[:h, :w])
    return y.astype(np.uint16), cb.astype(np.uint16), cr.astype(np.uint16)


def sequence_sources(cfgs: Iterable[str | Path], frame_step: int = 8) -> list[Source]:
    """One source per ``frame_step``-th frame of each YUV sequence (VTM per-sequence cfgs)."""
    from pmp_vvc.seqcfg import load_sequence

    out: list[Source] = []
    for cfg in cfgs:
        seq = load_sequence(cfg)
        if seq.chroma_format != "420":
            raise InputError(f"{cfg}: only 4:2:0 sequences are supported, got {seq.chroma_format}")
        total = seq.frames_in_file or 1
        for frame in range(seq.frame_skip, total, max(1, frame_step)):
            out.append(Source("yuv", str(Path(cfg).resolve()), f"{seq.name}#{frame}", frame))
    return out


def read_sequence_yuv(cfg: str | Path, frame: int) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16],
                                                            npt.NDArray[np.uint16], int]:
    """Read frame ``frame`` (counted from the file start) of a 4:2:0 sequence: (Y, Cb, Cr, bit depth)."""
    from pmp_vvc.seqcfg import frame_bytes, load_sequence

    seq = load_sequence(cfg)
    w, h, depth = seq.width, seq.height, seq.bit_depth
    size = frame_bytes(w, h, depth, "420")
    dtype = np.dtype("<u2") if depth > 8 else np.dtype("u1")
    with open(seq.input_file, "rb") as f:
        f.seek(frame * size)
        raw = np.frombuffer(f.read(size), dtype=dtype)
    if raw.nbytes != size:
        raise InputError(f"{seq.input_file}: frame {frame} is beyond the end of the file")
    n_y, n_c = w * h, (w // 2) * (h // 2)
    y = raw[:n_y].reshape(h, w).astype(np.uint16)
    cb = raw[n_y: n_y + n_c].reshape(h // 2, w // 2).astype(np.uint16)
    cr = raw[n_y + n_c: n_y + 2 * n_c].reshape(h // 2, w // 2).astype(np.uint16)
    return y, cb, cr, depth


def _source_size(source: Source) -> tuple[int, int, int]:
    """(width, height, bit depth) without decoding the whole picture when possible."""
    if source.kind == "image":
        from PIL import Image

        try:
            with Image.open(source.path) as im:
                return im.width // 2 * 2, im.height // 2 * 2, 8
        except OSError as err:
            raise InputError(f"cannot read image {source.path}: {err}") from err
    from pmp_vvc.seqcfg import load_sequence

    seq = load_sequence(source.path)
    return seq.width, seq.height, seq.bit_depth


def plan_crops(sources: Sequence[Source], budget_pixels: int, crop_size: int = CTU_SIZE,
               seed: int = 0) -> list[Crop]:
    """Square crops on a 64-aligned grid, spread round-robin over the sources, until the budget is used.

    Sources are visited in a seeded random order; each visit takes one new non-overlapping crop at a
    random free grid position (a source whose grid is used up, or that is smaller than a crop, is
    dropped). ``budget_pixels`` counts luma samples per QP.
    """
    if crop_size % BLOCK_SIZE or crop_size <= 0:
        raise ConfigError(f"crop size must be a positive multiple of {BLOCK_SIZE}, got {crop_size}")
    if budget_pixels < crop_size * crop_size:
        raise ConfigError(f"pixel budget {budget_pixels} is smaller than one {crop_size}x{crop_size} crop")
    rng = random.Random(seed)
    order = list(sources)
    rng.shuffle(order)
    free: dict[int, list[tuple[int, int]]] = {}
    depth: dict[int, int] = {}
    cells = crop_size // BLOCK_SIZE
    for i, src in enumerate(order):
        w, h, bd = _source_size(src)
        nx, ny = w // BLOCK_SIZE - cells + 1, h // BLOCK_SIZE - cells + 1
        if nx <= 0 or ny <= 0:
            continue
        depth[i] = bd
        # Non-overlapping positions: a random phase of the crop-size grid inside the 64-grid.
        px, py = rng.randrange(min(cells, nx)), rng.randrange(min(cells, ny))
        pos = [(x * BLOCK_SIZE, y * BLOCK_SIZE) for y in range(py, ny, cells) for x in range(px, nx, cells)]
        rng.shuffle(pos)
        free[i] = pos
    crops: list[Crop] = []
    n_max = budget_pixels // (crop_size * crop_size)
    while len(crops) < n_max and free:
        for i in list(free):
            if len(crops) >= n_max:
                break
            x, y = free[i].pop()
            crops.append(Crop(order[i], x, y, crop_size, depth[i]))
            if not free[i]:
                del free[i]
    if not crops:
        raise InputError(f"no source is at least {crop_size}x{crop_size}")
    return crops


# -------------------------------------------------------------------------------------------- one group
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
        out.append((y[y0: y0 + s, x0: x0 + s], cb[y0 // 2: (y0 + s) // 2, x0 // 2: (x0 + s) // 2],
                    cr[y0 // 2: (y0 + s) // 2, x0 // 2: (x0 + s) // 2]))
    return out


def write_sequence(planes: Sequence[Planes], bit_depth: int, folder: Path) -> Path:
    """Write equal-size pictures as one 4:2:0 YUV sequence plus its per-sequence cfg; return the cfg."""
    h, w = planes[0][0].shape
    dtype = np.dtype("<u2") if bit_depth > 8 else np.dtype("u1")
    yuv = folder / "crops.yuv"
    with open(yuv, "wb") as f:
        for picture in planes:
            if picture[0].shape != (h, w):
                raise InputError("pictures of one sequence must have the same size")
            for plane in picture:
                f.write(np.ascontiguousarray(plane, dtype=dtype).tobytes())
    cfg = folder / "crops.cfg"
    cfg.write_text(f"InputFile : {yuv.resolve()}\nInputBitDepth : {bit_depth}\nInputChromaFormat : 420\n"
                   f"FrameRate : 30\nSourceWidth : {w}\nSourceHeight : {h}\n"
                   f"FramesToBeEncoded : {len(planes)}\n")
    return cfg


def prepare_group(crops: Sequence[Crop], folder: Path) -> Path:
    """Decode the crops' sources and write the group's sequence (``crops.yuv``/``.cfg``) and ``planes.npz``.

    Run this in a different process from the one that encodes: the encoder child has been seen to crash
    at its end (SIGSEGV after the summary) when its parent had decoded a large JPEG before forking.
    """
    folder.mkdir(parents=True, exist_ok=True)
    planes = crop_planes(crops)
    cfg = write_sequence(planes, crops[0].bit_depth, folder)
    tmp = folder / "planes.tmp.npz"
    np.savez(tmp, y=np.stack([p[0] for p in planes]), cb=np.stack([p[1] for p in planes]),
             cr=np.stack([p[2] for p in planes]))
    os.replace(tmp, folder / "planes.npz")
    return cfg


def _load_planes(folder: Path) -> list[Planes]:
    with np.load(folder / "planes.npz", allow_pickle=False) as z:
        y, cb, cr = z["y"], z["cb"], z["cr"]
    return [(y[i], cb[i], cr[i]) for i in range(len(y))]


def anchor_args(cfg: Path, qp: int, bitstream: Path, dump: Path, extra: Sequence[str] = ()) -> list[str]:
    """EncoderApp arguments of the label anchor: AI cfg, every frame coded, partition dump."""
    import pmp_vvc

    return ["-c", str(pmp_vvc.vtm_cfg()), "-c", str(cfg), "-q", str(qp), "--TemporalSubsampleRatio=1",
            "-b", str(bitstream), "-o", "/dev/null", f"--PMPDumpPartition={dump}", *extra]


@dataclass(frozen=True)
class AnchorResult:
    """Output of one anchor encode of a sequence: partitions, bitstream MD5, bits, CPU seconds."""

    pictures: list[PicturePartition]
    bitstream_md5: str
    bits: int
    cpu_seconds: float


def encode_anchor(cfg: Path, qp: int, encoder_args: Sequence[str] = (),
                  keep_bitstream: Path | None = None) -> AnchorResult:
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


def _chroma_inputs(plane: npt.NDArray[np.uint16], origins: npt.NDArray[np.int64]) -> npt.NDArray[np.uint16]:
    """(B, 34, 34) chroma inputs: the 32x32 chroma block of each 64x64 luma block plus 2 context samples."""
    h, w = plane.shape
    half, ctx = BLOCK_SIZE // 2, CHROMA_CONTEXT
    padded = np.zeros((h + ctx + half, w + ctx + half), dtype=np.uint16)
    padded[ctx: ctx + h, ctx: ctx + w] = plane
    return np.stack([padded[y // 2: y // 2 + half + ctx, x // 2: x // 2 + half + ctx] for x, y in origins])


def samples_from_dump(pictures: Sequence[PicturePartition], planes: Sequence[Planes],
                      names: Sequence[str], qp: int, bit_depth: int
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
            raise EncodeError(f"dump picture {poc}: {pic.width}x{pic.height} QP {pic.qp}, expected "
                              f"{y.shape[1]}x{y.shape[0]} QP {qp}")
        try:
            luma_maps = cus_to_maps(pic.cus, pic.width, pic.height, chroma=False)
            chroma_maps = cus_to_maps(pic.cus, pic.width, pic.height, chroma=True)
        except InputError as err:
            raise EncodeError(f"partition dump of picture {poc} ({names[poc]}) is incomplete or "
                              f"inconsistent: {err}") from err
        parts.append(samples_from_picture(y, luma_maps, qp, bit_depth, names[poc]))
        extra["cb"].append(_chroma_inputs(cb, luma_maps.origins))
        extra["cr"].append(_chroma_inputs(cr, luma_maps.origins))
        extra["qt_c"].append(chroma_maps.qt)
        extra["mtt_c"].append(chroma_maps.increments)
        extra["direction_c"].append(chroma_maps.direction)
    return concat(parts), {k: np.concatenate(v) for k, v in extra.items()}


def encode_prepared(folder: Path, crops: Sequence[Crop], qp: int, out_npz: Path,
                    encoder_args: Sequence[str] = ()) -> dict[str, Any]:
    """Encode a group prepared by :func:`prepare_group` at one QP; write its shard and return provenance."""
    from pmp_vvc.buildinfo import build_id

    result = encode_anchor(folder / "crops.cfg", qp, encoder_args)
    names = [f"{c.source.name}+{c.x},{c.y}" for c in crops]
    samples, extra = samples_from_dump(result.pictures, _load_planes(folder), names, qp, crops[0].bit_depth)
    save_shard(out_npz, samples, extra=extra)
    return {"shard": out_npz.name, "qp": qp, "blocks": len(samples), "build_id": build_id(),
            "bitstream_md5": result.bitstream_md5, "bits": result.bits,
            "cpu_seconds": round(result.cpu_seconds, 3), "encoder_args": list(encoder_args),
            "crops": [{"source": c.source.name, "path": c.source.path, "kind": c.source.kind,
                       "frame": c.source.frame, "x": c.x, "y": c.y, "size": c.size, "poc": i}
                      for i, c in enumerate(crops)]}


def _run_unit(folder: str, crops: tuple[Crop, ...], qp: int, npz: str,
              encoder_args: tuple[str, ...]) -> dict[str, Any]:
    record = encode_prepared(Path(folder), crops, qp, Path(npz), encoder_args)
    _write_json(Path(npz).with_suffix(".json"), record)
    return record


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _check_plan(out_dir: Path, plan: DatasetPlan) -> None:
    path = out_dir / "plan.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read {path}: {err}") from err
        if old != plan.to_json():
            raise ConfigError(f"{out_dir} holds a dataset made with other crops or settings (plan.json "
                              "differs); use another output folder or the same arguments")
    else:
        _write_json(path, plan.to_json())


def write_manifest(out_dir: Path) -> dict[str, Any]:
    """Gather the shard records of ``out_dir/shards`` into ``manifest.json``; return it."""
    records = []
    for path in sorted((out_dir / "shards").glob("g*-qp*.json")):
        if path.with_suffix(".npz").is_file():
            records.append(json.loads(path.read_text()))
    manifest = {"colour": "photos: BT.601 limited range, 8-bit, 4:2:0 (mean of 2x2)",
                "shards": records, "blocks": sum(r["blocks"] for r in records)}
    _write_json(out_dir / "manifest.json", manifest)
    return manifest


def shard_paths(out_dir: str | Path) -> list[Path]:
    """Finished shard files of a dataset folder (npz with its provenance json), sorted."""
    folder = Path(out_dir) / "shards"
    return sorted(p for p in folder.glob("g*-qp*.npz") if p.with_suffix(".json").is_file())


def build_dataset(plan: DatasetPlan, out_dir: str | Path, jobs: int = 1,
                  progress: Callable[[int, int, dict[str, Any]], None] | None = None,
                  max_units: int | None = None) -> dict[str, Any]:
    """Encode every missing (group, QP) shard of ``plan`` into ``out_dir``; return the manifest.

    Sources are decoded in this process (``out_dir/work/gNNNNNN``, removed when the group is done); the
    encodes run in ``jobs`` spawned worker processes. ``progress(done, total, record)`` is called after
    each finished shard (``done`` counts shards already present too). ``max_units`` stops after that many
    new shards. A shard whose encode fails is logged and skipped (the others go on); EncodeError is
    raised at the end if any failed, after the manifest of the finished ones is written.
    """
    import multiprocessing
    import shutil

    out = Path(out_dir)
    shards = out / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    _check_plan(out, plan)
    groups = plan.groups
    units = [(g, qp) for g in range(len(groups)) for qp in plan.qps]

    def npz(g: int, qp: int) -> Path:
        return shards / f"g{g:06d}-qp{qp}.npz"

    todo = [(g, qp) for g, qp in units
            if not (npz(g, qp).is_file() and npz(g, qp).with_suffix(".json").is_file())]
    if max_units is not None:
        todo = todo[:max_units]
    done = len(shard_paths(out))
    args = tuple(plan.encoder_args)
    log.info("dataset %s: %d shards planned, %d done, %d to encode with %d jobs", out, len(units), done,
             len(todo), jobs)
    t0 = time.monotonic()
    left = {g: sum(1 for u in todo if u[0] == g) for g, _ in todo}
    failed: list[str] = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: dict[Future[dict[str, Any]], int] = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < jobs:
                g, qp = queue.pop(0)
                work = out / "work" / f"g{g:06d}"
                if not (work / "planes.npz").is_file():
                    prepare_group(groups[g], work)
                pending[pool.submit(_run_unit, str(work), groups[g], qp, str(npz(g, qp)), args)] = g
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                g = pending.pop(fut)
                left[g] -= 1
                if left[g] == 0:
                    shutil.rmtree(out / "work" / f"g{g:06d}", ignore_errors=True)
                try:
                    record = fut.result()
                except PmpError as err:
                    failed.append(f"g{g:06d}: {err}")
                    log.error("shard of group %d failed (left for a rerun): %s", g, str(err)[:2000])
                    continue
                done += 1
                write_manifest(out)
                if progress is not None:
                    progress(done, len(units), record)
                log.debug("shard %s done (%d/%d, %.0f s elapsed)", record["shard"], done, len(units),
                          time.monotonic() - t0)
    manifest = write_manifest(out)
    if failed:
        raise EncodeError(f"{len(failed)} shard(s) failed (rerun to retry them); first: {failed[0][:500]}")
    return manifest


def load_chroma(path: str | Path) -> dict[str, npt.NDArray[Any]]:
    """Read the chroma fields (:data:`CHROMA_FIELDS`) of a shard written by :func:`build_dataset`."""
    return load_extra(path, CHROMA_FIELDS)


def default_out_dir(name: str) -> Path:
    """Default dataset folder: ``cache_dir()/labels/<name>``."""
    return cache_dir() / "labels" / name


def qps_from(values: Sequence[int] | None) -> tuple[int, ...]:
    """QPs to encode (default 22, 27, 32, 37); ConfigError outside 0..63."""
    qps = tuple(values) if values else QPS
    if any(not 0 <= q <= 63 for q in qps):
        raise ConfigError(f"QPs must be in 0..63, got {list(qps)}")
    return qps
