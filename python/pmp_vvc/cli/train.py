"""pmp-train: train the partition-map network on the CPU (resumable, deterministic, logged to a file).

Example::

    pmp-train --rho 0.5 --epochs 40          # run dir: ~/.cache/pmp-vvc/runs/rho0.5-seed0
    pmp-train --rho 0.5 --epochs 40          # again: resumes from its last.pt
    pmp-train --target chroma --dataset DIR  # the chroma model (run dir: .../runs/chroma-rho0.5-seed0)

Samples come from the starter labels (``--labels``), sample shards (``--shard``) and pmp-dataset folders
(``--dataset``); the starter batches named by ``--val-batches`` are held out, and are the validation set
unless ``--val-dataset`` names a pmp-dataset folder (e.g. BSDS500-val labels); ``--no-starter`` leaves
the starter labels out of training. ``--target chroma`` trains
the chroma tree's model on the same sources (their Cb/Cr inputs and chroma-tree maps); ``--evaluate``
takes the target from the checkpoints.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmp_vvc.cli.common import parent_parser, run_cli, setup_logging
from pmp_vvc.files import write_json_atomic

if TYPE_CHECKING:
    from pmp_vvc.learning.train import MapSamples

DEFAULT_LABELS = "../shared/data/labels/vtm23.13-ai-256"
DEFAULT_VAL = "batch011,batch012"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of pmp-train."""
    p = argparse.ArgumentParser(
        prog="pmp-train", description=__doc__.split("\n")[0], parents=[parent_parser()]
    )
    p.add_argument("--labels", default=DEFAULT_LABELS, help="starter-label folder (batchNNN/...)")
    p.add_argument("--shard", action="append", default=[], help="extra sample shard (.npz), repeatable")
    p.add_argument(
        "--no-starter",
        action="store_true",
        help="train on the --dataset/--shard samples only, e.g. chroma labels coded after a guided luma tree "
        "(the starter labels hold the anchor's trees); needs --val-dataset",
    )
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        type=Path,
        help="pmp-dataset folder whose finished shards join the training set, re-scanned at each "
        "epoch (a label job may still be adding to it); repeatable",
    )
    p.add_argument("--val-batches", default=DEFAULT_VAL, help="comma-separated starter batches held out")
    p.add_argument(
        "--target",
        choices=("luma", "chroma"),
        default="luma",
        help="which tree's model to train: luma (default) or chroma (the chroma tree of the dual tree)",
    )
    p.add_argument(
        "--no-luma-input",
        action="store_true",
        help="with --target chroma: the model sees Cb and Cr only, not the co-located luma",
    )
    p.add_argument(
        "--node-loss",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="add the node-level loss on the guide's mode probabilities, from the RD-cost labels of the "
        "shards that have them (of the chroma tree with --target chroma), with this weight (default 0: "
        "maps only)",
    )
    p.add_argument(
        "--node-margin",
        type=float,
        default=0.01,
        help="with --node-loss: modes within this relative RD cost of a node's best count as right "
        "(default 0.01)",
    )
    p.add_argument(
        "--transpose",
        type=float,
        default=0.0,
        metavar="P",
        help="transpose each training sample with probability P per epoch, maps and node targets with it "
        "(luma only; default 0: no augmentation)",
    )
    p.add_argument(
        "--init",
        help="start from the weights of this model (a pmp-export ONNX file or a registered model name, "
        "e.g. default: the shipped model of --target): fine-tuning; its configuration is the run's. "
        "With --target chroma a luma model starts the chroma model: its trunk, on the pooled luma",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        help="run folder (default: <cache>/runs/rho<rho>-seed<seed>, chroma-rho<rho>-seed<seed> for chroma)",
    )
    p.add_argument("--rho", type=float, default=0.5, help="token keep ratio (1.0: dense twin)")
    p.add_argument(
        "--dims",
        help="a new model's channel widths of its three stages, e.g. 48,96,144 (default 32,64,96; chroma "
        "16,32,48); each a multiple of its stage's attention heads (2,4,4; chroma 1,2,2)",
    )
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--ema", type=float, default=0.999, help="EMA decay of the evaluated and saved weights (0: off)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (tests)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument(
        "--evaluate",
        type=Path,
        nargs="+",
        metavar="CHECKPOINT",
        help="do not train: print accuracies (all and per QP) of checkpoints (or exported luma .onnx "
        "models) and of the per-QP constant baseline on the validation batches; rows are named by "
        "each checkpoint's run folder",
    )
    p.add_argument("--eval-rho", type=float, help="with --evaluate: run the model at this keep ratio")
    p.add_argument("--report", type=Path, help="with --evaluate: also write the figures as JSON here")
    p.add_argument(
        "--val-dataset",
        type=Path,
        help="validate (training and --evaluate) on the shards of this pmp-dataset folder, e.g. "
        "labels of ../shared/data/dev/bsds500_val, instead of the held-out starter batches "
        "(which stay out of training)",
    )
    return p


