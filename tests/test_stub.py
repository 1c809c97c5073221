"""The committed type stub of the extension (python/pmp_vvc/_vtm.pyi) matches the built module."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.encoder


def _without_build_id(stub: str) -> str:
    """The stub records BUILD_ID's value, which changes with every C++ edit; only its type matters."""
    return re.sub(r"^BUILD_ID: str = .*$", "BUILD_ID: str", stub, flags=re.M)


def test_stub_matches_the_extension(tmp_path: Path) -> None:
    if shutil.which("pybind11-stubgen") is None and sys.modules.get("pybind11_stubgen") is None:
        pytest.importorskip("pybind11_stubgen")
    subprocess.run(
        [sys.executable, "-m", "pybind11_stubgen", "pmp_vvc._vtm", "-o", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = _without_build_id((tmp_path / "pmp_vvc" / "_vtm.pyi").read_text())
    committed = _without_build_id((Path(__file__).parents[1] / "python" / "pmp_vvc" / "_vtm.pyi").read_text())
    assert fresh == committed, (
        "regenerate: pybind11-stubgen pmp_vvc._vtm -o /tmp/s && cp /tmp/s/pmp_vvc/_vtm.pyi python/pmp_vvc/"
    )
