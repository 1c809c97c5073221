"""Read VTM cfg files and describe one input sequence for an evaluation run.

VTM cfg files are ``Key : value`` lines; ``#`` starts a comment; later files and command-line options
override earlier ones (VTM applies ``-c a.cfg -c b.cfg --Key=v`` in that order, and so does
:func:`merged_options`). A per-sequence cfg is used unchanged: ``InputFile`` is taken relative to the
cfg's own folder when it is not absolute.

Frame counting follows VTM: ``FramesToBeEncoded`` counts *input* frames; with
``TemporalSubsampleRatio`` R (8 in the all-intra cfg) only every R-th input frame is coded, i.e.
``ceil(FramesToBeEncoded / R)`` pictures, and the input must hold
``FrameSkip + (coded - 1) * R + 1`` frames.

Class names (for JVET-style class averages), first rule that applies:

1. the class the user gives (``seq_class=``, e.g. ``pmp-run --class NAME=B``);
2. the JVET CTC class of a known CTC sequence name (the cfg's stem, e.g. ``Tango2`` -> ``A1``);
3. derived from the luma picture size: the largest CTC class whose picture area does not exceed the
   sequence's: ``A`` (3840x2160), ``B`` (1920x1080), ``E`` (1280x720), ``C`` (832x480), ``D``
   (416x240); anything smaller than 416x240 is ``S`` (small, no CTC class).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pmp_vvc.errors import ConfigError, InputError

__all__ = [
    "CTC_CLASSES",
    "SequenceConfig",
    "class_for",
    "find_sequence_cfgs",
    "frame_bytes",
    "load_sequence",
    "merged_options",
    "parse_cfg_text",
    "parse_option_args",
    "read_cfg",
]

#: JVET CTC sequence name (per-sequence cfg stem) -> class.
CTC_CLASSES: Mapping[str, str] = {
    **dict.fromkeys(("Tango2", "FoodMarket4", "Campfire"), "A1"),
    **dict.fromkeys(("CatRobot", "DaylightRoad2", "ParkRunning3"), "A2"),
    **dict.fromkeys(("MarketPlace", "RitualDance", "Cactus", "BasketballDrive", "BQTerrace"), "B"),
    **dict.fromkeys(("BasketballDrill", "BQMall", "PartyScene", "RaceHorsesC"), "C"),
    **dict.fromkeys(("BasketballPass", "BQSquare", "BlowingBubbles", "RaceHorses"), "D"),
    **dict.fromkeys(("FourPeople", "Johnny", "KristenAndSara"), "E"),
    **dict.fromkeys(("BasketballDrillText", "ArenaOfValor", "SlideEditing", "SlideShow"), "F"),
}

#: (class, luma area) from largest to smallest, for rule 3.
_AREA_CLASSES: tuple[tuple[str, int], ...] = (
    ("A", 3840 * 2160),
    ("B", 1920 * 1080),
    ("E", 1280 * 720),
    ("C", 832 * 480),
    ("D", 416 * 240),
)
_SMALL_CLASS = "S"

_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")
_CHROMA_FACTORS = {"400": 0.0, "420": 0.5, "422": 1.0, "444": 2.0}


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
    """Read and parse one cfg file.

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


def parse_option_args(args: Sequence[str]) -> dict[str, str]:
    """Extract ``--Key=value`` and ``--Key value`` overrides from a VTM command-line fragment.

    Short options (``-f 3``) and flags without a value are ignored; they do not matter for the
    values this module reads.
    """
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and len(arg) > 2:
            if "=" in arg:
                key, value = arg[2:].split("=", 1)
                values[key] = value
            elif i + 1 < len(args) and not args[i + 1].startswith("-"):
                values[arg[2:]] = args[i + 1]
                i += 1
        i += 1
    return values


def merged_options(cfgs: Iterable[str | Path], extra_options: Sequence[str] = ()) -> dict[str, str]:
    """Merge cfg files in order, then command-line overrides, as VTM does."""
    values: dict[str, str] = {}
    for cfg in cfgs:
        values.update(read_cfg(cfg))
    values.update(parse_option_args(extra_options))
    return values


def class_for(name: str, width: int, height: int) -> str:
    """Class of a sequence that the user did not classify (rules 2 and 3 of the module docstring)."""
    if name in CTC_CLASSES:
        return CTC_CLASSES[name]
    area = width * height
    for cls, class_area in _AREA_CLASSES:
        if area >= class_area:
            return cls
    return _SMALL_CLASS


def frame_bytes(width: int, height: int, bit_depth: int, chroma_format: str = "420") -> int:
    """Bytes of one frame in a planar YUV file (16-bit little-endian words above 8 bits)."""
    if chroma_format not in _CHROMA_FACTORS:
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
class SequenceConfig:
    """One input sequence as the encoder will see it (per-sequence cfg merged with the encoder cfg)."""

    name: str
    cfg_path: Path
    input_file: Path
    width: int
    height: int
    bit_depth: int
    chroma_format: str
    frame_rate: float
    frames_to_encode: int
    frame_skip: int
    temporal_subsample_ratio: int
    level: str | None
    seq_class: str
    class_source: str
    frames_in_file: int | None

    @property
    def coded_frames(self) -> int:
        """Number of pictures VTM codes: ``ceil(FramesToBeEncoded / TemporalSubsampleRatio)``."""
        return math.ceil(self.frames_to_encode / self.temporal_subsample_ratio)

    @property
    def required_input_frames(self) -> int:
        """Input frames VTM reads, counting the skipped ones: ``FrameSkip + (coded-1)*R + 1``."""
        return self.frame_skip + (self.coded_frames - 1) * self.temporal_subsample_ratio + 1

    @property
    def coded_pixels(self) -> int:
        """Luma samples coded per QP (a cost estimate: VTM AI needs ~200 CPU-µs per sample)."""
        return self.width * self.height * self.coded_frames