@dataclass(frozen=True)
class SampleKind:
    """How one target's samples are read: from the starter labels, from a shard, and joined."""

    starter: Callable[[str], Any]
    shard: Callable[[Path], Any]
    concat: Callable[[list[Any]], Any]


def sample_kind(target: str, node_margin: float | None = None) -> SampleKind:
    """Return the sample readers of ``target`` (``luma`` or ``chroma``).

    With ``node_margin``, samples carry the node targets of their tree from their RD-cost labels, where
    they have them (:class:`pmp_vvc.learning.nodes.CostSamples`).
    """
    from pmp_vvc.learning.chroma import chroma_shard, concat_chroma, starter_chroma_samples
    from pmp_vvc.learning.labels import concat, load_shard, starter_samples
    from pmp_vvc.learning.nodes import CostSamples, NodeTable, load_cost_shard

    if node_margin is None:
        if target == "chroma":
            return SampleKind(starter_chroma_samples, chroma_shard, concat_chroma)
        return SampleKind(starter_samples, _anchor_luma(load_shard), concat)
    margin: float = node_margin
    if target == "chroma":
        return SampleKind(
            lambda root: CostSamples(starter_chroma_samples(root), NodeTable.empty(chroma=True)),
            lambda path: load_cost_shard(path, margin, chroma=True),
            CostSamples.join,
        )
    return SampleKind(
        lambda root: CostSamples(starter_samples(root), NodeTable.empty()),
        _anchor_luma(lambda path: load_cost_shard(path, margin)),
        CostSamples.join,
    )


def _anchor_luma(load: Callable[[Path], Any]) -> Callable[[Path], Any]:
    """Wrap a luma shard reader so that it refuses shards of encodes with extra options.

    Their luma trees are not the anchor's (``pmp-dataset --encoder-arg``, e.g. a guided luma tree made
    for chroma labels), so they are no luma targets.
    """
    from pmp_vvc.errors import InputError
    from pmp_vvc.learning.dataset import shard_encoder_args

    def checked(path: Path) -> Any:
        options = shard_encoder_args(path)
        if options:
            raise InputError(
                f"{path}: labels of an encode with {' '.join(options)}: its luma tree is not the "
                "anchor's (use it with --target chroma)"
            )
        return load(path)

    return checked


class GrowingSet:
    """Training samples of each epoch: fixed samples plus the finished shards of pmp-dataset folders.

    The shard list used for an epoch is recorded in ``record`` (JSON) the first time, so a resumed run
    sees the same samples for that epoch even if more shards have appeared since.
    """

    def __init__(
        self, base: MapSamples, folders: Sequence[Path], record: Path, kind: SampleKind | None = None
    ) -> None:
        self.base, self.folders, self.record = base, list(folders), record
        self.kind = kind or sample_kind("luma")
        self.cache: dict[str, MapSamples] = {}

    def __call__(self, epoch: int) -> MapSamples:
        """Return the samples of ``epoch``."""
        from pmp_vvc.learning.dataset import shard_paths

        used: dict[str, list[str]] = json.loads(self.record.read_text()) if self.record.is_file() else {}
        if str(epoch) not in used:
            used[str(epoch)] = [str(p) for f in self.folders for p in shard_paths(f)]
            write_json_atomic(self.record, used, indent=None)
        for path in used[str(epoch)]:
            if path not in self.cache:
                self.cache[path] = self.kind.shard(Path(path))
        result: MapSamples = self.kind.concat([self.base, *(self.cache[p] for p in used[str(epoch)])])
        return result


