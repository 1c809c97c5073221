from pathlib import Path

import pytest

from pmp_vvc.codec.vtmlog import GuideStats, error_lines, log_tail, parse_log, read_log
from pmp_vvc.errors import InputError

LOGS = Path(__file__).parent / "data" / "logs"


def test_two_frames_qp37() -> None:
    log = read_log(LOGS / "carphone128_qp37.log")
    assert log.version == "23.13"
    assert log.complete
    assert [(f.poc, f.qp, f.bits, f.slice_type, f.nal_type) for f in log.frames] == [
        (0, 37, 4744, "I", "IDR_N_LP"),
        (1, 37, 4792, "I", "CRA"),
    ]
    f0 = log.frames[0]
    assert (f0.psnr_y, f0.psnr_u, f0.psnr_v, f0.encode_time, f0.md5) == (33.6356, 38.6753, 37.4533, 3.0, None)
    s = log.summary
    assert s is not None
    assert (s.frames, s.bitrate, s.psnr_y, s.psnr_u, s.psnr_v, s.psnr_yuv_vtm) == (
        2,
        143.04,
        33.6411,
        38.7793,
        37.7852,
        34.7084,
    )
    assert s.psnr_yuv == pytest.approx((6 * 33.6411 + 38.7793 + 37.7852) / 8)
    # bitrate = bits * frame rate / frames, in kbps
    assert log.total_bits * 30 / 2 / 1000 == pytest.approx(s.bitrate)
    assert (log.total_time_user, log.total_time_elapsed) == (4.995, 4.996)
    assert log.counters == () and log.guide is None and log.errors == ()


def test_qp22_and_tsr8() -> None:
    log = read_log(LOGS / "carphone128_qp22.log")
    assert [f.qp for f in log.frames] == [22, 22]
    assert log.summary is not None and log.summary.bitrate > 400
    tsr = read_log(LOGS / "carphone128_tsr8_qp37.log")
    assert len(tsr.frames) == 1 and tsr.summary is not None
    # TemporalSubsampleRatio 8: VTM divides the frame rate by 8
    assert tsr.summary.bitrate == pytest.approx(4744 * 30 / 8 / 1000)


def test_ten_bit_with_md5() -> None:
    log = read_log(LOGS / "src01_128_10bit_qp32_md5.log")
    (f,) = log.frames
    assert (f.qp, f.bits, f.psnr_y) == (32, 20368, 32.244)
    assert f.md5 == (
        "e7f0a6011c3ba925e59e3672060c0760",
        "e2f57889f3cffba7cfddb6a271c35cb3",
        "863b5fabd5d908cd4fbe0fee5f50b8b6",
    )
    assert log.summary is not None and log.summary.frames == 1


def test_error_logs() -> None:
    unknown = read_log(LOGS / "unknown_option.log")
    assert not unknown.complete
    assert unknown.errors == ("command line error: Unknown option `NoSuchOption' (value:`3')",)
    missing = read_log(LOGS / "missing_input.log")
    assert not missing.complete and missing.frames == ()
    assert missing.errors == ("Failed to open input YUV file: /nonexistent.yuv",)
    assert "Failed to open input YUV file" in log_tail((LOGS / "missing_input.log").read_text(), 3)


def test_pmp_counter_lines() -> None:
    text = (LOGS / "carphone128_qp37.log").read_text() + (
        "PMP counters: channel=luma intra=1234 qt=10 bt_h=20 bt_v=30 tt_h=40 tt_v=50 intra_samples=98765\n"
        "PMP counters: channel=chroma intra=99 qt=1 bt_h=2 bt_v=3 tt_h=0 tt_v=0\n"
        "PMP counters: channel=broken intra=x\n"
        "PMP guide: pictures=2 cpu_time=0.123 fallbacks=3\n"
    )
    log = parse_log(text)
    luma, chroma = log.counter("luma"), log.counter("chroma")
    assert luma is not None and chroma is not None and len(log.counters) == 2
    assert (luma.intra, luma.splits, luma.total) == (1234, 150, 1384)
    assert chroma.total == 105
    assert (luma.intra_samples, chroma.intra_samples) == (98765, None)  # an older build: no sample count
    assert log.guide is not None and (log.guide.pictures, log.guide.cpu_time, log.guide.fallbacks) == (
        2,
        0.123,
        3,
    )
    assert parse_log("PMP guide: pictures=1 cpu_time=0.5\n").guide == GuideStats(1, 0.5, None)
    assert log.complete


def test_truncated_and_garbage() -> None:
    text = (LOGS / "carphone128_qp37.log").read_text()
    cut = parse_log(text[: text.index("LayerId")])
    assert len(cut.frames) == 2 and not cut.complete
    assert parse_log("garbage\n\x00\nPOC x\n").frames == ()
    assert error_lines("terminate called after throwing an instance of 'Exception'\n  what():  boom\n") == [
        "boom"
    ]
    with pytest.raises(InputError):
        read_log(LOGS / "nope.log")


def test_error_lines_are_for_users() -> None:
    """A guide's traceback and VTM's source location of our exception stay out of the error lines."""
    text = (
        "Traceback (most recent call last):\n"
        '  File "/x/predictor.py", line 12, in load\n'
        "    raise ValueError('pickled')\n"
        "ValueError: pickled\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/x/guides.py", line 3, in f\n'
        "pmp_vvc.errors.InputError: cannot read stored maps m.npz: pickled\n"
        'ERROR: In function "guarded" in ../../cpp/encoder/Guarded.h:23: pmp-vvc guide: InputError: '
        "cannot read stored maps m.npz: pickled\n"
    )
    assert error_lines(text) == ["pmp-vvc guide: InputError: cannot read stored maps m.npz: pickled"]
