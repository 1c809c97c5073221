import os
from pathlib import Path

import pytest

from pmp_vvc.codec.vtmcfg import frame_bytes, merged_options, parse_cfg_text, parse_option_args
from pmp_vvc.errors import ConfigError, InputError
from pmp_vvc.evaluation.sequences import class_for, find_sequence_cfgs, load_sequence

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev" / "sequences"

SEQ = """#======== File I/O ===============
InputFile                     : clip_{w}x{h}.yuv
InputBitDepth                 : {bd}          # Input bitdepth
InputChromaFormat             : 420
FrameRate                     : 30
FrameSkip                     : 0
SourceWidth                   : {w}
SourceHeight                  : {h}
FramesToBeEncoded             : {f}

Level                         : 2.1
"""


def make_seq(
    folder: Path,
    w: int = 24,
    h: int = 16,
    bd: int = 8,
    f: int = 2,
    file_frames: int | None = None,
    name: str = "clip",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / f"{name}.cfg"
    cfg.write_text(SEQ.format(w=w, h=h, bd=bd, f=f))
    n = f if file_frames is None else file_frames
    (folder / f"clip_{w}x{h}.yuv").write_bytes(b"\0" * frame_bytes(w, h, bd) * n)
    return cfg


def test_parse_cfg_text_comments_and_overrides() -> None:
    text = "# c\nA : 1 # x\n  B:two words  \n\nA : 3\nQpInValCb : 17 27 32 44\n"
    assert parse_cfg_text(text) == {"A": "3", "B": "two words", "QpInValCb": "17 27 32 44"}
    with pytest.raises(ConfigError, match="<cfg>:2"):
        parse_cfg_text("A : 1\nnot a key value\n")


def test_option_args() -> None:
    opts = parse_option_args(["--TemporalSubsampleRatio=1", "-f", "3", "--QP", "32", "--Flag", "--X=a=b"])
    # VTM's short options are read too (one option reader for cfgs, pmp-encoder and pmp-run)
    assert opts == {"TemporalSubsampleRatio": "1", "FramesToBeEncoded": "3", "QP": "32", "X": "a=b"}


def test_load_sequence_relative_input_and_tsr(tmp_path: Path) -> None:
    cfg = make_seq(tmp_path / "seqs", f=17, file_frames=17)
    enc = tmp_path / "enc.cfg"
    enc.write_text("TemporalSubsampleRatio : 8\nQP : 32\n")
    seq = load_sequence(cfg, encoder_cfgs=[enc])
    assert seq.input_file == (tmp_path / "seqs" / "clip_24x16.yuv").absolute()
    assert (seq.width, seq.height, seq.bit_depth, seq.frame_rate) == (24, 16, 8, 30.0)
    assert seq.temporal_subsample_ratio == 8
    assert seq.coded_frames == 3  # frames 0, 8, 16
    assert seq.required_input_frames == 17
    assert seq.frames_in_file == 17
    assert seq.level == "2.1"
    # later options win, --frames overrides FramesToBeEncoded
    seq1 = load_sequence(cfg, encoder_cfgs=[enc], extra_options=["--TemporalSubsampleRatio=1"], frames=2)
    assert (seq1.temporal_subsample_ratio, seq1.coded_frames) == (1, 2)
    assert merged_options([enc, cfg], ["--QP=22"])["QP"] == "22"


def test_ten_bit_and_odd_sizes(tmp_path: Path) -> None:
    assert frame_bytes(176, 144, 8) == 176 * 144 * 3 // 2
    assert frame_bytes(176, 144, 10) == 176 * 144 * 3
    assert frame_bytes(175, 143, 8) == 175 * 143 + 2 * 88 * 72
    assert frame_bytes(16, 16, 8, "400") == 256
    assert frame_bytes(16, 16, 8, "444") == 768
    cfg = make_seq(tmp_path, w=175, h=143, bd=10, f=1)
    seq = load_sequence(cfg)
    assert (seq.bit_depth, seq.frames_in_file) == (10, 1)


def test_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_sequence(tmp_path / "missing.cfg")
    cfg = make_seq(tmp_path / "a")
    (tmp_path / "a" / "clip_24x16.yuv").unlink()
    with pytest.raises(InputError, match="InputFile not found"):
        load_sequence(cfg)
    cfg = make_seq(tmp_path / "b")
    with open(tmp_path / "b" / "clip_24x16.yuv", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(InputError, match="not a whole number"):
        load_sequence(cfg)
    cfg = make_seq(tmp_path / "c", f=3, file_frames=2)
    with pytest.raises(InputError, match="holds 2 frames"):
        load_sequence(cfg)
    assert load_sequence(cfg, check_input=False).frames_in_file is None
    bad = tmp_path / "bad.cfg"
    bad.write_text("InputFile : x.yuv\nSourceWidth : wide\nSourceHeight : 16\nFramesToBeEncoded : 1\n")
    with pytest.raises(ConfigError, match="SourceWidth must be an integer"):
        load_sequence(bad, check_input=False)
    bad.write_text("SourceWidth : 16\n")
    with pytest.raises(ConfigError, match="missing InputFile"):
        load_sequence(bad)


def test_classes(tmp_path: Path) -> None:
    assert class_for("Tango2", 3840, 2160) == "A1"
    assert class_for("BasketballPass", 416, 240) == "D"
    assert class_for("x", 1920, 1080) == "B"
    assert class_for("x", 1280, 720) == "E"
    assert class_for("x", 832, 480) == "C"
    assert class_for("x", 640, 360) == "D"
    assert class_for("x", 176, 144) == "S"
    cfg = make_seq(tmp_path)
    assert load_sequence(cfg).class_source == "resolution"
    seq = load_sequence(cfg, seq_class="B")
    assert (seq.seq_class, seq.class_source) == ("B", "user")


def test_find_sequence_cfgs(tmp_path: Path) -> None:
    a = make_seq(tmp_path / "d", name="b_seq")
    b = make_seq(tmp_path / "d", name="a_seq")
    assert find_sequence_cfgs([tmp_path / "d"]) == [b.absolute(), a.absolute()]
    assert find_sequence_cfgs([a, a]) == [a.absolute()]
    (tmp_path / "empty").mkdir()
    for bad in ([tmp_path / "empty"], [tmp_path / "nope.cfg"], []):
        with pytest.raises(ConfigError):
            find_sequence_cfgs(bad)


@pytest.mark.shared_data
def test_dev_sequences_load() -> None:
    if not DEV.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DEV} missing on CI")
        pytest.skip(f"shared dev sequences not available at {DEV}")
    # TemporalSubsampleRatio 8 as in the AI encoder cfg, given as an option
    seqs = {
        s.name: s
        for s in (
            load_sequence(p, extra_options=["--TemporalSubsampleRatio=8"]) for p in find_sequence_cfgs([DEV])
        )
    }
    assert seqs["src01"].bit_depth == 10
    assert (seqs["carphone"].width, seqs["carphone"].height, seqs["carphone"].coded_frames) == (176, 144, 15)
    assert all(s.frames_in_file for s in seqs.values())
