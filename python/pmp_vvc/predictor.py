"""Map sources for the partition-map guide: the ONNX model in the loop, an oracle, stored maps.

A map source is called by :class:`MapGuide` (C++) at the start of every picture with the original luma
plane (int16 at the internal bit depth, not LMCS-reshaped), the bit depth, the slice QP, the POC and, when
the guide rules the chroma tree (``--PMPChromaLevel`` > 0), the original ``(cb, cr)`` planes (4:2:0; else
None), and returns :class:`PictureMaps`: per tree the class probabilities ``(qt (B,4,8,8), mtt
(B,3,3,16,16), direction (B,3,3,16,16))`` for all 64x64 blocks in raster order (layouts of the model's
outputs: batch, class[, layer], row, col; the chroma tree's in luma cell units over the same blocks).
Blocks that cross the right/bottom picture edge are predicted from an edge-extended plane when the
model guide rules there (``--PMPEdgeBlocks``, the default; the model is trained on whole blocks, the guide
only rules on nodes inside the picture); otherwise they stay at zero. The oracle always rules there (its
maps are exact).

* :class:`ModelPredictor`: onnxruntime on the picture's blocks in one batch, inputs cut by
  :func:`pmp_vvc.modelio.extract_blocks` (and :func:`~pmp_vvc.modelio.extract_chroma_blocks` for the
  chroma model, run on the same blocks in the same call) exactly as for training.
* :class:`StoredMaps`: maps kept per POC (replay; ``--PMPGuide=replay:<npz>``), and :func:`oracle_maps`:
  one-hot maps of both trees of an anchor's partition dump (``--PMPGuide=oracle:<dump>``, or a path
  pattern with ``{qp}``: :class:`OracleByQp`), the ceiling of the method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.dump import COLUMNS, read_dump, search_state_table
from pmp_vvc.codec.options import MapGuideOptions
from pmp_vvc.codec.partition import BLOCK_SIZE, PartitionMaps, cus_to_maps
from pmp_vvc.errors import ConfigError, InputError, ModelError
from pmp_vvc.modelio import CHROMA, OUTPUTS, extract_blocks, extract_chroma_blocks, open_session, run_session

FloatArray = npt.NDArray[np.float32]
ChromaPlanes = tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]]
_DEFAULTS = MapGuideOptions()
# The map shapes of the model's outputs (pmp_vvc.modelio.OUTPUTS), which the oracle and stored maps share.
QT_CLASSES, QT_GRID = OUTPUTS["qt"][1], OUTPUTS["qt"][2]
MTT_CLASSES, MTT_LAYERS, MTT_GRID = OUTPUTS["mtt"][1], OUTPUTS["mtt"][2], OUTPUTS["mtt"][3]
TRAINING_BIT_DEPTH = 8  # the model was trained on 8-bit sources divided by 255


@dataclass(frozen=True)
class MapProbabilities:
    """Class probabilities of one picture's luma maps, one entry per 64x64 block (raster order)."""

    width: int
    height: int
    qt: FloatArray  # (B, 4, 8, 8)
    mtt: FloatArray  # (B, 3, 3, 16, 16): (class, layer) of the btDepth increment
    direction: FloatArray  # (B, 3, 3, 16, 16): (class, layer) none / horizontal / vertical

    def as_tuple(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return the (qt, mtt, direction) triple a map source returns."""
        return self.qt, self.mtt, self.direction


@dataclass(frozen=True)
class PictureMaps:
    """What a map source returns for one picture.

    The luma maps, the chroma tree's (or None) and, for a replay, the search-state table of the replayed
    encode (:func:`search_state_table`, or None).
    """

    luma: MapProbabilities
    chroma: MapProbabilities | None = None
    search_states: npt.NDArray[np.float64] | None = None


def block_grid(width: int, height: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Origins (B,2) of the 64x64 blocks of a picture in raster order, and which lie wholly inside it."""
    nbx, nby = -(-width // BLOCK_SIZE), -(-height // BLOCK_SIZE)
    by, bx = np.divmod(np.arange(nbx * nby), nbx)
    origins = np.stack([bx * BLOCK_SIZE, by * BLOCK_SIZE], axis=1).astype(np.int64)
    whole = (origins[:, 0] + BLOCK_SIZE <= width) & (origins[:, 1] + BLOCK_SIZE <= height)
    return origins, whole


def empty_maps(width: int, height: int) -> MapProbabilities:
    """All-zero maps of a picture (blocks nobody predicts)."""
    b = len(block_grid(width, height)[0])
    mtt_shape = (b, MTT_CLASSES, MTT_LAYERS, MTT_GRID, MTT_GRID)
    return MapProbabilities(
        width,
        height,
        np.zeros((b, QT_CLASSES, QT_GRID, QT_GRID), np.float32),
        np.zeros(mtt_shape, np.float32),
        np.zeros(mtt_shape, np.float32),
    )


def softmax(logits: FloatArray, axis: int = 1) -> FloatArray:
    """Numerically stable softmax along ``axis`` (float32)."""
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=axis, keepdims=True), dtype=np.float32)


