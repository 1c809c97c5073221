"""Transposition augmentation: a transposed sample is the sample of the transposed block and its tree."""

import numpy as np
import pytest

from conftest import bench_script
from pmp_vvc.codec.partition import cus_to_maps
from pmp_vvc.errors import ConfigError
from pmp_vvc.learning.augment import MODE_TRANSPOSE, transpose
from pmp_vvc.learning.compact import UnitLabels, quantise_costs
from pmp_vvc.learning.finaltree import FinalTree, tree_from_cus, tree_from_splits
from pmp_vvc.learning.labels import Samples, concat, samples_from_picture
from pmp_vvc.learning.nodes import CostSamples, NodeTable, node_table
from test_labelset import _random_splits, _transposed_cus

SWAP = bench_script("perturb_check").SWAP  # split codes of the transposed tree


def _labelled(tree: FinalTree, plane: np.ndarray, costs: np.ndarray) -> CostSamples:
    """The one-block sample of a 64x64 picture with its tree's node targets from ``costs`` (walk order)."""
    samples = samples_from_picture(plane, cus_to_maps(tree.cus, 64, 64), 32, 8, "pic")
    best, codes = quantise_costs(costs)
    unit = UnitLabels(
        np.array([[64, 64]], np.int32), tree.splits, np.array([len(tree.splits)], np.int32), best, codes
    )
    return CostSamples(samples, node_table(unit))


def _rows(nodes: NodeTable) -> list[tuple[object, ...]]:
    return sorted(
        (*g.tolist(), *a.tolist(), *t.tolist(), *np.round(e, 4).tolist())
        for g, a, t, e in zip(
            nodes.geometry,
            nodes.acceptable,
            nodes.tested,
            np.where(np.isinf(nodes.excess), -1, nodes.excess),
            strict=True,
        )
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_transposed_sample_is_the_sample_of_the_transposed_tree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tree = tree_from_splits(_random_splits(rng, 64, 64), 64, 64)
    flipped = tree_from_cus(_transposed_cus(tree, SWAP), 64, 64)
    plane = rng.integers(16, 236, (64, 64)).astype(np.uint16)
    costs = rng.uniform(1.0, 1.1, (len(tree.nodes), 6))
    costs[rng.random(costs.shape) < 0.3] = np.inf
    costs[:, 0] = np.where(np.isinf(costs).all(axis=1), 1.05, costs[:, 0])
    where = {(int(n[0]), int(n[2]), int(n[1]), int(n[4]), int(n[3])): i for i, n in enumerate(flipped.nodes)}
    flipped_costs = np.empty_like(costs)
    for i, n in enumerate(tree.nodes):
        flipped_costs[where[(int(n[0]), int(n[1]), int(n[2]), int(n[3]), int(n[4]))]] = costs[i][
            list(MODE_TRANSPOSE)
        ]
    plain, mirrored = _labelled(tree, plane, costs), _labelled(flipped, plane.T.copy(), flipped_costs)
    assert len(plain.nodes) > 0

    made = transpose(plain, np.array([True]))
    assert isinstance(made, CostSamples) and isinstance(made.samples, Samples)
    for key in ("luma", "qt", "mtt", "direction"):
        assert np.array_equal(getattr(made.samples, key), getattr(mirrored.samples, key)), key
    assert _rows(made.nodes) == _rows(mirrored.nodes)
    again = transpose(made, np.array([True]))
    assert isinstance(again, CostSamples)
    assert _rows(again.nodes) == _rows(plain.nodes)
    assert np.array_equal(again.samples.direction, plain.samples.direction)  # type: ignore[union-attr]


def test_only_the_chosen_samples_are_transposed() -> None:
    rng = np.random.default_rng(7)
    trees = [tree_from_splits(_random_splits(rng, 64, 64), 64, 64) for _ in range(2)]
    planes = [rng.integers(16, 236, (64, 64)).astype(np.uint16) for _ in trees]
    both = concat(
        [
            samples_from_picture(p, cus_to_maps(t.cus, 64, 64), 27, 8, "pic")
            for t, p in zip(trees, planes, strict=True)
        ]
    )
    made = transpose(both, np.array([False, True]))
    assert isinstance(made, Samples)
    assert np.array_equal(made.luma[0], both.luma[0]) and np.array_equal(made.luma[1], both.luma[1].T)
    assert np.array_equal(made.qt[1], both.qt[1].T) and np.array_equal(made.qp, both.qp)


def test_chroma_samples_are_refused() -> None:
    class Chroma:
        chroma = True

    with pytest.raises(ConfigError, match="luma samples only"):
        transpose(Chroma(), np.array([True]))  # type: ignore[arg-type]
