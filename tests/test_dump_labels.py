"""Our partition dump against the starter labels of ../shared/data/labels (vanilla VTM-23.13 block traces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import shared_data
from pmp_vvc.codec.dump import read_dump
from pmp_vvc.codec.partition import sort_cus

pytestmark = [pytest.mark.encoder, pytest.mark.shared_data]

CROPS = 2  # of the 8 in a batch: all-intra pictures are independent, so the first two code as in the batch


def test_dump_reproduces_the_starter_labels(tmp_path: Path) -> None:
    batch = shared_data("labels", "vtm23.13-ai-256", "batch000")
    crops = np.load(batch / "crops.npz")
    yuv = tmp_path / "crops.yuv"
    with yuv.open("wb") as f:
        for i in range(CROPS):
            f.write(crops["luma"][i].tobytes() + crops["cb"][i].tobytes() + crops["cr"][i].tobytes())
    dump = tmp_path / "qp37.dump"
    pmp_vvc.encode([
        "-c", str(pmp_vvc.vtm_cfg()), "-i", str(yuv), "--InputBitDepth=8", "-wdt", "256", "-hgt", "256",
        "-fr", "30", "-f", str(CROPS), "--TemporalSubsampleRatio=1", "-q", "37",
        "-b", str(tmp_path / "qp37.bin"), "-o", "/dev/null", f"--PMPDumpPartition={dump}",
    ])  # fmt: skip
    labels = np.load(batch / "qp37.npz")["cus"]
    pictures = read_dump(dump)
    assert [p.poc for p in pictures] == list(range(CROPS))
    for pic in pictures:
        ours = sort_cus(pic.cus)
        theirs = sort_cus(labels[labels[:, 0] == pic.poc])
        # The trace prints the split series as a 32-bit int; ours keeps all 64 bits.
        ours[:, 9] = ours[:, 9].astype(np.uint32).astype(np.int32)
        assert ours.shape == theirs.shape
        assert (ours == theirs).all()
