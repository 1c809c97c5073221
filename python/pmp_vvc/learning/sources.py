"""Inputs of a label dataset: photos and YUV sequence frames, read as YUV 4:2:0, and the crop plan.

Photos (PNG/JPEG) are converted with BT.601 limited range, 8-bit, chroma = mean of 2x2
(:func:`pmp_vvc.evaluation.demo.rgb_to_yuv420`, the starter labels' matrix); YUV sequences are read
through their VTM per-sequence cfg (:mod:`pmp_vvc.evaluation.sequences`). :func:`plan_crops` spreads
square crops on a 64-aligned grid round-robin over many sources under a pixel budget.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.partition import BLOCK_SIZE, CTU_SIZE
from pmp_vvc.codec.vtmcfg import sample_dtype
from pmp_vvc.errors import ConfigError, InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "Crop",
    "Source",
    "find_images",
    "plan_crops",
    "read_image_yuv",
    "read_sequence_yuv",
    "sequence_sources",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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


def read_image_yuv(
    path: str | Path,
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    """Read a photo as 8-bit BT.601 limited-range YUV 4:2:0 (odd last row/column dropped)."""
    from PIL import Image, UnidentifiedImageError

    from pmp_vvc.evaluation.demo import rgb_to_yuv420

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
    from pmp_vvc.evaluation.sequences import load_sequence

    out: list[Source] = []
    for cfg in cfgs:
        seq = load_sequence(cfg)
        if seq.chroma_format != "420":
            raise InputError(f"{cfg}: only 4:2:0 sequences are supported, got {seq.chroma_format}")
        total = seq.frames_in_file or 1
        for frame in range(seq.frame_skip, total, max(1, frame_step)):
            out.append(Source("yuv", str(Path(cfg).resolve()), f"{seq.name}#{frame}", frame))
    return out


def read_sequence_yuv(
    cfg: str | Path, frame: int
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16], npt.NDArray[np.uint16], int]:
    """Read frame ``frame`` (counted from the file start) of a 4:2:0 sequence: (Y, Cb, Cr, bit depth)."""
    from pmp_vvc.evaluation.sequences import load_sequence

    seq = load_sequence(cfg)
    if seq.chroma_format != "420":
        raise InputError(f"{cfg}: only 4:2:0 sequences are supported, got {seq.chroma_format}")
    w, h, depth = seq.width, seq.height, seq.bit_depth
    size = seq.frame_bytes
    dtype = np.dtype(sample_dtype(seq.file_bit_depth))
    with open(seq.input_file, "rb") as f:
        f.seek(frame * size)
        raw = np.frombuffer(f.read(size), dtype=dtype)
    if raw.nbytes != size:
        raise InputError(f"{seq.input_file}: frame {frame} is beyond the end of the file")
    n_y, n_c = w * h, (w // 2) * (h // 2)
    y = raw[:n_y].reshape(h, w).astype(np.uint16)
    cb = raw[n_y : n_y + n_c].reshape(h // 2, w // 2).astype(np.uint16)
    cr = raw[n_y + n_c : n_y + 2 * n_c].reshape(h // 2, w // 2).astype(np.uint16)
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
    from pmp_vvc.evaluation.sequences import load_sequence

    seq = load_sequence(source.path)
    return seq.width, seq.height, seq.bit_depth


def plan_crops(
    sources: Sequence[Source], budget_pixels: int, crop_size: int = CTU_SIZE, seed: int = 0
) -> list[Crop]:
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