def _one_hot(labels: npt.NDArray[np.int8], classes: int) -> FloatArray:
    """(B, ...) integer labels (-1: none) to (B, classes, ...) one-hot float32."""
    out = np.zeros((labels.shape[0], classes, *labels.shape[1:]), dtype=np.float32)
    for c in range(classes):
        out[:, c] = labels == c
    return out


def one_hot(maps: PartitionMaps) -> MapProbabilities:
    """Hard partition maps (either tree) as probabilities (1 for the true class, 0 elsewhere and outside)."""
    return MapProbabilities(
        maps.width,
        maps.height,
        _one_hot(maps.qt, QT_CLASSES),
        _one_hot(maps.increments, MTT_CLASSES),
        _one_hot(maps.direction, MTT_CLASSES),
    )


def model_input(
    plane: npt.NDArray[np.integer], bit_depth: int, origins: npt.NDArray[np.int64], chroma: bool = False
) -> FloatArray:
    """Return a model input (n,1,68,68) for the 64x64 luma blocks at ``origins`` of a plane at ``bit_depth``.

    For a chroma plane (``chroma``, 4:2:0) the input is (n,1,34,34).

    Samples are scaled as in training (8-bit sources divided by 255): an internal-bit-depth plane is
    divided by ``255 * 2**(bit_depth-8)``, which gives bit-identical inputs for 8-bit sources.
    """
    if bit_depth < TRAINING_BIT_DEPTH:
        raise InputError(f"bit depth {bit_depth} < {TRAINING_BIT_DEPTH} is not supported")
    cut = extract_chroma_blocks if chroma else extract_blocks
    blocks = cut(np.asarray(plane), origins)
    scale = np.float32(255 << (bit_depth - TRAINING_BIT_DEPTH))
    return (blocks.astype(np.float32) / scale).astype(np.float32)[:, None]


