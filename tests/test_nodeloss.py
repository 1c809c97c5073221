"""Node targets from RD costs, and the training graph's node probabilities against the C++ map guide."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pmp_vvc.learning.compact import UnitLabels, quantise_costs  # noqa: E402
from pmp_vvc.learning.finaltree import tree_from_splits  # noqa: E402
from pmp_vvc.learning.labels import Samples  # noqa: E402
from pmp_vvc.learning.nodeeval import GUIDE_MODES  # noqa: E402
from pmp_vvc.learning.nodeloss import node_loss, node_probabilities  # noqa: E402
from pmp_vvc.learning.nodes import CostSamples, NodeTable, legal_modes, node_table  # noqa: E402


def _random_maps(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    def softmax(shape: tuple[int, ...]) -> np.ndarray:
        e = np.exp(rng.normal(0, 2, shape))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    return softmax((n, 4, 8, 8)), softmax((n, 3, 3, 16, 16)), softmax((n, 3, 3, 16, 16))


def _one_block_unit(splits: list[int], costs: np.ndarray) -> UnitLabels:
    """The labels of one 64x64 picture: its trees' node splits (walk order) and their (N, 6) costs."""
    best, codes = quantise_costs(costs)
    sizes = np.array([len(splits)], np.int32)
    return UnitLabels(np.array([[64, 64]], np.int32), np.array(splits, np.uint8), sizes, best, codes)


