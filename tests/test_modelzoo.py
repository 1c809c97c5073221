"""The model registry: shipped files and their hashes, name/default/path resolution, the default point."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import pmp_vvc
from conftest import Clip
from pmp_vvc import modelzoo
from pmp_vvc.errors import ModelError

REPO_MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture()
def fake_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of one model, ``tiny``, in ``tmp_path`` (the real installed files stay untouched)."""
    model = tmp_path / "tiny.onnx"
    model.write_bytes(b"tiny model")
    entry = modelzoo.ModelEntry("tiny", "tiny.onnx", hashlib.sha256(b"tiny model").hexdigest(), 0.5, "test")
    monkeypatch.setattr(modelzoo, "MODELS", {"tiny": entry})
    monkeypatch.setattr(modelzoo, "DEFAULT_POINT", modelzoo.OperatingPoint("tiny", ("--PMPLevel=1",)))
    monkeypatch.setattr(modelzoo, "models_dir", lambda: tmp_path)
    return model


def test_every_repository_model_is_registered_installed_and_intact() -> None:
    in_repo = sorted(p.name for p in REPO_MODELS.glob("*.onnx"))
    assert in_repo == sorted(e.file for e in modelzoo.MODELS.values())
    for name, entry in modelzoo.MODELS.items():
        path = modelzoo.model_path(name)
        assert path.parent == modelzoo.models_dir() and path.name == entry.file
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
        assert hashlib.sha256((REPO_MODELS / entry.file).read_bytes()).hexdigest() == entry.sha256


def test_default_point_names_a_shipped_model() -> None:
    point = modelzoo.DEFAULT_POINT
    for p in (point, modelzoo.CONSERVATIVE_POINT):
        assert p.model in modelzoo.MODELS
        assert all(opt.startswith("--") and "=" in opt for opt in p.options)
        assert not any(opt.startswith("--PMPModel") for opt in p.options)  # the model is added from the entry
    options = modelzoo.default_point_options()
    assert options == [f"--PMPModel={modelzoo.model_path(point.model)}", *point.options]
    assert modelzoo.default_point_label().startswith(point.model + " ")


def test_resolution_of_names_default_and_paths(fake_zoo: Path, tmp_path: Path) -> None:
    assert modelzoo.model_path("tiny") == fake_zoo
    assert modelzoo.resolve_model("tiny") == fake_zoo
    assert modelzoo.resolve_model("default") == fake_zoo
    other = tmp_path / "elsewhere" / "mine.onnx"
    other.parent.mkdir()
    other.write_bytes(b"not in the registry")
    assert modelzoo.resolve_model(other) == other
    assert modelzoo.resolve_model(str(other)) == other
    assert modelzoo.default_point_options() == [f"--PMPModel={fake_zoo}", "--PMPLevel=1"]
    assert modelzoo.default_point_label() == "tiny L1 (default point)"


def test_unknown_names_list_the_known_ones(fake_zoo: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no shipped model named 'nope'; known: tiny \(or 'default'\)"):
        modelzoo.model_path("nope")
    with pytest.raises(ModelError, match=r"nope\.onnx does not exist .*tiny or 'default'"):
        modelzoo.resolve_model(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="no shipped model named 'default'"):
        modelzoo.model_path("default")  # a name for resolve_model and --PMPModel, not a registry entry


def test_corrupt_and_missing_files_are_clear_errors(fake_zoo: Path) -> None:
    fake_zoo.write_bytes(b"tiny model, damaged")
    with pytest.raises(ModelError, match=r"'tiny' is corrupt: sha256 of .*tiny\.onnx is not "):
        modelzoo.model_path("tiny")
    with pytest.raises(ModelError, match="is corrupt"):
        modelzoo.resolve_model("default")
    fake_zoo.unlink()
    with pytest.raises(ModelError, match=r"'tiny' is not installed \(.*tiny\.onnx is missing\)"):
        modelzoo.model_path("tiny")


def test_a_corrupted_copy_of_the_shipped_model_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = modelzoo.DEFAULT_POINT.model
    copy = tmp_path / modelzoo.MODELS[name].file
    shutil.copyfile(modelzoo.model_path(name), copy)
    with copy.open("r+b") as fh:  # flip one byte in the middle of the weights
        fh.seek(copy.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(modelzoo, "models_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match=f"'{name}' is corrupt"):
        modelzoo.resolve_model("default")


def test_guide_factory_accepts_names_and_default(fake_zoo: Path) -> None:
    guides = pytest.importorskip("pmp_vvc.codec.guides")
    fake_zoo.write_bytes(b"damaged")
    # The factory resolves through the registry: the (monkeypatched) default model is refused as corrupt.
    for value in ("default", "tiny"):
        with pytest.raises(ModelError, match="'tiny' is corrupt"):
            guides.guide_from_options({"PMPModel": value})
    with pytest.raises(ModelError, match="model file nope does not exist"):
        guides.guide_from_options({"PMPModel": "nope"})


def test_guide_factory_builds_the_shipped_model() -> None:
    guides = pytest.importorskip("pmp_vvc.codec.guides")
    from pmp_vvc.codec.buildinfo import extension

    for value in ("default", modelzoo.DEFAULT_POINT.model):
        guide = guides.guide_from_options({"PMPModel": value, "PMPLevel": "2", "PMPThreshold": "0.7"})
        assert isinstance(guide, extension().MapGuide) and guide.level == 2


@pytest.mark.encoder
def test_encoder_runs_the_default_model(clip128: Clip, tmp_path: Path) -> None:
    by_name, by_path = tmp_path / "default.bin", tmp_path / "path.bin"
    stats = pmp_vvc.encode(clip128.args(37, by_name, "--PMPModel=default", "--PMPLevel=2", frames=1))
    assert stats.guide is not None and stats.guide.pictures == 1 and stats.guide.cpu_time > 0
    assert len(stats.frames) == 1 and stats.frames[0].bits > 0
    installed = modelzoo.model_path(modelzoo.DEFAULT_POINT.model)
    pmp_vvc.encode(clip128.args(37, by_path, f"--PMPModel={installed}", "--PMPLevel=2", frames=1))
    assert by_name.read_bytes() == by_path.read_bytes()
