"""The ``--PMP*`` encoder options on the Python side: their defaults and checks, once.

VTM's option parser (C++, ``cpp/encoder/Hooks.cpp``) accepts the options and hands their values as text
to the guide factory (:func:`pmp_vvc.codec.guides.guide_from_options`); :meth:`MapGuideOptions.parse`
turns them into typed, checked values with the defaults below. The file options (:data:`PATH_OPTIONS`)
name files, which :func:`absolute_paths` resolves against the caller's folder before an encode runs
elsewhere (another working directory, a Dask worker).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pmp_vvc.codec.partition import NODE_SIDES
from pmp_vvc.errors import ConfigError, InputError

__all__ = [
    "CHROMA_MAP_SOURCES",
    "MAP_GUIDE_SOURCES",
    "PATH_OPTIONS",
    "MapGuideOptions",
    "absolute_paths",
    "check_chroma_guide_format",
    "chroma_oracle_dump",
    "option_value",
]

#: ``--PMPGuide=NAME:FILE`` sources whose argument is a file (map guide fed by stored or oracle maps).
MAP_GUIDE_SOURCES = ("oracle", "oracle-partition", "replay")
#: ``--PMPChromaModel=NAME:DUMP`` sources of chroma maps other than a model (the anchor's chroma partition).
CHROMA_MAP_SOURCES = ("oracle", "oracle-partition")
#: Options whose value is (or, for ``--PMPGuide``/``--PMPChromaModel``, may end in) a file path.
PATH_OPTIONS = ("PMPModel", "PMPChromaModel", "PMPGuide", "PMPDumpPartition")


@dataclass(frozen=True)
class MapGuideOptions:
    """Settings of the map guide; the defaults are those of ``pmp-encoder --help``."""

    level: int = 2  # --PMPLevel: map-controlled levels, 0..3
    threshold: float = 0.0  # --PMPThreshold: 0 hard maps, else the probability a node's modes must reach
    # --PMPThreshold=QP:t,QP:t,...: per slice QP, linear between the knots (``threshold``: the first)
    threshold_by_qp: tuple[tuple[int, float], ...] = ()
    qt_threshold: float = -1.0  # --PMPQtThreshold: at nodes where QT is legal; negative: threshold
    branch_threshold: float = -1.0  # --PMPBranchThreshold: below a split the maps did not imply; <0: off
    # --PMPSideThreshold=S:t,...: the threshold at luma nodes whose shorter side is S, in place of the others
    side_thresholds: tuple[tuple[int, float], ...] = ()
    chroma_level: int = 0  # --PMPChromaLevel: chroma maps rule the chroma tree at 1..3; 0 VTM's search
    chroma_threshold: float = -1.0  # --PMPChromaThreshold: the chroma tree's; negative: threshold
    edge_blocks: bool = True  # --PMPEdgeBlocks: the model rules in blocks crossing the picture edge
    threads: int = 1  # --PMPThreads: onnxruntime intra-op threads

    def __post_init__(self) -> None:
        if self.level not in (0, 1, 2, 3):
            raise ConfigError(f"--PMPLevel must be 0, 1, 2 or 3, got {self.level}")
        qps = [qp for qp, _ in self.threshold_by_qp]
        for prev, qp in itertools.pairwise(qps):
            if qp <= prev:
                raise ConfigError(f"--PMPThreshold: the QPs must increase, got {prev} before {qp}")
        for qp, t in self.threshold_by_qp:
            if not 0.0 <= t <= 1.0:
                raise ConfigError(f"--PMPThreshold: the threshold at QP {qp} must be in [0, 1], got {t}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"--PMPThreshold must be in [0, 1], got {self.threshold}")
        if self.qt_threshold > 1.0:
            raise ConfigError(
                f"--PMPQtThreshold must be <= 1 (negative: --PMPThreshold), got {self.qt_threshold}"
            )
        if self.branch_threshold > 1.0:
            raise ConfigError(
                f"--PMPBranchThreshold must be <= 1 (negative: off), got {self.branch_threshold}"
            )
        sides = [side for side, _ in self.side_thresholds]
        for side, t in self.side_thresholds:
            if side not in NODE_SIDES:
                raise ConfigError(f"--PMPSideThreshold: a node side must be 4, 8, 16, 32 or 64, got {side}")
            if sides.count(side) > 1:
                raise ConfigError(f"--PMPSideThreshold: side {side} is given twice")
            if not 0.0 <= t <= 1.0:
                raise ConfigError(
                    f"--PMPSideThreshold: the threshold at side {side} must be in [0, 1], got {t}"
                )
        if self.chroma_level not in (0, 1, 2, 3):
            raise ConfigError(f"--PMPChromaLevel must be 0 (off), 1, 2 or 3, got {self.chroma_level}")
        if self.chroma_threshold > 1.0:
            raise ConfigError(
                f"--PMPChromaThreshold must be <= 1 (negative: --PMPThreshold), got {self.chroma_threshold}"
            )
        if self.threads < 1:
            raise ConfigError(f"--PMPThreads must be >= 1, got {self.threads}")

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> MapGuideOptions:
        """Read ``PMPLevel`` ... ``PMPThreads`` from option text (missing or empty: the default).

        Raises:
            ConfigError: a value is not a number of the right kind or is out of range.
        """
        d = cls()
        by_qp = _pairs(options, "PMPThreshold", "QP:threshold", "22:0.8,37:0.9")
        return cls(
            level=int(_number(options, "PMPLevel", d.level, int)),
            threshold=by_qp[0][1] if by_qp else float(_number(options, "PMPThreshold", d.threshold, float)),
            threshold_by_qp=by_qp,
            qt_threshold=float(_number(options, "PMPQtThreshold", d.qt_threshold, float)),
            branch_threshold=float(_number(options, "PMPBranchThreshold", d.branch_threshold, float)),
            side_thresholds=_pairs(
                options, "PMPSideThreshold", "side:threshold", "8:0.95,32:0.7", bare=False
            ),
            chroma_level=int(_number(options, "PMPChromaLevel", d.chroma_level, int)),
            chroma_threshold=float(_number(options, "PMPChromaThreshold", d.chroma_threshold, float)),
            edge_blocks=bool(_number(options, "PMPEdgeBlocks", int(d.edge_blocks), int)),
            threads=int(_number(options, "PMPThreads", d.threads, int)),
        )


def chroma_oracle_dump(spec: str) -> str | None:
    """Return the dump of a ``--PMPChromaModel=oracle:DUMP`` value (chroma maps of a dump); None: a model."""
    source, colon, arg = spec.partition(":")
    return arg if source in CHROMA_MAP_SOURCES and colon and arg else None


def check_chroma_guide_format(values: Mapping[str, str], input_chroma_format: str) -> None:
    """InputError unless the chroma guide (``--PMPChromaLevel`` > 0) codes 4:2:0 pictures.

    ``values``: the merged encoder options; the coded format is ``ChromaFormatIDC`` (0 or unset: the input's).
    """
    level = MapGuideOptions.parse(values).chroma_level
    coded = (values.get("ChromaFormatIDC") or "0").split()[0]
    coded = input_chroma_format if coded == "0" else coded
    if level > 0 and coded != "420":
        raise InputError(
            f"--PMPChromaLevel={level} (the chroma guide) needs 4:2:0 pictures, the encode codes {coded}; "
            "use --PMPChromaLevel=0"
        )


def _pairs(
    options: Mapping[str, str], key: str, form: str, example: str, bare: bool = True
) -> tuple[tuple[int, float], ...]:
    """Return the (integer, threshold) pairs of a ``--key=N:t,N:t,...`` value; () for empty or a number.

    ``bare``: a plain number is allowed (and read elsewhere); else it is an error.
    """
    text = options.get(key, "")
    if not text or (bare and ":" not in text):
        return ()
    pairs = []
    for item in text.split(","):
        n, _, t = item.partition(":")
        try:
            pairs.append((int(n), float(t)))
        except ValueError:
            raise ConfigError(f"--{key}={text!r}: {item!r} is not {form} (e.g. --{key}={example})") from None
    return tuple(pairs)


def _number(
    options: Mapping[str, str], key: str, default: float, kind: type[int] | type[float]
) -> int | float:
    text = options.get(key, "")
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"--{key}={text!r} is not a valid {kind.__name__}") from None


def option_value(options: Sequence[str], name: str) -> tuple[int, int, str] | None:
    """Token range and value of the last ``--name=V`` or ``--name V`` in ``options`` (VTM: the last wins)."""
    found = None
    for i, opt in enumerate(options):
        if opt.startswith(f"--{name}="):
            found = i, i + 1, opt.split("=", 1)[1]
        elif opt == f"--{name}" and i + 1 < len(options):
            found = i, i + 2, options[i + 1]
    return found


def _absolute(value: str, base: Path) -> str:
    return value if not value or Path(value).is_absolute() else str(base / value)


def absolute_paths(options: Sequence[str], base: str | Path | None = None) -> tuple[str, ...]:
    """Return ``options`` with relative file paths made absolute against ``base`` (default: the cwd).

    The paths of ``--PMPModel``, ``--PMPGuide=oracle:``/``replay:`` and ``--PMPDumpPartition``; each
    rewritten option becomes one ``--Name=<absolute>`` token. A ``--PMPModel`` value that names a shipped
    model (or ``default``) is left alone: names win over files (:func:`pmp_vvc.modelzoo.resolve_model`).
    """
    from pmp_vvc.modelzoo import is_model_name

    root = Path(base) if base is not None else Path.cwd()
    out: list[str] = []
    i = 0
    while i < len(options):
        opt = options[i]
        name, eq, given = opt[2:].partition("=") if opt.startswith("--") else ("", "", "")
        tokens = [opt]
        if name in PATH_OPTIONS and not eq and i + 1 < len(options):
            given = options[i + 1]
            tokens.append(given)
        elif name not in PATH_OPTIONS or not eq:
            name = ""
        value = given
        if name == "PMPModel" and not is_model_name(given):
            value = _absolute(given, root)
        elif name == "PMPChromaModel":
            dump = chroma_oracle_dump(given)
            if dump is not None:
                value = f"{given.partition(':')[0]}:{_absolute(dump, root)}"
            elif not is_model_name(given):
                value = _absolute(given, root)
        elif name == "PMPGuide":
            source, colon, arg = given.partition(":")
            if source in MAP_GUIDE_SOURCES and colon:
                value = f"{source}:{_absolute(arg, root)}"
        elif name == "PMPDumpPartition":
            value = _absolute(given, root)
        # Unchanged options keep their tokens (and so the keys of the encodes they are part of).
        out.extend(tokens if value == given else [f"--{name}={value}"])
        i += len(tokens)
    return tuple(out)
