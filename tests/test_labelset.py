"""RD-cost labels: final trees, cost quantisation, shards with costs, packing and materialising label sets."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import bench_script
from pmp_vvc.cli import dataset as cli
from pmp_vvc.codec.partition import SPLIT_NONE, sort_cus
from pmp_vvc.errors import InputError
from pmp_vvc.learning import dataset, labelset
from pmp_vvc.learning.compact import UNIT_FIELDS, UNTESTED, UnitLabels, dequantise_costs, quantise_costs
from pmp_vvc.learning.finaltree import FinalTree, tree_from_cus, tree_from_splits
from pmp_vvc.learning.labels import load_extra
from test_dataset import SHARED, _leaf_cus, _one_photo_two_shards, _shared_or_skip


def _random_splits(rng: np.random.Generator, width: int, height: int, vtm_limits: bool = False) -> np.ndarray:
    """A random tree (no QT below an MTT split): walk it once with random splits, keep the splits taken.

    ``vtm_limits``: within VTM's all-intra luma limits too (BT/TT of sides <= 32, MTT depth <= 3).
    """
    from pmp_vvc.codec.partition import children
    from pmp_vvc.learning import finaltree

    mtt_depth: dict[tuple[int, ...], int] = {}  # nodes below an MTT split: their MTT depth

    def split_of(chroma: int, x: int, y: int, w: int, h: int, depth: int) -> int:
        if w > 64 or h > 64:
            return 1
        mtt = mtt_depth.get((chroma, x, y, w, h, depth), 0)
        allowed = not vtm_limits or (max(w, h) <= 32 and mtt < 3)
        options = [0] + [
            s
            for s, ok in (
                (1, w == h and w > 8 and not mtt),
                (2, allowed and h > 8),
                (3, allowed and w > 8),
                (4, allowed and h > 16),
                (5, allowed and w > 16),
            )
            if ok
        ]
        split = int(rng.choice(options))
        if split > 1 or mtt:
            mtt_depth.update(
                ((chroma, cx, cy, cw, ch, depth + 1), mtt + 1)
                for cx, cy, cw, ch, _ in children(x, y, w, h, split)
            )
        return split

    return np.array([row[-1] for row in finaltree._walk(width, height, split_of)], dtype=np.uint8)


def test_final_tree_round_trips_between_cus_and_splits() -> None:
    rng = np.random.default_rng(1)
    for width, height in ((128, 128), (192, 136)):  # the second crosses CTU and picture edges
        splits = _random_splits(rng, width, height)
        tree = tree_from_splits(splits, width, height, poc=3)
        assert (tree.cus[:, 0] == 3).all() and (tree.nodes[:, -1] == SPLIT_NONE).sum() == len(tree.cus)
        again = tree_from_cus(tree.cus[rng.permutation(len(tree.cus))], width, height)
        assert np.array_equal(again.nodes, tree.nodes) and np.array_equal(again.splits, splits)
    leaves = _leaf_cus(0, 128, 128)
    assert np.array_equal(sort_cus(tree_from_cus(leaves, 128, 128).cus), sort_cus(leaves))
    with pytest.raises(InputError, match="no CU"):
        tree_from_cus(leaves[1:], 128, 128)
    with pytest.raises(InputError, match="ends before"):
        tree_from_splits(splits[:-1], 192, 136)
    with pytest.raises(InputError, match="holds"):
        tree_from_splits(np.append(splits, 0), 192, 136)


def test_cost_quantisation_resolution() -> None:
    rng = np.random.default_rng(0)
    best = rng.uniform(1e2, 1e7, 1000)
    excess = np.exp(rng.uniform(np.log(1e-5), np.log(0.7), (1000, 6)))
    excess[:, 0] = 0.0
    costs = best[:, None] * (1 + excess)
    costs[rng.random((1000, 6)) < 0.3] = np.inf
    costs[:, 0] = best
    costs[5] = np.inf  # a node that tested nothing
    best_log2, codes = quantise_costs(costs)
    assert (
        (codes[5] == UNTESTED).all()
        and (codes[np.isinf(costs)] == UNTESTED).all()
        and (codes[:, 0][:5] == 0).all()
    )
    back = dequantise_costs(best_log2, codes)
    assert np.array_equal(np.isinf(back), np.isinf(costs))
    ok = np.isfinite(costs)
    assert np.allclose(back[:, 0][ok[:, 0]], best[ok[:, 0]], rtol=6e-3)  # float16 log2
    ok[5] = False
    got_excess = back[ok] / np.broadcast_to(back[:, :1], back.shape)[ok] - 1
    assert np.all(
        np.abs((got_excess + 0.0005) / (excess[ok] + 0.0005) - 1) < 0.015
    )  # half a code: 2^(1/48)-1
    huge = quantise_costs(np.array([[1.0, 5.0, np.inf, np.inf, np.inf, np.inf]]))[1]
    assert huge[0, 1] == UNTESTED - 1  # saturates, stays "tested"


@pytest.mark.encoder
def test_shards_carry_costs_and_a_packed_set_materialises_the_same_shards(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    argv = _one_photo_two_shards(tmp_path, out)
    argv[argv.index("32")] = "37"  # one QP is enough here
    argv.remove("37")
    assert cli.main(argv) == 0
    (shard,) = dataset.shard_paths(out)
    unit = UnitLabels.from_arrays(load_extra(shard, UNIT_FIELDS), str(shard))
    (tree,) = unit.trees()
    costs = unit.costs()
    has = np.isfinite(costs).any(axis=1)
    assert has.sum() >= len(tree.cus) and not has[(tree.nodes[:, 3] > 64) | (tree.nodes[:, 4] > 64)].any()
    # the anchor codes every final-tree node with the cheapest mode it tested there
    chosen = costs[np.arange(len(costs)), tree.nodes[:, -1]]
    assert np.all(chosen[has] <= costs[has].min(axis=1))

    packed = tmp_path / "packed"
    manifest = labelset.pack(out, packed)
    assert labelset.is_label_set(packed) and manifest["blocks"] == 4 and len(manifest["units"]) == 1
    assert "path" not in json.dumps(manifest["plan"]["crops"])  # names and sha256 only, no machine paths
    again = tmp_path / "again"
    (tmp_path / "sub").mkdir()
    labelset.materialise(packed, again, data_root=tmp_path / "sub" / "..")
    (copy,) = dataset.shard_paths(again)
    with np.load(shard) as a, np.load(copy) as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    assert json.loads((again / "manifest.json").read_text())["blocks"] == 4
    labelset.materialise(packed, again, data_root=tmp_path)  # rerun: nothing to do, same result
    # the encoding command resumes in the materialised folder (same plan, whatever the root's spelling)
    assert cli.main([*argv[: argv.index("--out") + 1], str(again), *argv[argv.index("--out") + 2 :]]) == 0
    (tmp_path / "a.png").write_bytes((tmp_path / "a.png").read_bytes() + b"\0")
    with pytest.raises(InputError, match="sha256"):
        labelset.materialise(packed, tmp_path / "third", data_root=tmp_path)
    with pytest.raises(InputError, match="not under"):
        labelset.materialise(packed, tmp_path / "fourth", data_root=tmp_path / "nowhere")


def _transposed_cus(tree: FinalTree, swap: dict[int, int]) -> np.ndarray:
    """CU rows of the exact transpose of a tree (sides swapped, BT/TT directions swapped)."""
    cus = tree.cus.copy()
    cus[:, [2, 3, 4, 5]] = cus[:, [3, 2, 5, 4]]
    series = cus[:, 9].copy()
    cus[:, 9] = 0
    for level in range(8):
        split = (series >> (5 * level)) & 31
        cus[:, 9] |= np.vectorize(lambda s: swap.get(int(s), int(s)))(split) << (5 * level)
    return cus


def test_perturb_check_scores_an_exact_transpose_as_one_and_others_lower() -> None:
    check = bench_script("perturb_check")
    rng = np.random.default_rng(4)
    tree = tree_from_splits(_random_splits(rng, 128, 256), 128, 256)
    flipped = tree_from_cus(_transposed_cus(tree, check.SWAP), 256, 128)
    assert check.compare(tree, flipped) == {"cu_area": 1.0, "node_split": 1.0, "qt_cells": 1.0}
    back, true = check.tree_maps(flipped, transposed=True), check.tree_maps(tree)
    assert all(np.array_equal(back[k], true[k]) for k in true)
    assert check.decision_accuracies(back, true)["split_type"] == 1.0
    other = tree_from_splits(_random_splits(rng, 128, 256), 128, 256)
    assert all(v < 1.0 for v in check.compare(tree, other).values())
    assert check.decision_accuracies(check.tree_maps(other), true)["split_type"] < 1.0


def test_perturb_check_noise_is_small_seeded_and_compared_untransposed() -> None:
    check = bench_script("perturb_check")
    rng = np.random.default_rng(5)
    planes = tuple(rng.integers(0, 256, shape).astype(np.uint16) for shape in ((64, 64), (32, 32), (32, 32)))
    noisy = check.perturb(planes, "noise", np.random.default_rng(1), 2, 8)
    again = check.perturb(planes, "noise", np.random.default_rng(1), 2, 8)
    for p, n, a in zip(planes, noisy, again, strict=True):
        diff = n.astype(int) - p.astype(int)
        assert np.array_equal(n, a) and np.abs(diff).max() == 2 and diff.any() and n.max() <= 255
    tree = tree_from_splits(_random_splits(rng, 128, 128), 128, 128)
    assert check.compare(tree, tree, transposed=False) == {"cu_area": 1.0, "node_split": 1.0, "qt_cells": 1.0}
    assert (
        check.compare(tree, tree_from_cus(_transposed_cus(tree, check.SWAP), 128, 128), False)["cu_area"] < 1
    )


COMMITTED = Path(__file__).resolve().parents[1] / "labels" / "rd-seed11"
TRAIN = SHARED / "train"


def test_committed_label_set_is_whole() -> None:
    manifest = json.loads((COMMITTED / "labels.json").read_text())
    assert manifest["format"] == labelset.FORMAT and manifest["units"]
    blocks, size, crops = 0, manifest["plan"]["group_size"], len(manifest["plan"]["crops"])
    for record in manifest["units"]:
        with np.load(COMMITTED / "units" / record["shard"]) as z:
            unit = UnitLabels.from_arrays(dict(z), record["shard"])
        trees = unit.trees()
        in_group = min(size, crops - size * int(record["group"]))  # the plan's last group may be short
        assert len(trees) == in_group and all((t.width, t.height) == (256, 256) for t in trees)
        blocks += 16 * len(trees)
    assert blocks == manifest["blocks"] == sum(r["blocks"] for r in manifest["units"])
    assert sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file()) < 40e6


def test_committed_label_set_materialises(tmp_path: Path) -> None:
    _shared_or_skip(TRAIN)
    manifest = json.loads((COMMITTED / "labels.json").read_text())
    one = tmp_path / "one"
    (one / "units").mkdir(parents=True)
    records = manifest["units"][:2]
    for record in records:
        (one / "units" / record["shard"]).write_bytes((COMMITTED / "units" / record["shard"]).read_bytes())
    (one / "labels.json").write_text(json.dumps({**manifest, "units": records}))
    # the first unit only (--max-shards: the data of a model trained before the set grew)
    argv = ["--from-labels", str(one), "--out", str(tmp_path / "ds"), "--data-root", str(TRAIN)]
    assert cli.main([*argv, "--max-shards", "1"]) == 0
    (shard,) = dataset.shard_paths(tmp_path / "ds")
    assert shard.name == records[0]["shard"]
    assert len(UnitLabels.from_arrays(load_extra(shard, UNIT_FIELDS), str(shard)).trees()) == 8
    out = labelset.materialise(one, tmp_path / "ds", data_root=TRAIN)
    assert out["blocks"] == sum(r["blocks"] for r in records) == 256
    assert [p.name for p in dataset.shard_paths(tmp_path / "ds")] == [r["shard"] for r in records]


@pytest.mark.encoder
def test_labels_of_a_guided_encode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--encoder-arg: the label encodes run with the model guiding the luma tree (chroma coded after it)."""
    from pmp_vvc.cli.common import run_cli

    out = tmp_path / "guided"
    argv = _one_photo_two_shards(tmp_path, out)
    argv.remove("32")
    guided = [
        "--encoder-arg=--PMPModel=default",
        "--encoder-arg=--PMPLevel=2",
        "--encoder-arg=--PMPThreshold=0",
    ]
    assert cli.main([*argv, *guided]) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["encoder_args"] == ["--PMPModel=default", "--PMPLevel=2", "--PMPThreshold=0"]
    assert (
        json.loads((out / "manifest.json").read_text())["shards"][0]["encoder_args"] == plan["encoder_args"]
    )
    # the options reach the encoder: one it does not know fails the encode (after the checks)
    unknown = [*argv[:-1], "--out", str(tmp_path / "unknown"), "--encoder-arg=--NoSuchOption=1"]
    assert run_cli(cli.main, unknown) != 0
    assert "NoSuchOption" in capsys.readouterr().err
    for bad, message in (
        ("--encoder-arg=-q", "must not set -q"),
        ("--encoder-arg=--PMPDumpPartition=x", "PMPDumpPartition"),
        ("--encoder-arg=--PMPLevel=9", "PMPLevel"),
        ("--encoder-arg=--PMPModel=/no/such.onnx", "does not exist"),
    ):
        assert run_cli(cli.main, [*argv[:-1], "--out", str(tmp_path / "bad"), bad]) == 2
        assert message in capsys.readouterr().err
