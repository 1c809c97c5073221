"""A trained network back from its exported ONNX file, so that a shipped model can be fine-tuned.

``pmp-export`` writes the model configuration into the file's metadata (``model_config``) and the
parameters as initializers: most under their ``state_dict`` names, the Linear weights as the unnamed,
transposed right operand of a MatMul whose output the Linear's named bias is added to. Parameters the
graph does not use (the sparse-path branch of a dense stage) keep their initial values. The file's
``target`` metadata says which network it holds (the luma model's or the chroma model's).
:func:`load_onnx_model` checks the rebuilt network against onnxruntime on a test batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from pmp_vvc.errors import ModelError
from pmp_vvc.learning.model import ChromaConfig, MapNet, ModelConfig, build_model
from pmp_vvc.modelio import CHROMA, LUMA

__all__ = ["load_onnx_model", "onnx_target"]


def _target(meta: dict[str, str]) -> str:
    """Return the network a file's metadata names: ``chroma``, or ``luma`` (also files without the key)."""
    return "chroma" if meta.get("target") == "chroma" else "luma"


def onnx_target(path: str | Path) -> str:
    """Return which network (``luma`` or ``chroma``) a ``pmp-export`` ONNX file holds, from its metadata."""
    import onnx

    try:
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception as err:  # onnx and protobuf raise their own types for unreadable files
        raise ModelError(f"{path}: not an ONNX file ({err})") from None
    return _target(meta)


def _weights(path: Path) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    try:
        graph_model = onnx.load(str(path))
        meta = {p.key: p.value for p in graph_model.metadata_props}
        config = ChromaConfig if _target(meta) == "chroma" else ModelConfig
        cfg = config.from_dict(json.loads(meta["model_config"]))
    except Exception as err:  # onnx and protobuf raise their own types for unreadable files
        raise ModelError(f"{path}: not a pmp-export ONNX file with a model configuration ({err})") from None
    graph = graph_model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    weights = dict(inits)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        for add in consumers.get(node.output[0], []):
            biases = [i for i in add.input if add.op_type == "Add" and i.endswith(".bias") and i in inits]
            for bias in biases:
                weights.setdefault(bias[: -len("bias")] + "weight", inits[node.input[1]].T)
    return cfg, weights


def load_onnx_model(path: str | Path) -> MapNet:
    """Rebuild the network of a ``pmp-export`` ONNX file (eval mode); ModelError if it does not fit."""
    import onnxruntime as ort

    path = Path(path)
    cfg, weights = _weights(path)
    net = build_model(cfg)
    state = net.state_dict()
    loaded = {k: torch.from_numpy(np.array(weights[k], copy=True)) for k in state if k in weights}
    if any(tuple(loaded[k].shape) != tuple(v.shape) for k, v in state.items() if k in loaded):
        raise ModelError(f"{path}: parameter shapes differ from the model configuration's")
    net.load_state_dict({**state, **loaded})
    net.eval()
    rng = np.random.default_rng(0)
    feeds: dict[str, np.ndarray] = {}
    for name, shape in (CHROMA if isinstance(cfg, ChromaConfig) else LUMA).inputs.items():
        low, high = (0.06, 0.92) if name == "luma" else (0.3, 0.7)  # samples of typical luma and chroma
        feeds[name] = (
            np.array([22.0, 37.0], np.float32)
            if name == "qp"
            else rng.uniform(low, high, (2, *shape[1:])).astype(np.float32)
        )
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    with torch.no_grad():
        got = net(*(torch.from_numpy(v) for v in feeds.values()))
    if any(not np.allclose(w, g.numpy(), atol=1e-4) for w, g in zip(want, got, strict=True)):
        raise ModelError(f"{path}: the rebuilt network does not reproduce the file's outputs")
    return net
