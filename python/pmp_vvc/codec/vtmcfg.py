"""Read VTM cfg files and EncoderApp command lines the way the encoder will, with one set of rules.

VTM cfg files are ``Key : value`` lines; ``#`` starts a comment. ``-c a.cfg -c b.cfg --Key=v`` applies in
command-line order, later values winning (:func:`merge_encoder_args`). The rules this project follows:

* ``InputFile`` set in a cfg file is relative to that cfg's folder (the per-sequence cfg convention);
  given on the command line (``-i``/``--InputFile``) it is relative to the current folder. The encoder
  is handed the resolved path (:meth:`EncoderArgs.vtm_args`), so what is checked is what is read.
* Bit depths as in VTM: ``InputBitDepth`` is the luma one (default 8), ``InputBitDepthC`` defaults to it;
  the file holds 16-bit little-endian words when either is above 8, else bytes.
* Frames as in VTM: ``FramesToBeEncoded`` counts *input* frames (0 or missing: all of the file); with
  ``TemporalSubsampleRatio`` R only every R-th is coded, ``ceil(FramesToBeEncoded / R)`` pictures, and
  the input must hold ``FrameSkip + (coded - 1) * R + 1`` frames.

:func:`check_encoder_args` checks an EncoderApp command line before VTM runs (VTM loops forever on a
YUV file shorter than the frames asked for, and reports some errors only after creating its outputs);
:func:`read_source` describes the input of a set of cfgs for the evaluation side.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pmp_vvc.codec.options import check_chroma_guide_format
from pmp_vvc.errors import ConfigError, InputError

__all__ = [
    "EncoderArgs",
    "SourceFormat",
    "check_decoder_args",
    "check_encoder_args",
    "frame_bytes",
    "merge_encoder_args",
    "merged_options",
    "parse_cfg_text",
    "parse_option_args",
    "read_cfg",
    "read_source",
]

_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")
_CHROMA_FORMATS = ("400", "420", "422", "444")
# VTM's short option names for the keys read here.
_SHORT = {
    "-c": "c",
    "-i": "InputFile",
    "-b": "BitstreamFile",
    "-o": "ReconFile",
    "-wdt": "SourceWidth",
    "-hgt": "SourceHeight",
    "-f": "FramesToBeEncoded",
    "-fs": "FrameSkip",
    "-q": "QP",
}
_OUTPUT_KEYS = ("BitstreamFile", "ReconFile", "PMPDumpPartition")


def parse_cfg_text(text: str, *, source: str = "<cfg>") -> dict[str, str]:
    """Parse VTM cfg text into ``{key: value}``; a later line overrides an earlier one.

    Raises:
        ConfigError: on a non-empty, non-comment line that is not ``Key : value``.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0]
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise ConfigError(f"{source}:{number}: expected 'Key : value', got {raw.strip()!r}")
        values[match.group(1)] = match.group(2)
    return values


def read_cfg(path: str | Path) -> dict[str, str]:
    """Read and parse one cfg file (``InputFile`` as written; see :func:`merge_encoder_args`).

    Raises:
        ConfigError: if the file is missing, unreadable or malformed.
    """
    cfg = Path(path)
    try:
        text = cfg.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ConfigError(f"cfg file not found: {cfg}") from None
    except OSError as err:
        raise ConfigError(f"cannot read cfg file {cfg}: {err.strerror}") from None
    return parse_cfg_text(text, source=str(cfg))


@dataclass(frozen=True)
class EncoderArgs:
    """The merged option values of an EncoderApp command line and the files it will read and write.

    ``input_file`` is resolved by the rules of the module docstring (None: no ``InputFile``).
    """

    values: dict[str, str]
    outputs: tuple[Path, ...]
    input_file: Path | None = None
    input_from_cfg: bool = False

    def vtm_args(self, args: Sequence[str]) -> list[str]:
        """``args`` as VTM must see them: a relative ``InputFile`` of a cfg becomes the resolved path."""
        if (
            self.input_file is not None
            and self.input_from_cfg
            and self.values.get("InputFile") != str(self.input_file)
        ):
            return [*args, f"--InputFile={self.input_file}"]
        return list(args)


def _tokens(args: Sequence[str], strict: bool) -> Iterable[tuple[str, str]]:
    """(key, value) pairs of ``--Key=v``, ``--Key v`` and VTM's short options, in order."""
    i = 0
    while i < len(args):
        arg = args[i]
        key: str | None = None
        value: str | None = None
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
        elif arg in _SHORT or (arg.startswith("--") and len(arg) > 2):
            key = _SHORT.get(arg, arg[2:])
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            elif arg in _SHORT and strict:
                raise ConfigError(f"option {arg} needs a value")
        i += 1
        if key is not None and value is not None:
            yield key, value


