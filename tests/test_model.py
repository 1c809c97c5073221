from __future__ import annotations

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from pmp_vvc.learning.flops import count_macs  # noqa: E402
from pmp_vvc.learning.model import ModelConfig, PartitionNet, count_parameters  # noqa: E402

torch.set_num_threads(1)


def _inputs(n: int = 3):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 68, 68, generator=g), torch.tensor([22.0, 32.0, 37.0][:n])


def test_output_shapes_and_qp_layouts():
    model = PartitionNet(ModelConfig(rho=1.0)).eval()
    luma, qp = _inputs()
    with torch.no_grad():
        qt, mtt, direction = model(luma, qp)
        again = model(luma, qp.reshape(-1, 1))
    assert qt.shape == (3, 4, 8, 8) and mtt.shape == (3, 3, 3, 16, 16)
    assert direction.shape == (3, 3, 3, 16, 16)
    assert torch.equal(again[0], qt)
    assert model.full_path_tokens() == [None, None, None]
    assert not torch.allclose(qt[0], model(luma[:1], torch.tensor([37.0]))[0][0])  # QP conditions the output


@pytest.mark.parametrize("rho", [0.7, 0.5, 0.3])
def test_sparse_full_path_tokens(rho):
    model = PartitionNet(ModelConfig(rho=rho)).eval()
    seen = []
    hooks = [
        blk.mlp.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].shape[1]))
        for st in model.stage_list()
        for blk in st.blocks
    ]
    with torch.no_grad():
        model(*_inputs())
    for h in hooks:
        h.remove()
    k1, k2 = math.floor(256 * rho), math.floor(64 * rho)
    assert model.full_path_tokens() == [k1, k2, None]
    assert seen == [k1, k1, k2, k2, 16, 16]  # the full FFN really runs on floor(N*rho) tokens only


def test_training_mode_masks_and_ratio_loss():
    model = PartitionNet(ModelConfig(rho=0.5)).train()
    torch.manual_seed(0)
    model(*_inputs())
    rates = [s.keep_rate for s in model.stage_list() if s.keep_rate is not None]
    assert len(rates) == 2 and all(((r >= 0) & (r <= 1)).all() for r in rates)
    loss = model.ratio_loss()
    assert loss.item() >= 0 and loss.requires_grad
    assert PartitionNet(ModelConfig(rho=1.0)).ratio_loss().item() == 0


def test_macs_under_budget():
    dense, by_op = count_macs(PartitionNet(ModelConfig(rho=1.0)))
    sparse, _ = count_macs(PartitionNet(ModelConfig(rho=0.5)))
    assert sparse < dense <= 3e7 and by_op["linear"] > 0 and by_op["matmul"] > 0
    assert count_parameters(PartitionNet()) < 1_000_000


def test_config_round_trip():
    cfg = ModelConfig(rho=0.3, dims=(16, 32, 48))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_inference_modules_do_not_need_torch():
    code = (
        "import sys; sys.modules['torch'] = None; import pmp_vvc.codec.dump, pmp_vvc.codec.partition, "
        "pmp_vvc.learning.labels, "
        "pmp_vvc.learning.evaluate, pmp_vvc.learning.export"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": sys.path[0] + ":python"})


def test_predictor_is_runtime_only():
    """The encoder's side (predictor, model I/O) imports nothing of the training side."""
    code = (
        "import sys, pmp_vvc.predictor, pmp_vvc.modelio; "
        "bad = [m for m in sys.modules if m.startswith('pmp_vvc.learning') or m in ('torch', 'onnx')]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
