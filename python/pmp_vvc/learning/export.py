"""ONNX export of the partition-map networks, its checks, and onnxruntime timing.

The ONNX graph follows the contract of :mod:`pmp_vvc.modelio`: :data:`~pmp_vvc.modelio.LUMA` (inputs
``luma``, ``qp``; outputs ``qt``, ``mtt``, ``direction``) or :data:`~pmp_vvc.modelio.CHROMA` (also ``cb``,
``cr``; outputs ``qt_c``, ``mtt_c``, ``direction_c``); logits, a dynamic batch axis, the pruning ratio fixed
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
from pmp_vvc.modelio import CHROMA, LUMA, open_session, run_session

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
    """Open an exported model of ``target`` (luma, chroma) after checking it against its contract."""
    return open_session(path, threads=1, contract=CHROMA if target == "chroma" else LUMA)


def parity(model: MapNet, sess: ort.InferenceSession, *inputs: npt.NDArray[np.float32]) -> dict[str, float]:
    """Max abs logit difference and argmax agreement (fraction) between PyTorch and onnxruntime."""
    import torch

    with torch.no_grad():
        ref = model.eval()(*(torch.from_numpy(a.astype(np.float32)) for a in inputs))
    got = run_session(sess, *inputs)
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
    run_session(sess, *inputs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_session(sess, *inputs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
