"""Describe the input sequences of an evaluation run: their format (as the encoder reads it) and class.

The cfg files are read by :mod:`pmp_vvc.codec.vtmcfg`, with its rules: a per-sequence cfg is used
unchanged, its ``InputFile`` relative to the cfg's own folder; bit depths and frame counts as in VTM.

Class names (for JVET-style class averages), first rule that applies:

1. the class the user gives (``seq_class=``, e.g. ``pmp-run --class NAME=B``);
2. the JVET CTC class of a known CTC sequence name (the cfg's stem, e.g. ``Tango2`` -> ``A1``);
3. derived from the luma picture size: the largest CTC class whose picture area does not exceed the
   sequence's: ``A`` (3840x2160), ``B`` (1920x1080), ``E`` (1280x720), ``C`` (832x480), ``D``
   (416x240); anything smaller than 416x240 is ``S`` (small, no CTC class).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pmp_vvc.codec.vtmcfg import SourceFormat, merge_encoder_args, read_source
from pmp_vvc.errors import ConfigError

__all__ = ["CTC_CLASSES", "SequenceConfig", "class_for", "find_sequence_cfgs", "load_sequence"]

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


def class_for(name: str, width: int, height: int) -> str:
    """Class of a sequence that the user did not classify (rules 2 and 3 of the module docstring)."""
    if name in CTC_CLASSES:
        return CTC_CLASSES[name]
    area = width * height
    for cls, class_area in _AREA_CLASSES:
        if area >= class_area:
            return cls
    return _SMALL_CLASS


@dataclass(frozen=True)
class SequenceConfig(SourceFormat):
    """One input sequence as the encoder will see it (per-sequence cfg merged with the encoder cfg).

    Its format as :mod:`pmp_vvc.codec.vtmcfg` reads it, with ``frames_to_encode`` resolved (a cfg's 0
    means the file's frames from ``FrameSkip``), plus its name, cfg and class.
    """

    name: str
    cfg_path: Path
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
    args: list[str] = []
    for c in (*encoder_cfgs, cfg):
        args += ["-c", str(Path(c).absolute())]
    merged = merge_encoder_args([*args, *extra_options])
    if merged.input_file is None:
        raise ConfigError(f"{cfg}: missing InputFile")
    fmt = read_source(merged.values, merged.input_file, str(cfg), frames)
    frames_in_file = fmt.check_file(str(cfg)) if check_input else None
    frames_to_encode = fmt.frames_to_encode
    if frames_to_encode == 0:
        if frames_in_file is None:
            raise ConfigError(f"{cfg}: missing FramesToBeEncoded")
        frames_to_encode = frames_in_file - fmt.frame_skip
    name = cfg.stem
    if seq_class:
        cls, source = seq_class, "user"
    else:
        cls = class_for(name, fmt.width, fmt.height)
        source = "ctc-name" if name in CTC_CLASSES else "resolution"
    return SequenceConfig(
        **{**fmt.__dict__, "frames_to_encode": frames_to_encode},
        name=name,
        cfg_path=cfg,
        seq_class=cls,
        class_source=source,
        frames_in_file=frames_in_file,
    )


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
