"""pmp-encoder and pmp-decoder as command-line tools: VTM's behaviour plus clean errors on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip, md5
from pmp_vvc.cli import decoder, encoder
from pmp_vvc.errors import ConfigError, EncodeError, InputError

pytestmark = pytest.mark.encoder


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600)


def test_encoder_and_decoder_round_trip(clip128: Clip, tmp_path: Path) -> None:
    out, rec, dec = tmp_path / "a.bin", tmp_path / "rec.yuv", tmp_path / "dec.yuv"
    enc = run("pmp_vvc.cli.encoder", *clip128.args(37, out, "-o", str(rec), frames=1))
    assert enc.returncode == 0, enc.stderr
    assert "POC    0" in enc.stdout and "PMP counters: channel=luma" in enc.stdout
    assert "Total Time" in enc.stdout
    dec_run = run("pmp_vvc.cli.decoder", "-b", str(out), "-o", str(dec))
    assert dec_run.returncode == 0, dec_run.stderr
    assert md5(dec) == md5(rec)


def test_encoder_help_lists_our_options() -> None:
    result = run("pmp_vvc.cli.encoder", "--help")
    for option in ("PMPDumpPartition", "PMPGuide", "PMPModel", "PMPLevel"):
        assert option in result.stdout


def test_builtin_guide_from_the_command_line(clip128: Clip, tmp_path: Path) -> None:
    result = run(
        "pmp_vvc.cli.encoder", *clip128.args(37, tmp_path / "g.bin", "--PMPGuide=no-qt-below:64", frames=1)
    )
    assert result.returncode == 0, result.stderr
    assert "PMP guide: pictures=1" in result.stdout


def test_unknown_guide_fails_before_encoding(clip128: Clip, tmp_path: Path) -> None:
    out = tmp_path / "g.bin"
    result = run("pmp_vvc.cli.encoder", *clip128.args(37, out, "--PMPGuide=nonsense", frames=1))
    assert result.returncode != 0
    assert "unknown --PMPGuide 'nonsense'" in result.stdout + result.stderr
    assert "POC    0" not in result.stdout
    assert not out.exists()


def test_short_yuv_is_an_error_not_a_hang(clip128: Clip, tmp_path: Path) -> None:
    result = run("pmp_vvc.cli.encoder", *clip128.args(37, tmp_path / "x.bin", frames=9))
    assert result.returncode == 2
    assert "holds 2 frames" in result.stderr


def test_unknown_option_exit_code_and_no_output(clip128: Clip, tmp_path: Path) -> None:
    out = tmp_path / "x.bin"
    result = run("pmp_vvc.cli.encoder", *clip128.args(37, out, "--Bogus=1", frames=1))
    assert result.returncode != 0
    assert not out.exists()


def test_library_errors_in_process(clip128: Clip, tmp_path: Path) -> None:
    # Both fail before VTM runs (VTM must never run in the test process: its global state would leak).
    with pytest.raises(ConfigError):
        encoder.main(["-c", str(tmp_path / "missing.cfg")])
    with pytest.raises(InputError, match="bitstream not found"):
        decoder.main(["-b", str(tmp_path / "missing.bin"), "-o", str(tmp_path / "x.yuv")])
    with pytest.raises(InputError, match="bitstream not found"):
        pmp_vvc.decode(["-b", str(tmp_path / "missing.bin")])


def test_decode_api_reports_a_corrupt_bitstream(tmp_path: Path) -> None:
    bad, dec = tmp_path / "bad.bin", tmp_path / "dec.yuv"
    bad.write_bytes(b"\x00\x00\x00\x01" + bytes(range(256)) * 4)
    with pytest.raises(EncodeError, match="decoder failed"):
        pmp_vvc.decode(["-b", str(bad), "-o", str(dec)])
    assert not dec.exists()


def test_decoder_on_a_corrupt_bitstream_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00\x00\x00\x01" + bytes(range(256)) * 4)
    dec = tmp_path / "dec.yuv"
    result = run("pmp_vvc.cli.decoder", "-b", str(bad), "-o", str(dec))
    assert result.returncode == 1
    assert "ERROR" in result.stderr
    assert not dec.exists()


def test_a_guide_failing_in_the_encode_is_one_line_on_the_terminal(clip128: Clip, tmp_path: Path) -> None:
    """The guide fails at the first picture (an oracle dump of another size): the user reads one line."""
    from pmp_vvc.codec.dump import PicturePartition, write_dump

    cus = [[0, 0, 0, 0, 64, 64, 1, 0, 0, 1]]
    write_dump(tmp_path / "other.dump", [PicturePartition(0, 64, 64, 37, np.array(cus))])
    enc = run(
        "pmp_vvc.cli.encoder",
        *clip128.args(37, tmp_path / "a.bin", "--PMPGuide=oracle:" + str(tmp_path / "other.dump"), frames=1),
    )
    assert enc.returncode != 0
    terminal = enc.stdout + enc.stderr
    errors = [line for line in terminal.splitlines() if "64x64, the picture is 128x128" in line]
    assert len(errors) == 1 and errors[0].lstrip().startswith(("pmp-vvc guide", "ERROR", "error"))
    assert "Traceback" not in terminal and "Guarded.h" not in terminal and "In function" not in terminal
    assert "At:" not in terminal and "predictor.py" not in terminal  # no Python stack either
