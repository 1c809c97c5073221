"""The patched encoder: bit-exactness, decoding, guides, fallback, repeated runs, bad input."""

from __future__ import annotations

import ctypes
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip, md5
from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.dump import read_dump
from pmp_vvc.codec.partition import cus_to_maps, maps_to_cus, sort_cus
from pmp_vvc.errors import ConfigError, EncodeError, InputError

pytestmark = pytest.mark.encoder
guides = pytest.importorskip("pmp_vvc.codec.guides")
from pmp_vvc.codec.guides import CuQuery, Decision, Guide, SplitMode  # noqa: E402

GOLDEN = json.loads((Path(__file__).parent / "golden" / "vanilla_md5.json").read_text())["md5"]
VANILLA = Path(
    os.environ.get("PMP_VANILLA_ENCODER", "~/.cache/pmp-vvc/vanilla/src/bin/EncoderAppStatic")
).expanduser()


def decode_md5(bitstream: Path, tmp: Path) -> str:
    rec = tmp / (bitstream.stem + "_dec.yuv")
    pmp_vvc.decode(["-b", str(bitstream), "-o", str(rec)])  # in a child: never run VTM in the test process
    return md5(rec)


def test_no_guide_is_bit_exact_with_vanilla(clip128: Clip, tmp_path: Path) -> None:
    out = tmp_path / "a.bin"
    stats = pmp_vvc.encode(clip128.args(37, out))
    assert md5(out) == GOLDEN["clip128"]["37"]
    assert (
        len(stats.frames) == 2 and stats.total_bits == 8 * out.stat().st_size - 8 * 0
    ) or stats.total_bits > 0
    assert stats.guide is None
    assert stats.luma.intra > 0 and stats.luma.splits > 0 and stats.chroma.intra > 0
    # every final CU had its intra search, and they tile the 128x128 pictures (chroma: 64x64 in 4:2:0);
    # the searches of the split nodes' own blocks come on top
    assert stats.luma.intra_samples is not None and stats.chroma.intra_samples is not None
    assert 2 * 128 * 128 < stats.luma.intra_samples < stats.luma.intra * 64 * 64
    assert 2 * 64 * 64 < stats.chroma.intra_samples < stats.chroma.intra * 32 * 32
    assert stats.cpu_time > 0


@pytest.mark.skipif(
    not VANILLA.is_file(), reason=f"no vanilla VTM EncoderApp at {VANILLA} (set PMP_VANILLA_ENCODER)"
)
def test_no_guide_is_bit_exact_with_vanilla_live(clip_odd: Clip, tmp_path: Path) -> None:
    import subprocess

    ours, theirs = tmp_path / "ours.bin", tmp_path / "vanilla.bin"
    pmp_vvc.encode(clip_odd.args(37, ours, frames=1))
    subprocess.run([str(VANILLA), *clip_odd.args(37, theirs, frames=1)], check=True, capture_output=True)
    assert md5(ours) == md5(theirs) == GOLDEN["clip_odd"]["37"]


def test_two_encodes_in_a_row(clip128: Clip, tmp_path: Path) -> None:
    first = pmp_vvc.encode(clip128.args(32, tmp_path / "q32.bin"))
    second = pmp_vvc.encode(clip128.args(37, tmp_path / "q37.bin"))
    assert md5(tmp_path / "q32.bin") == GOLDEN["clip128"]["32"]
    assert md5(tmp_path / "q37.bin") == GOLDEN["clip128"]["37"]
    assert first.total_bits > second.total_bits
    assert [f.qp for f in first.frames] == [32, 32] and [f.qp for f in second.frames] == [37, 37]


def test_bitstream_decodes_to_the_encoder_reconstruction(clip128: Clip, tmp_path: Path) -> None:
    out, rec = tmp_path / "a.bin", tmp_path / "a_rec.yuv"
    pmp_vvc.encode(clip128.args(37, out, "-o", str(rec)))
    assert decode_md5(out, tmp_path) == md5(rec)


