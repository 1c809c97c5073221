"""Read a VTM EncoderApp command line the way VTM will, to catch bad input before the encoder starts.

VTM itself loops forever on a YUV file shorter than ``FramesToBeEncoded`` and reports some other
input errors only after creating its outputs, so :func:`check_encoder_args` validates what it can
first: cfg files exist, the input exists and its size fits width/height/bit depth/frames. Paths follow
VTM's rules (``InputFile`` relative to the current directory, not to the cfg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pmp_vvc.errors import ConfigError, InputError
from pmp_vvc.seqcfg import frame_bytes, read_cfg

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


@dataclass(frozen=True)
class EncoderArgs:
    """The merged option values of an EncoderApp command line and the files it will write."""

    values: dict[str, str]
    outputs: tuple[Path, ...]


def merge_encoder_args(args: Sequence[str]) -> EncoderArgs:
    """Merge ``-c`` cfg files and options in command-line order, as VTM's option parser does.

    Raises:
        ConfigError: a cfg file is missing/unreadable or an option lacks its value.
    """
    values: dict[str, str] = {}
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
            elif arg in _SHORT:
                raise ConfigError(f"option {arg} needs a value")
        i += 1
        if key is None or value is None:
            continue
        if key == "c":
            cfg = Path(value)
            if not cfg.is_file():
                raise ConfigError(f"cfg file not found: {value}")
            values.update(read_cfg(cfg))
        else:
            values[key] = value
    outputs = tuple(
        Path(values[k]) for k in _OUTPUT_KEYS if values.get(k, "").strip() not in ("", "/dev/null")
    )
    return EncoderArgs(values=values, outputs=outputs)


def _int(values: dict[str, str], key: str, default: int | None = None) -> int:
    raw = values.get(key)
    if raw is None or not raw.split():
        if default is None:
            raise ConfigError(f"missing {key} (give it in a cfg or as --{key}=...)")
        return default
    try:
        return int(raw.split()[0])
    except ValueError:
        raise ConfigError(f"{key} must be an integer, got {raw!r}") from None


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
    values = merged.values
    for out in merged.outputs:
        if not out.parent.is_dir():
            raise InputError(f"output folder does not exist: {out.parent} (for {out})")
    if "InputFile" not in values or any(a in ("--help", "-h") for a in args):
        return merged
    path = Path(values["InputFile"].strip())
    if not path.is_file():
        raise InputError(f"InputFile not found: {path} (VTM reads it relative to the current directory)")
    width, height = _int(values, "SourceWidth"), _int(values, "SourceHeight")
    bit_depth = _int(values, "InputBitDepth", 8)
    chroma = values.get("InputChromaFormat", "420").split()[0]
    one = frame_bytes(width, height, bit_depth, chroma)
    size = path.stat().st_size
    if size % one:
        raise InputError(
            f"{path}: {size} bytes is not a whole number of {width}x{height} {chroma} {bit_depth}-bit frames "
            f"({one} bytes each); check SourceWidth/SourceHeight/InputBitDepth/InputChromaFormat"
        )
    ratio = _int(values, "TemporalSubsampleRatio", 1)
    frames = _int(values, "FramesToBeEncoded", 0) or size // one
    needed = _int(values, "FrameSkip", 0) + (math.ceil(frames / ratio) - 1) * ratio + 1
    if size // one < needed:
        raise InputError(
            f"{path}: holds {size // one} frames, but FramesToBeEncoded={frames}, "
            f"TemporalSubsampleRatio={ratio} and FrameSkip need {needed}"
        )
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
