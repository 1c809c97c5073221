"""Multiply-accumulate count per 64x64 luma block (luma or chroma model) with fvcore ("flop" = MAC)."""

from __future__ import annotations

import logging
import warnings

from pmp_vvc.learning.model import MapNet


def count_macs(model: MapNet) -> tuple[int, dict[str, int]]:
    """Count MACs of one eval-mode forward on one block (total, per operator); TopK/softmax not counted."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's import calls the deprecated torch.jit.script
        from fvcore.nn import FlopCountAnalysis
    model = model.eval()
    inputs = tuple(torch.zeros_like(t) for t in model.example_inputs(1))
    fvlog = logging.getLogger("fvcore")
    level = fvlog.level
    fvlog.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # jit tracer warnings
            analysis = FlopCountAnalysis(model, inputs)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            total = int(analysis.total())
            by_op = {k: int(v) for k, v in analysis.by_operator().items()}
    finally:
        fvlog.setLevel(level)
    return total, by_op
