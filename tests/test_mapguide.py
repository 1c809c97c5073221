"""MapGuide (C++) decision rules, driven from Python without running the encoder."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip
from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.dump import read_dump
from pmp_vvc.codec.partition import (
    SPLIT_BT_H,
    SPLIT_BT_V,
    SPLIT_NONE,
    SPLIT_QT,
    SPLIT_TT_H,
    SPLIT_TT_V,
    _decode,
    cus_to_maps,
)

predictor = pytest.importorskip("pmp_vvc.predictor")
_ext = extension()
MapGuide, CuQuery, SplitMode = _ext.MapGuide, _ext.CuQuery, _ext.SplitMode
ALL = int(SplitMode.ALL)
MODE_NAMES = ("NO_SPLIT", "QT", "BT_H", "BT_V", "TT_H", "TT_V")
NS, QT, BTH, BTV, TTH, TTV = (int(getattr(SplitMode, m)) for m in MODE_NAMES)
TO_MODE = {SPLIT_NONE: NS, SPLIT_QT: QT, SPLIT_BT_H: BTH, SPLIT_BT_V: BTV, SPLIT_TT_H: TTH, SPLIT_TT_V: TTV}


def hard_maps(blocks: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """QT depth 0 (64x64 leaf), no MTT split anywhere: (qt (B,8,8), inc (B,3,16,16), dir (B,3,16,16))."""
    return (
        np.zeros((blocks, 8, 8), np.int8),
        np.zeros((blocks, 3, 16, 16), np.int8),
        np.zeros((blocks, 3, 16, 16), np.int8),
    )


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.stack([(labels == c) for c in range(classes)], axis=1).astype(np.float32)


def guide_with(
    qt: np.ndarray,
    inc: np.ndarray,
    dirs: np.ndarray,
    width: int = 64,
    height: int = 64,
    level: int = 3,
    threshold: float = 0.0,
):  # type: ignore[no-untyped-def]
    g = MapGuide(level=level, threshold=threshold)
    g.set_maps(width, height, one_hot(qt, 4), one_hot(inc, 3), one_hot(dirs, 3))
    return g


def cu(x: int, y: int, w: int, h: int, qt_depth: int, mt_depth: int = 0, chroma: bool = False):  # type: ignore[no-untyped-def]
    q = CuQuery()
    q.x, q.y, q.width, q.height, q.qt_depth, q.mt_depth, q.chroma = x, y, w, h, qt_depth, mt_depth, chroma
    return q


def only(mode: int) -> tuple[int, int]:
    """(veto, force) of a decision that tests exactly ``mode``."""
    return ALL & ~mode, mode


def vf(d) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return int(d.veto), int(d.force)


def test_qt_only() -> None:
    qt, inc, dirs = hard_maps()
    qt[0, :4, :4] = 1  # top-left 32x32 is a QT leaf ...
    qt[0, 4:, :] = 2  # ... the bottom half goes down to 16x16
    qt[0, :4, 4:] = 3  # ... and the top-right to 8x8
    g = guide_with(qt, inc, dirs)
    assert vf(g.decide(cu(0, 0, 64, 64, 1))) == only(QT)
    assert vf(g.decide(cu(0, 0, 32, 32, 2))) == only(NS)
    assert vf(g.decide(cu(0, 32, 32, 32, 2))) == only(QT)
    assert vf(g.decide(cu(0, 32, 16, 16, 3))) == only(NS)
    assert vf(g.decide(cu(32, 0, 16, 16, 3))) == only(QT)
    # an 8x8 node cannot be QT-split (MinQT 8): the map's depth 3 means a leaf there
    assert vf(g.decide(cu(32, 0, 8, 8, 4))) == only(NS)


@pytest.mark.parametrize("horizontal", [True, False])
def test_bt_and_tt_both_directions(horizontal: bool) -> None:
    qt, inc, dirs = hard_maps()
    qt[:] = 1  # four 32x32 QT leaves
    d = 1 if horizontal else 2
    # top-left 32x32: BT; top-right 32x32: TT (outer quarters +2, middle +1)
    dirs[0, 0, :8, :8] = d
    inc[0, 0, :8, :8] = 1
    dirs[0, 0, :8, 8:] = d
    inc[0, 0, :8, 8:] = 1
    if horizontal:
        inc[0, 0, 0:2, 8:], inc[0, 0, 6:8, 8:] = 2, 2
    else:
        inc[0, 0, :8, 8:10], inc[0, 0, :8, 14:16] = 2, 2
    g = guide_with(qt, inc, dirs)
    assert vf(g.decide(cu(0, 0, 32, 32, 2))) == only(BTH if horizontal else BTV)
    assert vf(g.decide(cu(32, 0, 32, 32, 2))) == only(TTH if horizontal else TTV)
    # the children have no split at layer 1
    child = cu(0, 0, 32, 16, 2, 1) if horizontal else cu(0, 0, 16, 32, 2, 1)
    assert vf(g.decide(child)) == only(NS)


def test_mixed_direction_over_a_node_means_no_split() -> None:
    qt, inc, dirs = hard_maps()
    qt[:] = 1
    dirs[0, 0, :8, :4], dirs[0, 0, :8, 4:8] = 1, 2  # the two halves disagree
    inc[0, 0, :8, :8] = 1
    g = guide_with(qt, inc, dirs)
    assert vf(g.decide(cu(0, 0, 32, 32, 2))) == only(NS)
    assert vf(g.decide(cu(0, 0, 16, 32, 2, 0))) == only(BTH)  # a node inside one half follows that half


def test_levels() -> None:
    qt, inc, dirs = hard_maps()
    qt[:] = 1
    dirs[0, 0, :8, :8], inc[0, 0, :8, :8] = 2, 1  # BT_V at layer 1
    dirs[0, 1, :8, :4], inc[0, 1, :8, :4] = 1, 1  # left half: BT_H at layer 2
    dirs[0, 2, :4, :4], inc[0, 2, :4, :4] = 2, 1  # its top: BT_V at layer 3
    top, left, topleft = cu(0, 0, 32, 32, 2), cu(0, 0, 16, 32, 2, 1), cu(0, 0, 16, 16, 2, 2)
    l0 = guide_with(qt, inc, dirs, level=0)
    assert vf(l0.decide(cu(0, 0, 64, 64, 1))) == only(QT)
    assert vf(l0.decide(top)) == (QT, NS)  # QT leaf: no QT, non-split forced, MTT left to RDO
    assert vf(l0.decide(left)) == (0, 0)
    l1 = guide_with(qt, inc, dirs, level=1)
    assert vf(l1.decide(top)) == only(BTV)
    assert vf(l1.decide(left)) == (0, 0)
    l2 = guide_with(qt, inc, dirs, level=2)
    assert vf(l2.decide(left)) == only(BTH)
    assert vf(l2.decide(topleft)) == (0, 0)
    l3 = guide_with(qt, inc, dirs, level=3)
    assert vf(l3.decide(topleft)) == only(BTV)
    assert vf(l3.decide(cu(0, 0, 8, 16, 2, 3))) == (0, 0)  # below the maps' last layer: normal RDO


def test_chroma_and_edge_blocks_get_no_decision() -> None:
    qt, inc, dirs = hard_maps(blocks=4)
    qt[:] = 1
    g = guide_with(qt, inc, dirs, width=96, height=112)  # only block 0 is whole
    assert vf(g.decide(cu(0, 0, 64, 64, 1))) == only(QT)
    assert vf(g.decide(cu(0, 0, 64, 64, 1, chroma=True))) == (0, 0)
    for x, y in ((64, 0), (0, 64), (64, 64)):
        assert vf(g.decide(cu(x, y, 32, 32, 2))) == (0, 0)
    assert g.candidates(cu(64, 0, 32, 32, 2)) is None
    assert vf(MapGuide(level=3).decide(cu(0, 0, 64, 64, 1))) == (0, 0)  # no maps at all


def test_edge_blocks_on_request() -> None:
    qt, inc, dirs = hard_maps(blocks=4)
    qt[:] = 1
    g = MapGuide(level=3, edge_blocks=True)
    g.set_maps(96, 112, one_hot(qt, 4), one_hot(inc, 3), one_hot(dirs, 3))
    assert g.edge_blocks
    # inside the picture, in a partial block: decided (the non-split search not forced, see forceMask)
    assert vf(g.decide(cu(64, 0, 32, 32, 2))) == (ALL & ~NS, 0)
    assert vf(g.decide(cu(0, 64, 32, 32, 2))) == (ALL & ~NS, 0)
    assert vf(g.decide(cu(64, 64, 32, 64, 2))) == (0, 0)  # reaches outside the picture


def test_illegal_map_split_falls_back_to_a_legal_mode() -> None:
    qt, inc, dirs = hard_maps()
    dirs[0, 0], inc[0, 0] = 1, 1  # BT_H of the 64x64 node: illegal (MaxBT 32)
    g = guide_with(qt, inc, dirs)
    assert vf(g.decide(cu(0, 0, 64, 64, 1))) == only(NS)


def soft_guide(
    p_qt: float,
    p_dir: tuple[float, float, float],
    p_tt: float,
    level: int,
    threshold: float,
    qt_threshold: float = -1.0,
    branch_threshold: float = -1.0,
    side_thresholds: tuple[tuple[int, float], ...] = (),
):  # type: ignore[no-untyped-def]
    qt = np.zeros((1, 4, 8, 8), np.float32)
    qt[0, 0], qt[0, 1] = 1 - p_qt, p_qt  # relative to a 64x64 node; 32x32 nodes see P(depth > 1) = 0
    dirs = np.zeros((1, 3, 3, 16, 16), np.float32)
    for k, p in enumerate(p_dir):
        dirs[0, k] = p
    inc = np.zeros((1, 3, 3, 16, 16), np.float32)
    inc[0, 1], inc[0, 2] = 1 - p_tt, p_tt
    g = MapGuide(
        level=level,
        threshold=threshold,
        qt_threshold=qt_threshold,
        branch_threshold=branch_threshold,
        side_thresholds=list(side_thresholds),
    )
    g.set_maps(64, 64, qt, inc, dirs)
    return g


def test_probabilities_of_a_node() -> None:
    g = soft_guide(0.6, (0.2, 0.5, 0.3), 0.25, level=3, threshold=0.0)
    implied, prob = g.candidates(cu(0, 0, 64, 64, 1))
    assert implied == QT  # 64x64: only QT and non-split are legal; renormalised
    assert prob["QT"] == pytest.approx(0.6 / 0.68) and prob["NO_SPLIT"] == pytest.approx(0.08 / 0.68)
    implied, prob = g.candidates(cu(0, 0, 32, 32, 2))
    assert implied == BTH  # argmax direction horizontal everywhere, argmax increment +1 in the first quarter
    assert prob["QT"] == 0.0
    assert prob["NO_SPLIT"] == pytest.approx(0.2)
    assert prob["BT_H"] == pytest.approx(0.5 * 0.75) and prob["TT_H"] == pytest.approx(0.5 * 0.25)
    assert prob["BT_V"] == pytest.approx(0.3 * 0.75) and prob["TT_V"] == pytest.approx(0.3 * 0.25)
    assert sum(prob.values()) == pytest.approx(1.0)


def test_threshold_keeps_more_candidates() -> None:
    node = cu(0, 0, 32, 32, 2)
    forced: list[int] = []
    for t in (0.0, 0.3, 0.5, 0.7, 0.8, 0.95, 1.0):
        d = soft_guide(0.6, (0.15, 0.55, 0.3), 0.6, level=2, threshold=t).decide(node)
        tested = ALL & ~int(d.veto)
        # splits are forced; the non-split search only with hard maps (see MapGuide::forceMask)
        assert int(d.force) == (tested if t == 0 else tested & ~NS)
        forced.append(tested)
    # TT_H is the map's split (.33), then by probability BT_H .22, TT_V .18, NO_SPLIT .15, BT_V .12
    assert forced[0] == forced[1] == TTH
    assert forced[2] == TTH | BTH  # .55
    assert forced[3] == TTH | BTH | TTV  # .73
    assert forced[4] == TTH | BTH | TTV | NS  # .88
    assert forced[5] == forced[6] == TTH | BTH | TTV | NS | BTV
    assert all(a & b == a for a, b in itertools.pairwise(forced))  # nested sets
    # L0: QT vs no QT, decided only when the chosen side is confident enough
    top = cu(0, 0, 64, 64, 1)
    assert vf(soft_guide(0.6, (1, 0, 0), 0, level=0, threshold=0.5).decide(top)) == only(QT)
    assert vf(soft_guide(0.6, (1, 0, 0), 0, level=0, threshold=0.7).decide(top)) == (0, 0)
    assert vf(soft_guide(0.2, (1, 0, 0), 0, level=0, threshold=0.7).decide(top)) == (QT, 0)
    assert vf(soft_guide(0.2, (1, 0, 0), 0, level=0, threshold=0.0).decide(top)) == (QT, NS)


def test_qt_threshold_rules_where_qt_is_legal() -> None:
    maps = (0.6, (0.15, 0.55, 0.3), 0.6)
    qt_node, mtt_node = cu(0, 0, 32, 32, 2), cu(0, 0, 32, 16, 2, mt_depth=1)  # a QT node; after a BT_H
    hard = soft_guide(*maps, level=2, threshold=0.0)
    split = soft_guide(*maps, level=2, threshold=0.0, qt_threshold=0.8)
    soft = soft_guide(*maps, level=2, threshold=0.8)
    assert hard.qt_threshold == 0.0 and split.qt_threshold == pytest.approx(0.8)
    # at the QT node the QT threshold decides (as a guide with threshold 0.8 does), elsewhere the threshold
    assert vf(split.decide(qt_node)) == vf(soft.decide(qt_node)) != vf(hard.decide(qt_node))
    assert vf(split.decide(mtt_node)) == vf(hard.decide(mtt_node)) != vf(soft.decide(mtt_node))
    with pytest.raises(RuntimeError, match="QT threshold"):
        MapGuide(level=2, qt_threshold=1.5)


def test_branch_threshold_rules_below_splits_the_maps_did_not_imply() -> None:
    maps = (0.6, (0.15, 0.55, 0.3), 0.6)  # 64x64: QT implied; 32x32: TT_H implied, BT_H a candidate at 0.8
    below_bt = cu(0, 16, 32, 16, 2, mt_depth=1)  # the lower half of the first 32x32 after its BT_H
    below_bt.split_series = 1 | 1 << 5 | 2 << 10  # CTU QT, 64x64 QT, 32x32 BT_H
    below_tt = cu(0, 8, 32, 16, 2, mt_depth=1)  # the middle part after the implied TT_H
    below_tt.split_series = 1 | 1 << 5 | 4 << 10
    hard = soft_guide(*maps, level=2, threshold=0.0)
    soft = soft_guide(*maps, level=2, threshold=0.8)
    branch = soft_guide(*maps, level=2, threshold=0.8, branch_threshold=0.0)
    assert branch.branch_threshold == 0.0 and soft.branch_threshold == -1.0
    assert vf(branch.decide(below_bt)) == vf(hard.decide(below_bt)) != vf(soft.decide(below_bt))
    assert vf(branch.decide(below_tt)) == vf(soft.decide(below_tt)) != vf(hard.decide(below_tt))
    with pytest.raises(RuntimeError, match="branch threshold"):
        MapGuide(level=2, branch_threshold=1.5)


def test_side_thresholds_rule_the_luma_nodes_of_their_shorter_side() -> None:
    maps = (0.6, (0.15, 0.55, 0.3), 0.6)
    # shorter sides 32 (a QT node) and 16 (after a BT_H of a 32x32)
    side32, side16 = cu(0, 0, 32, 32, 2), cu(0, 0, 32, 16, 2, mt_depth=1)
    hard = soft_guide(*maps, level=2, threshold=0.0)
    soft = soft_guide(*maps, level=2, threshold=0.8)
    by_side = soft_guide(*maps, level=2, threshold=0.0, qt_threshold=0.0, side_thresholds=((32, 0.8),))
    assert by_side.side_thresholds == [(32, 0.8)]
    # at side 32 the side threshold wins over the QT threshold; at side 16 the threshold rules
    assert vf(by_side.decide(side32)) == vf(soft.decide(side32)) != vf(hard.decide(side32))
    assert vf(by_side.decide(side16)) == vf(hard.decide(side16)) != vf(soft.decide(side16))
    by16 = soft_guide(*maps, level=2, threshold=0.0, side_thresholds=((16, 0.8), (8, 0.5)))
    assert vf(by16.decide(side16)) == vf(soft.decide(side16))
    assert vf(by16.decide(side32)) == vf(hard.decide(side32))
    for bad, message in (
        ([(12, 0.5)], "must be 4, 8, 16, 32 or 64"),
        ([(32, 1.5)], "at side 32 must be in"),
        ([(32, 0.5), (32, 0.7)], "two side thresholds"),
    ):
        with pytest.raises(RuntimeError, match=message):
            MapGuide(level=2, side_thresholds=bad)


def test_threshold_per_qp_knots() -> None:
    g = MapGuide(level=2, threshold=0.7, threshold_by_qp=[(22, 0.7), (27, 0.9)])
    assert g.threshold_by_qp == [(22, 0.7), (27, 0.9)]
    # until a picture sets it from its QP: the given threshold (and the QT threshold that follows it)
    assert g.threshold == g.qt_threshold == pytest.approx(0.7)
    with pytest.raises(RuntimeError, match="QPs of a per-QP threshold must increase"):
        MapGuide(level=2, threshold_by_qp=[(27, 0.7), (27, 0.9)])
    with pytest.raises(RuntimeError, match="threshold at QP 22 must be in"):
        MapGuide(level=2, threshold_by_qp=[(22, 1.5)])


def test_bad_maps_and_options_are_refused() -> None:
    g = MapGuide(level=2)
    qt, inc, dirs = hard_maps()
    with pytest.raises(ValueError, match="qt must have shape"):
        g.set_maps(64, 64, one_hot(qt, 4)[:, :3], one_hot(inc, 3), one_hot(dirs, 3))
    with pytest.raises(RuntimeError, match="1 blocks of maps for a 128x64 picture, which has 2"):
        g.set_maps(128, 64, one_hot(qt, 4), one_hot(inc, 3), one_hot(dirs, 3))
    nan = one_hot(inc, 3)
    nan[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        g.set_maps(64, 64, one_hot(qt, 4), nan, one_hot(dirs, 3))
    with pytest.raises(RuntimeError, match="level"):
        MapGuide(level=4)
    with pytest.raises(RuntimeError, match="threshold"):
        MapGuide(level=2, threshold=1.5)


@pytest.mark.encoder
@pytest.mark.parametrize("qp", [22, 37])
def test_one_hot_maps_of_a_real_dump_give_its_splits(clip128: Clip, tmp_path: Path, qp: int) -> None:
    """Hard maps of a real partition drive decide() at level 3 to exactly the partition's splits."""
    dump = tmp_path / "a.dump"
    pmp_vvc.encode(clip128.args(qp, tmp_path / "a.bin", f"--PMPDumpPartition={dump}", frames=1))
    pic = read_dump(dump)[0]
    maps = cus_to_maps(pic.cus, pic.width, pic.height)
    probs = predictor.one_hot(maps)
    g = MapGuide(level=3)
    g.set_maps(pic.width, pic.height, *probs.as_tuple())
    checked = set()
    for b in range(len(maps.origins)):
        dec = _decode(maps, b)
        for node, (qt_level, layer) in zip(dec.nodes, dec.levels, strict=True):
            q = cu(node.x, node.y, node.w, node.h, qt_level + 1, layer)
            if layer >= 3:
                assert vf(g.decide(q)) == (0, 0)
                continue
            assert vf(g.decide(q)) == only(TO_MODE[node.split]), node
            checked.add(node.split)
    assert {SPLIT_NONE, SPLIT_QT} <= checked and checked & {SPLIT_BT_H, SPLIT_BT_V, SPLIT_TT_H, SPLIT_TT_V}
