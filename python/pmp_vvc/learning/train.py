"""Resumable, deterministic CPU training of the partition-map networks on label samples.

One loop trains either target: the luma model (:class:`~pmp_vvc.learning.model.PartitionNet` on
:class:`~pmp_vvc.learning.labels.Samples`) or the chroma model (:class:`~pmp_vvc.learning.model.ChromaNet`
on :class:`~pmp_vvc.learning.chroma.ChromaSamples`); the model configuration's type picks the network.

A run lives in one directory: ``last.pt`` (written atomically every few minutes and at each epoch end),
``best.pt`` (lowest validation loss), ``metrics.jsonl`` (one line per epoch) and the CLI's ``train.log``.
Calling :func:`train` again on the same directory resumes exactly where the last checkpoint stopped
(same batches, same Gumbel noise: the RNG states are saved). Needs torch (the ``train`` extra).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from pmp_vvc.errors import ConfigError, ModelError
from pmp_vvc.files import atomic_path
from pmp_vvc.learning.augment import transpose
from pmp_vvc.learning.evaluate import all_accuracies
from pmp_vvc.learning.model import TARGET_CONFIGS, ChromaConfig, MapNet, ModelConfig, build_model
from pmp_vvc.learning.nodeeval import guide_node_metrics, guide_split_accuracies
from pmp_vvc.learning.nodeloss import node_loss
from pmp_vvc.learning.nodes import CostSamples

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "pmp-vvc-partitionnet-1"


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run (saved in its checkpoints)."""

    rho: float = 0.5
    epochs: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 200
    ratio_weight: float = 2.0
    seed: int = 0
    checkpoint_minutes: float = 3.0
    max_steps: int | None = None
    ema: float = 0.999
    clip: float = 1.0
    node_weight: float = 0.0  # weight of the node-level loss (learning.nodeloss) on samples with RD costs
    node_margin: float = 0.01  # modes within this relative RD cost of a node's best are acceptable
    node_weight_power: float = 0.5  # a node weighs (cost of skipping its acceptable modes) ** power
    transpose: float = 0.0  # probability that a training sample is transposed in an epoch (learning.augment)


class MapSamples(Protocol):
    """What training needs of a sample set (luma :class:`Samples` and :class:`ChromaSamples` alike)."""

    @property
    def chroma(self) -> bool:
        """Whether the targets are the chroma tree's."""

    @property
    def qp(self) -> npt.NDArray[np.int16]:
        """Slice QP per sample."""

    @property
    def source(self) -> npt.NDArray[np.str_]:
        """Provenance per sample (``batchNNN/...`` for the starter labels)."""

    def __len__(self) -> int: ...

    def subset(self, index: npt.NDArray[np.int64]) -> MapSamples:
        """Return the samples at ``index``."""

    def model_inputs(self, index: npt.NDArray[np.int64]) -> tuple[npt.NDArray[Any], ...]:
        """Model inputs (float32) in the ONNX input order."""

    def maps(self, index: npt.NDArray[np.int64] | slice = ...) -> dict[str, npt.NDArray[np.int8]]:
        """Target class maps ``qt``, ``mtt``, ``direction``."""


S = TypeVar("S", bound=MapSamples)


def split_by_batch(samples: S, val_batches: tuple[str, ...]) -> tuple[S, S]:
    """Split samples into (train, validation) by the starter-label batch named in their source."""
    batch = np.array([s.split("/", 1)[0] for s in samples.source.tolist()])
    val = np.isin(batch, list(val_batches))
    if not val.any() or val.all():
        raise ConfigError(f"validation batches {list(val_batches)} leave an empty train or validation set")
    return samples.subset(np.flatnonzero(~val)), samples.subset(np.flatnonzero(val))  # type: ignore[return-value]