def _all_nodes(chroma: bool = False) -> NodeTable:
    """Every node shape the guide can meet at every aligned position of one 64x64 block, layers 0-2."""
    rows = []
    for w in (64, 32, 16, 8, 4):
        for h in (64, 32, 16, 8, 4):
            for layer in range(3):
                for level in range(4):
                    if layer == 0 and (w != h or w != 64 >> level):
                        continue
                    if layer > 0 and (w * h > (64 >> level) ** 2 // 2 or max(w, h) > 64 >> level):
                        continue
                    for y in range(0, 64, max(h, 16)):
                        for x in range(0, 64, max(w, 16)):
                            rows.append((0, x, y, w, h, level, layer))
    g = np.array(rows, dtype=np.int64)
    k = len(g)
    return NodeTable(
        g,
        np.zeros((k, 6), bool),
        np.zeros((k, 6), bool),
        np.ones(k, np.float32),
        np.ones(k, np.float32),
        np.zeros((k, 6), np.float32),
        chroma,
    )


@pytest.mark.encoder
@pytest.mark.parametrize("chroma", [False, True], ids=["luma", "chroma"])
def test_node_probabilities_match_the_cpp_guide(chroma: bool) -> None:
    from pmp_vvc import _vtm

    rng = np.random.default_rng(3)
    qt, mtt, direction = _random_maps(rng, 1)
    guide = _vtm.MapGuide(None, level=3, threshold=0.9, chroma_level=3)
    (guide.set_chroma_maps if chroma else guide.set_maps)(64, 64, qt, mtt, direction)
    nodes = _all_nodes(chroma)
    ours = node_probabilities(*(torch.from_numpy(a).double() for a in (qt, mtt, direction)), nodes).numpy()
    checked = 0
    for row, p in zip(nodes.geometry, ours, strict=True):
        _, x, y, w, h, level, layer = (int(v) for v in row)
        cu = _vtm.CuQuery()
        cu.x, cu.y, cu.width, cu.height, cu.chroma = x, y, w, h, chroma
        cu.qt_depth, cu.mt_depth, cu.bt_depth = level + 1, layer, layer
        got = guide.candidates(cu)
        if got is None:
            continue
        want = np.array([got[1][m] for m in GUIDE_MODES])
        assert np.allclose(p, want, atol=1e-6), (row, p, want)
        checked += 1
    assert checked > 200


def test_node_loss_prefers_acceptable_modes_and_reaches_the_maps() -> None:
    rng = np.random.default_rng(0)
    qt, mtt, direction = (torch.from_numpy(np.log(a)).requires_grad_() for a in _random_maps(rng, 2))
    geometry = np.array([[0, 0, 0, 32, 32, 1, 0], [1, 16, 0, 16, 32, 1, 1]], dtype=np.int64)
    acceptable = np.zeros((2, 6), bool)
    acceptable[0, 0] = acceptable[1, 3] = True  # no split; BT_V
    nodes = NodeTable(
        geometry,
        acceptable,
        np.ones((2, 6), bool),
        np.array([1.0, 0.25], np.float32),
        np.ones(2, np.float32),
        np.zeros((2, 6), np.float32),
    )
    loss = node_loss((qt, mtt, direction), nodes)
    loss.backward()
    assert loss.item() > 0 and qt.grad is not None and float(qt.grad.abs().sum()) > 0
    assert float(direction.grad[1].abs().sum()) > 0
    # the loss falls as the acceptable mode's probability rises: push node 0 towards "no split"
    with torch.no_grad():
        q = qt.detach().clone()
        q[0, 0] += 5.0  # QT depth 1 everywhere: no QT at the 32x32 node
        d = direction.detach().clone()
        d[0, 0, 1] += 5.0
        d[1, 2, 1] += 5.0
        assert node_loss((q, mtt.detach(), d), nodes) < loss


def test_node_table_from_a_unit() -> None:
    # one 64x64 picture: luma BT_V at the 64x64 node, halves unsplit; chroma tree one 64x64 CU
    splits = np.array([1, 3, 0, 0, 1, 0], np.uint8)
    tree = tree_from_splits(splits, 64, 64)
    assert len(tree.nodes) == 6 and tree.nodes[1, 3] == 64
    inf = np.inf
    costs = np.full((6, 6), inf)
    costs[1] = [110.0, 120.0, 105.0, 100.0, 100.5, 130.0]  # BT_V best, TT_H within 1 %
    costs[2, 0] = costs[3, 0] = 50.0  # leaves: one mode tested, no decision
    unit = _one_block_unit(splits.tolist(), costs)
    table = node_table(unit, margin=0.01)
    assert len(table) == 1
    assert table.geometry[0].tolist() == [0, 0, 0, 64, 64, 0, 0]
    assert table.acceptable[0].tolist() == [False, False, False, True, True, False]
    assert table.weight[0] == pytest.approx(0.05, rel=0.03)  # skipping both costs BT_H: +5 % of the block
    assert legal_modes(np.array([64]), np.array([64]), np.array([0]))[0].tolist() == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_node_table_of_the_chroma_tree() -> None:
    # one 64x64 picture: luma one 64x64 CU; chroma tree BT_H at the 64x64 node (no split within 0.5 %)
    splits = np.array([1, 0, 1, 2, 0, 0], np.uint8)
    tree = tree_from_splits(splits, 64, 64)
    assert tree.nodes[3].tolist()[:5] == [1, 0, 0, 64, 64]
    costs = np.full((6, 6), np.inf)
    costs[1, 0] = 400.0  # the luma node: one mode tested, no decision
    costs[3, :4] = [100.5, 110.0, 100.0, 120.0]  # chroma: no TT at the 64x64 node
    unit = _one_block_unit(splits.tolist(), costs)
    assert len(node_table(unit)) == 0
    table = node_table(unit, margin=0.01, chroma=True)
    assert table.chroma and len(table) == 1
    assert table.geometry[0].tolist() == [0, 0, 0, 64, 64, 0, 0]
    assert table.acceptable[0].tolist() == [True, False, True, False, False, False]
    assert table.weight[0] == pytest.approx(0.10, rel=0.03)  # skipping both costs QT: +10 % of the block
    # the chroma tree's own limits: BT of the 64x64 root (MaxBTChromaISlice 64), no chroma block under 16
    legal = legal_modes(np.array([64, 8, 16]), np.array([64, 8, 8]), np.array([0, 1, 1]), chroma=True)
    assert legal.tolist() == [
        [True, True, True, True, False, False],
        [True, False, False, False, False, False],
        [True, False, True, True, False, False],
    ]
    assert legal_modes(np.array([64, 8]), np.array([64, 8]), np.array([0, 1]))[:, 2:4].tolist() == [
        [False, False],
        [True, True],
    ]


def _chroma_cost_samples(n: int) -> CostSamples:
    """``n`` one-block pictures whose chroma tree split the 64x64 node by BT_H (QP 32; luma: one CU)."""
    from pmp_vvc.learning.chroma import ChromaSamples

    costs = np.full((6, 6), np.inf)
    costs[3, :4] = [100.5, 110.0, 100.0, 120.0]
    unit = _one_block_unit([1, 0, 1, 2, 0, 0], costs)
    luma = _cost_samples(n).samples
    rng = np.random.default_rng(6)
    planes = [rng.integers(16, 235, (n, 34, 34)).astype(np.uint16) for _ in range(2)]
    maps = [
        np.zeros((n, 8, 8), np.int8),
        np.zeros((n, 3, 16, 16), np.int8),
        np.zeros((n, 3, 16, 16), np.int8),
    ]
    assert isinstance(luma, Samples)
    samples = ChromaSamples(luma, *planes, *maps)
    table = node_table(unit, chroma=True)
    return CostSamples.join([CostSamples(samples.subset(np.array([i])), table) for i in range(n)])


def test_chroma_cost_samples_join_and_keep_their_tree() -> None:
    from pmp_vvc.errors import InputError

    data = _chroma_cost_samples(3)
    assert data.chroma and len(data) == 3 and data.nodes.sample.tolist() == [0, 1, 2]
    assert [a.shape[1:] for a in data.model_inputs(np.array([2, 0]))] == [
        (1, 68, 68),
        (),
        (1, 34, 34),
        (1, 34, 34),
    ]
    with pytest.raises(InputError, match="not of the samples' tree"):
        CostSamples(data.samples, NodeTable.empty())
    with pytest.raises(InputError, match="luma and the chroma tree"):
        CostSamples.join([data, _cost_samples(1)])


def test_cost_samples_subset_and_join(tmp_path: Path) -> None:
    from pmp_vvc.learning.labels import Samples

    n = 3
    base = Samples(
        np.zeros((n, 68, 68), np.uint16),
        8,
        np.array([22, 27, 32], np.int16),
        np.zeros((n, 8, 8), np.int8),
        np.zeros((n, 3, 16, 16), np.int8),
        np.zeros((n, 3, 16, 16), np.int8),
        np.array(["a", "b", "c"]),
    )
    geometry = np.array(
        [[0, 0, 0, 64, 64, 0, 0], [2, 0, 0, 32, 32, 1, 0], [2, 32, 0, 32, 32, 1, 0]], np.int64
    )
    nodes = NodeTable(
        geometry,
        np.eye(3, 6, dtype=bool),
        np.ones((3, 6), bool),
        np.arange(3, dtype=np.float32),
        np.ones(3, np.float32),
        np.zeros((3, 6), np.float32),
    )
    cs = CostSamples(base, nodes)
    sub = cs.subset(np.array([2, 1]))
    assert sub.source.tolist() == ["c", "b"] and sub.nodes.sample.tolist() == [0, 0]
    assert sub.nodes.weight.tolist() == [1.0, 2.0]
    joined = CostSamples.join([cs, CostSamples(base, NodeTable.empty()), cs])
    assert len(joined) == 9 and joined.nodes.sample.tolist() == [0, 2, 2, 6, 8, 8]
    batch = joined.node_batch(np.array([8, 0]))
    assert batch.sample.tolist() == [0, 0, 1] and batch.weight.tolist() == [1.0, 2.0, 0.0]


def _cost_samples(n: int) -> CostSamples:
    """``n`` one-block pictures whose anchor split the 64x64 node by BT_V (TT_V as good) at QP 32."""
    from pmp_vvc.learning.labels import Samples

    rng = np.random.default_rng(5)
    costs = np.full((6, 6), np.inf)
    costs[1] = [110.0, 120.0, 105.0, 100.0, 130.0, 100.5]
    unit = _one_block_unit([1, 3, 0, 0, 1, 0], costs)
    base = Samples(
        rng.integers(16, 235, (n, 68, 68)).astype(np.uint16),
        8,
        np.full(n, 32, np.int16),
        np.zeros((n, 8, 8), np.int8),
        np.zeros((n, 3, 16, 16), np.int8),
        np.zeros((n, 3, 16, 16), np.int8),
        np.array([f"batch000/x{i}" for i in range(n)]),
    )
    table = node_table(unit)
    return CostSamples.join([CostSamples(base.subset(np.array([i])), table) for i in range(n)])


@pytest.mark.encoder
def test_fine_tune_the_shipped_model_with_the_node_loss(tmp_path: Path) -> None:
    from pmp_vvc import modelzoo
    from pmp_vvc.learning.onnxweights import load_onnx_model
    from pmp_vvc.learning.train import TrainConfig, train

    init = load_onnx_model(modelzoo.resolve_model("default"))  # checks itself against onnxruntime
    data = _cost_samples(4)
    cfg = TrainConfig(rho=init.cfg.rho, epochs=1, batch_size=2, warmup_steps=1, node_weight=1.0, ema=0.0)
    metrics = train(cfg, data, data, tmp_path / "run", model_cfg=init.cfg, init=init)
    assert (
        metrics["loss_node"] > 0
        and 0.0 <= metrics["node_hit_t0.9"] <= 1.0
        and metrics["cost_nodes_t0.9"] == 4
    )
    assert metrics["loss"] > metrics["loss_qt"] + metrics["loss_mtt"] + metrics["loss_direction"]
    # the chroma model on the chroma tree's nodes, scored by the chroma guide
    chroma_init = load_onnx_model(modelzoo.resolve_chroma_model("default"))
    chroma = _chroma_cost_samples(4)
    cfg = replace(cfg, rho=chroma_init.cfg.rho)
    metrics = train(cfg, chroma, chroma, tmp_path / "chroma", model_cfg=chroma_init.cfg, init=chroma_init)
    assert (
        metrics["loss_node"] > 0
        and metrics["cost_nodes_t0.9"] == 4
        and 0.0 <= metrics["node_hit_t0.7"] <= 1.0
    )
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    from pmp_vvc.errors import ModelError

    with pytest.raises(ModelError, match="not a pmp-export ONNX"):
        load_onnx_model(bad)


@pytest.mark.encoder
def test_evaluate_an_exported_model_on_cost_labels() -> None:
    from pmp_vvc import modelzoo
    from pmp_vvc.cli.train import evaluate_checkpoints

    data = _cost_samples(3)
    tables = evaluate_checkpoints([modelzoo.resolve_model("default")], data, data, None)
    assert set(tables) == {"model", "constant_per_qp"}
    for name in tables:
        row = tables[name]["all"]
        assert 0 <= row["split"] <= 1 and 0 <= row["node_hit_t0.9"] <= 1 and row["cost_nodes_t0.9"] == 3
        assert row["skip_cost_t0.7"] >= 0 and 0 <= row["tested_skipped_t0.7"] <= 1
        assert 0 <= row["guide_split"] <= 1 and 0 <= row["guide_split_side64"] <= 1


@pytest.mark.encoder
def test_guide_split_accuracy_decides_from_the_guides_probabilities() -> None:
    from pmp_vvc.codec.partition import cus_to_maps, tree_nodes
    from pmp_vvc.learning.evaluate import block_maps, one_hot_maps
    from pmp_vvc.learning.finaltree import tree_from_splits
    from pmp_vvc.learning.nodeeval import guide_split_accuracies
    from test_labelset import _random_splits

    rng = np.random.default_rng(11)
    trees = [tree_from_splits(_random_splits(rng, 64, 64, vtm_limits=True), 64, 64) for _ in range(6)]
    blocks = [cus_to_maps(t.cus, 64, 64) for t in trees]
    true = {
        "qt": np.concatenate([m.qt for m in blocks]),
        "mtt": np.concatenate([m.increments for m in blocks]),
        "direction": np.concatenate([m.direction for m in blocks]),
    }
    exact = guide_split_accuracies(one_hot_maps(true), true)
    assert exact["guide_split"] == exact["guide_split_recall"] == exact["guide_split_type"] == 1.0
    # random maps: the same decisions as P(no split) < 0.5 from the training graph's node probabilities
    qt, mtt, direction = _random_maps(rng, 6)
    got = guide_split_accuracies({"qt": qt, "mtt": mtt, "direction": direction}, true)
    truth = block_maps(true["qt"], true["mtt"], true["direction"])
    rows = [
        (b, n.x, n.y, n.w, n.h, ql, layer, n.split) for b in range(6) for n, ql, layer in tree_nodes(truth, b)
    ]
    g = np.array(rows, dtype=np.int64)
    k = len(g)
    nodes = NodeTable(
        g[:, :7],
        np.zeros((k, 6), bool),
        np.zeros((k, 6), bool),
        np.ones(k, np.float32),
        np.ones(k, np.float32),
        np.zeros((k, 6), np.float32),
    )
    prob = node_probabilities(*(torch.from_numpy(a).double() for a in (qt, mtt, direction)), nodes).numpy()
    pred = np.where(g[:, 6] < 3, prob[:, 0] < 0.5, False)
    assert got["guide_split"] == pytest.approx(float(np.mean(pred == (g[:, 7] != 0))))
    assert 0 < got["guide_split"] < 1
    likeliest = np.where(g[:, 6] < 3, prob.argmax(axis=1), 0)
    assert got["guide_split_type"] == pytest.approx(float(np.mean(likeliest == g[:, 7])))
