"""The partition-map model's interface, written once: input blocks, ONNX inputs/outputs, sessions.

The network sees one 64x64 luma block plus :data:`CONTEXT` samples of top/left context (zero outside
the picture), i.e. (:data:`SAMPLE_SIZE`, :data:`SAMPLE_SIZE`) samples cut by :func:`extract_blocks`, and
the QP. Its ONNX graph has inputs :data:`INPUTS` (``luma`` (B,1,68,68) float32 in [0,1], ``qp`` (B,)
float32) and outputs :data:`OUTPUTS` (``qt`` (B,4,8,8), ``mtt`` (B,3,3,16,16), ``direction``
(B,3,3,16,16) logits; layout batch, class[, layer], row, col), batch axis dynamic.

The chroma model (a file of its own, the chroma tree's maps over the same 64x64 luma area) has inputs
:data:`CHROMA_INPUTS`: the luma model's two plus ``cb`` and ``cr`` (B,1,34,34), the 32x32 chroma block of
4:2:0 plus :data:`CHROMA_CONTEXT` samples of top/left context (zero outside), cut by
:func:`extract_chroma_blocks` and normalised like luma; outputs :data:`CHROMA_OUTPUTS` (``qt_c``,
``mtt_c``, ``direction_c``), the luma outputs' shapes and layouts in luma cell units.

Both sides use this module: training and export (:mod:`pmp_vvc.learning`) and the encoder at run time
(:mod:`pmp_vvc.predictor`, which needs only numpy and onnxruntime). :func:`open_session`,
:func:`check_model` and :func:`run_session` serve both contracts (:data:`LUMA`, :data:`CHROMA`);
:func:`check_model` is what ``pmp-run`` runs on every model before it encodes anything.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pmp_vvc.codec.partition import BLOCK_SIZE
from pmp_vvc.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = [
    "CHROMA",
    "CHROMA_CONTEXT",
    "CHROMA_INPUTS",
    "CHROMA_OUTPUTS",
    "CHROMA_SAMPLE_SIZE",
    "CONTEXT",
    "INPUTS",
    "LUMA",
    "OUTPUTS",
    "SAMPLE_SIZE",
    "Contract",
    "check_model",
    "extract_blocks",
    "extract_chroma_blocks",
    "open_session",
    "run_session",
]

CONTEXT = 4
SAMPLE_SIZE = BLOCK_SIZE + CONTEXT
INPUTS: dict[str, list[Any]] = {"luma": ["batch", 1, SAMPLE_SIZE, SAMPLE_SIZE], "qp": ["batch"]}
OUTPUTS: dict[str, list[Any]] = {
    "qt": ["batch", 4, 8, 8],
    "mtt": ["batch", 3, 3, 16, 16],
    "direction": ["batch", 3, 3, 16, 16],
}
CHROMA_CONTEXT = CONTEXT // 2
CHROMA_SAMPLE_SIZE = BLOCK_SIZE // 2 + CHROMA_CONTEXT
CHROMA_INPUTS: dict[str, list[Any]] = {
    **INPUTS,
    "cb": ["batch", 1, CHROMA_SAMPLE_SIZE, CHROMA_SAMPLE_SIZE],
    "cr": ["batch", 1, CHROMA_SAMPLE_SIZE, CHROMA_SAMPLE_SIZE],
}
CHROMA_OUTPUTS: dict[str, list[Any]] = {f"{name}_c": shape for name, shape in OUTPUTS.items()}


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: the two module constants
class Contract:
    """One model kind's ONNX interface: named inputs and outputs with their shapes (batch axis first)."""

    kind: str  # "luma" or "chroma", as error messages name it
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]

    def test_batch(self) -> dict[str, npt.NDArray[np.float32]]:
        """Two blocks of zero samples at QP 22 and 37: what a session is checked on."""
        feed = {k: np.zeros((2, *v[1:]), np.float32) for k, v in self.inputs.items() if k != "qp"}
        return {**feed, "qp": np.array([22.0, 37.0], np.float32)}


#: The luma model's and the chroma model's contracts.
LUMA = Contract("luma", INPUTS, OUTPUTS)
CHROMA = Contract("chroma", CHROMA_INPUTS, CHROMA_OUTPUTS)


