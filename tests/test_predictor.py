"""Map sources: model inputs as in training, the ONNX predictor, bad models, oracle and stored maps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip
from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.dump import PicturePartition, write_dump
from pmp_vvc.errors import ConfigError, EncodeError, InputError, ModelError
from pmp_vvc.learning.labels import normalise
from pmp_vvc.modelio import extract_blocks

predictor = pytest.importorskip("pmp_vvc.predictor")
guides = pytest.importorskip("pmp_vvc.codec.guides")
MODEL = Path(__file__).resolve().parents[1] / "models" / "pmp-vit-rho0.5.onnx"


def test_model_input_matches_training_for_8_bit_sources() -> None:
    rng = np.random.default_rng(0)
    plane8 = rng.integers(16, 236, size=(100, 136), dtype=np.uint16)
    origins = np.array([[0, 0], [64, 0], [64, 64]])
    trained = normalise(extract_blocks(plane8, origins), 8)[:, None]
    internal = plane8.astype(np.int16) << 2  # what the encoder hands over at InternalBitDepth 10
    got = predictor.model_input(internal, 10, origins)
    assert got.dtype == np.float32 and got.shape == (3, 1, 68, 68)
    assert np.array_equal(got, trained)
    assert np.all(got[0, 0, :4] == 0) and np.all(got[0, 0, :, :4] == 0)  # context outside: zero


def test_block_grid() -> None:
    origins, whole = predictor.block_grid(136, 72)
    assert origins.tolist() == [[0, 0], [64, 0], [128, 0], [0, 64], [64, 64], [128, 64]]
    assert whole.tolist() == [True, True, False, False, False, False]


class _CountingSession:
    def __init__(self, sess: object) -> None:
        self.sess, self.batches = sess, []  # type: list[int]

    def run(self, names, feeds):  # type: ignore[no-untyped-def]
        self.batches.append(len(feeds["luma"]))
        return self.sess.run(names, feeds)  # type: ignore[attr-defined]


def test_model_predictor_one_batch_per_picture() -> None:
    pred = predictor.ModelPredictor(MODEL)
    counting = _CountingSession(pred.session)
    pred.session = counting
    luma = (np.random.default_rng(1).integers(64, 940, size=(200, 136))).astype(np.int16)
    maps = pred.predict(luma, 10, 32)
    assert counting.batches == [6]  # 3 rows x 2 columns of whole blocks (of 4 x 3), one batch
    assert maps.qt.shape == (12, 4, 8, 8) and maps.mtt.shape == maps.direction.shape == (12, 3, 3, 16, 16)
    _, whole = predictor.block_grid(136, 200)
    for arr in maps.as_tuple():
        assert np.allclose(arr[whole].sum(axis=1), 1.0, atol=1e-5)
        assert np.all(arr[~whole] == 0)
    again = pred(luma, 10, 32, 0).luma.as_tuple()
    assert all(np.array_equal(a, b) for a, b in zip(again, maps.as_tuple(), strict=True))


def test_model_predictor_edge_blocks_see_an_edge_extended_picture() -> None:
    pred = predictor.ModelPredictor(MODEL, edge_blocks=True)
    counting = _CountingSession(pred.session)
    pred.session = counting
    luma = (np.random.default_rng(2).integers(64, 940, size=(100, 136))).astype(np.int16)
    maps = pred.predict(luma, 10, 27)
    assert counting.batches == [6]  # every block of the 3 x 2 grid, partial ones included
    for arr in maps.as_tuple():
        assert np.allclose(arr.sum(axis=1), 1.0, atol=1e-5)
    # The same maps as for the picture extended by hand to whole blocks by repeating its last column/row.
    extended = np.pad(luma, ((0, 28), (0, 56)), mode="edge")
    whole = predictor.ModelPredictor(MODEL).predict(extended, 10, 27)
    for got, want in zip(maps.as_tuple(), whole.as_tuple(), strict=True):
        assert np.allclose(got, want, atol=1e-6)
    # Whole blocks do not depend on the option.
    inside = predictor.ModelPredictor(MODEL).predict(luma, 10, 27)
    _, is_whole = predictor.block_grid(136, 100)
    assert np.allclose(maps.qt[is_whole], inside.qt[is_whole], atol=1e-6)


def test_missing_corrupt_and_mismatched_models(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        predictor.ModelPredictor(tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(MODEL.read_bytes()[:5000])
    with pytest.raises(ModelError, match="cannot load"):
        predictor.ModelPredictor(corrupt)
    with pytest.raises(ModelError, match="inputs"):
        predictor.ModelPredictor(wrong_interface_model(tmp_path / "identity.onnx"))
    with pytest.raises(ConfigError, match="PMPThreads"):
        predictor.ModelPredictor(MODEL, threads=0)


def wrong_interface_model(path: Path) -> Path:
    """A valid ONNX file with the wrong interface: y = Identity(x)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def hand_dump(path: Path) -> None:
    """A 128x64 picture (POC 4): left 64x64 block QT into 32x32 leaves, right block one 64x64 CU."""
    rows = [[4, 0, x, y, 32, 32, 2, 0, 0, 1 | (1 << 5)] for y in (0, 32) for x in (0, 32)]
    rows.append([4, 0, 64, 0, 64, 64, 1, 0, 0, 1])
    write_dump(path, [PicturePartition(4, 128, 64, 37, np.array(rows, dtype=np.int64))])


