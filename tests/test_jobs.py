"""EncodeJob / run_job tests; also home of the fake VTM encoder used by test_executors and test_run_cli."""

import hashlib
import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from pmp_vvc import modelzoo
from pmp_vvc.errors import BuildError, ModelError
from pmp_vvc.evaluation.jobs import EncodeJob, model_sha256, resolve_build_id, run_job, verify_result
from pmp_vvc.evaluation.records import SCHEMA, load_done, load_result

VANILLA = Path.home() / ".cache" / "pmp-vvc" / "vanilla" / "src" / "bin"
VTM_CFG = Path.home() / ".cache" / "pmp-vvc" / "VTM-23.13" / "cfg" / "encoder_intra_vtm.cfg"

FAKE = textwrap.dedent(
    '''
    """Fake VTM EncoderApp/DecoderApp: VTM-shaped log, deterministic outputs, configurable failures."""
    import hashlib, os, sys, time
    args = sys.argv[1:]
    def opt(name, default=None):
        return args[args.index(name) + 1] if name in args else default
    if os.environ.get("FAKE_COUNT"):
        with open(os.environ["FAKE_COUNT"], "a") as fh:
            fh.write(" ".join(args) + "\\n")
    if os.environ.get("FAKE_PIDS"):
        with open(os.environ["FAKE_PIDS"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
    if "--decode" in args:  # decoder mode: -b BIN -o YUV
        data = open(opt("-b"), "rb").read()
        open(opt("-o"), "wb").write(hashlib.sha256(data).digest() * 4)
        sys.exit(0)
    print("\\nVVCSoftware: VTM Encoder Version 23.13 [Linux][fake]\\n")
    for a in args:
        if a.startswith("--Bogus"):
            print("command line error: Unknown option `Bogus' (value:`1')")
            sys.exit(1)
    qp = int(opt("-q"))
    test = any(a.startswith("--MaxMTT") for a in args)
    if os.environ.get("FAKE_FAIL_QP") == str(qp) and test:
        print("terminate called after throwing an instance of 'Exception'\\n  what():  \\nfake crash")
        sys.stdout.flush()
        os.abort()
    t_end = time.process_time() + float(os.environ.get("FAKE_CPU", "0.05")) * (0.5 if test else 1.0)
    while time.process_time() < t_end:
        pass
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    rate = 2000.0 * 2 ** (-(qp - 22) / 6) * (1.02 if test else 1.0)
    y, u, v = 60 - 0.7 * qp, 62 - 0.6 * qp, 63 - 0.6 * qp
    bits = int(rate * 1000 / 30)
    print(f"POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP {qp} ) {bits:10d} bits "
          f"[Y {y:.4f} dB    U {u:.4f} dB    V {v:.4f} dB] [ET     1 ] [L0] [L1]")
    print("\\nLayerId  0\\n\\tTotal Frames |  Bitrate      Y-PSNR   U-PSNR   V-PSNR   YUV-PSNR ")
    print(f"\\t1            a  {rate:.4f}     {y:.4f}  {u:.4f}  {v:.4f}  {y:.4f}  ")
    scale = 0.5 if test else 1.0
    print(f"PMP counters: channel=luma intra={int(1000 * scale)} qt=100 bt_h=200 bt_v=200 tt_h=100 tt_v=100")
    print(f"PMP counters: channel=chroma intra={int(400 * scale)} qt=10 bt_h=20 bt_v=20 tt_h=0 tt_v=0")
    print(" Total Time:        0.050 sec. [user]        0.050 sec. [elapsed]")
    data = f"bitstream qp={qp} test={test}".encode()
    open(opt("-b"), "wb").write(data)
    if opt("-o"):
        open(opt("-o"), "wb").write(hashlib.sha256(data).digest() * 4)
    '''
)


def fake_encoder(tmp_path: Path) -> tuple[str, ...]:
    """Write the fake encoder script; return its command."""
    script = tmp_path / "fake_vtm.py"
    script.write_text(FAKE)
    return (sys.executable, str(script))