class ModelPredictor:
    """The ONNX partition-map model as a map source (onnxruntime, CPU).

    Args:
        path: the ONNX file (luma contract of :mod:`pmp_vvc.modelio`).
        threads: onnxruntime intra-op threads (1 for a fair comparison with single-threaded VTM).
        edge_blocks: also predict the 64x64 blocks that cross the picture's right/bottom edge.
        chroma_path: the chroma model (:data:`pmp_vvc.modelio.CHROMA`), for a chroma guide; None: none.

    Raises:
        ModelError: missing, unreadable or mismatched model (checked here, before any picture).
    """

    def __init__(
        self,
        path: str | Path,
        threads: int = 1,
        edge_blocks: bool = False,
        chroma_path: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.edge_blocks = edge_blocks
        MapGuideOptions(threads=threads)  # checks the thread count
        self.session = open_session(_readable(self.path), threads)
        self.chroma_path = None if chroma_path is None else Path(chroma_path)
        self.chroma_session = (
            None
            if self.chroma_path is None
            else open_session(_readable(self.chroma_path), threads, contract=CHROMA)
        )

    def predict(self, luma: npt.NDArray[np.integer], bit_depth: int, qp: int) -> MapProbabilities:
        """Luma probability maps of one picture (:meth:`predict_picture` without chroma)."""
        return self.predict_picture(luma, bit_depth, qp).luma

    def predict_picture(
        self, luma: npt.NDArray[np.integer], bit_depth: int, qp: int, chroma: ChromaPlanes | None = None
    ) -> PictureMaps:
        """Probability maps of one picture, all predicted blocks in one batch.

        With the ``(cb, cr)`` planes (4:2:0) also the chroma tree's, from the chroma model on the same blocks.

        Without ``edge_blocks`` only the blocks wholly inside the picture are predicted (the others stay
        zero). With it, the plane is first extended to whole blocks by repeating its last column and row,
        so that a block crossing the right/bottom edge sees the picture continue smoothly rather than the
        zero padding of a picture's top/left context, which would look like a strong edge to the model.
        """
        height, width = luma.shape
        out = empty_maps(width, height)
        out_c = None if chroma is None else empty_maps(width, height)
        if chroma is not None and self.chroma_session is None:
            raise ModelError(f"{self.path}: chroma maps asked for, but no chroma model was given")
        origins, predicted = block_grid(width, height)
        if self.edge_blocks:
            luma = _extend(luma, BLOCK_SIZE)
            chroma = (
                None
                if chroma is None
                else (_extend(chroma[0], BLOCK_SIZE // 2), _extend(chroma[1], BLOCK_SIZE // 2))
            )
            predicted[:] = True
        if not predicted.any():
            return PictureMaps(out, out_c)
        inputs = model_input(luma, bit_depth, origins[predicted])
        qps = np.full(len(inputs), float(qp), np.float32)
        _fill(out, predicted, self._run(self.session, self.path, inputs, qps), "")
        if chroma is not None and out_c is not None and self.chroma_session is not None:
            cb, cr = (model_input(plane, bit_depth, origins[predicted], chroma=True) for plane in chroma)
            logits = self._run(self.chroma_session, self.chroma_path, inputs, qps, cb, cr)
            _fill(out_c, predicted, logits, "_c")
        return PictureMaps(out, out_c)

    @staticmethod
    def _run(session: Any, path: Path | None, *inputs: FloatArray) -> dict[str, npt.NDArray[np.float32]]:
        try:
            return run_session(session, *inputs)
        except Exception as err:  # onnxruntime raises its own exception types
            raise ModelError(f"{path}: inference failed: {err}") from err

    def __call__(
        self,
        luma: npt.NDArray[np.integer],
        bit_depth: int,
        qp: int,
        poc: int,
        chroma: ChromaPlanes | None = None,
    ) -> PictureMaps:
        """Map-source call of :class:`MapGuide`."""
        return self.predict_picture(luma, bit_depth, qp, chroma)


def _readable(path: Path) -> Path:
    """``path`` if it is a readable file; ModelError otherwise."""
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if not os.access(path, os.R_OK):
        raise ModelError(f"model file {path} is not readable")
    return path


def _extend(plane: npt.NDArray[np.integer], block: int) -> npt.NDArray[np.integer]:
    """Extend a plane to whole blocks by repeating its last column and row."""
    height, width = plane.shape
    return np.pad(plane, ((0, -height % block), (0, -width % block)), mode="edge")


def _fill(
    maps: MapProbabilities, blocks: npt.NDArray[np.bool_], logits: Mapping[str, FloatArray], suffix: str
) -> None:
    """Write the softmax of a model's logits (names ending in ``suffix``) into ``maps`` at ``blocks``."""
    maps.qt[blocks] = softmax(logits[f"qt{suffix}"])
    maps.mtt[blocks] = softmax(logits[f"mtt{suffix}"])
    maps.direction[blocks] = softmax(logits[f"direction{suffix}"])


class StoredMaps:
    """Maps fixed in advance, per POC: replays a model's maps, or serves an oracle's one-hot maps."""

    def __init__(
        self,
        maps: Mapping[int, MapProbabilities],
        name: str = "stored maps",
        search_states: Mapping[int, npt.NDArray[np.float64]] | None = None,
        chroma: Mapping[int, MapProbabilities] | None = None,
    ) -> None:
        self.maps = dict(maps)
        self.name = name
        #: Per POC, the search-state table of the replayed encode (:func:`search_state_table`), if any.
        self.search_states = dict(search_states or {})
        #: Per POC, the chroma tree's maps, if any (served when the guide rules the chroma tree).
        self.chroma = dict(chroma or {})

    def __call__(
        self,
        luma: npt.NDArray[np.integer],
        bit_depth: int,
        qp: int,
        poc: int,
        chroma: ChromaPlanes | None = None,
    ) -> PictureMaps:
        """Map-source call of :class:`MapGuide`: the maps of ``poc``, checked against the picture size.

        With ``chroma`` planes (the guide rules the chroma tree), the chroma maps of ``poc`` too.
        """
        if poc not in self.maps:
            raise InputError(f"{self.name}: no maps for POC {poc} (have {sorted(self.maps)})")
        m = self.maps[poc]
        if (m.width, m.height) != (luma.shape[1], luma.shape[0]):
            raise InputError(
                f"{self.name}: maps of POC {poc} are {m.width}x{m.height}, the picture is "
                f"{luma.shape[1]}x{luma.shape[0]}"
            )
        if chroma is not None and poc not in self.chroma:
            raise InputError(f"{self.name}: no chroma-tree maps for POC {poc} (--PMPChromaLevel > 0)")
        c = self.chroma.get(poc) if chroma is not None else None
        return PictureMaps(m, c, self.search_states.get(poc))

    def save(self, path: str | Path) -> None:
        """Write the maps (both trees) to an npz file (see :meth:`load`)."""
        arrays: dict[str, Any] = {}
        for prefix, by_poc in (("", self.maps), ("c", self.chroma)):
            for poc, m in by_poc.items():
                key = f"{prefix}{poc}"
                arrays.update(
                    {
                        f"{key}_size": np.array([m.width, m.height]),
                        f"{key}_qt": m.qt,
                        f"{key}_mtt": m.mtt,
                        f"{key}_direction": m.direction,
                    }
                )
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> StoredMaps:
        """Read maps written by :meth:`save`; InputError if missing or malformed."""

        def tree(z: Any, key: str) -> MapProbabilities:
            size = z[f"{key}_size"]
            return MapProbabilities(
                int(size[0]), int(size[1]), z[f"{key}_qt"], z[f"{key}_mtt"], z[f"{key}_direction"]
            )

        try:
            with np.load(path, allow_pickle=False) as z:
                keys = {k.split("_")[0] for k in z.files}
                maps = {int(k): tree(z, k) for k in keys if not k.startswith("c")}
                chroma = {int(k[1:]): tree(z, k) for k in keys if k.startswith("c")}
        except (OSError, KeyError, ValueError) as err:
            raise InputError(f"cannot read stored maps {path}: {err}") from err
        return cls(maps, name=f"stored maps {path}", chroma=chroma)


def oracle_maps(dump: str | Path, states: bool = True) -> StoredMaps:
    """One-hot maps of both trees of every picture of a partition dump (``--PMPDumpPartition``) by POC.

    The chroma tree's maps come from the dump's chroma CUs (dual-tree pictures; none: no chroma maps). With
    ``states``, a version-2 dump also gives each picture's search-state table (:func:`search_state_table`):
    the oracle then starts every luma CU's intra search from the anchor's state too, so that it codes its
    luma CUs as the anchor. Without, every CU is searched afresh, as a predictor that knew the anchor's
    partition (and nothing else) would have it.
    """
    pictures = read_dump(dump)
    maps = {pic.poc: one_hot(cus_to_maps(pic.cus, pic.width, pic.height, chroma=False)) for pic in pictures}
    if not maps:
        raise InputError(f"partition dump {dump} holds no pictures")
    chroma = {
        pic.poc: one_hot(cus_to_maps(pic.cus, pic.width, pic.height, chroma=True))
        for pic in pictures
        if np.any(pic.cus[:, COLUMNS.index("chroma")] == 1)
    }
    # A dump without node records (version 1, or none written) has no states.
    tables = {
        pic.poc: search_state_table(pic)
        for pic in pictures
        if states and pic.nodes is not None and len(pic.nodes)
    }
    return StoredMaps(maps, name=f"oracle {dump}", search_states=tables, chroma=chroma)


class OracleByQp:
    """Oracle maps from a dump path pattern with ``{qp}`` (one anchor dump per QP), loaded at first use.

    Lets one option string (``--PMPGuide=oracle:dumps/seq_QP{qp}.dump``) serve a sweep over QPs.
    """

    def __init__(self, pattern: str, states: bool = True) -> None:
        if "{qp}" not in pattern:
            raise ConfigError(f"oracle dump pattern {pattern!r} has no {{qp}}")
        self.pattern = pattern
        self.states = states
        self._by_qp: dict[int, StoredMaps] = {}

    def __call__(
        self,
        luma: npt.NDArray[np.integer],
        bit_depth: int,
        qp: int,
        poc: int,
        chroma: ChromaPlanes | None = None,
    ) -> PictureMaps:
        """Map-source call of :class:`MapGuide`: the one-hot maps of the dump of this QP."""
        if qp not in self._by_qp:
            self._by_qp[qp] = oracle_maps(self.pattern.replace("{qp}", str(qp)), self.states)
        return self._by_qp[qp](luma, bit_depth, qp, poc, chroma)


class ChromaFrom:
    """A map source whose chroma-tree maps come from another source.

    E.g. the model's luma maps with an oracle's chroma maps (``--PMPChromaModel=oracle:DUMP``): the chroma
    ceiling at the model's luma decisions.
    """

    def __init__(self, luma: Any, chroma: Any) -> None:
        self.luma_source, self.chroma_source = luma, chroma

    def __call__(
        self,
        luma: npt.NDArray[np.integer],
        bit_depth: int,
        qp: int,
        poc: int,
        chroma: ChromaPlanes | None = None,
    ) -> PictureMaps:
        """Map-source call of :class:`MapGuide`: the luma source's maps, the chroma source's chroma maps."""
        maps: PictureMaps = self.luma_source(luma, bit_depth, qp, poc, None)
        if chroma is None:
            return maps
        other: PictureMaps = self.chroma_source(luma, bit_depth, qp, poc, chroma)
        return PictureMaps(maps.luma, other.chroma, maps.search_states)


def oracle_source(spec: str, states: bool = True) -> StoredMaps | OracleByQp:
    """Build the source of ``--PMPGuide=oracle:SPEC`` (or ``oracle-partition:SPEC``, ``states`` False).

    SPEC: a dump file, or a pattern with ``{qp}``.
    """
    return OracleByQp(spec, states) if "{qp}" in spec else oracle_maps(spec, states)


def map_guide(
    source: Any,
    level: int = _DEFAULTS.level,
    threshold: float = _DEFAULTS.threshold,
    edge_blocks: bool = False,
    qt_threshold: float = _DEFAULTS.qt_threshold,
    branch_threshold: float = _DEFAULTS.branch_threshold,
    chroma_level: int = _DEFAULTS.chroma_level,
    chroma_threshold: float = _DEFAULTS.chroma_threshold,
    threshold_by_qp: tuple[tuple[int, float], ...] = (),
    side_thresholds: tuple[tuple[int, float], ...] = (),
) -> Any:
    """Build a :class:`MapGuide` (C++) fed by ``source`` at ``level`` 0..3 and confidence ``threshold``.

    ``edge_blocks``: also rule inside 64x64 blocks that cross the picture edge (oracle maps are exact
    there; for the model, see :class:`ModelPredictor`). ``qt_threshold``: the threshold at the nodes where
    a QT split is legal (square nodes before any MTT split: a wrong QT decision cannot be undone below);
    negative means ``threshold``. ``branch_threshold``: the threshold below a split the maps did not imply
    (a candidate the threshold let in at an ancestor: a branch searched to price the alternative);
    negative: none. ``chroma_level`` 1..3: the source's chroma maps rule the chroma tree (QT
    and MTT layers 1..k) with ``chroma_threshold`` (negative: ``threshold``) and the chroma tree's split
    limits; 0: the chroma tree is left to VTM's search. ``threshold_by_qp``: (QP, threshold) knots that set
    the threshold of each picture from its slice QP (linear between them, constant beyond; empty:
    ``threshold``). ``side_thresholds``: (side, threshold) pairs, the threshold at the luma nodes whose
    shorter side is that many samples, in place of the others (empty: none).

    Raises:
        ConfigError: a level outside its range, or a threshold above 1 (or below 0).
    """
    MapGuideOptions(
        level=level,
        threshold=threshold,
        qt_threshold=qt_threshold,
        branch_threshold=branch_threshold,
        chroma_level=chroma_level,
        chroma_threshold=chroma_threshold,
        threshold_by_qp=threshold_by_qp,
        side_thresholds=side_thresholds,
    )
    return extension().MapGuide(
        source,
        level=level,
        threshold=threshold,
        threshold_by_qp=list(threshold_by_qp),
        edge_blocks=edge_blocks,
        qt_threshold=qt_threshold,
        branch_threshold=branch_threshold,
        chroma_level=chroma_level,
        chroma_threshold=chroma_threshold,
        side_thresholds=list(side_thresholds),
    )