def test_oracle_maps_are_one_hot_and_checked(tmp_path: Path) -> None:
    hand_dump(tmp_path / "a.dump")
    oracle = predictor.oracle_maps(tmp_path / "a.dump")
    luma = np.zeros((64, 128), np.int16)
    qt, mtt, direction = oracle(luma, 10, 37, 4).luma.as_tuple()
    assert qt.shape == (2, 4, 8, 8)
    assert np.all(qt[0, 1] == 1) and np.all(qt[1, 0] == 1) and qt.sum() == 128
    assert np.all(mtt[:, 0] == 1) and np.all(direction[:, 0] == 1)
    with pytest.raises(InputError, match="no maps for POC 0"):
        oracle(luma, 10, 37, 0)
    with pytest.raises(InputError, match="128x64, the picture is 64x64"):
        oracle(luma[:, :64], 10, 37, 4)
    g = predictor.map_guide(oracle, level=3)
    g.set_maps(128, 64, qt, mtt, direction)
    cu = guides.CuQuery()
    cu.width = cu.height = 64
    cu.qt_depth = 1
    assert int(g.decide(cu).force) == int(guides.SplitMode.QT)


def test_stored_maps_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    maps = predictor.empty_maps(130, 64)
    for arr in maps.as_tuple():
        arr[:] = rng.random(arr.shape)
    stored = predictor.StoredMaps({0: maps, 8: predictor.empty_maps(64, 64)})
    stored.save(tmp_path / "m.npz")
    back = predictor.StoredMaps.load(tmp_path / "m.npz")
    assert sorted(back.maps) == [0, 8]
    assert all(np.array_equal(a, b) for a, b in zip(back.maps[0].as_tuple(), maps.as_tuple(), strict=True))
    assert (back.maps[0].width, back.maps[0].height) == (130, 64)
    with pytest.raises(InputError, match="cannot read stored maps"):
        predictor.StoredMaps.load(tmp_path / "missing.npz")


def test_guide_from_options(tmp_path: Path) -> None:
    g = guides.guide_from_options(
        {"PMPModel": str(MODEL), "PMPLevel": "1", "PMPThreshold": "0.4", "PMPThreads": "1"}
    )
    assert isinstance(g, extension().MapGuide) and g.level == 1 and g.threshold == pytest.approx(0.4)
    assert g.edge_blocks  # the encoder's default --PMPEdgeBlocks=1 when the option is not passed
    g = guides.guide_from_options({"PMPModel": str(MODEL), "PMPEdgeBlocks": "0"})
    assert not g.edge_blocks
    hand_dump(tmp_path / "a.dump")
    g = guides.guide_from_options({"PMPGuide": f"oracle:{tmp_path / 'a.dump'}", "PMPLevel": "3"})
    assert g.level == 3 and g.threshold == 0.0
    for options, message in (
        ({"PMPModel": str(MODEL), "PMPLevel": "4"}, "PMPLevel must be"),
        ({"PMPModel": str(MODEL), "PMPThreshold": "2"}, "PMPThreshold must be"),
        ({"PMPModel": str(MODEL), "PMPLevel": "x"}, "not a valid int"),
        ({"PMPModel": str(MODEL), "PMPGuide": "veto-all"}, "cannot be combined"),
        ({"PMPGuide": "oracle"}, "give a file"),
        ({"PMPGuide": "oracl:x"}, "unknown --PMPGuide"),
    ):
        with pytest.raises(ConfigError, match=message):
            guides.guide_from_options(options)
    with pytest.raises(ModelError):
        guides.guide_from_options({"PMPModel": str(tmp_path / "nope.onnx")})
    with pytest.raises(InputError):
        guides.guide_from_options({"PMPGuide": f"oracle:{tmp_path / 'nope.dump'}"})


@pytest.mark.encoder
def test_encoder_fails_cleanly_on_bad_models(clip128: Clip, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    for model, message in (
        (corrupt, "cannot load ONNX model"),
        (wrong_interface_model(tmp_path / "identity.onnx"), "not a luma model: inputs"),
    ):
        out = tmp_path / "x.bin"
        with pytest.raises(EncodeError, match=message):
            pmp_vvc.encode(clip128.args(37, out, f"--PMPModel={model}", frames=1))
        assert not out.exists()
        # The CLI runs VTM in its own process, never in the test process (its forks would inherit the state).
        args = clip128.args(37, out, f"--PMPModel={model}", frames=1)
        cli = subprocess.run(
            [sys.executable, "-m", "pmp_vvc.cli.encoder", *args], capture_output=True, text=True, timeout=300
        )
        assert cli.returncode != 0 and message in cli.stdout + cli.stderr
        assert not out.exists()


def test_oracle_by_qp_pattern(tmp_path: Path) -> None:
    hand_dump(tmp_path / "seq_QP37.dump")
    source = predictor.oracle_source(str(tmp_path / "seq_QP{qp}.dump"))
    qt = source(np.zeros((64, 128), np.int16), 10, 37, 4).luma.qt
    assert qt.shape == (2, 4, 8, 8)
    with pytest.raises(InputError, match=r"seq_QP22\.dump"):
        source(np.zeros((64, 128), np.int16), 10, 22, 4)