_COLS = (
    "qt",
    "qt16",
    "mtt1",
    "mtt2",
    "mtt3",
    "direction1",
    "direction2",
    "direction3",
    "split",
    "split_type",
    "split_recall",
    "nosplit_recall",
)


def dataset_samples(folder: Path, kind: SampleKind | None = None) -> MapSamples:
    """Every finished shard of a pmp-dataset folder as one sample set (luma samples unless ``kind``)."""
    from pmp_vvc.errors import InputError
    from pmp_vvc.learning.dataset import shard_paths

    kind = kind or sample_kind("luma")
    paths = shard_paths(folder)
    if not paths:
        raise InputError(f"{folder}: no finished pmp-dataset shard")
    result: MapSamples = kind.concat([kind.shard(p) for p in paths])
    return result


def train_and_validation(
    samples: MapSamples, val_batches: Sequence[str], val_dataset: Path | None, kind: SampleKind | None = None
) -> tuple[MapSamples, MapSamples]:
    """Split starter samples into training samples and the validation set.

    The batches ``val_batches`` are held out of training; they are the validation set unless
    ``val_dataset`` (a pmp-dataset folder) is given, whose samples are then.
    """
    from pmp_vvc.learning.train import split_by_batch

    train_set, held_out = split_by_batch(samples, tuple(val_batches))
    return train_set, (dataset_samples(val_dataset, kind) if val_dataset is not None else held_out)


def checkpoints_target(paths: Sequence[Path]) -> str:
    """Return the one target (luma or chroma) of the checkpoints; ConfigError if they mix both."""
    from pmp_vvc.errors import ConfigError
    from pmp_vvc.learning.onnxweights import onnx_target
    from pmp_vvc.learning.train import checkpoint_target, load_checkpoint

    targets = {
        onnx_target(p) if p.suffix == ".onnx" else checkpoint_target(load_checkpoint(p)) for p in paths
    }
    if len(targets) != 1:
        raise ConfigError(f"checkpoints of luma and chroma models cannot share a table: {sorted(targets)}")
    return targets.pop()


def evaluate_checkpoints(
    paths: Sequence[Path], train_set: MapSamples, val_set: MapSamples, rho: float | None
) -> dict[str, dict[str, dict[str, float]]]:
    """Accuracy tables of checkpoints (named by their run folder) and of the per-QP constant baseline."""
    from pmp_vvc.learning.evaluate import accuracy_table, constant_baseline, one_hot_maps
    from pmp_vvc.learning.onnxweights import load_onnx_model
    from pmp_vvc.learning.train import argmax_maps, load_model, predict_probabilities

    true = val_set.maps()
    tables = {}
    for path in paths:
        name = (path.stem if path.suffix == ".onnx" else path.parent.name) if len(paths) > 1 else "model"
        if name in tables:
            name = str(path)
        model = load_onnx_model(path) if path.suffix == ".onnx" else load_model(path, rho=rho)
        probs = predict_probabilities(model, val_set)
        tables[name] = accuracy_table(argmax_maps(probs), true, val_set.qp, val_set.chroma)
        tables[name]["all"].update(_guide_metrics(val_set, probs))
    base = constant_baseline(train_set.qp, train_set.maps(), val_set.qp)
    tables["constant_per_qp"] = accuracy_table(base, true, val_set.qp, val_set.chroma)
    tables["constant_per_qp"]["all"].update(_guide_metrics(val_set, one_hot_maps(base)))
    return tables


def _guide_metrics(val_set: MapSamples, probs: dict[str, Any]) -> dict[str, float]:
    """Split or not as the guide decides it, and its node decisions against the RD costs if there are any."""
    from pmp_vvc.learning.nodeeval import guide_node_metrics, guide_split_accuracies
    from pmp_vvc.learning.nodes import CostSamples

    out = guide_split_accuracies(probs, val_set.maps(), val_set.chroma)
    if isinstance(val_set, CostSamples) and len(val_set.nodes):
        out.update(guide_node_metrics(probs, val_set.nodes))
    return out


