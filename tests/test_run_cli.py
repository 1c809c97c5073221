import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pmp_vvc
from pmp_vvc import modelzoo
from pmp_vvc.cli import run as run_mod
from pmp_vvc.cli.common import run_cli
from pmp_vvc.cli.run import build_parser, main
from pmp_vvc.evaluation.records import load_result
from pmp_vvc.evaluation.timesaving import mean_time_saving
from test_jobs import VANILLA, VTM_CFG, enc_cfg, fake_encoder, tiny_seq

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two tiny sequences, an encoder cfg, the fake encoder as encoder and decoder, an invocation log."""
    monkeypatch.setenv("FAKE_COUNT", str(tmp_path / "count.txt"))
    monkeypatch.setenv("FAKE_CPU", "0.02")
    seqs = tmp_path / "seqs"
    tiny_seq(seqs, name="alpha")
    tiny_seq(seqs, w=32, h=16, name="beta")
    cmd = " ".join(fake_encoder(tmp_path))
    monkeypatch.setenv("PMP_ENCODER_CMD", cmd)
    monkeypatch.setenv("PMP_DECODER_CMD", cmd + " --decode")
    return {"seqs": seqs, "cfg": enc_cfg(tmp_path), "out": tmp_path / "out", "count": tmp_path / "count.txt"}


def count(env: dict[str, Path]) -> int:
    path = env["count"]
    return len(path.read_text().splitlines()) if path.exists() else 0


def base(env: dict[str, Path], *extra: str) -> list[str]:
    return [
        "--seq",
        str(env["seqs"]),
        "--cfg",
        str(env["cfg"]),
        "--out",
        str(env["out"]),
        "--no-progress",
        *extra,
    ]


def test_parser_shape() -> None:
    parser = build_parser()
    assert parser.prog == "pmp-run"
    assert run_mod.__doc__ and "pmp-run" in run_mod.__doc__
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--qp", "22-37", "--test", "--X=1"], "bad QP specification"),
        (["--test", "-q 22"], "must not set -q"),
        (["--test", "'unbalanced"], "cannot split"),
        (["--frames", "0", "--test", "--X=1"], "--frames"),
        (["--class", "noequals", "--test", "--X=1"], "NAME=CLASS"),
        (["--test", "--PMPModel=/no/such/model.onnx"], "model file /no/such/model.onnx does not exist"),
    ],
)
def test_bad_arguments_exit_2(
    env: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run_cli(main, base(env, *args)) == 2
    assert message in capsys.readouterr().err
    assert count(env) == 0


def test_bad_inputs_exit_2(env: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run_cli(
            main,
            [
                "--seq",
                str(tmp_path / "none.cfg"),
                "--cfg",
                str(env["cfg"]),
                "--test",
                "--X=1",
                "--out",
                str(env["out"]),
            ],
        )
        == 2
    )
    assert "sequence cfg not found" in capsys.readouterr().err
    assert run_cli(main, base(env, "--cfg", str(tmp_path / "no_enc.cfg"), "--test", "--X=1")) == 2
    assert "encoder cfg not found" in capsys.readouterr().err
    (env["seqs"] / "alpha.yuv").write_bytes(b"short")
    assert run_cli(main, base(env, "--test", "--X=1")) == 2
    assert "not a whole number" in capsys.readouterr().err
    (env["seqs"] / "alpha.yuv").unlink()
    assert run_cli(main, base(env, "--test", "--X=1")) == 2
    assert "InputFile not found" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run_cli(main, [*base(env, "--test", "--X=1"), "--out", str(blocker / "sub")]) == 2
    assert "cannot write to --out" in capsys.readouterr().err
    assert count(env) == 0


def test_default_cfg(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--seq", str(env["seqs"] / "alpha.cfg"), "--out", str(env["out"]), "--test", "--X=1", "--dry-run"]
    monkeypatch.delattr(pmp_vvc, "vtm_cfg", raising=False)
    assert run_cli(main, args) == 2
    assert "pass --cfg" in capsys.readouterr().err
    monkeypatch.setattr(pmp_vvc, "vtm_cfg", lambda name: env["cfg"], raising=False)
    assert run_cli(main, args) == 0
    assert len(capsys.readouterr().out.splitlines()) == 8  # 4 QPs x anchor/test


def test_end_to_end_fake_encoder_resume_and_verify(
    env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = base(
        env,
        "--qp",
        "32,37",
        "--test",
        "--MaxMTTHierarchyDepthISliceL=2",
        "--verify",
        "-j",
        "2",
        "--class",
        "beta=B",
    )
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "verified 8 of 8" in out and "| S | alpha |" in out and "| B | beta |" in out
    assert count(env) == 8 + 8  # 8 encodes + 8 decodes
    for name in ("summary.csv", "summary.json", "summary.md", "rd.png", "ts_bdbr.png"):
        assert (env["out"] / name).is_file(), name
    summary = json.loads((env["out"] / "summary.json").read_text())
    seq = summary["sequences"][0]
    assert seq["name"] == "alpha"
    # TS is what the records' CPU times give (their sign depends on the machine's noise, not on the code)
    cpu = {
        (r.job.qp, r.job.options != ()): r.cpu_time
        for r in map(load_result, sorted((env["out"] / "encodes").glob("*.json")))
        if r is not None and r.job.seq_name == "alpha"
    }
    expected = mean_time_saving([cpu[32, False], cpu[37, False]], [cpu[32, True], cpu[37, True]])
    assert seq["time"]["mean_ts"] == pytest.approx(expected)
    assert seq["time"]["rdc_reduction_luma"] == pytest.approx(100 * (1 - 1200 / 1700))
    assert seq["bd"]["bd_rate_y"] == pytest.approx(2.0, abs=0.01)  # test is 2 % more rate at equal PSNR
    records = sorted((env["out"] / "encodes").glob("*.json"))
    assert len(records) == 8 and all(load_result(p) is not None for p in records)
    run_ids = {p.name: json.loads(p.read_text())["run_id"] for p in records}
    # rerun: nothing is encoded again, same records
    assert (
        main(base(env, "--qp", "32,37", "--test", "--MaxMTTHierarchyDepthISliceL=2", "--class", "beta=B"))
        == 0
    )
    assert count(env) == 16
    assert {p.name: json.loads(p.read_text())["run_id"] for p in records} == run_ids
    # a third QP only adds its 4 encodes
    assert main(base(env, "--qp", "27..37", "--test", "--MaxMTTHierarchyDepthISliceL=2")) == 0
    assert count(env) == 20


def test_failed_encode_others_finish(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_FAIL_QP", "37")
    args = base(env, "--qp", "32,37", "--test", "--MaxMTTHierarchyDepthISliceL=2")
    assert main(args) == 1
    assert count(env) == 8
    md = (env["out"] / "summary.md").read_text()
    assert "## Failures" in md and md.count("fake crash") == 2
    assert "fake crash" in caplog.text
    monkeypatch.delenv("FAKE_FAIL_QP")
    assert main(args) == 0
    assert count(env) == 10  # only the two failed encodes ran again


def test_unknown_option_is_surfaced(env: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    assert main(base(env, "--qp", "37", "--test", "--Bogus=1")) == 1
    assert "Unknown option `Bogus'" in caplog.text
    assert "Unknown option `Bogus'" in (env["out"] / "summary.md").read_text()


def test_demo_with_fake_encoder(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["--demo", "--qp", "32,37", "--cfg", str(env["cfg"]), "--out", str(env["out"]), "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "demo_photos" in out and modelzoo.default_point_label() in out
    assert "(default point)" in modelzoo.default_point_label()
    assert (env["out"] / "demo" / "demo_photos_256x256.yuv").stat().st_size == 256 * 256 * 3 // 2 * 3
    # The test is the registry's default point: its options, with the installed model, in every test record.
    records = [load_result(p) for p in (env["out"] / "encodes").glob("*.json")]
    tests = {r.job.options for r in records if r.job.options}
    assert tests == {tuple(modelzoo.default_point_options())}
    assert {r.job.model_sha256 for r in records if r.job.options} == {
        modelzoo.MODELS[modelzoo.DEFAULT_POINT.model].sha256
    }
    assert len(records) == 4  # 2 QPs x (anchor, test)


@pytest.mark.slow
def test_kill_mid_run_then_resume(env: dict[str, Path]) -> None:
    args = base(env, "--qp", "22..37", "--test", "--MaxMTTHierarchyDepthISliceL=2")
    args[1] = str(env["seqs"] / "alpha.cfg")
    child_env = {
        **os.environ,
        "FAKE_SLEEP": "0.4",
        "PYTHONPATH": os.pathsep.join([str(PYTHON_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmp_vvc.cli.run", *args],
        env=child_env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    encodes = env["out"] / "encodes"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and len(list(encodes.glob("*.json"))) < 2:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = {p.name: load_result(p) for p in encodes.glob("*.json")}
    assert 2 <= len(done_before) < 8
    assert all(r is not None and r.ok for r in done_before.values())  # no partial records
    started_before = count(env)
    assert main(args) == 0
    after = {p.name: load_result(p) for p in encodes.glob("*.json")}
    assert len(after) == 8
    for name, record in done_before.items():
        assert record is not None and after[name] is not None
        assert after[name].run_id == record.run_id  # finished encodes were not repeated
    assert count(env) - started_before == 8 - len(done_before)
    assert not [p for p in encodes.iterdir() if p.suffix not in (".json", ".log", ".bin", ".tmp")]


@pytest.mark.encoder
def test_end_to_end_real_encoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """2 QPs anchor vs test on a 128x128 frame with the real encoder (vanilla VTM until ours lands)."""
    encoder = os.environ.get("PMP_ENCODER_CMD_REAL") or (
        str(VANILLA / "EncoderAppStatic") if (VANILLA / "EncoderAppStatic").exists() else None
    )
    if encoder is None or not VTM_CFG.is_file():
        pytest.skip("no VTM encoder/cfg available (set PMP_ENCODER_CMD_REAL)")
    from pmp_vvc.evaluation.demo import make_demo_clip

    seq = make_demo_clip(tmp_path / "clip", 128, 128, frames=1)
    args = [
        "--seq",
        str(seq),
        "--cfg",
        str(VTM_CFG),
        "--qp",
        "32,37",
        "--out",
        str(tmp_path / "out"),
        "--test",
        "--MaxMTTHierarchyDepthISliceL=2",
        "--encoder-cmd",
        encoder,
        "--verify",
        "--no-progress",
        "--decoder-cmd",
        str(VANILLA / "DecoderAppStatic"),
        "-j",
        "2",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "verified 4 of 4" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    seq_summary = summary["sequences"][0]
    assert seq_summary["bd"]["bd_rate_y"] is not None
    assert seq_summary["time"]["t_anchor"] > 0 and seq_summary["time"]["rdc_reduction_luma"] is None
    assert len(list((tmp_path / "out" / "encodes").glob("*.bin"))) == 4


@pytest.mark.slow
def test_dask_executor_via_cli(env: dict[str, Path]) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as c:
        args = base(env, "--qp", "32,37", "--test", "--MaxMTTHierarchyDepthISliceL=2", "--no-plots")
        assert main([*args, "--executor", "dask", "--scheduler", c.scheduler_address]) == 0
    assert count(env) == 8
    assert len(list((env["out"] / "encodes").glob("*.json"))) == 8