def _batch(
    samples: MapSamples, idx: npt.NDArray[np.int64]
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Model inputs and targets (qt, mtt, direction) of the samples at ``idx`` as tensors."""
    inputs = tuple(torch.from_numpy(a) for a in samples.model_inputs(idx))
    return inputs, tuple(torch.from_numpy(m.astype(np.int64)) for m in samples.maps(idx).values())


def map_losses(
    outs: tuple[torch.Tensor, ...], qt: torch.Tensor, mtt: torch.Tensor, direction: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Cross-entropy per map (ignore index -1)."""
    return {
        "qt": F.cross_entropy(outs[0], qt, ignore_index=-1),
        "mtt": F.cross_entropy(outs[1], mtt, ignore_index=-1),
        "direction": F.cross_entropy(outs[2], direction, ignore_index=-1),
    }


@torch.no_grad()
def _probabilities_and_losses(
    model: MapNet, samples: MapSamples, batch_size: int
) -> tuple[dict[str, npt.NDArray[np.float32]], dict[str, float]]:
    """One eval-mode pass: the maps' class probabilities of every sample and the mean map losses."""
    model.eval()
    parts: dict[str, list[npt.NDArray[np.float32]]] = {"qt": [], "mtt": [], "direction": []}
    sums = dict.fromkeys(parts, 0.0)
    for start in range(0, len(samples), batch_size):
        idx = np.arange(start, min(start + batch_size, len(samples)))
        inputs, targets = _batch(samples, idx)
        outs = model(*inputs)
        for k, v in map_losses(outs, *targets).items():
            sums[k] += float(v) * len(idx)
        for name, out in zip(parts, outs, strict=True):
            parts[name].append(out.softmax(dim=1).numpy())
    probs = {k: np.concatenate(v) for k, v in parts.items()}
    return probs, {f"loss_{k}": v / len(samples) for k, v in sums.items()}


def predict_probabilities(
    model: MapNet, samples: MapSamples, batch_size: int = 256
) -> dict[str, npt.NDArray[np.float32]]:
    """Class probabilities of the maps (softmax of the logits; eval mode) for every sample."""
    return _probabilities_and_losses(model, samples, batch_size)[0]


def argmax_maps(probs: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.int8]]:
    """Class maps (argmax over the class axis) of probability maps."""
    return {k: v.argmax(axis=1).astype(np.int8) for k, v in probs.items()}


def predict(model: MapNet, samples: MapSamples, batch_size: int = 256) -> dict[str, npt.NDArray[np.int8]]:
    """Argmax class maps of the model (eval mode) for every sample."""
    return argmax_maps(predict_probabilities(model, samples, batch_size))


