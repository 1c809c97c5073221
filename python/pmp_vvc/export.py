"""ONNX export of the partition-map network, its checks, and onnxruntime timing.

The ONNX graph has inputs ``luma`` (B,1,68,68) float32 in [0,1] and ``qp`` (B,) float32, outputs ``qt``
(B,4,8,8), ``mtt`` (B,3,3,16,16) and ``direction`` (B,3,3,16,16) logits (layout: batch, class, layer,
row, col), a dynamic batch axis and the pruning ratio fixed (TopK/Gather/ScatterElements with static
sizes). Torch is imported only by :func:`export_onnx` and :func:`parity`; :func:`open_session` and
:func:`latency` need only onnxruntime.
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

if TYPE_CHECKING:
    import onnxruntime as ort

    from pmp_vvc.model import PartitionNet

INPUTS: dict[str, list[Any]] = {"luma": ["batch", 1, 68, 68], "qp": ["batch"]}
OUTPUTS: dict[str, list[Any]] = {"qt": ["batch", 4, 8, 8], "mtt": ["batch", 3, 3, 16, 16],
                                 "direction": ["batch", 3, 3, 16, 16]}


def export_onnx(model: PartitionNet, path: str | Path, opset: int = 17,
                metadata: dict[str, Any] | None = None) -> None:
    """Export ``model`` (eval mode, its fixed rho) to ONNX with a dynamic batch axis, then check it."""
    import onnx
    import torch

    if opset < 17:
        raise ModelError(f"opset {opset} < 17 is not supported")
    model = model.eval()
    luma, qp = torch.rand(2, 1, 68, 68), torch.tensor([22.0, 37.0])
    axes = {name: {0: "batch"} for name in (*INPUTS, *OUTPUTS)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation notices of the TorchScript exporter
        torch.onnx.export(model, (luma, qp), str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    meta = {"model_config": json.dumps(model.cfg.to_dict())}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def open_session(path: str | Path, threads: int = 1) -> ort.InferenceSession:
    """Open an onnxruntime session (CPU, ``threads`` intra-op threads) after checking inputs and outputs."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load ONNX model {path}: {err}") from err
    got_in: dict[str, list[Any]] = {i.name: list(i.shape) for i in sess.get_inputs()}
    want_in = INPUTS
    if set(got_in) != set(want_in) or any(got_in[k][1:] != v[1:] for k, v in want_in.items()):
        raise ModelError(f"{path}: inputs {got_in} do not match the expected {INPUTS}")
    if {o.name for o in sess.get_outputs()} != set(OUTPUTS):
        raise ModelError(f"{path}: outputs {[o.name for o in sess.get_outputs()]} are not {list(OUTPUTS)}")
    try:  # output shapes may be symbolic in the graph: check them on a real run of two blocks
        outs = run_session(sess, np.zeros((2, 1, 68, 68), np.float32), np.array([22.0, 37.0], np.float32))
    except Exception as err:
        raise ModelError(f"{path}: the model fails on a test batch: {err}") from err
    for name, want in OUTPUTS.items():
        if list(outs[name].shape) != [2, *want[1:]]:
            raise ModelError(f"{path}: output {name} has shape {outs[name].shape}, expected {[2, *want[1:]]}")
    return sess


def run_session(sess: ort.InferenceSession, luma: npt.NDArray[np.float32],
                qp: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
    """Run a session on luma (B,1,68,68) and qp (B,); return the named logits."""
    outs = sess.run(list(OUTPUTS), {"luma": luma.astype(np.float32), "qp": qp.astype(np.float32).reshape(-1)})
    return dict(zip(OUTPUTS, outs, strict=True))


def parity(model: PartitionNet, sess: ort.InferenceSession, luma: npt.NDArray[np.float32],
           qp: npt.NDArray[np.float32]) -> dict[str, float]:
    """Max abs logit difference and argmax agreement (fraction) between PyTorch and onnxruntime."""
    import torch

    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(luma), torch.from_numpy(qp.astype(np.float32)))
    got = run_session(sess, luma, qp)
    out: dict[str, float] = {}
    for name, r in zip(OUTPUTS, ref, strict=True):
        r_np = r.numpy()
        out[f"{name}_max_abs_diff"] = float(np.abs(r_np - got[name]).max())
        out[f"{name}_argmax_equal"] = float(np.mean(r_np.argmax(axis=1) == got[name].argmax(axis=1)))
    return out


def latency(sess: ort.InferenceSession, batch: int, repeats: int = 20, seed: int = 0) -> float:
    """Median wall seconds of one session run on ``batch`` random blocks (after a warm-up run)."""
    rng = np.random.default_rng(seed)
    luma = rng.random((batch, 1, 68, 68), dtype=np.float32)
    qp = np.full(batch, 32.0, dtype=np.float32)
    run_session(sess, luma, qp)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_session(sess, luma, qp)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
