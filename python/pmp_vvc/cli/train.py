"""pmp-train: train the partition-map network on the CPU (resumable, deterministic, logged to a file).

Example::

    pmp-train --rho 0.5 --epochs 40          # run dir: ~/.cache/pmp-vvc/runs/rho0.5-seed0
    pmp-train --rho 0.5 --epochs 40          # again: resumes from its last.pt

Samples come from the starter labels (``--labels``), sample shards (``--shard``) and pmp-dataset folders
(``--dataset``); the starter batches named by ``--val-batches`` are held out, and are the validation set
unless ``--val-dataset`` names a pmp-dataset folder (e.g. BSDS500-val labels).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pmp_vvc.cli.common import parent_parser, run_cli, setup_logging
from pmp_vvc.files import write_json_atomic

if TYPE_CHECKING:
    from pmp_vvc.learning.labels import Samples

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
        "--dataset",
        action="append",
        default=[],
        type=Path,
        help="pmp-dataset folder whose finished shards join the training set, re-scanned at each "
        "epoch (a label job may still be adding to it); repeatable",
    )
    p.add_argument("--val-batches", default=DEFAULT_VAL, help="comma-separated starter batches held out")
    p.add_argument("--run-dir", type=Path, help="run folder (default: <cache>/runs/rho<rho>-seed<seed>)")
    p.add_argument("--rho", type=float, default=0.5, help="token keep ratio (1.0: dense twin)")
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
        help="do not train: print accuracies (all and per QP) of checkpoints and of the per-QP "
        "constant baseline on the validation batches; rows are named by each checkpoint's "
        "run folder",
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


class GrowingSet:
    """Training samples of each epoch: fixed samples plus the finished shards of pmp-dataset folders.

    The shard list used for an epoch is recorded in ``record`` (JSON) the first time, so a resumed run
    sees the same samples for that epoch even if more shards have appeared since.
    """

    def __init__(self, base: Samples, folders: Sequence[Path], record: Path) -> None:
        self.base, self.folders, self.record = base, list(folders), record
        self.cache: dict[str, Samples] = {}

    def __call__(self, epoch: int) -> Samples:
        """Return the samples of ``epoch``."""
        from pmp_vvc.learning.dataset import shard_paths
        from pmp_vvc.learning.labels import concat, load_shard

        used: dict[str, list[str]] = json.loads(self.record.read_text()) if self.record.is_file() else {}
        if str(epoch) not in used:
            used[str(epoch)] = [str(p) for f in self.folders for p in shard_paths(f)]
            write_json_atomic(self.record, used, indent=None)
        for path in used[str(epoch)]:
            if path not in self.cache:
                self.cache[path] = load_shard(path)
        return concat([self.base, *(self.cache[p] for p in used[str(epoch)])])


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


def dataset_samples(folder: Path) -> Samples:
    """Every finished shard of a pmp-dataset folder as one sample set."""
    from pmp_vvc.errors import InputError
    from pmp_vvc.learning.dataset import shard_paths
    from pmp_vvc.learning.labels import concat, load_shard

    paths = shard_paths(folder)
    if not paths:
        raise InputError(f"{folder}: no finished pmp-dataset shard")
    return concat([load_shard(p) for p in paths])


def train_and_validation(
    samples: Samples, val_batches: Sequence[str], val_dataset: Path | None
) -> tuple[Samples, Samples]:
    """Split starter samples into training samples and the validation set.

    The batches ``val_batches`` are held out of training; they are the validation set unless
    ``val_dataset`` (a pmp-dataset folder) is given, whose samples are then.
    """
    from pmp_vvc.learning.train import split_by_batch

    train_set, held_out = split_by_batch(samples, tuple(val_batches))
    return train_set, (dataset_samples(val_dataset) if val_dataset is not None else held_out)


def evaluate_checkpoints(
    paths: Sequence[Path], train_set: Samples, val_set: Samples, rho: float | None
) -> dict[str, dict[str, dict[str, float]]]:
    """Accuracy tables of checkpoints (named by their run folder) and of the per-QP constant baseline."""
    from pmp_vvc.learning.evaluate import accuracy_table, constant_baseline
    from pmp_vvc.learning.train import load_model, predict

    true = {"qt": val_set.qt, "mtt": val_set.mtt, "direction": val_set.direction}
    tables = {}
    for path in paths:
        name = path.parent.name if len(paths) > 1 else "model"
        if name in tables:
            name = str(path)
        tables[name] = accuracy_table(predict(load_model(path, rho=rho), val_set), true, val_set.qp)
    base = constant_baseline(
        train_set.qp, {"qt": train_set.qt, "mtt": train_set.mtt, "direction": train_set.direction}, val_set.qp
    )
    tables["constant_per_qp"] = accuracy_table(base, true, val_set.qp)
    return tables


def _print_table(tables: dict[str, dict[str, dict[str, float]]]) -> None:
    print("| predictor | QPs | " + " | ".join(_COLS) + " |")
    print("|---|---|" + "---|" * len(_COLS))
    for name, table in tables.items():
        for key, row in table.items():
            print(f"| {name} | {key} | " + " | ".join(f"{row[c]:.3f}" for c in _COLS) + " |")


def main(argv: Sequence[str] | None = None) -> int:
    """Run pmp-train."""
    args = build_parser().parse_args(argv)
    setup_logging(args)
    import torch

    from pmp_vvc.errors import ConfigError
    from pmp_vvc.learning.labels import cache_dir, concat, load_shard, starter_samples
    from pmp_vvc.learning.train import TrainConfig, train

    if not 0.0 < args.rho <= 1.0:
        raise ConfigError(f"--rho must be in (0, 1], got {args.rho}")
    torch.set_num_threads(args.threads)
    val_batches = [b for b in args.val_batches.split(",") if b]
    if args.evaluate is not None:
        train_part, val_part = train_and_validation(
            starter_samples(args.labels), val_batches, args.val_dataset
        )
        tables = evaluate_checkpoints(args.evaluate, train_part, val_part, args.eval_rho)
        _print_table(tables)
        if args.report:
            write_json_atomic(args.report, tables)
        return 0
    run_dir = args.run_dir or cache_dir() / "runs" / f"rho{args.rho}-seed{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("pmp_vvc")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        train_set, val_set = train_and_validation(starter_samples(args.labels), val_batches, args.val_dataset)
        if args.shard:
            train_set = concat([train_set, *(load_shard(s) for s in args.shard)])
        data: Samples | Callable[[int], Samples] = train_set
        if args.dataset:
            data = GrowingSet(train_set, args.dataset, run_dir / "epoch_shards.json")
        cfg = TrainConfig(
            rho=args.rho,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            checkpoint_minutes=args.checkpoint_minutes,
            max_steps=args.max_steps,
            ema=args.ema,
        )
        info = {
            "labels": str(args.labels),
            "shards": args.shard,
            "datasets": [str(d) for d in args.dataset],
            "val_batches": val_batches,
            "val_dataset": str(args.val_dataset or ""),
            "train_samples": len(train_set),
            "val_samples": len(val_set),
        }
        logger.info("run %s: %d train / %d val samples, %s", run_dir, len(train_set), len(val_set), cfg)
        metrics = train(cfg, data, val_set, run_dir, info=info)
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
