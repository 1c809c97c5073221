"""ONNX export of the partition-map networks, its checks, and onnxruntime timing.

The ONNX graph follows the contract of :mod:`pmp_vvc.modelio`: for the luma model inputs ``luma`` and
``qp`` and outputs ``qt``, ``mtt``, ``direction``; for the chroma model inputs :data:`CHROMA_INPUTS` and
outputs :data:`CHROMA_OUTPUTS`; logits, a dynamic batch axis, the pruning ratio fixed
(TopK/Gather/ScatterElements with static sizes). Torch is imported only by :func:`export_onnx` and
:func:`parity`; :func:`open_export` and :func:`latency` need only onnxruntime.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pmp_vvc.errors import ModelError
from pmp_vvc.modelio import CHROMA_INPUTS, CHROMA_OUTPUTS, open_session

if TYPE_CHECKING:
    import onnxruntime as ort

    from pmp_vvc.learning.model import MapNet


def export_onnx(
    model: MapNet, path: str | Path, opset: int = 17, metadata: dict[str, Any] | None = None
) -> None:
    """Export ``model`` (eval mode, its fixed rho) to ONNX with a dynamic batch axis, then check it."""
    import onnx
    import torch

    if opset < 17:
        raise ModelError(f"opset {opset} < 17 is not supported")
    model = model.eval()
    torch.manual_seed(0)
    inputs = model.example_inputs(2)
    axes = {name: {0: "batch"} for name in (*model.INPUT_NAMES, *model.OUTPUT_NAMES)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation notices of the TorchScript exporter
        torch.onnx.export(
            model,
            inputs,
            str(path),
            input_names=list(model.INPUT_NAMES),
            output_names=list(model.OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    meta = {"model_config": json.dumps(model.cfg.to_dict()), "target": model.TARGET}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def open_export(path: str | Path, target: str) -> ort.InferenceSession:
    """Open an exported model of ``target`` (luma, chroma) after checking its inputs and outputs."""
    if target == "luma":
        return open_session(path, threads=1)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load ONNX model {path}: {str(err).strip().splitlines()[0]}") from None
    got_in = [i.name for i in sess.get_inputs()]
    got_out = [o.name for o in sess.get_outputs()]
    if got_in != list(CHROMA_INPUTS) or got_out != list(CHROMA_OUTPUTS):
        raise ModelError(f"{path}: inputs {got_in} / outputs {got_out} are not the chroma model's")
    return sess


def run_export(sess: ort.InferenceSession, *inputs: npt.NDArray[Any]) -> dict[str, npt.NDArray[np.float32]]:
    """Run an exported model on inputs in its input order; return its named logits."""
    names = [i.name for i in sess.get_inputs()]
    feed = {
        n: a.astype(np.float32).reshape(-1) if n == "qp" else a for n, a in zip(names, inputs, strict=True)
    }
    outputs = [o.name for o in sess.get_outputs()]
    return dict(zip(outputs, sess.run(outputs, feed), strict=True))


def parity(model: MapNet, sess: ort.InferenceSession, *inputs: npt.NDArray[np.float32]) -> dict[str, float]:
    """Max abs logit difference and argmax agreement (fraction) between PyTorch and onnxruntime."""
    import torch

    with torch.no_grad():
        ref = model.eval()(*(torch.from_numpy(a.astype(np.float32)) for a in inputs))
    got = run_export(sess, *inputs)
    out: dict[str, float] = {}
    for name, r in zip(model.OUTPUT_NAMES, ref, strict=True):
        r_np = r.numpy()
        out[f"{name}_max_abs_diff"] = float(np.abs(r_np - got[name]).max())
        out[f"{name}_argmax_equal"] = float(np.mean(r_np.argmax(axis=1) == got[name].argmax(axis=1)))
    return out


def latency(sess: ort.InferenceSession, batch: int, repeats: int = 20, seed: int = 0) -> float:
    """Median wall seconds of one session run on ``batch`` random blocks (after a warm-up run)."""
    rng = np.random.default_rng(seed)
    inputs = [
        np.full(batch, 32.0, np.float32) if i.name == "qp" else rng.random((batch, *i.shape[1:]), np.float32)
        for i in sess.get_inputs()
    ]
    run_export(sess, *inputs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_export(sess, *inputs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
