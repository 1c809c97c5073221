"""pmp-export: export a trained checkpoint to ONNX and report MACs, parity, latency and accuracy.

Example::

    pmp-export ~/.cache/pmp-vvc/runs/rho0.5-seed0/best.pt -o models/pmp-vit-rho0.5.onnx --report report.json
    pmp-export ~/.cache/pmp-vvc/runs/chroma-rho0.5-seed0/best.pt -o models/pmp-chroma-rho0.5.onnx

The checkpoint says whether it is the luma or the chroma model (``pmp-train --target``); the chroma
model is exported with the chroma contract of :mod:`pmp_vvc.modelio` and checked on the chroma tree.

The report (JSON on stdout, or ``--report``) holds fvcore MACs per 64x64 block, parameters, the
PyTorch-vs-onnxruntime parity on held-out starter-label blocks, onnxruntime single-thread latency per
block and per picture batch, and the map/decision accuracies of the ONNX model on the held-out blocks.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pmp_vvc.cli.common import parent_parser, run_cli, setup_logging
from pmp_vvc.files import write_text_atomic

DEFAULT_LABELS = "../shared/data/labels/vtm23.13-ai-256"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of pmp-export."""
    p = argparse.ArgumentParser(
        prog="pmp-export", description=__doc__.split("\n")[0], parents=[parent_parser()]
    )
    p.add_argument("checkpoint", type=Path, help="training checkpoint (best.pt or last.pt)")
    p.add_argument("-o", "--output", type=Path, required=True, help="ONNX file to write")
    p.add_argument("--rho", type=float, help="export at another keep ratio than trained (sparse models only)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--labels", default=DEFAULT_LABELS, help="starter labels for parity/accuracy ('' to skip)")
    p.add_argument("--val-batches", default="batch011,batch012", help="held-out starter batches")
    p.add_argument("--picture", default="416x240", help="picture size for the batch latency (WxH)")
    p.add_argument("--repeats", type=int, default=20, help="latency repetitions (median reported)")
    p.add_argument("--report", type=Path, help="also write the report JSON here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run pmp-export."""
    args = build_parser().parse_args(argv)
    setup_logging(args)
    import numpy as np
    import torch

    from pmp_vvc.cli.train import sample_kind
    from pmp_vvc.errors import ConfigError
    from pmp_vvc.learning.evaluate import accuracy_table
    from pmp_vvc.learning.export import export_onnx, latency, open_export, parity
    from pmp_vvc.learning.flops import count_macs
    from pmp_vvc.learning.model import count_parameters
    from pmp_vvc.learning.train import checkpoint_target, load_checkpoint, load_model
    from pmp_vvc.modelio import run_session

    torch.set_num_threads(1)
    try:
        width, height = (int(v) for v in args.picture.lower().split("x"))
    except ValueError as err:
        raise ConfigError(f"--picture must be WxH, got {args.picture!r}") from err
    model = load_model(args.checkpoint, rho=args.rho)
    rho = model.stage_list()[0].rho if model.cfg.rho < 1.0 else 1.0
    payload = load_checkpoint(args.checkpoint)
    target = checkpoint_target(payload)
    macs, by_op = count_macs(model)
    meta = {
        "rho": rho,
        "macs_per_block": macs,
        "epochs_completed": payload["epoch"],
        "train_info": json.dumps(payload.get("info", {})),
    }
    export_onnx(model, args.output, opset=args.opset, metadata=meta)
    sess = open_export(args.output, target)
    blocks = math.ceil(width / 64) * math.ceil(height / 64)
    report: dict[str, Any] = {
        "onnx": str(args.output),
        "target": target,
        "bytes": args.output.stat().st_size,
        "rho": rho,
        "opset": args.opset,
        "macs_per_block": macs,
        "macs_by_operator": by_op,
        "parameters": count_parameters(model),
        "latency_ms_per_block_batch1": 1e3 * latency(sess, 1, args.repeats),
        f"latency_ms_{width}x{height}_batch{blocks}": 1e3 * latency(sess, blocks, args.repeats),
    }
    if args.labels:
        from pmp_vvc.learning.train import split_by_batch

        kind = sample_kind(target)
        _, val = split_by_batch(kind.starter(args.labels), tuple(args.val_batches.split(",")))
        inputs = val.model_inputs(np.arange(len(val)))
        report["parity"] = parity(model, sess, *(a[:256] for a in inputs))
        pred: dict[str, list[Any]] = {"qt": [], "mtt": [], "direction": []}
        for start in range(0, len(val), 256):
            outs = run_session(sess, *(a[start : start + 256] for a in inputs))
            for name, logits in zip(pred, outs.values(), strict=True):
                pred[name].append(logits.argmax(axis=1).astype(np.int8))
        guess = {k: np.concatenate(v) for k, v in pred.items()}
        table = accuracy_table(guess, val.maps(), val.qp, val.chroma)
        report["val_blocks"] = len(val)
        report["accuracy"] = table.pop("all")
        report["accuracy_per_qp"] = {int(k.removeprefix("qp")): v for k, v in table.items()}
    text = json.dumps(report, indent=2)
    if args.report:
        write_text_atomic(args.report, text + "\n")
    print(text)
    return 0


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    entry()
