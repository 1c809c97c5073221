"""Shared fixtures: a tiny real clip made from scikit-image's bundled photos, and access to ../shared/data."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from pmp_vvc.evaluation.demo import make_demo_clip

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the test when absent, except in CI where it must exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} is not on this machine (../shared/data is read-only input, not in the repo)")
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_script(name: str) -> ModuleType:
    """Import the script ``bench/<name>.py`` as module ``name`` (the bench folder is no package)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True, scope="session")
def _vtm_never_runs_in_the_test_process() -> Iterator[None]:
    """Fail any test that runs VTM in the pytest process: its global state would break later forked runs.

    Library runs (``pmp_vvc.encode``/``decode``) and CLIs in a subprocess happen in other processes and pass.
    """
    try:
        ext = importlib.import_module("pmp_vvc._vtm")
    except ImportError:  # not built: the encoder tests skip or fail on their own
        yield
        return
    test_pid = os.getpid()

    def guarded(run: Callable[..., int]) -> Callable[..., int]:
        def wrapper(*args: object, **kwargs: object) -> int:
            if os.getpid() == test_pid:
                raise AssertionError(
                    "VTM must not run in the test process: use pmp_vvc.encode/decode or a subprocess"
                )
            return run(*args, **kwargs)

        return wrapper

    originals = ext.run_encoder, ext.run_decoder
    ext.run_encoder, ext.run_decoder = guarded(originals[0]), guarded(originals[1])
    yield
    ext.run_encoder, ext.run_decoder = originals


@dataclass(frozen=True)
class Clip:
    """A tiny YUV clip with its VTM per-sequence cfg; ``args`` encode it with the AI cfg."""

    cfg: Path
    yuv: Path

    def args(self, qp: int, bitstream: Path, *extra: str, frames: int = 2) -> list[str]:
        import pmp_vvc

        return [
            "-c", str(pmp_vvc.vtm_cfg()), "-c", str(self.cfg), "-i", str(self.yuv),
            "-q", str(qp), "-f", str(frames), "--TemporalSubsampleRatio=1", "-b", str(bitstream),
            # The AI cfg names a recon file (rec.yuv in the working directory); a later -o in extra wins.
            "-o", "/dev/null", *extra,
        ]  # fmt: skip


@pytest.fixture(scope="session")
def clip128(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """Two 128x128 frames cut from scikit-image photos (8-bit 4:2:0, BT.601 limited range)."""
    out = tmp_path_factory.mktemp("clip128")
    cfg = make_demo_clip(out, width=128, height=128, frames=2, name="clip")
    return Clip(cfg=cfg, yuv=next(out.glob("clip_*.yuv")))


@pytest.fixture(scope="session")
def clip_odd(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """One 136x72 frame: not a multiple of 64 or of the 128 CTU, so edge blocks are partial."""
    out = tmp_path_factory.mktemp("clip_odd")
    cfg = make_demo_clip(out, width=136, height=72, frames=1, name="odd")
    return Clip(cfg=cfg, yuv=next(out.glob("odd_*.yuv")))
