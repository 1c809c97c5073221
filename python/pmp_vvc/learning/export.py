"""ONNX export of the partition-map network, its checks, and onnxruntime timing.

The ONNX graph follows the contract of :mod:`pmp_vvc.modelio` (inputs ``luma`` and ``qp``, outputs
``qt``, ``mtt``, ``direction`` logits, a dynamic batch axis), with the pruning ratio fixed
(TopK/Gather/ScatterElements with static sizes). Torch is imported only by :func:`export_onnx` and
:func:`parity`; :func:`latency` needs only onnxruntime.
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
from pmp_vvc.modelio import INPUTS, OUTPUTS, run_session

if TYPE_CHECKING:
    import onnxruntime as ort

    from pmp_vvc.learning.model import PartitionNet


def export_onnx(
    model: PartitionNet, path: str | Path, opset: int = 17, metadata: dict[str, Any] | None = None
) -> None:
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
        torch.onnx.export(
            model,
            (luma, qp),
            str(path),
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    meta = {"model_config": json.dumps(model.cfg.to_dict())}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def parity(
    model: PartitionNet,
    sess: ort.InferenceSession,
    luma: npt.NDArray[np.float32],
    qp: npt.NDArray[np.float32],
) -> dict[str, float]:
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
