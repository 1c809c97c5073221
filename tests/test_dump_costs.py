"""Partition dump version 2: the final CUs' coding modes and the RD cost of every mode tested per node."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip
from pmp_vvc.partition import (
    COLUMNS,
    MAGIC_V1,
    MODE_COLUMNS,
    NODE_COLUMNS,
    NODE_MODES,
    PicturePartition,
    read_dump,
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
    nodes = np.array([[0, 0, 0, 64, 64, 1, 0, 0, 1, 0b11]], dtype=np.int64)
    costs = np.array([[10.5, 12.0, *[np.inf] * 4]], dtype=np.float32)
    path = tmp_path / "v2.dump"
    write_dump(path, [PicturePartition(7, 64, 64, 32, cus, modes, nodes, costs)])
    assert path.stat().st_size == 8 + 24 + 2 * 28 + 48
    (back,) = read_dump(path)
    assert np.array_equal(back.cus, cus) and back.modes is not None and np.array_equal(back.modes, modes)
    assert back.nodes is not None and np.array_equal(back.nodes, nodes)
    assert back.node_costs is not None and np.array_equal(back.node_costs, costs)
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
def test_anchor_dump_holds_modes_and_node_costs_that_explain_its_partition(clip128: Clip, tmp_path: Path) -> None:
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
        untested = (pic.nodes[:, -1:] >> np.arange(6)) & 1 == 0
        assert np.isinf(pic.node_costs[untested]).all()
    # The node visits of the luma tree are the counted RD tests (64x64 and smaller nodes inside the picture).
    luma_nodes = sum(int((p.nodes[:, 0] == 0).sum()) for p in pics)
    assert 0 < luma_nodes <= stats.luma.intra + stats.luma.splits