@torch.no_grad()
def evaluate(
    model: MapNet, samples: MapSamples, batch_size: int = 256, node_weight: float = 0.0
) -> dict[str, float]:
    """Compute validation losses (eval mode, fixed top-K sparsity) and map / decision accuracies.

    Samples with RD-cost labels add the node loss (in ``loss`` with weight ``node_weight``) and the
    guide's node decisions against the costs (:func:`pmp_vvc.learning.nodeeval.node_decision_metrics`,
    at L2 with threshold 0.9 and 0.7).
    """
    probs, out = _probabilities_and_losses(model, samples, batch_size)
    out["loss"] = sum(out.values())
    true = samples.maps()
    pred = argmax_maps(probs)
    out.update(all_accuracies(pred, true, samples.chroma))
    for qp in np.unique(samples.qp).tolist():
        sel = samples.qp == qp
        acc = all_accuracies(
            {k: v[sel] for k, v in pred.items()}, {k: v[sel] for k, v in true.items()}, samples.chroma
        )
        out.update({f"qp{qp}_{k}": acc[k] for k in ("qt16", "split", "split_type", "split_recall")})
    if isinstance(samples, CostSamples) and len(samples.nodes):
        logits = tuple(
            torch.log(torch.from_numpy(probs[k]).clamp(min=1e-12)) for k in ("qt", "mtt", "direction")
        )
        out["loss_node"] = float(node_loss(logits, samples.nodes))
        out["loss"] += node_weight * out["loss_node"]
        out.update(guide_node_metrics(probs, samples.nodes))
    out.update(guide_split_accuracies(probs, true, samples.chroma))
    return out


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train`; ModelError if missing, corrupt or of another format."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for corrupt files
        raise ModelError(f"cannot load checkpoint {path}: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path} is not a pmp-vvc partition-map model checkpoint")
    return payload


def checkpoint_target(payload: dict[str, Any]) -> str:
    """Return the target (``luma``, ``chroma``) of a loaded checkpoint (older checkpoints: luma)."""
    return str(payload.get("target", "luma"))


def load_model(path: str | Path, rho: float | None = None) -> MapNet:
    """Load the model of a checkpoint in eval mode (optionally evaluated at another pruning ratio ``rho``)."""
    payload = load_checkpoint(path)
    cfg = TARGET_CONFIGS[checkpoint_target(payload)].from_dict(payload["model_config"])
    model = build_model(cfg)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as err:
        raise ModelError(f"{path}: weights do not match the model configuration: {err}") from err
    if rho is not None:
        if (cfg.rho < 1.0) != (rho < 1.0):
            raise ModelError(f"{path}: cannot switch between dense (rho=1) and sparse models (rho={rho})")
        for stage in model.stage_list():
            stage.rho = rho
    return model.eval()


def _lr(cfg: TrainConfig, step: int, total: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def _settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """Options that must match to resume a run (stopping and checkpoint timing may change)."""
    full = {**asdict(TrainConfig()), **cfg}  # options added later take their defaults in older runs
    return {k: v for k, v in full.items() if k not in ("max_steps", "checkpoint_minutes")}


def _ema_update(ema: MapNet, model: MapNet, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
            if e.dtype.is_floating_point:
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
            else:
                e.copy_(p)


def train(
    cfg: TrainConfig,
    train_set: MapSamples | Callable[[int], MapSamples],
    val_set: MapSamples,
    run_dir: str | Path,
    model_cfg: ModelConfig | None = None,
    info: dict[str, Any] | None = None,
    init: MapNet | None = None,
) -> dict[str, float]:
    """Train (or resume) a run in ``run_dir``; return the validation metrics of the last epoch.

    ``train_set`` may be a function of the epoch index returning that epoch's samples (for a data set that
    grows while training, e.g. shards a label job is still writing); the step schedule then follows each
    epoch's size, and resuming is exact as long as the function returns the same samples for an epoch.
    Validation and the saved ``best.pt`` use an exponential moving average of the weights (``cfg.ema``;
    0 disables it); ``last.pt`` holds both. ``model_cfg`` picks the network (a ``ChromaConfig``: the chroma
    model, whose samples must be chroma samples). ``init``: a network of that configuration whose weights
    a new run starts from (fine-tuning). Samples with RD-cost labels (:class:`CostSamples`) add the
    node-level loss with weight ``cfg.node_weight``. ``cfg.transpose`` > 0 transposes that fraction of
    each epoch's training samples (luma only), drawn per epoch from the seed.
    """
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    mcfg = model_cfg or ModelConfig(rho=cfg.rho)
    if mcfg.rho != cfg.rho:
        raise ConfigError(f"model rho {mcfg.rho} differs from training rho {cfg.rho}")
    if val_set.chroma != isinstance(mcfg, ChromaConfig):
        raise ConfigError("the samples' tree (luma/chroma) is not the model configuration's")
    torch.manual_seed(cfg.seed)
    model = build_model(mcfg)
    if init is not None:
        if type(init) is not type(model) or init.cfg.to_dict() != mcfg.to_dict():
            raise ConfigError("the initial network's configuration is not the run's")
        model.load_state_dict(init.state_dict())
    ema = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def epoch_set(e: int) -> MapSamples:
        return train_set(e) if callable(train_set) else train_set

    steps_per_epoch = len(epoch_set(0)) // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    epoch, step_in_epoch, best = 0, 0, math.inf
    metrics: dict[str, float] = {}
    last = run / "last.pt"
    if last.is_file():
        payload = load_checkpoint(last)
        same = _settings(payload["train_config"]) == _settings(asdict(cfg))
        if not same or payload["model_config"] != mcfg.to_dict():
            raise ConfigError(f"{run} holds a run with other settings; use a new run directory")
        model.load_state_dict(payload.get("model_raw", payload["model"]))
        ema.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        torch.set_rng_state(payload["torch_rng"])
        epoch, step_in_epoch, best = payload["epoch"], payload["step_in_epoch"], payload["best"]
        log.info("resumed %s at epoch %d step %d", run, epoch, step_in_epoch)

    def checkpoint(path: Path) -> None:
        save_checkpoint(
            path,
            {
                "format": CHECKPOINT_FORMAT,
                "target": model.TARGET,
                "model": (ema if cfg.ema > 0 else model).state_dict(),
                "model_raw": model.state_dict(),
                "optimizer": opt.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch,
                "step_in_epoch": step_in_epoch,
                "best": best,
                "train_config": asdict(cfg),
                "model_config": mcfg.to_dict(),
                "info": info or {},
                "metrics": metrics,
            },
        )

    saved_at = time.monotonic()
    while epoch < cfg.epochs:
        data = epoch_set(epoch)
        steps_per_epoch = len(data) // cfg.batch_size
        total = cfg.epochs * steps_per_epoch  # step / total = fraction of epochs done, whatever the size
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(data))
        flips = np.random.default_rng([cfg.seed, epoch, 1]).random(len(data)) < cfg.transpose
        model.train()
        run_loss, t0 = 0.0, time.monotonic()
        while step_in_epoch < steps_per_epoch:
            step = epoch * steps_per_epoch + step_in_epoch
            if cfg.max_steps is not None and step >= cfg.max_steps:
                checkpoint(last)
                return metrics
            for group in opt.param_groups:
                group["lr"] = _lr(cfg, step, total)
            idx = order[step_in_epoch * cfg.batch_size : (step_in_epoch + 1) * cfg.batch_size]
            batch = data.subset(idx)
            if cfg.transpose > 0:
                batch = transpose(batch, flips[idx])  # type: ignore[arg-type]
            inputs, targets = _batch(batch, np.arange(len(idx)))
            outs = model(*inputs)
            losses = map_losses(outs, *targets)
            if cfg.node_weight > 0 and isinstance(batch, CostSamples):
                losses["node"] = cfg.node_weight * node_loss(
                    outs, batch.node_batch(np.arange(len(idx))), cfg.node_weight_power
                )
            loss = sum(losses.values()) + cfg.ratio_weight * model.ratio_loss()
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if cfg.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            if cfg.ema > 0:
                _ema_update(ema, model, min(cfg.ema, (1 + step) / (10 + step)))
            run_loss += float(loss.detach())
            step_in_epoch += 1
            if time.monotonic() - saved_at > cfg.checkpoint_minutes * 60:
                checkpoint(last)
                saved_at = time.monotonic()
        metrics = {
            "epoch": float(epoch + 1),
            "train_loss": run_loss / max(1, steps_per_epoch),
            "train_samples": float(len(data)),
            "epoch_seconds": time.monotonic() - t0,
            **evaluate(ema if cfg.ema > 0 else model, val_set, node_weight=cfg.node_weight),
        }
        with open(run / "metrics.jsonl", "a") as out:
            out.write(json.dumps(metrics) + "\n")
        log.info(
            "epoch %d/%d (%d training samples) train %.4f val %.4f qt16 %.3f split %.3f split_type %.3f",
            epoch + 1,
            cfg.epochs,
            len(data),
            metrics["train_loss"],
            metrics["loss"],
            metrics["qt16"],
            metrics["split"],
            metrics["split_type"],
        )
        epoch, step_in_epoch = epoch + 1, 0
        if metrics["loss"] < best:
            best = metrics["loss"]
            checkpoint(run / "best.pt")
        checkpoint(last)
        saved_at = time.monotonic()
    return metrics