def tiny_seq(folder: Path, w: int = 16, h: int = 16, frames: int = 1, name: str = "tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yuv").write_bytes(bytes(range(256)) * (w * h * 3 // 2 * frames // 256 + 1))
    (folder / f"{name}.yuv").write_bytes((folder / f"{name}.yuv").read_bytes()[: w * h * 3 // 2 * frames])
    cfg = folder / f"{name}.cfg"
    cfg.write_text(
        f"InputFile : {name}.yuv\nInputBitDepth : 8\nSourceWidth : {w}\nSourceHeight : {h}\n"
        f"FrameRate : 30\nFramesToBeEncoded : {frames}\n"
    )
    return cfg


def enc_cfg(folder: Path, text: str = "TemporalSubsampleRatio : 1\n") -> Path:
    cfg = folder / "enc.cfg"
    cfg.write_text(text)
    return cfg


def make_job(
    tmp_path: Path,
    qp: int = 37,
    options: tuple[str, ...] = (),
    cmd: tuple[str, ...] = (),
    enc_text: str = "TemporalSubsampleRatio : 1\n",
) -> EncodeJob:
    seq = tiny_seq(tmp_path / "seq")
    return EncodeJob.create(
        seq_name="tiny",
        seq_cfg=seq,
        input_file=seq.with_suffix(".yuv"),
        qp=qp,
        encoder_cfgs=[enc_cfg(tmp_path, enc_text)],
        options=options,
        build_id="b1",
        out_dir=tmp_path / "out",
        encoder_cmd=cmd or fake_encoder(tmp_path),
    )


def test_key_is_deterministic_and_sensitive(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    assert job.key == make_job(tmp_path).key
    assert job.stem == f"tiny_QP37_{job.key[:12]}"
    assert job.path(".json").name == job.stem + ".json"
    variants = [
        job.key,
        make_job(tmp_path, qp=32).key,
        make_job(tmp_path, options=("--PMPLevel=2",)).key,
        EncodeJob(**{**job.__dict__, "build_id": "b2"}).key,
        EncodeJob(**{**job.__dict__, "model_sha256": "abc"}).key,
        EncodeJob(**{**job.__dict__, "frames": 1}).key,
    ]
    assert len(set(variants)) == len(variants)
    # the command used and the output folder do not change the key
    assert EncodeJob(**{**job.__dict__, "encoder_cmd": ("x",)}).key == job.key
    # cfg content is part of the key
    assert make_job(tmp_path, enc_text="TemporalSubsampleRatio : 8\n").key != job.key


def test_vtm_args(tmp_path: Path) -> None:
    job = EncodeJob(**{**make_job(tmp_path, options=("--X=1",)).__dict__, "frames": 2})
    args = job.vtm_args("o.bin", "r.yuv")
    assert args[:4] == ["-c", job.encoder_cfgs[0], "-c", job.seq_cfg]
    assert args[4:] == ["-i", job.input_file, "-q", "37", "-f", "2", "-b", "o.bin", "-o", "r.yuv", "--X=1"]


def test_model_sha256(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    digest = hashlib.sha256(b"model").hexdigest()
    assert model_sha256(["--PMPModel", str(model)]) == digest
    assert model_sha256([f"--PMPModel={model}", "--PMPLevel=2"]) == digest
    assert model_sha256(["--PMPModel=other", f"--PMPModel={model}"]) == digest  # the last one counts
    assert model_sha256(["--PMPLevel=2"]) is None
    with pytest.raises(ModelError, match=f"does not exist.*{re.escape(modelzoo.DEFAULT_POINT.model)}"):
        model_sha256([f"--PMPModel={tmp_path / 'missing.onnx'}"])


def test_shipped_model_names_hash_and_key_like_their_file(tmp_path: Path) -> None:
    installed = modelzoo.model_path(modelzoo.DEFAULT_POINT.model)
    shipped = modelzoo.MODELS[modelzoo.DEFAULT_POINT.model].sha256
    for value in ("default", modelzoo.DEFAULT_POINT.model):
        assert model_sha256([f"--PMPModel={value}"]) == model_sha256(["--PMPModel", value]) == shipped
    by_path = make_job(tmp_path, options=(f"--PMPModel={installed}", "--PMPLevel=2"))
    assert by_path.model_sha256 == shipped
    for options in (("--PMPModel=default", "--PMPLevel=2"), ("--PMPModel", "default", "--PMPLevel=2")):
        job = make_job(tmp_path, options=options)
        assert job.options == by_path.options  # the record names the file that was used
        assert job.key == by_path.key
    other = tmp_path / "copy.onnx"
    other.write_bytes(b"a different model")
    assert make_job(tmp_path, options=(f"--PMPModel={other}",)).options == (f"--PMPModel={other}",)


def test_build_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import types

    fake = types.ModuleType("pmp_vvc.codec.buildinfo")
    fake.build_id = lambda: "pmp-build-123"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pmp_vvc.codec.buildinfo", fake)
    assert resolve_build_id((sys.executable, "-m", "pmp_vvc.cli.encoder")) == "pmp-build-123"
    exe = tmp_path / "enc"
    exe.write_bytes(b"#!/bin/sh\n")
    exe.chmod(0o755)
    assert resolve_build_id((str(exe),)).startswith("exe:")
    with pytest.raises(BuildError):
        resolve_build_id(("/no/such/encoder",))


def test_run_ok_roundtrip_resume_and_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count = tmp_path / "count.txt"
    monkeypatch.setenv("FAKE_COUNT", str(count))
    job = make_job(tmp_path)
    result = run_job(job)
    assert result.ok, result.log_tail
    assert result.cpu_time >= 0.04 and result.wall >= result.cpu_time * 0.5
    assert result.summary is not None and result.summary.bitrate == pytest.approx(2000 * 2 ** (-15 / 6), 1e-4)
    assert result.counters[0].channel == "luma"
    assert result.bitstream_bytes == job.path(".bin").stat().st_size
    assert result.recon_md5 is not None
    data = json.loads(job.path(".json").read_text())
    assert (data["schema"], data["schema_version"], data["job"]["key"]) == (SCHEMA, 1, job.key)
    assert load_result(job.path(".json")) == result
    assert sorted(p.name for p in job.path("").parent.iterdir()) == sorted(
        job.stem + s for s in (".bin", ".json", ".log")
    )  # no temporaries, no reconstruction left
    # resume: a finished job is not rerun
    assert run_job(job).run_id == result.run_id
    assert len(count.read_text().splitlines()) == 1
    assert load_done(job) == result
    ok, message = verify_result(result, (*fake_encoder(tmp_path), "--decode"))
    assert ok, message
    job.path(".bin").write_bytes(b"corrupt")
    ok, message = verify_result(result, (*fake_encoder(tmp_path), "--decode"))
    assert not ok and "!=" in message


def test_failures_are_recorded_and_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = run_job(make_job(tmp_path, options=("--Bogus=1",)))
    assert bogus.status == "failed" and bogus.exit_code == 1
    assert bogus.errors == ("command line error: Unknown option `Bogus' (value:`1')",)
    assert "Unknown option" in (bogus.log_tail or "")
    assert not bogus.job.path(".bin").exists() and bogus.job.path(".log").exists()
    assert load_done(bogus.job) is None  # failed records do not count as done
    monkeypatch.setenv("FAKE_FAIL_QP", "37")
    crash = run_job(make_job(tmp_path, options=("--MaxMTTHierarchyDepthISliceL=2",)))
    assert crash.status == "failed" and crash.exit_code is not None and crash.exit_code < 0
    assert crash.errors == ("fake crash",)
    missing = run_job(make_job(tmp_path, cmd=("/no/such/encoder",)))
    assert missing.status == "failed" and "cannot start encoder" in (missing.log_tail or "")
    monkeypatch.delenv("FAKE_FAIL_QP")
    again = run_job(make_job(tmp_path, options=("--MaxMTTHierarchyDepthISliceL=2",)))
    assert again.ok


def test_from_dict_rejects_other_schema(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": "other", "schema_version": 1}))
    assert load_result(bad) is None
    assert load_result(tmp_path / "missing.json") is None


@pytest.mark.encoder
def test_real_encoder_tiny(tmp_path: Path) -> None:
    """One 64x64 frame through the real encoder (vanilla VTM until our build lands)."""
    encoder = os.environ.get("PMP_ENCODER_CMD") or (
        str(VANILLA / "EncoderAppStatic") if (VANILLA / "EncoderAppStatic").exists() else None
    )
    if encoder is None or not VTM_CFG.is_file():
        pytest.skip("no VTM encoder/cfg available (set PMP_ENCODER_CMD)")
    from pmp_vvc.evaluation.demo import make_demo_clip

    seq = make_demo_clip(tmp_path / "clip", 64, 64, frames=1)
    job = EncodeJob.create(
        seq_name=seq.stem,
        seq_cfg=seq,
        input_file=tmp_path / "clip" / "demo_photos_64x64.yuv",
        qp=37,
        encoder_cfgs=[VTM_CFG],
        build_id="vanilla",
        out_dir=tmp_path / "out",
        encoder_cmd=(encoder,),
    )
    result = run_job(job)
    assert result.ok, result.log_tail
    assert result.summary is not None and result.summary.frames == 1 and result.cpu_time > 0
    assert result.frames[0].qp == 37
    decoder = VANILLA / "DecoderAppStatic"
    if decoder.exists() or os.environ.get("PMP_DECODER_CMD"):
        ok, message = verify_result(result, (os.environ.get("PMP_DECODER_CMD") or str(decoder),))
        assert ok, message
    assert shutil.which(encoder) is not None
