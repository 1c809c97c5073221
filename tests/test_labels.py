from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data
from pmp_vvc.codec.partition import cus_to_maps
from pmp_vvc.errors import InputError
from pmp_vvc.learning.labels import (
    Samples,
    concat,
    extract_blocks,
    load_shard,
    samples_from_picture,
    save_shard,
    starter_samples,
)


def _labels_or_skip() -> Path:
    return shared_data("labels", "vtm23.13-ai-256")


def test_extract_blocks_zero_context():
    plane = np.arange(144 * 176, dtype=np.uint16).reshape(144, 176)
    blocks = extract_blocks(plane, np.array([[0, 0], [64, 64], [128, 128]]))
    assert blocks.shape == (3, 68, 68)
    assert (blocks[0, :4] == 0).all() and (blocks[0, :, :4] == 0).all()
    assert np.array_equal(blocks[0, 4:, 4:], plane[:64, :64])
    assert np.array_equal(blocks[1], plane[60:128, 60:128])  # real context inside the picture
    assert np.array_equal(blocks[2, 4:20, 4:52], plane[128:144, 128:176])
    assert (blocks[2, 20:] == 0).all() and (blocks[2, :, 52:] == 0).all()


@pytest.mark.shared_data
def test_shard_round_trip_on_real_crop(tmp_path):
    root = _labels_or_skip()
    with np.load(root / "batch000" / "crops.npz") as z:
        plane = z["luma"][3]
    with np.load(root / "batch000" / "qp32.npz") as z:
        cus = z["cus"]
    maps = cus_to_maps(cus[cus[:, 0] == 3], 256, 256)
    samples = samples_from_picture(plane, maps, 32, 8, "batch000/poc3")
    assert len(samples) == 16 and samples.source[5] == "batch000/poc3@64,64 qp32"
    assert np.array_equal(samples.luma[5, 4:, 4:], plane[64:128, 64:128])
    assert np.array_equal(samples.mtt, maps.increments) and samples.mtt.max() <= 2
    x = samples.normalised_luma(slice(0, 2))
    assert x.shape == (2, 1, 68, 68) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    save_shard(tmp_path / "s.npz", samples)
    back = load_shard(tmp_path / "s.npz")
    for field in ("luma", "qp", "qt", "mtt", "direction", "source"):
        assert np.array_equal(getattr(back, field), getattr(samples, field))
    assert back.bit_depth == 8 and len(concat([back, samples])) == 32


def test_shard_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_shard(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError):
        load_shard(tmp_path / "bad.npz")
    n = 2
    s = Samples(
        np.zeros((n, 68, 68), np.uint16),
        8,
        np.zeros(n, np.int16),
        np.zeros((n, 8, 8), np.int8),
        np.zeros((n, 3, 16, 16), np.int8),
        np.zeros((n, 3, 8, 8), np.int8),
        np.array(["a", "b"]),
    )
    save_shard(tmp_path / "shape.npz", s)
    with pytest.raises(InputError, match="direction"):
        load_shard(tmp_path / "shape.npz")


@pytest.mark.shared_data
def test_starter_samples_cached(tmp_path, monkeypatch):
    root = _labels_or_skip()
    monkeypatch.setenv("PMP_VVC_CACHE", str(tmp_path))
    s = starter_samples(root, batches=["batch000"], qps=(22, 37))
    assert len(s) == 2 * 8 * 16 and sorted(set(s.qp.tolist())) == [22, 37]
    assert len(list((tmp_path / "labels").glob("starter-*.npz"))) == 1
    assert np.array_equal(starter_samples(root, batches=["batch000"], qps=(22, 37)).qt, s.qt)
    with pytest.raises(InputError, match="not found"):
        starter_samples(root, batches=["batch999"])


def test_label_statistics_counts_valid_cells_per_qp():
    from pmp_vvc.learning.labels import label_statistics

    n = 2
    qt = np.zeros((n, 8, 8), np.int8)
    qt[0, :4] = 2  # block 0: top half QT depth 2 (16x16), bottom half 0 (64x64)
    qt[1] = -1  # block 1 entirely outside the picture: not counted
    mtt = np.zeros((n, 3, 16, 16), np.int8)
    mtt[0, 0, :, :4] = 2
    direction = np.zeros((n, 3, 16, 16), np.int8)
    direction[0, 0, :8] = 1
    direction[0, 0, 8:] = 2
    s = Samples(
        np.zeros((n, 68, 68), np.uint16),
        8,
        np.array([22, 37], np.int16),
        qt,
        mtt,
        direction,
        np.array(["a", "b"]),
    )
    stats = label_statistics(s)
    assert sorted(stats) == [22, 37]
    assert stats[22]["blocks"] == [1.0]
    assert stats[22]["qt"] == [0.5, 0.0, 0.5, 0.0]
    assert stats[22]["mtt1"] == [0.75, 0.0, 0.25]
    assert stats[22]["direction1"] == [0.0, 0.5, 0.5] and stats[22]["direction2"] == [1.0, 0.0, 0.0]
    assert stats[37]["qt"] == [0.0, 0.0, 0.0, 0.0]
