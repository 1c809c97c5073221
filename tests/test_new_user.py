"""The documented commands as a new user types them (issue 13): each problem found, typed as shown."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pmp_vvc
from pmp_vvc import modelzoo
from pmp_vvc.cli.common import run_cli
from pmp_vvc.cli.run import main
from pmp_vvc.errors import EncodeError
from pmp_vvc.evaluation.records import load_result
from pmp_vvc.files import remove_stale_temporaries, temp_path
from test_jobs import enc_cfg, fake_encoder, tiny_seq
from test_predictor import wrong_interface_model

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


@pytest.fixture()
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder holding hall.cfg (+ its YUV) and enc.cfg, as the working directory; fake encoder."""
    home = tmp_path / "home"
    tiny_seq(home, name="hall")
    enc_cfg(home)
    monkeypatch.chdir(home)
    monkeypatch.setenv("FAKE_COUNT", str(tmp_path / "count.txt"))
    monkeypatch.setenv("FAKE_CPU", "0.01")
    monkeypatch.setenv("PMP_ENCODER_CMD", " ".join(fake_encoder(tmp_path)))
    return home


def records(out: Path) -> list:  # type: ignore[type-arg]
    return [load_result(p) for p in sorted((out / "encodes").glob("*.json"))]


def encodes_run(user: Path) -> int:
    count = user.parent / "count.txt"
    return len(count.read_text().splitlines()) if count.exists() else 0


