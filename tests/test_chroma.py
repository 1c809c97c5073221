"""The chroma model: samples, network, legality of the chroma tree, training, evaluation and export."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from conftest import shared_data  # noqa: E402
from pmp_vvc.cli import export as cli_export  # noqa: E402
from pmp_vvc.cli import train as cli_train  # noqa: E402
from pmp_vvc.codec.partition import SPLIT_BT_H, SPLIT_BT_V, SPLIT_QT, SPLIT_TT_H, SPLIT_TT_V, maps_to_splits  # noqa: E402
from pmp_vvc.errors import ConfigError, InputError  # noqa: E402
from pmp_vvc.learning.chroma import starter_chroma_samples  # noqa: E402
from pmp_vvc.learning.evaluate import block_maps, decision_accuracies  # noqa: E402
from pmp_vvc.learning.flops import count_macs  # noqa: E402
from pmp_vvc.learning.labels import QPS, save_shard  # noqa: E402
from pmp_vvc.learning.model import ChromaConfig, ChromaNet, ModelConfig, PartitionNet, chroma_from_luma  # noqa: E402
from pmp_vvc.learning.train import load_model  # noqa: E402
from pmp_vvc.modelio import CHROMA_INPUTS, CHROMA_OUTPUTS  # noqa: E402
from test_partition import picture  # noqa: E402

torch.set_num_threads(1)

# Chroma trees of the two 64x64 pictures of each fake starter batch: BT_H at the root, and QT.
CHROMA_SPECS = [(SPLIT_BT_H, [None, None]), (SPLIT_QT, [None] * 4)]
CHROMA_NODES = 3 + 5  # nodes of those two trees (root and children)


def fake_starter(root, batches=("batch000", "batch011")):
    """Starter-label batches of two 64x64 pictures: luma one CU, chroma the trees of CHROMA_SPECS."""
    rng = np.random.default_rng(0)
    for name in batches:
        folder = root / name
        folder.mkdir(parents=True)
        cb = rng.integers(16, 240, (2, 32, 32)).astype(np.uint8)
        cb[0, :16] //= 4  # the BT_H picture's top half is darker: content tells the two apart
        np.savez(
            folder / "crops.npz",
            luma=rng.integers(16, 235, (2, 64, 64)).astype(np.uint8),
            cb=cb,
            cr=rng.integers(16, 240, (2, 32, 32)).astype(np.uint8),
        )
        rows = []
        for poc, spec in enumerate(CHROMA_SPECS):
            for chroma, tree in ((0, None), (1, spec)):
                cus = picture([tree], 64, 64, chroma=chroma)
                cus[:, 0] = poc
                rows.append(cus)
        for qp in QPS:
            np.savez(folder / f"qp{qp}.npz", cus=np.concatenate(rows))
    return root


def test_chroma_net_outputs_luma_input_sparsity_and_macs():
    model = ChromaNet(ChromaConfig(rho=0.5)).eval()
    torch.manual_seed(0)
    luma, qp, cb, cr = model.example_inputs(3)
    with torch.no_grad():
        qt, mtt, direction = model(luma, qp, cb, cr)
        other_luma = model(torch.rand_like(luma), qp, cb, cr)
        blind = ChromaNet(ChromaConfig(rho=0.5, luma_input=False)).eval()
        blind_out = blind(luma, qp, cb, cr)
        assert torch.equal(blind_out[0], blind(torch.rand_like(luma), qp, cb, cr)[0])
    assert (qt.shape, mtt.shape, direction.shape) == ((3, 4, 8, 8), (3, 3, 3, 16, 16), (3, 3, 3, 16, 16))
    assert not torch.allclose(qt, other_luma[0])  # the co-located luma is an input
    assert model.full_path_tokens() == [128, 32, None]  # token sparsification at rho 0.5
    assert tuple(CHROMA_INPUTS) == model.INPUT_NAMES and tuple(CHROMA_OUTPUTS) == model.OUTPUT_NAMES
    chroma_macs, _ = count_macs(model)
    luma_macs, _ = count_macs(PartitionNet())
    assert 0 < chroma_macs < 0.35 * luma_macs


def test_chroma_net_from_a_luma_net_starts_as_it_on_the_pooled_luma():
    torch.manual_seed(0)
    luma_net = PartitionNet(ModelConfig(rho=0.5)).eval()
    with torch.no_grad():
        for p in luma_net.parameters():  # a trained-like net: random biases and scales too
            p.add_(0.05 * torch.randn_like(p))
    chroma_net = chroma_from_luma(luma_net).eval()
    luma, qp, cb, cr = chroma_net.example_inputs(2)
    smooth = torch.repeat_interleave(torch.repeat_interleave(luma[..., ::2, ::2], 2, -1), 2, -2)
    with torch.no_grad():
        want = luma_net(smooth, qp)
        got = chroma_net(smooth, qp, cb, cr)
        other = chroma_net(luma, qp, cb, cr)
    assert chroma_net.cfg.dims == luma_net.cfg.dims and chroma_net.full_path_tokens() == [128, 32, None]
    for w, g in zip(want, got, strict=True):
        assert torch.allclose(w, g, atol=1e-4)
    assert not torch.allclose(want[0], other[0], atol=1e-3)  # the stem reads the luma, not the Cb/Cr


def test_chroma_legality_in_the_implied_tree():
    n = 1
    qt = np.zeros((n, 8, 8), np.int8)
    inc = np.zeros((n, 3, 16, 16), np.int8)
    direction = np.zeros((n, 3, 16, 16), np.int8)
    inc[:, :2], direction[:, 0], direction[:, 1] = 2, 1, 2  # layer 1 TT_H, layer 2 TT_V everywhere
    for chroma, root_split, second in ((False, SPLIT_TT_H, SPLIT_TT_V), (True, SPLIT_BT_H, SPLIT_BT_V)):
        nodes = maps_to_splits(block_maps(qt, inc, direction, chroma), 0)
        assert nodes[0].split == root_split  # chroma: no TT at the 64x64 root ...
        assert nodes[1].split == second and nodes[1].w == 64  # ... nor of a 64-wide node
    qt[:] = 3  # QT down to 8x8, then BT_V everywhere: a 4-wide child is luma-only (chroma: 2 samples wide)
    inc[:, 0], direction[:, 0] = 1, 2
    for chroma, count in ((False, 64), (True, 0)):
        nodes = maps_to_splits(block_maps(qt, inc, direction, chroma), 0)
        assert sum(n.split == SPLIT_BT_V for n in nodes) == count


def test_starter_chroma_samples_and_perfect_decisions():
    labels = shared_data("labels", "vtm23.13-ai-256")
    samples = starter_chroma_samples(labels, ["batch000"], qps=(22, 37))
    assert len(samples) == 2 * 8 * 16 and samples.chroma
    assert not np.array_equal(samples.qt, samples.base.qt)  # the chroma tree's maps, not the luma tree's
    with np.load(labels / "batch000" / "crops.npz") as z:
        assert np.array_equal(samples.cb[1, 2:, 2:], z["cb"][0, :32, 32:64])  # block 1 of picture 0
        assert (samples.cb[0, :2] == 0).all()  # no context above the picture
    cb = samples.model_inputs(np.arange(2))[2]
    assert cb.shape == (2, 1, 34, 34) and cb.dtype == np.float32 and 0 < cb.max() <= 1
    perfect = decision_accuracies(samples.maps(), samples.maps(), chroma=True)
    assert (
        perfect["split"] == perfect["split_recall"] == perfect["nosplit_recall"] == 1.0
    )  # legality keeps them


def test_train_evaluate_export_chroma(tmp_path, capsys):
    labels = fake_starter(tmp_path / "labels")
    shards = tmp_path / "ds" / "shards"
    shards.mkdir(parents=True)
    extra = starter_chroma_samples(labels, ["batch000"])
    fields = {
        "cb": extra.cb,
        "cr": extra.cr,
        "qt_c": extra.qt,
        "mtt_c": extra.mtt,
        "direction_c": extra.direction,
    }
    save_shard(shards / "g000000-qp22.npz", extra.base, extra=fields)
    # a shard coded after a guided luma tree: chroma targets, not luma targets
    (shards / "g000000-qp22.json").write_text(json.dumps({"encoder_args": ["--PMPModel=default"]}))
    run = tmp_path / "run"
    common = ["--labels", str(labels), "--val-batches", "batch011"]
    with pytest.raises(ConfigError, match="needs --target chroma"):
        cli_train.main([*common, "--no-luma-input", "--run-dir", str(run)])
    with pytest.raises(InputError, match="--PMPModel=default: its luma tree is not the anchor's"):
        cli_train.main([*common, "--dataset", str(tmp_path / "ds"), "--run-dir", str(run), "--epochs", "1"])
    args = [
        "--target",
        "chroma",
        "--dataset",
        str(tmp_path / "ds"),
        "--run-dir",
        str(run),
        "--batch-size",
        "8",
    ]
    assert cli_train.main([*common, *args, "--epochs", "2"]) == 0
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["train_samples"] for m in metrics] == [16.0, 16.0] and metrics[-1]["nodes"] == 4 * CHROMA_NODES
    capsys.readouterr()

    assert (
        cli_train.main([*common, "--evaluate", str(run / "last.pt"), "--report", str(tmp_path / "e.json")])
        == 0
    )
    tables = json.loads((tmp_path / "e.json").read_text())
    assert list(tables) == ["model", "constant_per_qp"] and list(tables["model"]) == [
        "all",
        *(f"qp{q}" for q in QPS),
    ]
    for table in tables.values():
        row = table["all"]
        assert row["nodes"] == 4 * CHROMA_NODES and all(
            0 <= row[k] <= 1 for k in ("qt", "split", "split_recall")
        )
    # the constant baseline predicts the training majority (QT depth 1: the root split) everywhere
    assert tables["constant_per_qp"]["all"]["qt"] == 0.5

    onnx_path = tmp_path / "chroma.onnx"
    report_path = tmp_path / "x.json"
    export_args = [str(run / "best.pt"), "-o", str(onnx_path), *common, "--repeats", "2"]
    assert cli_export.main([*export_args, "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["target"] == "chroma" and report["val_blocks"] == 8
    for name in CHROMA_OUTPUTS:
        assert (
            report["parity"][f"{name}_max_abs_diff"] <= 1e-4
            and report["parity"][f"{name}_argmax_equal"] == 1.0
        )
    assert report["accuracy"]["nodes"] == 4 * CHROMA_NODES and set(report["accuracy_per_qp"]) == {
        str(q) for q in QPS
    }
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert meta["target"] == "chroma" and json.loads(meta["model_config"])["luma_input"] is True

    # an exported chroma file is evaluated beside chroma checkpoints (its target is in its metadata)
    both = [str(onnx_path), str(run / "best.pt"), "--report", str(tmp_path / "both.json")]
    assert cli_train.main([*common, "--evaluate", *both]) == 0
    assert list(json.loads((tmp_path / "both.json").read_text())) == ["chroma", "run", "constant_per_qp"]

    # the exported file starts a fine-tune of its own target only; --no-starter trains on the shards alone
    tuned = tmp_path / "tuned"
    init_args = ["--init", str(onnx_path), "--run-dir", str(tuned), "--epochs", "1", "--lr", "1e-4"]
    alone = [*args[:4], "--no-starter", "--batch-size", "8"]
    with pytest.raises(ConfigError, match="needs --val-dataset"):
        cli_train.main([*common, *alone, *init_args])
    alone += ["--val-dataset", str(tmp_path / "ds")]
    assert cli_train.main([*common, *alone, *init_args]) == 0
    info = json.loads((tuned / "metrics.jsonl").read_text().splitlines()[-1])
    assert info["epoch"] == 1.0 and info["train_samples"] == 8.0 and info["nodes"] == 4 * CHROMA_NODES
    with pytest.raises(ConfigError, match="a chroma model, not a luma model"):
        cli_train.main([*common, *init_args])
    # a luma model starts a chroma model of its own size
    from_luma = ["--init", "pmp-vit-rho0.5", "--run-dir", str(tmp_path / "from-luma"), "--epochs", "1"]
    assert cli_train.main([*common, *alone, *from_luma]) == 0
    net = load_model(tmp_path / "from-luma" / "best.pt")
    assert net.TARGET == "chroma" and net.cfg.dims == (32, 64, 96)


def test_shipped_chroma_model_rebuilds_from_its_onnx_file():
    from pmp_vvc import modelzoo
    from pmp_vvc.learning.onnxweights import load_onnx_model

    net = load_onnx_model(modelzoo.resolve_chroma_model("default"))  # checks itself against onnxruntime
    assert isinstance(net, ChromaNet) and net.cfg.luma_input