def _print_table(tables: dict[str, dict[str, dict[str, float]]]) -> None:
    from pmp_vvc.learning.evaluate import BY_NODE_KEYS

    print("| predictor | QPs | " + " | ".join(_COLS) + " |")
    print("|---|---|" + "---|" * len(_COLS))
    for name, table in tables.items():
        for key, row in table.items():
            print(f"| {name} | {key} | " + " | ".join(f"{row[c]:.3f}" for c in _COLS) + " |")
    print("\nSplit or not at the nodes touching the block's top/left edge or not, and by the node's shorter")
    print("side (all QPs):\n")
    print("| predictor | " + " | ".join(BY_NODE_KEYS) + " |")
    print("|---|" + "---|" * len(BY_NODE_KEYS))
    for name, table in tables.items():
        print(f"| {name} | " + " | ".join(f"{table['all'][c]:.3f}" for c in BY_NODE_KEYS) + " |")
    guide_cols = [c for c in next(iter(tables.values()))["all"] if c.startswith("guide_split")]
    print("\nSplit or not as the map guide decides it (no split iff its P(no split) >= 0.5), all QPs:\n")
    print("| predictor | " + " | ".join(guide_cols) + " |")
    print("|---|" + "---|" * len(guide_cols))
    for name, table in tables.items():
        print(f"| {name} | " + " | ".join(f"{table['all'][c]:.3f}" for c in guide_cols) + " |")
    node_cols = [
        c for c in next(iter(tables.values()))["all"] if c.startswith(("node_hit", "skip_cost", "tested_"))
    ]
    if node_cols:
        print("\nNode decisions of the map guide (L2) against the anchor's RD costs:\n")
        print("| predictor | " + " | ".join(node_cols) + " |")
        print("|---|" + "---|" * len(node_cols))
        for name, table in tables.items():
            print(f"| {name} | " + " | ".join(f"{table['all'][c]:.4f}" for c in node_cols) + " |")


def _initial_model(name: str, target: str) -> Any:
    """Load the network to fine-tune: a pmp-export ONNX file, or the file of a registered model name.

    ``default`` names the shipped model of ``target`` (the chroma model is the luma default's companion).
    A luma model for the chroma target gives :func:`~pmp_vvc.learning.model.chroma_from_luma` of it.
    """
    from pmp_vvc import modelzoo
    from pmp_vvc.errors import ConfigError
    from pmp_vvc.learning.model import PartitionNet, chroma_from_luma
    from pmp_vvc.learning.onnxweights import load_onnx_model

    path = modelzoo.resolve_chroma_model(name) if name == "default" and target == "chroma" else None
    net = load_onnx_model(path or modelzoo.resolve_model(name))
    if target == "chroma" and isinstance(net, PartitionNet):
        return chroma_from_luma(net)
    if target != net.TARGET:
        raise ConfigError(f"--init {name}: a {net.TARGET} model, not a {target} model")
    return net


def _stage_dims(text: str, heads: tuple[int, int, int]) -> tuple[int, int, int]:
    """Parse ``--dims`` (three positive widths, each a multiple of its stage's heads); ConfigError if not."""
    from pmp_vvc.errors import ConfigError

    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3 or any(d <= 0 or d % h for d, h in zip(dims, heads, strict=True)):
        raise ConfigError(
            f"--dims {text!r}: give three positive widths, each a multiple of its stage's heads {heads}"
        )
    return dims[0], dims[1], dims[2]