def extract_blocks(plane: npt.NDArray[np.integer], origins: npt.NDArray[np.int64]) -> npt.NDArray[np.uint16]:
    """68x68 inputs for blocks at ``origins`` (x, y) of a luma plane; zero outside the picture."""
    height, width = plane.shape
    padded = np.zeros((height + CONTEXT + BLOCK_SIZE, width + CONTEXT + BLOCK_SIZE), dtype=np.uint16)
    padded[CONTEXT : CONTEXT + height, CONTEXT : CONTEXT + width] = plane
    out = np.empty((len(origins), SAMPLE_SIZE, SAMPLE_SIZE), dtype=np.uint16)
    for i, (x, y) in enumerate(origins):
        out[i] = padded[y : y + SAMPLE_SIZE, x : x + SAMPLE_SIZE]
    return out


def extract_chroma_blocks(
    plane: npt.NDArray[np.integer], origins: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint16]:
    """34x34 chroma inputs (4:2:0) of the 64x64 luma blocks at ``origins`` (luma x, y); zero outside."""
    height, width = plane.shape
    half, ctx = BLOCK_SIZE // 2, CHROMA_CONTEXT
    padded = np.zeros((height + ctx + half, width + ctx + half), dtype=np.uint16)
    padded[ctx : ctx + height, ctx : ctx + width] = plane
    out = np.empty((len(origins), CHROMA_SAMPLE_SIZE, CHROMA_SAMPLE_SIZE), dtype=np.uint16)
    for i, (x, y) in enumerate(origins):
        out[i] = padded[y // 2 : y // 2 + CHROMA_SAMPLE_SIZE, x // 2 : x // 2 + CHROMA_SAMPLE_SIZE]
    return out


def open_session(path: str | Path, threads: int = 1, contract: Contract = LUMA) -> ort.InferenceSession:
    """Open an onnxruntime session (CPU, ``threads`` intra-op threads) after checking inputs and outputs.

    Raises:
        ModelError: the file does not load, or its inputs, outputs or output shapes are not the
            ``contract``'s (e.g. a luma model opened as the chroma model).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load ONNX model {path}: {_first_line(err)}") from None
    got_in: dict[str, list[Any]] = {i.name: list(i.shape) for i in sess.get_inputs()}
    want_in = contract.inputs
    if set(got_in) != set(want_in) or any(got_in[k][1:] != v[1:] for k, v in want_in.items()):
        raise ModelError(f"{path}: not a {contract.kind} model: inputs {got_in}, expected {want_in}")
    if {o.name for o in sess.get_outputs()} != set(contract.outputs):
        raise ModelError(
            f"{path}: not a {contract.kind} model: outputs {[o.name for o in sess.get_outputs()]}, "
            f"expected {list(contract.outputs)}"
        )
    try:  # output shapes may be symbolic in the graph: check them on a real run of two blocks
        batch = contract.test_batch()
        outs = run_session(sess, batch.pop("luma"), batch.pop("qp"), **batch)
    except Exception as err:
        raise ModelError(f"{path}: the model fails on a test batch: {_first_line(err)}") from None
    for name, want in contract.outputs.items():
        if list(outs[name].shape) != [2, *want[1:]]:
            raise ModelError(f"{path}: output {name} has shape {outs[name].shape}, expected {[2, *want[1:]]}")
    return sess


def check_model(path: str | Path, contract: Contract = LUMA) -> None:
    """Load ``path`` and check it against ``contract`` (:func:`open_session`); ModelError if it fails.

    A file that passed is not loaded again in this process while its size and mtime stay the same.
    """
    model = Path(path).absolute()
    if not model.is_file():
        raise ModelError(f"model file {model} does not exist")
    st = model.stat()
    _checked(str(model), st.st_size, st.st_mtime_ns, contract)


@functools.lru_cache(maxsize=64)
def _checked(path: str, size: int, mtime_ns: int, contract: Contract) -> bool:
    open_session(path, threads=1, contract=contract)
    return True


def run_session(
    sess: ort.InferenceSession,
    luma: npt.NDArray[np.float32],
    qp: npt.NDArray[np.float32],
    cb: npt.NDArray[np.float32] | None = None,
    cr: npt.NDArray[np.float32] | None = None,
) -> dict[str, npt.NDArray[np.float32]]:
    """Run a session on luma (B,1,68,68) and qp (B,), and for the chroma model cb, cr (B,1,34,34).

    Returns the named logits of the contract the inputs select (:data:`CHROMA` when cb and cr are given).
    """
    feed = {"luma": luma.astype(np.float32), "qp": qp.astype(np.float32).reshape(-1)}
    contract = LUMA
    if cb is not None and cr is not None:
        feed |= {"cb": cb.astype(np.float32), "cr": cr.astype(np.float32)}
        contract = CHROMA
    outs = sess.run(list(contract.outputs), feed)
    return dict(zip(contract.outputs, outs, strict=True))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
