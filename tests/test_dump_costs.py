"""Partition dump version 2: the final CUs' coding modes and the RD cost of every mode tested per node."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip
from pmp_vvc.codec.dump import (
    COLUMNS,
    MAGIC_V1,
    MODE_COLUMNS,
    NODE_COLUMNS,
    NODE_MODES,
    PicturePartition,
    read_dump,
    search_state_table,
    write_dump,
)
from pmp_vvc.errors import InputError


def _final_visits(pic: PicturePartition) -> dict[tuple[int, ...], int]:
    """Index of the last visit of each luma node, keyed by (x, y, w, h, split series)."""
    assert pic.nodes is not None
    cols = [NODE_COLUMNS.index(c) for c in ("x", "y", "w", "h", "split_series")]
    return {tuple(int(v) for v in r[cols]): i for i, r in enumerate(pic.nodes) if r[0] == 0}


def test_version_2_round_trip_and_version_1_still_read(tmp_path: Path) -> None:
    cus = np.array([[7, 0, 0, 0, 64, 64, 1, 0, 0, 1], [7, 1, 0, 0, 64, 64, 1, 0, 0, 1]], dtype=np.int64)
    modes = np.array([[50, 0, 2, 1, 0, 0, 0], [4, 0, 0, 0, 0, 0, 0]], dtype=np.int64)
    nodes = np.array([[0, 0, 0, 64, 64, 1, 0, 0, 1, 0b11, 0, 1, 18, 0x1234]], dtype=np.int64)
    costs = np.array([[10.5, 12.0, *[np.inf] * 4]], dtype=np.float32)
    search = np.array([[1234.5678901, 99.25, 1e300]])
    path = tmp_path / "v2.dump"
    write_dump(path, [PicturePartition(7, 64, 64, 32, cus, modes, nodes, costs, search)])
    assert path.stat().st_size == 8 + 24 + 2 * 28 + 76
    (back,) = read_dump(path)
    assert np.array_equal(back.cus, cus) and back.modes is not None and np.array_equal(back.modes, modes)
    assert back.nodes is not None and np.array_equal(back.nodes, nodes)
    assert back.node_costs is not None and np.array_equal(back.node_costs, costs)
    assert back.search_costs is not None and np.array_equal(back.search_costs, search)
    assert len(MODE_COLUMNS) == 7 and len(NODE_MODES) == 6

    # A version-1 file (20-byte CU records, no node section) reads as before, without modes.
    rec = struct.pack("<4H4BQ", 0, 0, 64, 64, 0, 1, 0, 0, 1)
    (tmp_path / "v1.dump").write_bytes(MAGIC_V1 + struct.pack("<5i", 7, 64, 64, 32, 1) + rec)
    (old,) = read_dump(tmp_path / "v1.dump")
    assert old.modes is None and old.nodes is None and old.cus.shape == (1, len(COLUMNS))

    (tmp_path / "cut.dump").write_bytes(path.read_bytes()[:-5])
    with pytest.raises(InputError, match="truncated node records"):
        read_dump(tmp_path / "cut.dump")


@pytest.mark.encoder
def test_anchor_dump_holds_modes_and_node_costs_that_explain_its_partition(
    clip128: Clip, tmp_path: Path
) -> None:
    dump = tmp_path / "a.dump"
    stats = pmp_vvc.encode(clip128.args(37, tmp_path / "a.bin", f"--PMPDumpPartition={dump}"))
    pics = read_dump(dump)
    assert len(pics) == 2
    for pic in pics:
        assert pic.modes is not None and pic.nodes is not None and pic.node_costs is not None
        luma = pic.cus[:, 1] == 0
        # Real coding tools show up in the final luma CUs (MIP, ISP, LFNST, MTS are all on in the AI cfg).
        assert pic.modes[luma][:, MODE_COLUMNS.index("intra_dir")].max() > 1
        assert (pic.modes[luma][:, MODE_COLUMNS.index("lfnst")] > 0).any()
        # Every final luma CU is a node the search visited, where the non-split coding was the cheapest.
        visits = _final_visits(pic)
        for cu in pic.cus[luma]:
            i = visits[(int(cu[2]), int(cu[3]), int(cu[4]), int(cu[5]), int(cu[9]))]
            assert pic.nodes[i, NODE_COLUMNS.index("tested")] & 1
            assert np.argmin(pic.node_costs[i]) == 0 and np.isfinite(pic.node_costs[i, 0])
        # Modes the search did not run have no cost.
        tested = pic.nodes[:, NODE_COLUMNS.index("tested"), None]
        untested = (tested >> np.arange(6)) & 1 == 0
        assert np.isinf(pic.node_costs[untested]).all()
    # The node visits of the luma tree are the counted RD tests (64x64 and smaller nodes inside the picture).
    luma_nodes = sum(int((p.nodes[:, 0] == 0).sum()) for p in pics)
    assert 0 < luma_nodes <= stats.luma.intra + stats.luma.splits


def test_search_state_table_gives_reused_visits_the_state_of_the_search_that_found_their_coding() -> None:
    # Three visits of one 16x16 area (in finish order): a search, another search, then a reuse of the latter's
    # coding; and one 8x8 visit. Columns as NODE_COLUMNS; search costs (rel DCT2, rel non-DCT2, budget).
    def visit(w: int, series: int, tested: int, reused: int, rel: int, budget: float) -> list[int]:
        return [0, 16, 0, w, w, 2, 0, 0, series, tested, reused, rel, 7 * rel, 0x81 * rel]

    nodes = np.array(
        [
            visit(16, 0x21, 1, 0, 0, 0),
            visit(16, 0x61, 1, 0, 1, 0),
            visit(16, 0x401, 1, 1, 0, 0),
            visit(8, 0x121, 1, 0, 0, 0),
            [1, 16, 0, 16, 16, 2, 0, 0, 0x21, 1, 0, 0, 0, 0],
        ],
        dtype=np.int64,
    )
    search = np.array([[0, 0, 500.0], [40.0, 30.0, 900.0], [0, 0, 1e308], [0, 0, 77.0], [0, 0, 1.0]])
    pic = PicturePartition(
        0,
        64,
        64,
        32,
        np.zeros((0, len(COLUMNS)), np.int64),
        None,
        nodes,
        np.zeros((5, len(NODE_MODES)), np.float32),
        search,
    )
    table = search_state_table(pic)
    assert table.shape == (4, 11)  # luma visits only
    assert table[:, 4].tolist() == [0x21, 0x61, 0x401, 0x121]
    assert table[1, 5:].tolist() == [1, 7, 0x81, 40.0, 30.0, 900.0]
    # The reused visit starts where its coding was found.
    assert table[2, 5:].tolist() == table[1, 5:].tolist()
    assert table[0, 10] == 500.0 and table[3, 10] == 77.0


@pytest.mark.encoder
@pytest.mark.parametrize("level", [3, 2])
def test_oracle_codes_every_cu_as_the_anchor_did(clip128: Clip, tmp_path: Path, level: int) -> None:
    """The ceiling: with the anchor's partition and intra-search states the oracle is the anchor exactly."""
    dump = tmp_path / "a.dump"
    anchor = pmp_vvc.encode(clip128.args(32, tmp_path / "a.bin", f"--PMPDumpPartition={dump}"))
    first = read_dump(dump)[0]
    assert first.nodes is not None and (first.nodes[:, NODE_COLUMNS.index("rel_valid")] > 0).any()
    assert (first.nodes[:, NODE_COLUMNS.index("reused")] > 0).any()
    oracle = pmp_vvc.encode(
        clip128.args(32, tmp_path / "o.bin", f"--PMPGuide=oracle:{dump}", f"--PMPLevel={level}")
    )
    assert (tmp_path / "o.bin").read_bytes() == (tmp_path / "a.bin").read_bytes()
    assert [f.bits for f in oracle.frames] == [f.bits for f in anchor.frames]
    assert oracle.luma.total < (0.15 if level == 3 else 0.5) * anchor.luma.total
    # Without the states (a version-1 dump of the same partition) the oracle codes its CUs afresh.
    v1 = tmp_path / "v1.dump"
    write_dump(v1, [PicturePartition(p.poc, p.width, p.height, p.qp, p.cus) for p in read_dump(dump)])
    pmp_vvc.encode(clip128.args(32, tmp_path / "f.bin", f"--PMPGuide=oracle:{v1}", f"--PMPLevel={level}"))
    assert (tmp_path / "f.bin").read_bytes() != (tmp_path / "a.bin").read_bytes()