# (1) ------------------------------------------------------------------ no --test: the default point
def test_seq_and_qp_alone_run_the_default_point(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seq", "hall.cfg", "--qp", "22..37", "--cfg", "enc.cfg", "--no-progress"]) == 0
    out = user / "pmp-run-out"
    tests = {r.job.options for r in records(out) if r.job.options}
    assert tests == {tuple(modelzoo.default_point_options())}
    assert len(records(out)) == 8  # 4 QPs x (anchor, test)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_label"] == modelzoo.default_point_label()
    assert modelzoo.default_point_label() in capsys.readouterr().out


# (2) ---------------------------------------------------- relative paths in --test: the caller's folder
@pytest.mark.parametrize(
    ("test", "resolved"),
    [
        ("--PMPModel=my.onnx", "--PMPModel={home}/my.onnx"),
        ("--PMPModel my.onnx", "--PMPModel={home}/my.onnx"),
        ("--PMPGuide=oracle:dumps/hall_QP{qp}.dump", "--PMPGuide=oracle:{home}/dumps/hall_QP{{qp}}.dump"),
        ("--PMPGuide=replay:maps.npz", "--PMPGuide=replay:{home}/maps.npz"),
    ],
)
def test_relative_paths_in_test_are_the_callers(user: Path, test: str, resolved: str) -> None:
    shutil.copy(modelzoo.model_path(modelzoo.DEFAULT_POINT.model), user / "my.onnx")
    assert (
        main(["--seq", "hall.cfg", "--qp", "32,37", "--cfg", "enc.cfg", "--test", test, "--no-progress"]) == 0
    )
    want = resolved.format(home=user)
    for record in records(user / "pmp-run-out"):
        if record.job.options:
            assert record.job.options == (want,)
            assert want in record.command  # what the encoder (run in OUT/encodes) was given
    if "PMPModel" in test:  # keyed by the model's content, like the same model given by its full path
        assert {r.job.model_sha256 for r in records(user / "pmp-run-out") if r.job.options} == {
            modelzoo.MODELS[modelzoo.DEFAULT_POINT.model].sha256
        }


# (3) ---------------------------------------------------------- models checked before anything is encoded
@pytest.mark.parametrize("kind", ["corrupt", "interface"])
def test_bad_model_exit_2_nothing_encoded(user: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    if kind == "corrupt":
        (user / "bad.onnx").write_bytes(b"not an onnx file")
        message = "cannot load ONNX model"
    else:
        wrong_interface_model(user / "bad.onnx")
        message = "not a luma model: inputs"
    argv = ["--seq", "hall.cfg", "--qp", "22..37", "--cfg", "enc.cfg", "--test", "--PMPModel=bad.onnx"]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert encodes_run(user) == 0
    assert not list((user / "pmp-run-out").glob("encodes/*"))


# (4) ------------------------------------------- SIGTERM stops the encodes and removes their temporaries
@pytest.mark.slow
def test_sigterm_stops_encoders_and_cleans_up(user: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids.txt"
    env = {
        **os.environ,
        "FAKE_SLEEP": "60",
        "FAKE_PIDS": str(pids),
        "PYTHONPATH": os.pathsep.join([str(PYTHON_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [
        "--seq",
        "hall.cfg",
        "--qp",
        "22..37",
        "--cfg",
        "enc.cfg",
        "--test",
        "--MaxMTTHierarchyDepthISliceL=2",
        "-j",
        "2",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmp_vvc.cli.run", *argv],
        cwd=user,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not pids.exists() or len(pids.read_text().split()) < 2):
            time.sleep(0.05)
        encodes = user / "pmp-run-out" / "encodes"
        assert list(encodes.glob(".*.tmp")), "the running encodes have temporaries"
        proc.send_signal(signal.SIGTERM)  # to pmp-run only, as `kill PID` does
        _, err = proc.communicate(timeout=20)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
    assert proc.returncode == 143, err
    assert b"Traceback" not in err
    for pid in map(int, pids.read_text().split()):
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"encoder {pid} still runs after pmp-run was stopped")
    assert not [p.name for p in encodes.iterdir() if ".tmp" in p.name]
    assert not list(encodes.glob("*.json"))  # nothing finished, nothing recorded


LIBRARY_CALLER = """
import os, sys, time
from pathlib import Path
from pmp_vvc.codec.process import run_logged_command
from pmp_vvc.codec.runner import _fork_run

pid_file, log = Path(sys.argv[2]), Path(sys.argv[3])


def forked_child() -> int:
    pid_file.write_text(str(os.getpid()))
    time.sleep(60)
    return 0


if sys.argv[1] == "command":
    run_logged_command(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"], log)
else:  # a forked child, as encodes with a guide object run
    _fork_run(forked_child, log)
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie waiting for init has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("kind", ["command", "fork"])
def test_a_library_caller_killed_takes_its_encoders_with_it(tmp_path: Path, kind: str) -> None:
    pid_file = tmp_path / "child.pid"
    with open(tmp_path / "caller.err", "wb") as err:  # the installed package, as a user's script has it
        caller = subprocess.Popen(
            [sys.executable, "-c", LIBRARY_CALLER, kind, str(pid_file), str(tmp_path / "log.txt")],
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (pid_file.exists() and pid_file.read_text().strip()):
            time.sleep(0.05)
        assert pid_file.exists(), (tmp_path / "caller.err").read_text()
        child = int(pid_file.read_text())
        caller.send_signal(signal.SIGKILL)  # no handler, no cleanup: only the kernel can end the child
        caller.wait(timeout=10)
        for _ in range(100):
            if _gone(child):
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail(f"the {kind} child {child} runs on after its caller died")
    finally:
        if caller.poll() is None:
            os.killpg(caller.pid, signal.SIGKILL)


def test_a_later_run_clears_temporaries_of_dead_runs(user: Path) -> None:
    encodes = user / "pmp-run-out" / "encodes"
    encodes.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = temp_path(encodes / "hall_QP22_abc.bin").name.replace(
        f"-{os.getpid()}-", f"-{dead.stdout.strip()}-"
    )
    (encodes / stale).write_bytes(b"half")
    mine = temp_path(encodes / "hall_QP27_abc.bin")  # a live process (this one): kept
    mine.write_bytes(b"running")
    assert remove_stale_temporaries(encodes) == [encodes / stale]
    (encodes / stale).write_bytes(b"half")
    assert main(
        [
            "--seq",
            "hall.cfg",
            "--qp",
            "32",
            "--cfg",
            "enc.cfg",
            "--test",
            "--X=1",
            "--no-progress",
            "--no-plots",
        ]
    ) in (0, 1)
    assert not (encodes / stale).exists() and mine.exists()


# (5) ----------------------------------------------------------------- a failing guide: one line
@pytest.mark.encoder
def test_failing_python_guide_is_one_line(clip128, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    guides = pytest.importorskip("pmp_vvc.codec.guides")

    class Broken(guides.Guide):  # type: ignore[misc,name-defined]
        def decide(self, cu: object) -> object:
            raise RuntimeError("model exploded")

    with pytest.raises(EncodeError) as exc:
        pmp_vvc.encode(clip128.args(37, tmp_path / "b.bin"), guide=Broken())
    message = str(exc.value)
    assert "model exploded" in message and "\n" not in message
    assert "Guarded.h" not in message and "Traceback" not in message and ".h:" not in message
    assert "model exploded" in exc.value.log_tail  # the whole story stays in the log


@pytest.mark.encoder
def test_failing_guide_option_in_pmp_run_is_one_line(
    clip128,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "maps.npz").write_bytes(b"corrupt")
    argv = [
        "--seq",
        str(clip128.cfg),
        "--qp",
        "37",
        "--frames",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--test",
        f"--PMPGuide=replay:{tmp_path / 'maps.npz'}",
        "--no-progress",
        "--no-plots",
    ]
    assert run_cli(main, argv) == 1
    summary = (tmp_path / "out" / "summary.md").read_text()
    failure = next(line for line in summary.splitlines() if "cannot read stored maps" in line)
    assert "Guarded.h" not in failure and ".h:" not in failure and "Traceback" not in failure
    terminal = capsys.readouterr()
    assert "Traceback" not in terminal.err and "Guarded.h" not in terminal.err
