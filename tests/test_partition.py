from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data
from pmp_vvc.codec.dump import COLUMNS, PicturePartition, read_dump, write_dump
from pmp_vvc.codec.partition import (
    SPLIT_BT_H,
    SPLIT_BT_V,
    SPLIT_QT,
    SPLIT_TT_H,
    SPLIT_TT_V,
    SplitNode,
    cus_to_maps,
    maps_to_cus,
    maps_to_splits,
    sort_cus,
)
from pmp_vvc.errors import InputError


def _labels_or_skip() -> Path:
    return shared_data("labels", "vtm23.13-ai-256")


# --------------------------------------------------------------- an independent hand-made tree builder
def _kids(x, y, w, h, split):
    if split == SPLIT_QT:
        return [
            (x, y, w // 2, h // 2, 0),
            (x + w // 2, y, w // 2, h // 2, 0),
            (x, y + h // 2, w // 2, h // 2, 0),
            (x + w // 2, y + h // 2, w // 2, h // 2, 0),
        ]
    if split == SPLIT_BT_H:
        return [(x, y, w, h // 2, 1), (x, y + h // 2, w, h // 2, 1)]
    if split == SPLIT_BT_V:
        return [(x, y, w // 2, h, 1), (x + w // 2, y, w // 2, h, 1)]
    if split == SPLIT_TT_H:
        return [(x, y, w, h // 4, 2), (x, y + h // 4, w, h // 2, 1), (x, y + 3 * h // 4, w, h // 4, 2)]
    return [(x, y, w // 4, h, 2), (x + w // 4, y, w // 2, h, 1), (x + 3 * w // 4, y, w // 4, h, 2)]


def build(spec, x, y, w, h, width=256, height=256, qt=1, bt=0, mt=0, series=SPLIT_QT, level=1, chroma=0):
    """CU rows of a node given a nested spec: None = leaf, (split, [child specs]) = split."""
    if x >= width or y >= height:
        return []
    if spec is None:
        return [[0, chroma, x, y, w, h, qt, bt, mt, series]]
    split, children = spec
    rows = []
    for (cx, cy, cw, ch, inc), sub in zip(_kids(x, y, w, h, split), children, strict=True):
        rows += build(
            sub,
            cx,
            cy,
            cw,
            ch,
            width,
            height,
            qt + (split == SPLIT_QT),
            bt + inc,
            mt + (split != SPLIT_QT),
            series | (split << (5 * level)),
            level + 1,
            chroma,
        )
    return rows


def picture(block_specs, width, height, chroma=0):
    """CU rows of a picture, one spec per 64x64 block in raster order (128->64 QT implied)."""
    rows = []
    nbx = -(-width // 64)
    for i, spec in enumerate(block_specs):
        bx, by = (i % nbx) * 64, (i // nbx) * 64
        rows += build(spec, bx, by, 64, 64, width, height, chroma=chroma)
    return np.array(rows, dtype=np.int64)


def random_spec(rng, x, y, w, h, width, height, layer=0, max_bt=32):
    """A random legal spec (VTM luma rules incl. implicit picture-edge splits), at most 3 MTT levels."""
    if x >= width or y >= height:
        return None
    out_r, out_b = x + w > width, y + h > height
    if out_r or out_b:
        bt_ok = w <= max_bt and h <= max_bt and layer < 3
        if layer == 0 and ((out_r and out_b) or not bt_ok):
            split = SPLIT_QT
        else:
            split = SPLIT_BT_H if out_b else SPLIT_BT_V
    else:
        options = [None, None]
        if layer == 0 and w == h and w >= 16:
            options.append(SPLIT_QT)
        if layer < 3 and w <= 32 and h <= 32:
            options += [SPLIT_BT_H] * (h >= 8) + [SPLIT_BT_V] * (w >= 8)
            options += [SPLIT_TT_H] * (h >= 16) + [SPLIT_TT_V] * (w >= 16)
        split = rng.choice(options)
    if split is None:
        return None
    nxt = layer + (split != SPLIT_QT)
    return (
        split,
        [
            random_spec(rng, cx, cy, cw, ch, width, height, nxt)
            for cx, cy, cw, ch, _ in _kids(x, y, w, h, split)
        ],
    )


# ------------------------------------------------------------------------------------------ tests
def test_columns():
    assert COLUMNS == (
        "poc",
        "chroma",
        "x",
        "y",
        "w",
        "h",
        "qt_depth",
        "bt_depth",
        "mt_depth",
        "split_series",
    )


def test_qt_only_block():
    qt16 = (SPLIT_QT, [(SPLIT_QT, [None] * 4)] * 4)
    cus = picture([qt16, None, None, (SPLIT_QT, [None] * 4)], 128, 128)
    maps = cus_to_maps(cus, 128, 128)
    assert maps.qt.shape == (4, 8, 8) and maps.mtt_depth.shape == (4, 3, 16, 16)
    assert (maps.qt[0] == 2).all() and (maps.qt[1] == 0).all() and (maps.qt[3] == 1).all()
    assert (maps.mtt_depth == 0).all() and (maps.direction == 0).all()
    assert maps.origins.tolist() == [[0, 0], [64, 0], [0, 64], [64, 64]]
    nodes = maps_to_splits(maps, 3)
    assert nodes[0] == SplitNode(64, 64, 64, 64, SPLIT_QT)
    assert nodes[1:] == [SplitNode(64 + dx, 64 + dy, 32, 32, 0) for dy in (0, 32) for dx in (0, 32)]
    assert np.array_equal(maps_to_cus(maps), sort_cus(cus))


@pytest.mark.parametrize(
    "split,dir_class", [(SPLIT_BT_H, 1), (SPLIT_BT_V, 2), (SPLIT_TT_H, 1), (SPLIT_TT_V, 2)]
)
def test_single_mtt_split(split, dir_class):
    spec = (SPLIT_QT, [(split, [None] * (2 if split in (SPLIT_BT_H, SPLIT_BT_V) else 3)), None, None, None])
    cus = picture([spec], 64, 64)
    maps = cus_to_maps(cus, 64, 64)
    d, m = maps.direction[0], maps.mtt_depth[0]
    assert (d[0, :8, :8] == dir_class).all() and (d[0, 8:] == 0).all() and (d[1:] == 0).all()
    expect = np.ones((8, 8), dtype=np.int8)
    if split == SPLIT_TT_H:
        expect[:2], expect[6:] = 2, 2
    elif split == SPLIT_TT_V:
        expect[:, :2], expect[:, 6:] = 2, 2
    for layer in range(3):  # cumulative depth stays after the CU ends
        assert np.array_equal(m[layer, :8, :8], expect)
    assert (maps.qt[0] == 1).all()
    assert maps_to_splits(maps, 0)[1] == SplitNode(0, 0, 32, 32, split)
    assert np.array_equal(maps_to_cus(maps), sort_cus(cus))


def test_mixed_three_layers():
    # 32x32: TT_H -> middle 32x16 BT_V -> left 16x16 TT_V; outer top 32x8 BT_V
    tt = (SPLIT_TT_H, [(SPLIT_BT_V, [None, None]), (SPLIT_BT_V, [(SPLIT_TT_V, [None] * 3), None]), None])
    spec = (
        SPLIT_QT,
        [
            tt,
            (SPLIT_QT, [None, (SPLIT_BT_H, [None, (SPLIT_BT_V, [None, None])]), None, None]),
            None,
            (SPLIT_BT_V, [None, None]),
        ],
    )
    cus = picture([spec], 64, 64)
    maps = cus_to_maps(cus, 64, 64)
    assert maps.mtt_depth[0, 2, 4, 0] == 1 + 1 + 2  # middle of TT, BT, outer of TT
    assert maps.direction[0, :, 4, 0].tolist() == [1, 2, 2]
    assert maps.increments[0, :, 4, 0].tolist() == [1, 1, 2]
    assert maps.qt[0, 0, 4] == 2 and maps.qt[0, 0, 0] == 1
    assert np.array_equal(maps_to_cus(maps), sort_cus(cus))


def test_picture_edge_176x144():
    rng = random.Random(1)
    width, height = 176, 144
    for _ in range(30):
        specs = [random_spec(rng, (i % 3) * 64, (i // 3) * 64, 64, 64, width, height) for i in range(9)]
        cus = picture(specs, width, height)
        maps = cus_to_maps(cus, width, height)
        assert len(maps.origins) == 9 and not maps.truncated.any()
        assert (maps.qt[2][:, 6:] == -1).all() and (maps.qt[2][:, :6] >= 0).all()  # x >= 176 outside
        assert (maps.direction[8][:, 4:] == -1).all() and (maps.direction[8][:, :4, :12] >= 0).all()
        assert np.array_equal(maps_to_cus(maps), sort_cus(cus))


def test_random_partitions_round_trip_chroma_flag():
    rng = random.Random(7)
    specs = [random_spec(rng, (i % 2) * 64, 0, 64, 64, 128, 64) for i in range(2)]
    cus = picture(specs, 128, 64, chroma=1)
    maps = cus_to_maps(np.concatenate([cus, picture([None, None], 128, 64)]), 128, 64, chroma=True)
    assert maps.chroma
    assert np.array_equal(maps_to_cus(maps), sort_cus(cus))


def test_bad_partitions_raise():
    cus = picture([(SPLIT_QT, [None] * 4)], 64, 64)
    with pytest.raises(InputError, match="tile"):
        cus_to_maps(cus[1:], 64, 64)
    bad = cus.copy()
    bad[0, 9] |= SPLIT_BT_H << 10  # series claims an extra level
    with pytest.raises(InputError):
        cus_to_maps(bad, 64, 64)
    two_pocs = cus.copy()
    two_pocs[0, 0] = 1
    with pytest.raises(InputError, match="single picture"):
        cus_to_maps(two_pocs, 64, 64)
    with pytest.raises(InputError, match="out of range"):
        maps_to_splits(cus_to_maps(cus, 64, 64), 1)


def test_dump_round_trip_and_errors(tmp_path):
    cus = picture([(SPLIT_QT, [(SPLIT_TT_V, [None] * 3), None, None, None]), None], 128, 64)
    chroma = picture([None, (SPLIT_BT_H, [None, None])], 128, 64, chroma=1)
    pics = [
        PicturePartition(3, 128, 64, 32, np.concatenate([cus, chroma])),
        PicturePartition(4, 128, 64, 37, chroma),
    ]
    pics[1].cus[:, 0] = 4
    pics[0].cus[:, 0] = 3
    path = tmp_path / "p.dump"
    write_dump(path, pics)
    assert path.stat().st_size == 8 + 2 * 24 + 28 * (len(cus) + 2 * len(chroma))
    back = read_dump(path)
    assert [(p.poc, p.width, p.height, p.qp) for p in back] == [(3, 128, 64, 32), (4, 128, 64, 37)]
    for a, b in zip(pics, back, strict=True):
        assert b.cus.dtype == np.int64 and np.array_equal(a.cus, b.cus)
    data = path.read_bytes()
    for cut, msg in (
        (len(data) - 3, "truncated CU records"),
        (8 + 28 * (len(cus) + len(chroma)) + 24 + 6, "truncated picture header"),
    ):
        (tmp_path / "t.dump").write_bytes(data[:cut])
        with pytest.raises(InputError, match=msg):
            read_dump(tmp_path / "t.dump")
    (tmp_path / "m.dump").write_bytes(b"NOTADUMP" + data[8:])
    with pytest.raises(InputError, match="magic"):
        read_dump(tmp_path / "m.dump")
    with pytest.raises(InputError, match="cannot read"):
        read_dump(tmp_path / "missing.dump")
    assert read_dump(_write(tmp_path / "e.dump", b"PMPDUMP\x02")) == []


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.shared_data
def test_starter_labels_tile_and_round_trip(tmp_path):
    root = _labels_or_skip()
    qt_mean, num_cus = {}, {}
    files = sorted(root.glob("batch*/qp*.npz"))
    assert len(files) >= 4
    for f in files:
        qp = int(f.stem[2:])
        with np.load(f) as z:
            cus = z["cus"]
            assert tuple(z["columns"]) == COLUMNS
        for poc in np.unique(cus[:, 0]):
            for chroma in (False, True):
                rows = cus[(cus[:, 0] == poc) & (cus[:, 1] == int(chroma))]
                maps = cus_to_maps(rows, 256, 256, chroma)
                assert len(maps.origins) == 16 and (maps.qt >= 0).all() and (maps.mtt_depth >= 0).all()
                assert maps.qt.max() <= 3 and maps.direction.max() <= 2 and maps.increments.max() <= 2
                assert np.array_equal(maps_to_cus(maps, int(poc)), sort_cus(rows))
                if not chroma:
                    qt_mean.setdefault(qp, []).append(maps.qt.mean())
                    num_cus.setdefault(qp, []).append(len(rows))
        if f == files[0]:  # the dump format carries the starter labels unchanged
            write_dump(tmp_path / "l.dump", [PicturePartition(0, 256, 256, qp, cus)])
            assert np.array_equal(read_dump(tmp_path / "l.dump")[0].cus[:, 1:], cus[:, 1:])
    means = [float(np.mean(qt_mean[qp])) for qp in sorted(qt_mean)]
    assert sorted(qt_mean) == [22, 27, 32, 37]
    counts = [float(np.mean(num_cus[qp])) for qp in sorted(num_cus)]
    assert all(a > b for a, b in itertools.pairwise(means))  # coarser partitions at higher QP
    assert all(a > b for a, b in itertools.pairwise(counts))
    assert 1.0 < means[0] < 3.0 and 0.3 < means[-1] < 2.5 and 16 <= counts[-1] < counts[0] < 4096
