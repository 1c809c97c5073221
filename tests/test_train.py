from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pmp_vvc.cli import train as cli_train  # noqa: E402
from pmp_vvc.cli.common import run_cli  # noqa: E402
from pmp_vvc.errors import ConfigError, ModelError  # noqa: E402
from pmp_vvc.learning.labels import Samples  # noqa: E402
from pmp_vvc.learning.model import ModelConfig  # noqa: E402
from pmp_vvc.learning.train import (  # noqa: E402
    TrainConfig,
    load_checkpoint,
    load_model,
    save_checkpoint,
    split_by_batch,
    train,
)

torch.set_num_threads(1)
SMALL = ModelConfig(dims=(16, 32, 32), heads=(2, 2, 2), rho=0.5)


def synthetic(n: int = 16, seed: int = 0) -> Samples:
    """Blocks whose label is a function of the content: bright blocks split more."""
    rng = np.random.default_rng(seed)
    luma = rng.integers(0, 256, (n, 68, 68)).astype(np.uint16)
    level = (np.arange(n) % 4).astype(np.int8)
    luma[:, 4:, 4:] = (luma[:, 4:, 4:] // 4 + 60 * level[:, None, None]).astype(np.uint16)
    qt = np.broadcast_to(level[:, None, None], (n, 8, 8)).copy()
    mtt = np.broadcast_to((level % 3)[:, None, None, None], (n, 3, 16, 16)).astype(np.int8).copy()
    direction = np.broadcast_to(((level + 1) % 3)[:, None, None, None], (n, 3, 16, 16)).astype(np.int8).copy()
    source = np.array([f"batch{i % 2:03d}/poc0@0,0 qp22" for i in range(n)])
    return Samples(luma, 8, np.full(n, 22, np.int16), qt, mtt, direction, source)


def test_loss_falls_on_a_tiny_batch(tmp_path, caplog):
    data = synthetic()
    cfg = TrainConfig(rho=0.5, epochs=12, batch_size=8, lr=3e-3, warmup_steps=2)
    with caplog.at_level("INFO", logger="pmp_vvc.learning.train"):
        train(cfg, data, data, tmp_path, model_cfg=SMALL)
    assert "epoch 12/12 (16 training samples) train " in caplog.text  # the size of each epoch's set is logged
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 12
    assert lines[-1]["train_loss"] < 0.8 * lines[0]["train_loss"]
    assert lines[-1]["loss"] < lines[0]["loss"] and lines[-1]["qt"] > lines[0]["qt"]
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    assert 0 <= lines[-1]["split"] <= 1 and lines[-1]["nodes"] > 0


@pytest.mark.parametrize("transpose", [0.0, 0.5])
def test_resume_is_exact(tmp_path, transpose):
    data = synthetic()
    cfg = TrainConfig(rho=0.5, epochs=3, batch_size=8, warmup_steps=2, transpose=transpose)
    train(cfg, data, data, tmp_path / "a", model_cfg=SMALL)
    stop = TrainConfig(rho=0.5, epochs=3, batch_size=8, warmup_steps=2, max_steps=3, transpose=transpose)
    train(stop, data, data, tmp_path / "b", model_cfg=SMALL)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step_in_epoch"] == 1  # stopped mid-epoch
    train(cfg, data, data, tmp_path / "b", model_cfg=SMALL)
    a = load_checkpoint(tmp_path / "a" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match="other settings"):
        other = TrainConfig(rho=0.5, epochs=3, batch_size=8, lr=1.0)
        train(other, data, data, tmp_path / "b", model_cfg=SMALL)


def test_transposed_samples_change_the_run_and_older_runs_resume(tmp_path):
    data = synthetic()
    plain = TrainConfig(rho=0.5, epochs=1, batch_size=8, warmup_steps=2)
    train(plain, data, data, tmp_path / "plain", model_cfg=SMALL)
    train(TrainConfig(**{**plain.__dict__, "transpose": 1.0}), data, data, tmp_path / "t", model_cfg=SMALL)
    a = load_checkpoint(tmp_path / "plain" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "t" / "last.pt")["model"]
    assert not all(torch.equal(a[k], b[k]) for k in a)
    # a run saved before the option existed resumes with its default
    last = tmp_path / "plain" / "last.pt"
    payload = load_checkpoint(last)
    del payload["train_config"]["transpose"]
    save_checkpoint(last, payload)
    train(plain, data, data, tmp_path / "plain", model_cfg=SMALL)  # no "other settings" error
    with pytest.raises(ConfigError, match="--transpose"):
        cli_train.main(["--target", "chroma", "--transpose", "0.5", "--run-dir", str(tmp_path / "c")])


def test_load_model_and_errors(tmp_path):
    data = synthetic()
    train(TrainConfig(rho=0.5, epochs=1, batch_size=8), data, data, tmp_path, model_cfg=SMALL)
    model = load_model(tmp_path / "last.pt", rho=0.3)
    assert not model.training and model.stage_list()[0].rho == 0.3
    with pytest.raises(ModelError, match="dense"):
        load_model(tmp_path / "last.pt", rho=1.0)
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a pmp-vvc"):
        load_checkpoint(tmp_path / "other.pt")


def test_split_by_batch():
    tr, va = split_by_batch(synthetic(), ("batch001",))
    assert len(tr) == len(va) == 8 and all(s.startswith("batch001") for s in va.source)
    with pytest.raises(ConfigError):
        split_by_batch(synthetic(), ("batch777",))


def test_cli_rejects_bad_rho(tmp_path):
    with pytest.raises(ConfigError, match="rho"):
        cli_train.main(["--rho", "1.5", "--run-dir", str(tmp_path)])
    assert run_cli(cli_train.main, ["--rho", "0", "--run-dir", str(tmp_path)]) == 2
    assert cli_train.build_parser().parse_args([]).rho == 0.5


def test_growing_set_records_each_epoch_shards(tmp_path):
    from pmp_vvc.learning.labels import save_shard

    shards = tmp_path / "ds" / "shards"
    shards.mkdir(parents=True)
    base = synthetic(4)

    def add(name: str, n: int) -> None:
        save_shard(shards / f"{name}.npz", synthetic(n, seed=n))
        (shards / f"{name}.json").write_text("{}")

    add("g000000-qp22", 3)
    save_shard(shards / "g000001-qp22.npz", synthetic(5))  # no provenance json yet: not finished
    grow = cli_train.GrowingSet(base, [tmp_path / "ds"], tmp_path / "epochs.json")
    assert len(grow(0)) == 7
    add("g000002-qp22", 2)
    assert len(grow(0)) == 7  # epoch 0 keeps its recorded shards (exact resume)
    assert len(grow(1)) == 9
    again = cli_train.GrowingSet(base, [tmp_path / "ds"], tmp_path / "epochs.json")
    assert len(again(0)) == 7 and len(again(1)) == 9


def test_val_dataset_samples_and_errors(tmp_path):
    from pmp_vvc.errors import InputError
    from pmp_vvc.learning.labels import save_shard

    shards = tmp_path / "val" / "shards"
    shards.mkdir(parents=True)
    with pytest.raises(InputError, match="no finished"):
        cli_train.dataset_samples(tmp_path / "val")
    for name, n in (("g000000-qp22", 3), ("g000000-qp37", 2)):
        save_shard(shards / f"{name}.npz", synthetic(n, seed=n))
        (shards / f"{name}.json").write_text("{}")
    save_shard(shards / "g000001-qp22.npz", synthetic(4))  # unfinished: no provenance json
    got = cli_train.dataset_samples(tmp_path / "val")
    assert len(got) == 5
    assert np.array_equal(got.qt[:3], synthetic(3, seed=3).qt)


def test_evaluate_several_checkpoints(tmp_path):
    data = synthetic()
    for run, epochs in (("short", 1), ("long", 12)):
        cfg = TrainConfig(rho=0.5, epochs=epochs, batch_size=8, lr=3e-3, warmup_steps=2)
        train(cfg, data, data, tmp_path / run, model_cfg=SMALL)
    paths = [tmp_path / "short" / "last.pt", tmp_path / "long" / "last.pt"]
    tables = cli_train.evaluate_checkpoints(paths, data, data, None)
    assert list(tables) == ["short", "long", "constant_per_qp"]
    assert tables["long"]["all"]["qt"] > tables["short"]["all"]["qt"]
    assert list(cli_train.evaluate_checkpoints(paths[:1], data, data, None)) == ["model", "constant_per_qp"]


def test_validation_set_is_the_held_out_batches_or_a_dataset(tmp_path):
    from pmp_vvc.learning.labels import save_shard

    samples = synthetic(8)  # sources alternate batch000 / batch001
    train_set, val = cli_train.train_and_validation(samples, ["batch001"], None)
    assert len(train_set) == len(val) == 4
    assert all(s.startswith("batch001/") for s in val.source)
    shards = tmp_path / "bsds" / "shards"
    shards.mkdir(parents=True)
    save_shard(shards / "g000000-qp22.npz", synthetic(3, seed=3))
    (shards / "g000000-qp22.json").write_text("{}")
    train_set, val = cli_train.train_and_validation(samples, ["batch001"], tmp_path / "bsds")
    assert len(train_set) == 4 and len(val) == 3  # the held-out batches stay out of training


def test_dims_sizes_a_new_model_that_trains_and_exports(tmp_path):
    from pmp_vvc.cli import export as cli_export
    from test_chroma import fake_starter

    labels = fake_starter(tmp_path / "labels")
    run = tmp_path / "run"
    common = ["--labels", str(labels), "--val-batches", "batch011"]
    for bad in ("48,96", "48,94,144", "a,b,c", "0,64,96"):
        with pytest.raises(ConfigError, match="--dims"):
            cli_train.main([*common, "--dims", bad, "--run-dir", str(run)])
    with pytest.raises(ConfigError, match="not with --init"):
        cli_train.main([*common, "--dims", "48,96,144", "--init", "default", "--run-dir", str(run)])
    argv = [*common, "--dims", "16,32,48", "--epochs", "1", "--batch-size", "4", "--run-dir", str(run)]
    assert cli_train.main(argv) == 0
    assert tuple(load_checkpoint(run / "best.pt")["model_config"]["dims"]) == (16, 32, 48)
    assert load_model(run / "best.pt").cfg.dims == (16, 32, 48)
    report = tmp_path / "export.json"
    onnx_path = tmp_path / "small.onnx"
    export_args = [str(run / "best.pt"), "-o", str(onnx_path), *common, "--report", str(report)]
    assert cli_export.main(export_args) == 0
    figures = json.loads(report.read_text())
    assert figures["parity"]["qt_argmax_equal"] == 1.0 and figures["macs_per_block"] < 24_225_040
