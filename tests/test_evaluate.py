from __future__ import annotations

import numpy as np
import pytest

from pmp_vvc.codec.partition import cus_to_maps
from pmp_vvc.learning.evaluate import accuracy_table, constant_baseline, decision_accuracies


def _maps(n: int, qt: int, mtt: int, direction: int) -> dict[str, np.ndarray]:
    return {
        "qt": np.full((n, 8, 8), qt, np.int8),
        "mtt": np.full((n, 3, 16, 16), mtt, np.int8),
        "direction": np.full((n, 3, 16, 16), direction, np.int8),
    }


def test_constant_baseline_is_per_qp_mode():
    train = _maps(4, 1, 0, 0)
    train["qt"][2:] = 2  # QP 37 blocks are mostly QT depth 2 ...
    train["qt"][3, 0, 0] = -1  # ... and cells outside the picture do not count
    train["direction"][2:, 0] = 1
    train_qp = np.array([22, 22, 37, 37])
    pred = constant_baseline(train_qp, train, np.array([37, 22, 27]))
    assert (pred["qt"][0] == 2).all() and (pred["qt"][1] == 1).all()
    assert (pred["direction"][0, 0] == 1).all() and (pred["direction"][0, 1] == 0).all()
    assert (pred["direction"][1] == 0).all()
    assert pred["qt"][2, 0, 0] in (1, 2)  # QP 27 unseen: mode over all training blocks


def test_plurality_decisions_tolerate_noisy_direction_maps():
    # truth: 64x64 QT to 32x32, every 32x32 node split BT_H at MTT layer 1
    rows = []
    for y in (0, 32):
        for x in (0, 32):
            for dy in (0, 16):
                series = 1 | (1 << 5) | (2 << 10)
                rows.append([0, 0, x, y + dy, 32, 16, 2, 1, 1, series])
    maps = cus_to_maps(np.array(rows, dtype=np.int64), 64, 64)
    true = {"qt": maps.qt, "mtt": maps.increments, "direction": maps.direction}
    noisy = {k: v.copy() for k, v in true.items()}
    noisy["direction"][0, 0, 0, 0] = 2  # one wrong cell in the first 32x32 node
    plural = decision_accuracies(noisy, true)
    strict = decision_accuracies(noisy, true, unanimous=True)
    assert plural["split_type"] == 1.0 and strict["split_type"] < 1.0
    table = accuracy_table(true, true, np.array([32]))
    assert set(table) == {"all", "qp32"} and table["all"]["split"] == 1.0 and table["qp32"]["qt16"] == 1.0


def test_split_accuracy_by_node_side_and_edge_counts_each_node_once():
    # truth: 64x64 QT to 32x32, every 32x32 node split BT_H; the prediction leaves the first 32x32 unsplit
    rows = [
        [0, 0, x, y + dy, 32, 16, 2, 1, 1, 1 | (1 << 5) | (2 << 10)]
        for y in (0, 32)
        for x in (0, 32)
        for dy in (0, 16)
    ]
    maps = cus_to_maps(np.array(rows, dtype=np.int64), 64, 64)
    true = {"qt": maps.qt, "mtt": maps.increments, "direction": maps.direction}
    pred = {k: v.copy() for k, v in true.items()}
    pred["mtt"][0, 0, :8, :8] = 0
    pred["direction"][0, 0, :8, :8] = 0
    acc = decision_accuracies(pred, true)
    assert acc["split_side64"] == 1.0  # the QT root
    assert acc["split_side32"] == 0.75  # one of the four 32x32 nodes is not split
    assert acc["split_side16"] == 1.0  # the 32x16 leaves
    assert np.isnan(acc["split_side8"]) and np.isnan(acc["split_side4"])
    assert acc["split"] == pytest.approx(12 / 13)
    # below the root, 3 of the 32x32 nodes and 5 of the leaves touch the top or left edge
    assert acc["split_edge"] == pytest.approx(7 / 8) and acc["split_inner"] == 1.0