def merge_encoder_args(args: Sequence[str], cwd: str | Path | None = None) -> EncoderArgs:
    """Merge ``-c`` cfg files and options in command-line order, as VTM's option parser does.

    Raises:
        ConfigError: a cfg file is missing/unreadable or an option lacks its value.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    values: dict[str, str] = {}
    input_file: Path | None = None
    from_cfg = False
    for key, value in _tokens(args, strict=True):
        if key == "c":
            cfg = base / value
            if not cfg.is_file():
                raise ConfigError(f"cfg file not found: {value}")
            cfg_values = read_cfg(cfg)
            values.update(cfg_values)
            if cfg_values.get("InputFile", "").strip():
                input_file, from_cfg = cfg.parent / cfg_values["InputFile"].strip(), True
        else:
            values[key] = value
            if key == "InputFile" and value.strip():
                input_file, from_cfg = base / value.strip(), False
    outputs = tuple(
        base / values[k] for k in _OUTPUT_KEYS if values.get(k, "").strip() not in ("", "/dev/null")
    )
    return EncoderArgs(values=values, outputs=outputs, input_file=input_file, input_from_cfg=from_cfg)


def parse_option_args(args: Sequence[str]) -> dict[str, str]:
    """``--Key=value``, ``--Key value`` and short options of a command-line fragment (no cfg files read)."""
    return {k: v for k, v in _tokens(args, strict=False) if k != "c"}


def merged_options(cfgs: Iterable[str | Path], extra_options: Sequence[str] = ()) -> dict[str, str]:
    """Merge cfg files in order, then command-line overrides, as VTM does."""
    values: dict[str, str] = {}
    for cfg in cfgs:
        values.update(read_cfg(cfg))
    values.update(parse_option_args(extra_options))
    return values


def sample_dtype(bit_depth: int) -> str:
    """Return the dtype of a planar YUV file's samples: bytes to 8 bits, else 16-bit LE words."""
    return "<u2" if bit_depth > 8 else "u1"