def test_qt_veto_guide_changes_partition_and_lowers_rd_checks(clip128: Clip, tmp_path: Path) -> None:
    anchor_dump, guided_dump = tmp_path / "anchor.dump", tmp_path / "guided.dump"
    anchor = pmp_vvc.encode(clip128.args(37, tmp_path / "a.bin", f"--PMPDumpPartition={anchor_dump}"))
    rec = tmp_path / "g_rec.yuv"
    guided = pmp_vvc.encode(
        clip128.args(37, tmp_path / "g.bin", "-o", str(rec), f"--PMPDumpPartition={guided_dump}"),
        guide=guides.NoQtBelowGuide(64),
    )
    assert guided.luma.total < 0.7 * anchor.luma.total
    assert guided.luma.intra_samples < anchor.luma.intra_samples  # type: ignore[operator]
    assert guided.luma.qt < anchor.luma.qt
    assert guided.guide is not None and guided.guide.pictures == 2
    # No luma CU below 32x32 may come from a QT split of a 32x32 node: QT depth is at most 2.
    for pic in read_dump(guided_dump):
        luma = pic.cus[pic.cus[:, 1] == 0]
        assert luma[:, 6].max() <= 2
    assert any(pic.cus[pic.cus[:, 1] == 0][:, 6].max() > 2 for pic in read_dump(anchor_dump))
    assert decode_md5(tmp_path / "g.bin", tmp_path) == md5(rec)


def test_veto_all_falls_back_to_the_unguided_encoder(clip128: Clip, tmp_path: Path) -> None:
    anchor = pmp_vvc.encode(clip128.args(37, tmp_path / "a.bin"))
    vetoed = pmp_vvc.encode(clip128.args(37, tmp_path / "v.bin"), guide=guides.VetoAllGuide())
    assert md5(tmp_path / "v.bin") == md5(tmp_path / "a.bin")
    assert (vetoed.luma, vetoed.chroma) == (anchor.luma, anchor.chroma)
    assert vetoed.guide is not None and vetoed.guide.fallbacks > 1000


def test_forked_encode_on_a_dirty_heap(clip128: Clip, tmp_path: Path) -> None:
    """An encode with a guide object runs in a fork, which inherits the caller's heap: VTM must not rely on
    fresh zero pages (VTM-23.13 leaves a pointer of its mode controller uninitialised and deletes it).

    glibc's M_PERTURB makes every allocation of this process and of its forks come filled with a non-zero
    byte, so that any uninitialised memory VTM relies on is garbage, deterministically.
    """
    libc = ctypes.CDLL(None)
    m_perturb = -6
    libc.mallopt(m_perturb, 0x5A)
    try:
        stats = pmp_vvc.encode(clip128.args(37, tmp_path / "v.bin", frames=1), guide=guides.VetoAllGuide())
    finally:
        libc.mallopt(m_perturb, 0)
    assert stats.guide is not None and stats.guide.pictures == 1


def test_guide_sees_the_original_luma(clip128: Clip, tmp_path: Path) -> None:
    seen: list[tuple[int, int, int, int, int, float]] = []

    class Recorder(guides.Guide):  # type: ignore[misc,name-defined]
        def begin_picture(self, luma: np.ndarray, bit_depth: int, qp: int, poc: int) -> None:
            assert not luma.flags.writeable
            seen.append((poc, qp, bit_depth, *luma.shape, float(luma.mean())))

        def decide(self, cu: object) -> object:
            return guides.Decision()

    # The child process writes what it saw into the log; the guide's own list stays in the child.
    log = tmp_path / "enc.log"

    class Printing(Recorder):
        def begin_picture(self, luma: np.ndarray, bit_depth: int, qp: int, poc: int) -> None:
            super().begin_picture(luma, bit_depth, qp, poc)
            print("SEEN", *seen[-1], flush=True)

    pmp_vvc.encode(clip128.args(32, tmp_path / "a.bin"), guide=Printing(), log_path=log)
    lines = [ln.split()[1:] for ln in log.read_text().splitlines() if ln.startswith("SEEN")]
    assert [ln[:5] for ln in lines] == [["0", "32", "10", "128", "128"], ["1", "32", "10", "128", "128"]]
    # The plane is the original at 10 bits (8-bit input << 2), not the LMCS-reshaped one.
    raw = np.fromfile(clip128.yuv, np.uint8)[: 128 * 128].astype(np.float64)
    assert float(lines[0][5]) == pytest.approx(4 * raw.mean(), rel=1e-9)


