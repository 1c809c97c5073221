"""bench/bench_fast.py refuses bad model files before any encode (its report covers every point)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from conftest import BENCH, bench_script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return bench_script("bench_fast")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--chroma-model", "none"], "none does not exist"),
        (["--chroma-model", "models/pmp-vit-rho0.5.onnx"], "not a chroma model"),
        (["--model", "models/pmp-chroma-rho0.5.onnx"], "not a luma model"),
    ],
)
def test_bad_models_stop_the_bench_before_any_encode(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    root = BENCH.parent
    argv = [*(str(root / a) if a.startswith("models/") else a for a in option), "--out", str(tmp_path / "o")]
    assert bench.main([*argv, "--points", "model-L2-t0.9"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