def frame_bytes(width: int, height: int, bit_depth: int, chroma_format: str = "420") -> int:
    """Bytes of one frame in a planar YUV file; ``bit_depth`` is the file's largest (16-bit words above 8)."""
    if chroma_format not in _CHROMA_FORMATS:
        raise ConfigError(f"unsupported InputChromaFormat {chroma_format!r} (400, 420, 422 or 444)")
    bytes_per_sample = 1 if bit_depth <= 8 else 2
    if chroma_format == "400":
        samples = width * height
    elif chroma_format == "420":
        samples = width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    elif chroma_format == "422":
        samples = width * height + 2 * ((width + 1) // 2) * height
    else:
        samples = 3 * width * height
    return samples * bytes_per_sample


@dataclass(frozen=True)
class SourceFormat:
    """The input as the encoder reads it: file, size, bit depths, chroma format, frames."""

    input_file: Path
    width: int
    height: int
    bit_depth: int  # InputBitDepth (luma)
    bit_depth_chroma: int  # InputBitDepthC (default: luma)
    chroma_format: str
    frame_rate: float
    frames_to_encode: int  # 0: every frame of the file from FrameSkip
    frame_skip: int
    temporal_subsample_ratio: int
    level: str | None

    @property
    def file_bit_depth(self) -> int:
        """Largest bit depth of the file's samples: above 8, every sample is a 16-bit word."""
        return max(self.bit_depth, self.bit_depth_chroma)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame of the file."""
        return frame_bytes(self.width, self.height, self.file_bit_depth, self.chroma_format)

    def coded_frames_of(self, frames_in_file: int | None) -> int:
        """Pictures VTM codes: ``ceil(FramesToBeEncoded / TemporalSubsampleRatio)``."""
        frames = self.frames_to_encode or max(0, (frames_in_file or 0) - self.frame_skip)
        return math.ceil(frames / self.temporal_subsample_ratio)

    def input_frames_needed(self, frames_in_file: int | None = None) -> int:
        """Input frames VTM reads, counting the skipped ones: ``FrameSkip + (coded-1)*R + 1``."""
        coded = self.coded_frames_of(frames_in_file)
        return self.frame_skip + (coded - 1) * self.temporal_subsample_ratio + 1

    def check_file(self, where: str = "") -> int:
        """Check the input file against the format; return the number of frames it holds.

        Raises:
            InputError: missing file, a size that is not a whole number of frames, or too few frames.
        """
        path = self.input_file
        prefix = f"{where}: " if where else ""
        if not path.is_file():
            raise InputError(f"{prefix}InputFile not found: {path}")
        size = path.stat().st_size
        one = self.frame_bytes
        if size % one:
            raise InputError(
                f"{path}: size {size} bytes is not a whole number of {self.width}x{self.height} "
                f"{self.chroma_format} {self.file_bit_depth}-bit frames ({one} bytes each); "
                "check SourceWidth/SourceHeight/InputBitDepth/InputChromaFormat"
            )
        frames = size // one
        need = self.input_frames_needed(frames)
        if frames < need or (self.frames_to_encode == 0 and frames <= self.frame_skip):
            raise InputError(
                f"{path}: holds {frames} frames but FrameSkip={self.frame_skip}, "
                f"FramesToBeEncoded={self.frames_to_encode}, "
                f"TemporalSubsampleRatio={self.temporal_subsample_ratio} need {need}"
            )
        return frames


def _int(values: Mapping[str, str], key: str, where: str, default: int | None = None) -> int:
    raw = values.get(key)
    if raw is None or not raw.split():
        if default is None:
            raise ConfigError(f"{where}: missing {key}")
        return default
    try:
        return int(raw.split()[0])
    except ValueError:
        raise ConfigError(f"{where}: {key} must be an integer, got {raw!r}") from None


def read_source(
    values: Mapping[str, str], input_file: Path, where: str, frames: int | None = None
) -> SourceFormat:
    """Describe the input from merged option ``values`` (``frames`` overrides ``FramesToBeEncoded``).

    Raises:
        ConfigError: a missing or malformed key, or values that are not positive.
    """
    width = _int(values, "SourceWidth", where)
    height = _int(values, "SourceHeight", where)
    bit_depth = _int(values, "InputBitDepth", where, 8)
    frames_to_encode = frames if frames is not None else _int(values, "FramesToBeEncoded", where, 0)
    tsr = _int(values, "TemporalSubsampleRatio", where, 1)
    if width <= 0 or height <= 0 or frames_to_encode < 0 or tsr <= 0:
        raise ConfigError(
            f"{where}: SourceWidth, SourceHeight and TemporalSubsampleRatio must be positive, "
            "FramesToBeEncoded not negative"
        )
    try:
        frame_rate = float((values.get("FrameRate") or "0").split()[0])
    except (ValueError, IndexError):
        raise ConfigError(f"{where}: FrameRate must be a number, got {values.get('FrameRate')!r}") from None
    chroma = (values.get("InputChromaFormat") or "420").split()[0]
    fmt = SourceFormat(
        input_file=input_file,
        width=width,
        height=height,
        bit_depth=bit_depth,
        bit_depth_chroma=_int(values, "InputBitDepthC", where, bit_depth),
        chroma_format=chroma,
        frame_rate=frame_rate,
        frames_to_encode=frames_to_encode,
        frame_skip=_int(values, "FrameSkip", where, 0),
        temporal_subsample_ratio=tsr,
        level=values.get("Level"),
    )
    frame_bytes(width, height, 8, chroma)  # validates the chroma format
    return fmt


def check_encoder_args(args: Sequence[str]) -> EncoderArgs:
    """Validate an EncoderApp command line's input before encoding.

    Checks what VTM would otherwise hang or fail late on: cfg files exist, ``InputFile`` exists, its
    size is a whole number of frames of the given size/bit depth/chroma format, and it holds the
    frames that ``FrameSkip``, ``FramesToBeEncoded`` and ``TemporalSubsampleRatio`` ask for. Output
    folders must exist. Command lines that ask for help or give no input are passed through.

    Raises:
        ConfigError: a cfg is missing or a value is malformed.
        InputError: the input file is missing or does not fit the configuration; an output folder is missing.
    """
    merged = merge_encoder_args(args)
    for out in merged.outputs:
        if not out.parent.is_dir():
            raise InputError(f"output folder does not exist: {out.parent} (for {out})")
    if merged.input_file is None or any(a in ("--help", "-h") for a in args):
        return merged
    where = "cfg InputFile" if merged.input_from_cfg else "InputFile"
    source = read_source(merged.values, merged.input_file, "encoder options")
    source.check_file(where)
    check_chroma_guide_format(merged.values, source.chroma_format)
    return merged


def check_decoder_args(args: Sequence[str]) -> list[Path]:
    """Check a DecoderApp command line's bitstream exists; return the output file it will write (if any).

    Raises:
        InputError: the bitstream (``-b``/``--BitstreamFile``) is missing.
    """
    values: dict[str, str] = {}
    for i, arg in enumerate(args):
        for short, key in (("-b", "BitstreamFile"), ("-o", "ReconFile")):
            if arg in (short, f"--{key}") and i + 1 < len(args):
                values[key] = args[i + 1]
            elif arg.startswith(f"--{key}="):
                values[key] = arg.split("=", 1)[1]
    bitstream = values.get("BitstreamFile")
    if bitstream is not None and not Path(bitstream).is_file():
        raise InputError(f"bitstream not found: {bitstream}")
    recon = values.get("ReconFile", "")
    return [Path(recon)] if recon not in ("", "/dev/null") else []