def main(argv: Sequence[str] | None = None) -> int:
    """Run pmp-train."""
    args = build_parser().parse_args(argv)
    setup_logging(args)
    import numpy as np
    import torch

    from pmp_vvc.errors import ConfigError
    from pmp_vvc.learning.labels import cache_dir
    from pmp_vvc.learning.model import TARGET_CONFIGS, ChromaConfig, ModelConfig
    from pmp_vvc.learning.train import TrainConfig, train

    if not 0.0 < args.rho <= 1.0:
        raise ConfigError(f"--rho must be in (0, 1], got {args.rho}")
    torch.set_num_threads(args.threads)
    val_batches = [b for b in args.val_batches.split(",") if b]
    if args.no_luma_input and args.target != "chroma":
        raise ConfigError("--no-luma-input needs --target chroma")
    if args.node_loss < 0 or not 0 <= args.node_margin < 1:
        raise ConfigError("--node-loss must be >= 0 and --node-margin in [0, 1)")
    if not 0.0 <= args.transpose <= 1.0 or (args.transpose > 0 and args.target != "luma"):
        raise ConfigError("--transpose must be in [0, 1] and is for --target luma")
    if args.dims and (args.init or args.evaluate is not None):
        raise ConfigError("--dims sizes a new model: not with --init or --evaluate (their file sets it)")
    dims = _stage_dims(args.dims, TARGET_CONFIGS[args.target]().heads) if args.dims else None
    if args.no_starter and (
        args.evaluate is not None or args.val_dataset is None or not (args.dataset or args.shard)
    ):
        raise ConfigError("--no-starter trains on --dataset/--shard samples and needs --val-dataset")
    node_margin = args.node_margin if args.node_loss > 0 or args.evaluate is not None else None
    if args.evaluate is not None:
        kind = sample_kind(checkpoints_target(args.evaluate), node_margin)
        train_part, val_part = train_and_validation(
            kind.starter(args.labels), val_batches, args.val_dataset, kind
        )
        tables = evaluate_checkpoints(args.evaluate, train_part, val_part, args.eval_rho)
        _print_table(tables)
        if args.report:
            write_json_atomic(args.report, tables)
        return 0
    prefix = "chroma-" if args.target == "chroma" else ""
    run_dir = args.run_dir or cache_dir() / "runs" / f"{prefix}rho{args.rho}-seed{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("pmp_vvc")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        kind = sample_kind(args.target, node_margin)
        train_set, val_set = train_and_validation(
            kind.starter(args.labels), val_batches, args.val_dataset, kind
        )
        if args.no_starter:
            train_set = train_set.subset(np.arange(0, dtype=np.int64))
        if args.shard:
            train_set = kind.concat([train_set, *(kind.shard(Path(s)) for s in args.shard)])
        data: MapSamples | Callable[[int], MapSamples] = train_set
        if args.dataset:
            data = GrowingSet(train_set, args.dataset, run_dir / "epoch_shards.json", kind)
        init = _initial_model(args.init, args.target) if args.init else None
        model_cfg = (
            init.cfg
            if init is not None
            else (
                ChromaConfig(rho=args.rho, luma_input=not args.no_luma_input)
                if args.target == "chroma"
                else ModelConfig(rho=args.rho)
            )
        )
        if dims is not None:
            model_cfg = replace(model_cfg, dims=dims)
        cfg = TrainConfig(
            rho=args.rho,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            checkpoint_minutes=args.checkpoint_minutes,
            max_steps=args.max_steps,
            ema=args.ema,
            node_weight=args.node_loss,
            node_margin=args.node_margin,
            transpose=args.transpose,
        )
        info = {
            "target": args.target,
            "labels": str(args.labels),
            "shards": args.shard,
            "datasets": [str(d) for d in args.dataset],
            "val_batches": val_batches,
            "val_dataset": str(args.val_dataset or ""),
            "init": str(args.init or ""),
            "train_samples": len(train_set),
            "val_samples": len(val_set),
        }
        logger.info(
            "run %s: %d train / %d val samples%s, %s",
            run_dir,
            len(train_set),
            len(val_set),
            " (and the --dataset shards, re-scanned at each epoch)" if args.dataset else "",
            cfg,
        )
        metrics = train(cfg, data, val_set, run_dir, model_cfg=model_cfg, info=info, init=init)
        logger.info("done: %s", json.dumps(metrics))
    finally:
        logger.removeHandler(handler)
        handler.close()
    return 0


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    entry()