def test_guide_errors_stop_the_encoder_cleanly(clip128: Clip, tmp_path: Path) -> None:
    class Broken(guides.Guide):  # type: ignore[misc,name-defined]
        def decide(self, cu: object) -> object:
            raise RuntimeError("model exploded")

    out = tmp_path / "b.bin"
    with pytest.raises(EncodeError, match="model exploded"):
        pmp_vvc.encode(clip128.args(37, out), guide=Broken())
    assert not out.exists()


def test_gil_is_released_while_encoding(clip128: Clip, tmp_path: Path) -> None:
    # In a forked child, like encode(): VTM's global state does not survive a run in the test process.
    result = tmp_path / "ticks.txt"
    args = ["pmp-encoder", *clip128.args(37, tmp_path / "t.bin", "-o", "/dev/null", frames=1)]
    pid = os.fork()
    if pid == 0:
        try:
            ticks = 0
            done = threading.Event()

            def tick() -> None:
                nonlocal ticks
                while not done.is_set():
                    ticks += 1
                    time.sleep(0.001)

            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            thread = threading.Thread(target=tick)
            thread.start()
            rc = extension().run_encoder(args)
            done.set()
            thread.join()
            result.write_text(f"{rc} {ticks}")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    rc, ticks = map(int, result.read_text().split())
    assert rc == 0 and ticks > 50


def test_dump_tiles_a_picture_that_is_not_a_multiple_of_64(clip_odd: Clip, tmp_path: Path) -> None:
    dump = tmp_path / "odd.dump"
    pmp_vvc.encode(clip_odd.args(37, tmp_path / "o.bin", f"--PMPDumpPartition={dump}", frames=1))
    (pic,) = read_dump(dump)
    assert (pic.width, pic.height, pic.qp, pic.poc) == (136, 72, 37, 0)
    for tree in (0, 1):
        cus = pic.cus[pic.cus[:, 1] == tree]
        covered = np.zeros((72, 136), np.int32)
        for c in cus:
            covered[c[3] : c[3] + c[5], c[2] : c[2] + c[4]] += 1
        assert (covered == 1).all(), f"tree {tree} does not tile the picture exactly once"
    luma = pic.cus[pic.cus[:, 1] == 0]
    maps = cus_to_maps(luma, pic.width, pic.height)
    assert maps.qt.shape[0] == 6  # 3 x 2 blocks of 64x64, the right and bottom ones partial

    # Whole 64x64 blocks round-trip exactly; partial ones may hold implicit splits deeper than 3 MTT layers.
    def whole(cus: np.ndarray) -> np.ndarray:
        return sort_cus(cus[(cus[:, 2] < 128) & (cus[:, 3] < 64)])

    assert (whole(maps_to_cus(maps, poc=0)) == whole(luma)).all()


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda a, t: [*a[:2], "-c", str(t / "missing.cfg"), *a[4:]], ConfigError, "cfg file not found"),
        (lambda a, t: [*a, "-wdt", "120"], InputError, "not a whole number"),
        (lambda a, t: [*a, "-f", "5"], InputError, "holds 2 frames"),
        (
            lambda a, t: [*a, "-o", str(t / "no" / "dir" / "rec.yuv")],
            InputError,
            "output folder does not exist",
        ),
    ],
)
def test_bad_input_is_reported_before_encoding(  # type: ignore[no-untyped-def]
    clip128: Clip, tmp_path: Path, mutate, error, match
) -> None:
    with pytest.raises(error, match=match):
        pmp_vvc.encode(mutate(clip128.args(37, tmp_path / "x.bin"), tmp_path))
    assert not (tmp_path / "x.bin").exists()


