"""Partition guides written in Python, and the factory that builds a guide from ``--PMP*`` options.

A guide subclasses :class:`Guide` (the compiled interface) and answers, for each CU node of the split
search, which test modes to veto and which to force (:class:`Decision` with :class:`SplitMode` masks).
The built-in guides here are simple rules used for tests and for a model-free baseline; the
partition-map predictor builds its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.options import MAP_GUIDE_SOURCES, MapGuideOptions, chroma_oracle_dump
from pmp_vvc.errors import ConfigError

extension()  # a missing build fails here with the "was it built?" message, not with an ImportError
from pmp_vvc._vtm import CuQuery, Decision, Guide, SplitMode  # noqa: E402

__all__ = ["BUILTIN_GUIDES", "CuQuery", "Decision", "Guide", "SplitMode", "guide_from_options"]
_ALL = int(SplitMode.ALL)


class NoQtBelowGuide(Guide):
    """Veto every luma QT split of a CU narrower than ``min_size`` (64: only 64x64 nodes may QT-split)."""

    def __init__(self, min_size: int = 64) -> None:
        super().__init__()
        if min_size not in (8, 16, 32, 64):
            raise ConfigError(f"no-qt-below: min_size must be 8, 16, 32 or 64, got {min_size}")
        self.min_size = min_size

    def decide(self, cu: CuQuery) -> Decision:
        """Veto QT below the size limit, leave everything else to VTM."""
        if not cu.chroma and cu.width < self.min_size:
            return Decision(veto=int(SplitMode.QT))
        return Decision()


class VetoAllGuide(Guide):
    """Veto every mode of every CU: exercises the encoder's fallback to VTM's own list."""

    def decide(self, cu: CuQuery) -> Decision:
        """Veto everything."""
        return Decision(veto=_ALL)


BUILTIN_GUIDES: dict[str, Callable[..., Guide]] = {
    "no-qt-below": NoQtBelowGuide,
    "veto-all": VetoAllGuide,
}


def parse_guide_spec(spec: str) -> tuple[str, dict[str, int]]:
    """Split ``name[:value]`` or ``name:key=value,...`` into a guide name and integer keyword arguments.

    Raises:
        ConfigError: unknown guide name or malformed arguments.
    """
    name, _, arg_text = spec.partition(":")
    if name not in BUILTIN_GUIDES:
        known = ", ".join([*sorted(BUILTIN_GUIDES), "oracle:DUMP", "oracle-partition:DUMP", "replay:NPZ"])
        raise ConfigError(f"unknown --PMPGuide {name!r}; known: {known}")
    kwargs: dict[str, int] = {}
    for item in filter(None, arg_text.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            key, value = "min_size", item
        try:
            kwargs[key.strip()] = int(value)
        except ValueError:
            raise ConfigError(f"--PMPGuide {spec!r}: {key} must be an integer") from None
    return name, kwargs


def guide_from_options(options: Mapping[str, str]) -> Guide | None:
    """Build the guide named by the encoder's ``--PMPGuide``/``--PMPModel`` options (None for none).

    ``--PMPModel=MODEL`` runs the ONNX model in the loop (:class:`pmp_vvc.predictor.ModelPredictor`);
    MODEL is a file, a shipped model's name or ``default`` (:func:`pmp_vvc.modelzoo.resolve_model`);
    ``--PMPGuide=oracle:DUMP`` replays the luma partition of an anchor's ``--PMPDumpPartition`` file (a
    path with ``{qp}`` picks the dump of the slice QP) with the anchor's intra-search state at every node
    (the anchor's coding exactly), ``oracle-partition:DUMP`` the partition alone (every CU searched afresh),
    and
    ``--PMPGuide=replay:NPZ`` stored maps (:class:`pmp_vvc.predictor.StoredMaps`). These three drive the
    C++ map guide with ``--PMPLevel``, ``--PMPThreshold`` (a number or per-QP knots),
    ``--PMPQtThreshold``, ``--PMPBranchThreshold``, ``--PMPSideThreshold``, ``--PMPChromaLevel`` and
    ``--PMPChromaThreshold``
    (defaults: :class:`pmp_vvc.codec.options.MapGuideOptions`). With ``--PMPChromaLevel`` > 0 the chroma
    tree is ruled by chroma maps: the oracle's from the dump's chroma CUs, the model's from the chroma
    model (``--PMPChromaModel``, or the luma model's companion:
    :func:`pmp_vvc.modelzoo.resolve_chroma_model`). Other names are the built-in rule guides.

    Raises:
        ConfigError: bad option values or an unknown guide.
        ModelError: the model is missing, unknown, corrupt, unreadable or mismatched (before the first
            picture).
        InputError: the oracle dump or stored maps cannot be read.
    """
    from pmp_vvc import modelzoo, predictor

    model = options.get("PMPModel", "")
    chroma_model = options.get("PMPChromaModel", "")
    spec = options.get("PMPGuide", "")
    name, _, arg = spec.partition(":")
    opts = MapGuideOptions.parse(options)
    if chroma_model and not model:
        raise ConfigError("--PMPChromaModel needs --PMPModel (both run in the one model pass)")
    if opts.chroma_level > 0 and not (model or name in MAP_GUIDE_SOURCES):
        raise ConfigError(
            f"--PMPChromaLevel={opts.chroma_level} needs the map guide (--PMPModel or --PMPGuide=oracle:...)"
        )
    if model or name in MAP_GUIDE_SOURCES:
        if model:
            if spec and spec != "model":
                raise ConfigError(f"--PMPModel cannot be combined with --PMPGuide={spec!r}")
            edges = opts.edge_blocks
            dump = chroma_oracle_dump(chroma_model)
            wants_model = opts.chroma_level > 0 and dump is None
            chroma_path = modelzoo.resolve_chroma_model(model, chroma_model) if wants_model else None
            source: object = predictor.ModelPredictor(
                modelzoo.resolve_model(model),
                threads=opts.threads,
                edge_blocks=edges,
                chroma_path=chroma_path,
            )
            if dump is not None:
                # The chroma ceiling at the model's luma decisions: the anchor's chroma partition.
                source = predictor.ChromaFrom(source, predictor.oracle_source(dump, states=False))
        elif not arg:
            raise ConfigError(f"--PMPGuide={spec!r}: give a file, e.g. --PMPGuide={name}:FILE")
        else:
            oracle = name.startswith("oracle")
            source = (
                predictor.oracle_source(arg, states=name == "oracle")
                if oracle
                else predictor.StoredMaps.load(arg)
            )
            edges = oracle
        guide = predictor.map_guide(
            source,
            level=opts.level,
            threshold=opts.threshold,
            threshold_by_qp=opts.threshold_by_qp,
            edge_blocks=edges,
            qt_threshold=opts.qt_threshold,
            branch_threshold=opts.branch_threshold,
            side_thresholds=opts.side_thresholds,
            chroma_level=opts.chroma_level,
            chroma_threshold=opts.chroma_threshold,
        )
        return guide  # type: ignore[no-any-return]
    if not spec:
        return None
    name, kwargs = parse_guide_spec(spec)
    try:
        return BUILTIN_GUIDES[name](**kwargs)
    except TypeError as err:
        raise ConfigError(f"--PMPGuide {spec!r}: {err}") from None
