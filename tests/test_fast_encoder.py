"""The fast encoder end to end on a tiny real clip: model and oracle guides, decoding, replay, determinism."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip, md5
from pmp_vvc.codec.dump import read_dump
from pmp_vvc.codec.partition import cus_to_maps, sort_cus

pytestmark = pytest.mark.encoder
predictor = pytest.importorskip("pmp_vvc.predictor")
MODEL = Path(__file__).resolve().parents[1] / "models" / "pmp-vit-rho0.5.onnx"
QP = 37


def decodes_to(bitstream: Path, rec: Path, tmp: Path) -> bool:
    """Decode in a separate process (VTM's decoder run in this process can break later forked encodes)."""
    out = tmp / (bitstream.stem + "_dec.yuv")
    subprocess.run(
        [sys.executable, "-m", "pmp_vvc.cli.decoder", "-b", str(bitstream), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return md5(out) == md5(rec)


def luma_cus(dump: Path) -> list[np.ndarray]:
    return [sort_cus(p.cus[p.cus[:, 1] == 0]) for p in read_dump(dump)]


Anchor = tuple[pmp_vvc.EncodeStats, Path]


@pytest.fixture(scope="module")
def anchor(clip128: Clip, tmp_path_factory: pytest.TempPathFactory) -> tuple[pmp_vvc.EncodeStats, Path]:
    tmp = tmp_path_factory.mktemp("anchor")
    dump = tmp / "anchor.dump"
    return pmp_vvc.encode(clip128.args(QP, tmp / "anchor.bin", f"--PMPDumpPartition={dump}")), dump


def test_oracle_level3_reproduces_the_anchor_partition(clip128: Clip, anchor: Anchor, tmp_path: Path) -> None:
    stats, anchor_dump = anchor
    out, rec, dump = tmp_path / "o.bin", tmp_path / "o.yuv", tmp_path / "o.dump"
    oracle = pmp_vvc.encode(
        clip128.args(
            QP,
            out,
            "-o",
            str(rec),
            f"--PMPGuide=oracle:{anchor_dump}",
            "--PMPLevel=3",
            f"--PMPDumpPartition={dump}",
        )
    )
    got, want = luma_cus(dump), luma_cus(anchor_dump)
    assert len(got) == len(want) == 2
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert oracle.luma.total < 0.1 * stats.luma.total  # only the anchor's own splits and leaves are tested
    assert oracle.chroma.total == pytest.approx(stats.chroma.total, rel=0.2)  # chroma keeps full RDO
    assert oracle.guide is not None and oracle.guide.pictures == 2 and oracle.guide.fallbacks == 0
    assert decodes_to(out, rec, tmp_path)


def test_oracle_rules_edge_blocks_too(clip_odd: Clip, tmp_path: Path) -> None:
    """136x72: only one whole 64x64 block; the oracle's exact maps drive the partial ones as well."""
    anchor_dump, dump = tmp_path / "a.dump", tmp_path / "o.dump"
    stats = pmp_vvc.encode(
        clip_odd.args(QP, tmp_path / "a.bin", f"--PMPDumpPartition={anchor_dump}", frames=1)
    )
    oracle = pmp_vvc.encode(
        clip_odd.args(
            QP,
            tmp_path / "o.bin",
            f"--PMPGuide=oracle:{anchor_dump}",
            "--PMPLevel=3",
            f"--PMPDumpPartition={dump}",
            frames=1,
        )
    )
    want, got = ({tuple(r[2:9]) for r in cus[0]} for cus in (luma_cus(anchor_dump), luma_cus(dump)))
    # Where the anchor used a 4th MTT level (the implicit edge BT counts as one) the maps hold 3 layers, so
    # level 3 leaves the deeper nodes to RDO, which starts from the anchor's search states: the same CUs.
    pic = read_dump(anchor_dump)[0]
    maps = cus_to_maps(pic.cus, pic.width, pic.height)
    assert maps.truncated.any()
    assert want == got
    assert oracle.luma.total < 0.2 * stats.luma.total


def test_oracle_levels_trade_checks_for_freedom(clip128: Clip, anchor: Anchor, tmp_path: Path) -> None:
    stats, anchor_dump = anchor
    oracle = f"--PMPGuide=oracle:{anchor_dump}"
    l0 = pmp_vvc.encode(clip128.args(QP, tmp_path / "l0.bin", oracle, "--PMPLevel=0"))
    l1 = pmp_vvc.encode(clip128.args(QP, tmp_path / "l1.bin", oracle, "--PMPLevel=1"))
    assert stats.luma.total > l0.luma.total > l1.luma.total
    assert l0.luma.qt < stats.luma.qt


def test_model_guide_runs_decodes_and_lowers_rd_checks(clip128: Clip, anchor: Anchor, tmp_path: Path) -> None:
    stats, _ = anchor
    out, rec = tmp_path / "m.bin", tmp_path / "m.yuv"
    model = pmp_vvc.encode(clip128.args(QP, out, "-o", str(rec), f"--PMPModel={MODEL}", "--PMPLevel=2"))
    assert model.luma.total < 0.5 * stats.luma.total
    assert model.guide is not None and model.guide.pictures == 2 and model.guide.cpu_time > 0
    assert decodes_to(out, rec, tmp_path)
    # repeated runs are identical
    again = pmp_vvc.encode(clip128.args(QP, tmp_path / "m2.bin", f"--PMPModel={MODEL}", "--PMPLevel=2"))
    assert md5(tmp_path / "m2.bin") == md5(out)
    assert (again.luma, again.chroma) == (model.luma, model.chroma)


def test_model_rules_inside_edge_blocks(clip_odd: Clip, tmp_path: Path) -> None:
    """136x72 has one whole 64x64 block of six: --PMPEdgeBlocks=1 (default) guides inside the others."""

    def run(name: str, *options: str) -> pmp_vvc.EncodeStats:
        return pmp_vvc.encode(
            clip_odd.args(
                QP,
                tmp_path / f"{name}.bin",
                "-o",
                str(tmp_path / f"{name}.yuv"),
                f"--PMPModel={MODEL}",
                "--PMPLevel=2",
                *options,
                frames=1,
            )
        )

    whole_only, default = run("whole", "--PMPEdgeBlocks=0"), run("edges")
    assert default.luma.total < 0.7 * whole_only.luma.total
    assert default.guide is not None and default.guide.fallbacks == 0
    assert decodes_to(tmp_path / "edges.bin", tmp_path / "edges.yuv", tmp_path)


def test_replayed_maps_equal_the_live_model(clip128: Clip, tmp_path: Path) -> None:
    """The same maps through a stored-maps source give the identical bitstream (in-loop input is right)."""
    threshold = "0.6"  # soft decisions: the probabilities must match, not only their argmax
    live = tmp_path / "live.bin"
    pmp_vvc.encode(
        clip128.args(QP, live, f"--PMPModel={MODEL}", "--PMPLevel=3", f"--PMPThreshold={threshold}")
    )
    size = 128 * 128
    frames = np.fromfile(clip128.yuv, dtype=np.uint8).reshape(2, size * 3 // 2)
    model = predictor.ModelPredictor(MODEL)
    maps = {
        poc: model.predict((frames[poc, :size].reshape(128, 128).astype(np.int16) << 2), 10, QP)
        for poc in (0, 1)
    }
    predictor.StoredMaps(maps).save(tmp_path / "maps.npz")
    replay = tmp_path / "replay.bin"
    pmp_vvc.encode(
        clip128.args(
            QP,
            replay,
            f"--PMPGuide=replay:{tmp_path / 'maps.npz'}",
            "--PMPLevel=3",
            f"--PMPThreshold={threshold}",
        )
    )
    assert md5(replay) == md5(live)
    # and as a guide object handed to encode()
    direct = tmp_path / "direct.bin"
    pmp_vvc.encode(clip128.args(QP, direct), guide=predictor.map_guide(predictor.StoredMaps(maps), 3, 0.6))
    assert md5(direct) == md5(live)


def test_threshold_per_qp_is_the_threshold_of_each_picture_qp(clip128: Clip, tmp_path: Path) -> None:
    """--PMPThreshold=QP:t,... codes each QP as the fixed threshold it gives there (linear between knots)."""
    knots = "--PMPThreshold=22:0.5,32:1"  # 0.75 at QP 27: exact in binary

    def bits(qp: int, name: str, threshold: str) -> str:
        out = tmp_path / f"{name}_{qp}.bin"
        pmp_vvc.encode(clip128.args(qp, out, f"--PMPModel={MODEL}", "--PMPLevel=2", threshold, frames=1))
        return md5(out)

    assert bits(22, "knots", knots) == bits(22, "fixed", "--PMPThreshold=0.5")
    assert bits(27, "knots", knots) == bits(27, "fixed", "--PMPThreshold=0.75")
    assert bits(37, "knots", knots) == bits(37, "fixed", "--PMPThreshold=1")
    assert bits(37, "knots", knots) != bits(37, "low", "--PMPThreshold=0.5")


def test_side_thresholds_reach_the_guide(clip128: Clip, tmp_path: Path) -> None:
    """--PMPSideThreshold at every side codes as that threshold everywhere; at one side, differently."""

    def bits(name: str, *options: str) -> str:
        out = tmp_path / f"{name}.bin"
        pmp_vvc.encode(clip128.args(QP, out, f"--PMPModel={MODEL}", "--PMPLevel=2", *options, frames=1))
        return md5(out)

    every_side = ",".join(f"{side}:0.9" for side in (64, 32, 16, 8, 4))
    sides = bits("sides", "--PMPThreshold=0.5", "--PMPQtThreshold=0.6", f"--PMPSideThreshold={every_side}")
    assert sides == bits("fixed", "--PMPThreshold=0.9")
    assert sides != bits("one", "--PMPThreshold=0.9", "--PMPSideThreshold=16:0.5")