def test_unknown_option_fails_without_output(clip128: Clip, tmp_path: Path) -> None:
    with pytest.raises(EncodeError, match="Bogus"):
        pmp_vvc.encode(clip128.args(37, tmp_path / "x.bin", "--Bogus=3"))
    assert not (tmp_path / "x.bin").exists()


_SPLITS = (
    int(SplitMode.QT) | int(SplitMode.BT_H) | int(SplitMode.BT_V) | int(SplitMode.TT_H) | int(SplitMode.TT_V)
)


def only(mode: SplitMode) -> Decision:
    """Test exactly one mode of the CU."""
    return Decision(veto=int(SplitMode.ALL) & ~int(mode), force=int(mode))


class HandMade(Guide):
    """Whole 64x64 blocks of clip_odd, luma: QT to 32x32, BT_H at 32x32, TT_V at 32x16, then leaves."""

    def decide(self, cu: CuQuery) -> Decision:
        # Nodes left by VTM's implicit splits at the picture edge are asked too: leave them to VTM.
        if cu.chroma or cu.x >= 128 or cu.y >= 64:
            return Decision()
        if cu.qt_depth == 1:
            return only(SplitMode.QT)
        if cu.mt_depth == 0:
            return only(SplitMode.BT_H)
        if cu.mt_depth == 1:
            return only(SplitMode.TT_V)
        return only(SplitMode.NO_SPLIT)


class Leaves64(Guide):
    """Luma: code every 64x64 node unsplit (VTM's LCTUFast depth limit may want deeper)."""

    def decide(self, cu: CuQuery) -> Decision:
        return Decision() if cu.chroma else Decision(veto=_SPLITS, force=int(SplitMode.NO_SPLIT))


def test_forced_partition_is_coded_and_dumped(clip_odd: Clip, tmp_path: Path) -> None:
    dump, rec = tmp_path / "h.dump", tmp_path / "h_rec.yuv"
    stats = pmp_vvc.encode(
        clip_odd.args(37, tmp_path / "h.bin", "-o", str(rec), f"--PMPDumpPartition={dump}", frames=1),
        guide=HandMade(),
    )
    assert stats.guide is not None and stats.guide.fallbacks == 0
    (pic,) = read_dump(dump)
    luma = pic.cus[pic.cus[:, 1] == 0]
    inside = luma[
        (luma[:, 2] < 128) & (luma[:, 3] < 64)
    ]  # the two whole 64x64 blocks; the rest is picture edge
    expected = []
    for y32 in range(0, 64, 32):
        for x32 in range(0, 128, 32):
            for y16 in (y32, y32 + 16):
                expected += [
                    (x32, y16, 8, 16, 2, 3, 2),
                    (x32 + 8, y16, 16, 16, 2, 2, 2),
                    (x32 + 24, y16, 8, 16, 2, 3, 2),
                ]
    got = sorted(
        (int(c[2]), int(c[3]), int(c[4]), int(c[5]), int(c[6]), int(c[7]), int(c[8])) for c in inside
    )
    assert got == sorted(expected)
    assert decode_md5(tmp_path / "h.bin", tmp_path) == md5(rec)


def test_forced_non_split_overrides_vtm_depth_limits(clip128: Clip, tmp_path: Path) -> None:
    dump = tmp_path / "l.dump"
    stats = pmp_vvc.encode(
        clip128.args(37, tmp_path / "l.bin", f"--PMPDumpPartition={dump}"), guide=Leaves64()
    )
    assert stats.guide is not None and stats.guide.fallbacks == 0
    assert stats.luma.splits == 2 * 1  # only the forced 128 -> 64 QT of each picture's CTU
    for pic in read_dump(dump):
        luma = pic.cus[pic.cus[:, 1] == 0]
        assert (luma[:, 4] == 64).all() and (luma[:, 5] == 64).all() and (luma[:, 6] == 1).all()