@pytest.mark.encoder
def test_map_guide_serves_search_states_of_luma_nodes_by_path() -> None:
    from pmp_vvc.codec.guides import CuQuery
    from pmp_vvc.predictor import map_guide

    guide = map_guide(None, level=3)
    guide.set_search_states(np.array([[16, 0, 16, 16, 0x61, 1, 7, 0x81, 40.0, 30.0, 900.0]]))
    q = CuQuery()
    q.x, q.y, q.width, q.height, q.split_series = 16, 0, 16, 16, 0x61
    assert guide.search_state(q) == (True, 7, 0x81, 40.0, 30.0, 900.0)
    q.split_series = 0x21  # the same area reached through another split path: not the replayed visit
    assert guide.search_state(q) is None
    q.split_series, q.chroma = 0x61, True
    assert guide.search_state(q) is None
    with pytest.raises(ValueError, match=r"\(K,11\)"):
        guide.set_search_states(np.zeros((1, 10)))


def test_mode_agreement_counts_luma_area_of_same_cus_and_modes() -> None:
    from pmp_vvc.evaluation.agreement import AGREEMENT_KEYS, mode_agreement

    def pic(rows: list[tuple[int, int, int, int]], modes: list[list[int]]) -> PicturePartition:
        cus = np.array([[0, 0, x, y, w, h, 1, 0, 0, 1] for x, y, w, h in rows], dtype=np.int64)
        return PicturePartition(0, 64, 64, 32, cus, np.array(modes, dtype=np.int64))

    anchor = pic([(0, 0, 32, 64), (32, 0, 32, 64)], [[18, 0, 0, 1, 0, 0, 0], [50, 0, 1, 0, 2, 0, 0]])
    same = mode_agreement([anchor], [anchor])
    assert list(same) == list(AGREEMENT_KEYS) and all(v == 1.0 for v in same.values())
    # Left half coded alike but with another LFNST index; right half split differently.
    test = pic(
        [(0, 0, 32, 64), (32, 0, 32, 32), (32, 32, 32, 32)],
        [[18, 0, 0, 2, 0, 0, 0], [50, 0, 1, 0, 2, 0, 0], [50, 0, 1, 0, 2, 0, 0]],
    )
    got = mode_agreement([anchor], [test])
    assert got["partition"] == 0.5
    assert got["intra_dir"] == got["isp"] == got["mts"] == 1.0 and got["lfnst"] == 0.0
    assert got["all_modes"] == 0.0
    with pytest.raises(InputError, match="no picture 5"):
        mode_agreement([anchor], [PicturePartition(5, 64, 64, 32, test.cus, test.modes)])


@pytest.mark.encoder
def test_dump_path_takes_the_qp(clip128: Clip, tmp_path: Path) -> None:
    pmp_vvc.encode(
        clip128.args(37, tmp_path / "a.bin", f"--PMPDumpPartition={tmp_path}/d_QP{{qp}}.dump", frames=1)
    )
    assert [p.name for p in tmp_path.glob("d_*.dump")] == ["d_QP37.dump"]
    assert read_dump(tmp_path / "d_QP37.dump")[0].qp == 37
