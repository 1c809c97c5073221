"""A short demo clip for ``pmp-run --demo``, made from photos bundled with scikit-image.

Each frame is one photo (``skimage.data``: astronaut, coffee, chelsea, rocket, in that order), scaled
to cover the frame and centre-cropped, converted to YCbCr with the BT.601 matrix in limited range
(Y 16..235, Cb/Cr 16..240), 4:2:0 by averaging 2x2 chroma blocks, 8-bit. Next to the YUV file a
VTM-style per-sequence cfg is written; it sets ``TemporalSubsampleRatio : 1`` so that every frame is
coded (the all-intra cfg's 8 would code only the first). Nothing is read from ``../shared``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pmp_vvc.errors import ConfigError
from pmp_vvc.files import write_bytes_atomic

__all__ = ["DEMO_PHOTOS", "make_demo_clip", "rgb_to_yuv420"]

DEMO_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")

_CFG = """#======== File I/O ===============
# pmp-vvc demo clip: {frames} photos from scikit-image, BT.601 limited range, 4:2:0, 8-bit
InputFile                     : {yuv}
InputBitDepth                 : 8           # Input bitdepth
InputChromaFormat             : 420         # Ratio of luminance to chrominance samples
FrameRate                     : 30          # Frame Rate per second
FrameSkip                     : 0           # Number of frames to be skipped in input
SourceWidth                   : {width}          # Input  frame width
SourceHeight                  : {height}          # Input  frame height
FramesToBeEncoded             : {frames}          # Number of frames to be coded
TemporalSubsampleRatio        : 1           # every frame is a different photo: code them all

Level                         : 4.1
"""


def _cover_crop(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    from skimage.transform import resize

    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    sh, sw = max(height, round(h * scale)), max(width, round(w * scale))
    scaled = resize(rgb, (sh, sw), order=1, anti_aliasing=scale < 1, preserve_range=True)  # type: ignore[no-untyped-call]
    top, left = (sh - height) // 2, (sw - width) // 2
    return np.asarray(scaled[top : top + height, left : left + width, :3], dtype=np.float64)


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert 8-bit RGB (H, W, 3), even H and W, to BT.601 limited-range 8-bit Y, Cb, Cr planes (4:2:0)."""
    x = np.asarray(rgb, dtype=np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b

    def down(c: np.ndarray) -> np.ndarray:
        return np.asarray(0.25 * (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]))

    def u8(c: np.ndarray) -> np.ndarray:
        return np.asarray(np.clip(np.rint(c), 0, 255), dtype=np.uint8)

    return u8(y), u8(down(cb)), u8(down(cr))


def make_demo_clip(
    out_dir: str | Path, width: int = 256, height: int = 256, frames: int = 3, name: str = "demo_photos"
) -> Path:
    """Write ``<name>_<w>x<h>.yuv`` and ``<name>.cfg`` into ``out_dir``; return the cfg path.

    Deterministic: the same arguments give byte-identical files (so finished encodes are reused).

    Raises:
        ConfigError: odd or non-positive sizes, or a frame count outside 1..4.
    """
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ConfigError(f"demo size must be positive and even, got {width}x{height}")
    if not 1 <= frames <= len(DEMO_PHOTOS):
        raise ConfigError(f"demo frames must be in 1..{len(DEMO_PHOTOS)}, got {frames}")
    import skimage.data

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    planes: list[bytes] = []
    for photo in DEMO_PHOTOS[:frames]:
        rgb = _cover_crop(getattr(skimage.data, photo)(), width, height)
        planes.extend(p.tobytes() for p in rgb_to_yuv420(rgb))
    yuv = out / f"{name}_{width}x{height}.yuv"
    cfg = out / f"{name}.cfg"
    text = _CFG.format(yuv=yuv.name, width=width, height=height, frames=frames)
    for path, data in ((yuv, b"".join(planes)), (cfg, text.encode())):
        if path.is_file() and path.read_bytes() == data:
            continue
        write_bytes_atomic(path, data)
    return cfg