def _int(values: Mapping[str, str], key: str, cfg: Path, default: int | None = None) -> int:
    if key not in values:
        if default is None:
            raise ConfigError(f"{cfg}: missing {key}")
        return default
    token = values[key].split()[0] if values[key].split() else ""
    try:
        return int(token)
    except ValueError:
        raise ConfigError(f"{cfg}: {key} must be an integer, got {values[key]!r}") from None


def _check_input(seq: SequenceConfig) -> int:
    path = seq.input_file
    if not path.is_file():
        raise InputError(f"{seq.cfg_path}: InputFile not found: {path}")
    size = path.stat().st_size
    one = frame_bytes(seq.width, seq.height, seq.bit_depth, seq.chroma_format)
    if size % one:
        raise InputError(
            f"{path}: size {size} bytes is not a whole number of {seq.width}x{seq.height} "
            f"{seq.chroma_format} {seq.bit_depth}-bit frames ({one} bytes each); "
            "check SourceWidth/SourceHeight/InputBitDepth/InputChromaFormat"
        )
    frames = size // one
    if frames < seq.required_input_frames:
        raise InputError(
            f"{path}: holds {frames} frames but FrameSkip={seq.frame_skip}, "
            f"FramesToBeEncoded={seq.frames_to_encode}, "
            f"TemporalSubsampleRatio={seq.temporal_subsample_ratio} "
            f"need {seq.required_input_frames}"
        )
    return frames


def load_sequence(
    cfg_path: str | Path,
    *,
    encoder_cfgs: Sequence[str | Path] = (),
    extra_options: Sequence[str] = (),
    frames: int | None = None,
    seq_class: str | None = None,
    check_input: bool = True,
) -> SequenceConfig:
    """Describe the sequence of a VTM per-sequence cfg as VTM will encode it.

    Args:
        cfg_path: the per-sequence cfg.
        encoder_cfgs: encoder cfgs given before it (``-c enc.cfg -c seq.cfg``), read for
            ``TemporalSubsampleRatio`` (default 1, as in VTM).
        extra_options: command-line options given after the cfgs (they override both).
        frames: overrides ``FramesToBeEncoded`` (input frames, like the cfg value).
        seq_class: class name given by the user (rule 1 of the module docstring).
        check_input: check that ``InputFile`` exists and its size fits the cfg.

    Raises:
        ConfigError: missing/malformed cfg or a missing/invalid key.
        InputError: ``InputFile`` missing or its size not matching the cfg.
    """
    cfg = Path(cfg_path).absolute()
    if not cfg.is_file():
        raise ConfigError(f"sequence cfg not found: {cfg_path}")
    seq_values = read_cfg(cfg)
    values = merged_options([*encoder_cfgs, cfg], extra_options)
    if "InputFile" not in seq_values and "InputFile" not in values:
        raise ConfigError(f"{cfg}: missing InputFile")
    input_name = values["InputFile"].strip()
    input_file = Path(input_name)
    if not input_file.is_absolute():
        input_file = cfg.parent / input_file
    width = _int(values, "SourceWidth", cfg)
    height = _int(values, "SourceHeight", cfg)
    bit_depth = _int(values, "InputBitDepth", cfg, default=8)
    bit_depth_c = _int(values, "InputBitDepthC", cfg, default=bit_depth)
    frames_to_encode = frames if frames is not None else _int(values, "FramesToBeEncoded", cfg)
    tsr = _int(values, "TemporalSubsampleRatio", cfg, default=1)
    if width <= 0 or height <= 0 or frames_to_encode <= 0 or tsr <= 0:
        raise ConfigError(
            f"{cfg}: SourceWidth, SourceHeight, FramesToBeEncoded and TemporalSubsampleRatio must be positive"
        )
    try:
        frame_rate = float(values.get("FrameRate", "0").split()[0])
    except (ValueError, IndexError):
        raise ConfigError(f"{cfg}: FrameRate must be a number, got {values.get('FrameRate')!r}") from None
    name = cfg.stem
    if seq_class:
        cls, source = seq_class, "user"
    else:
        cls = class_for(name, width, height)
        source = "ctc-name" if name in CTC_CLASSES else "resolution"
    seq = SequenceConfig(
        name=name,
        cfg_path=cfg,
        input_file=input_file,
        width=width,
        height=height,
        bit_depth=max(bit_depth, bit_depth_c),
        chroma_format=values.get("InputChromaFormat", "420").split()[0]
        if values.get("InputChromaFormat")
        else "420",
        frame_rate=frame_rate,
        frames_to_encode=frames_to_encode,
        frame_skip=_int(values, "FrameSkip", cfg, default=0),
        temporal_subsample_ratio=tsr,
        level=values.get("Level"),
        seq_class=cls,
        class_source=source,
        frames_in_file=None,
    )
    frame_bytes(width, height, seq.bit_depth, seq.chroma_format)  # validates the chroma format
    if check_input:
        frames_in_file = _check_input(seq)
        seq = SequenceConfig(**{**seq.__dict__, "frames_in_file": frames_in_file})
    return seq


def find_sequence_cfgs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (their ``*.cfg``, sorted, not recursive) into a list of cfg paths.

    Raises:
        ConfigError: if a path does not exist, a folder holds no cfg, or nothing is given.
    """
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            cfgs = sorted(path.glob("*.cfg"))
            if not cfgs:
                raise ConfigError(f"no *.cfg in folder {path}")
            found.extend(cfgs)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"sequence cfg not found: {path}")
    if not found:
        raise ConfigError("no sequence cfg given")
    unique: dict[Path, None] = dict.fromkeys(p.absolute() for p in found)
    return list(unique)
