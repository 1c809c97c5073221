"""The one reader of VTM cfgs and command lines: InputFile, bit depths and frames by VTM's rules."""

from pathlib import Path

import pytest

from pmp_vvc.codec.vtmcfg import check_decoder_args, check_encoder_args, frame_bytes, merge_encoder_args
from pmp_vvc.errors import ConfigError, InputError
from pmp_vvc.evaluation.sequences import load_sequence


def seq_cfg(
    folder: Path,
    w: int = 16,
    h: int = 16,
    frames: int = 2,
    extra: str = "",
    file_frames: int = 2,
    bytes_per_frame: int | None = None,
    name: str = "clip",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yuv").write_bytes(b"\0" * (bytes_per_frame or frame_bytes(w, h, 8)) * file_frames)
    cfg = folder / f"{name}.cfg"
    cfg.write_text(
        f"InputFile : {name}.yuv\nSourceWidth : {w}\nSourceHeight : {h}\n"
        f"FramesToBeEncoded : {frames}\n{extra}"
    )
    return cfg


def test_cfg_input_is_relative_to_the_cfg_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = seq_cfg(tmp_path / "seqs")
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    merged = check_encoder_args(["-c", str(cfg), "-b", "out.bin"])
    assert merged.input_file == tmp_path / "seqs" / "clip.yuv"
    assert merged.input_from_cfg
    # VTM would open it relative to its working directory: it is handed the path that was checked
    args = merged.vtm_args(["-c", str(cfg), "-b", "out.bin"])
    assert args[-1] == f"--InputFile={tmp_path / 'seqs' / 'clip.yuv'}"
    assert merged.outputs == (elsewhere / "out.bin",)
    # the evaluation side reads the same file
    assert load_sequence(cfg).input_file == merged.input_file


def test_command_line_input_is_relative_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = seq_cfg(tmp_path / "seqs")
    seq_cfg(tmp_path / "work", name="other")
    monkeypatch.chdir(tmp_path / "work")
    merged = check_encoder_args(["-c", str(cfg), "-i", "other.yuv"])
    assert merged.input_file == tmp_path / "work" / "other.yuv" and not merged.input_from_cfg
    assert merged.vtm_args(["-i", "other.yuv"]) == ["-i", "other.yuv"]
    # a later cfg overrides an earlier -i, as in VTM's parser
    assert (
        merge_encoder_args(["-i", "other.yuv", "-c", str(cfg)]).input_file == tmp_path / "seqs" / "clip.yuv"
    )


@pytest.mark.parametrize(
    ("depths", "luma", "chroma", "word"),
    [
        ("", 8, 8, 1),
        ("InputBitDepth : 10\n", 10, 10, 2),
        ("InputBitDepthC : 10\n", 8, 10, 2),
        ("InputBitDepth : 10\nInputBitDepthC : 8\n", 10, 8, 2),
    ],
)
def test_bit_depths_as_vtm(tmp_path: Path, depths: str, luma: int, chroma: int, word: int) -> None:
    """InputBitDepth is luma, InputBitDepthC defaults to it; the file has 16-bit words if either is > 8."""
    cfg = seq_cfg(tmp_path, extra=depths, bytes_per_frame=16 * 16 * 3 // 2 * word)
    seq = load_sequence(cfg)
    assert (seq.bit_depth, seq.bit_depth_chroma, seq.frame_bytes) == (luma, chroma, 16 * 16 * 3 // 2 * word)
    check_encoder_args(["-c", str(cfg)])  # same rule on the encoder side
    if word == 1:
        return  # a 16-bit file of 8-bit frames is a whole number of them
    wrong = seq_cfg(tmp_path / "wrong", extra=depths, file_frames=3, bytes_per_frame=16 * 16 * 3 // 2)
    with pytest.raises(InputError, match="not a whole number"):
        check_encoder_args(["-c", str(wrong)])
    with pytest.raises(InputError, match="not a whole number"):
        load_sequence(wrong)


def test_frames_as_vtm(tmp_path: Path) -> None:
    cfg = seq_cfg(tmp_path, frames=9, file_frames=9)
    enc = tmp_path / "enc.cfg"
    enc.write_text("TemporalSubsampleRatio : 8\n")
    check_encoder_args(["-c", str(enc), "-c", str(cfg)])  # codes frames 0 and 8: needs 9
    with pytest.raises(InputError, match="holds 9 frames"):
        check_encoder_args(["-c", str(enc), "-c", str(cfg), "-fs", "1"])
    # FramesToBeEncoded 0: every frame of the file
    zero = seq_cfg(tmp_path / "z", frames=0, file_frames=3)
    assert load_sequence(zero).frames_to_encode == 3
    check_encoder_args(["-c", str(zero)])


def test_encoder_args_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cfg file not found"):
        check_encoder_args(["-c", str(tmp_path / "missing.cfg")])
    with pytest.raises(ConfigError, match="needs a value"):
        check_encoder_args(["-q"])
    cfg = seq_cfg(tmp_path)
    with pytest.raises(InputError, match="output folder does not exist"):
        check_encoder_args(["-c", str(cfg), "-b", str(tmp_path / "no" / "x.bin")])
    (tmp_path / "clip.yuv").unlink()
    with pytest.raises(InputError, match="InputFile not found"):
        check_encoder_args(["-c", str(cfg)])
    assert check_encoder_args(["-c", str(cfg), "--help"]).input_file is not None  # help passes through
    with pytest.raises(InputError, match="bitstream not found"):
        check_decoder_args(["-b", str(tmp_path / "none.bin")])
    assert check_decoder_args(["-o", "/dev/null"]) == []
