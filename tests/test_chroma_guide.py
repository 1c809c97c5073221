"""The chroma guide: chroma maps ruling the chroma tree (rules, legality, fallback), the chroma model in the
predictor, the chroma oracle, and the errors on bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import pmp_vvc
from conftest import Clip
from pmp_vvc import modelio, modelzoo
from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.dump import read_dump
from pmp_vvc.codec.partition import cus_to_maps, maps_to_cus, sort_cus
from pmp_vvc.errors import ConfigError, InputError, ModelError
from test_mapguide import ALL, BTH, BTV, NS, QT, TTH, TTV, cu, hard_maps, one_hot, only, vf

predictor = pytest.importorskip("pmp_vvc.predictor")
guides = pytest.importorskip("pmp_vvc.codec.guides")
MapGuide = extension().MapGuide
MODEL = Path(__file__).resolve().parents[1] / "models" / "pmp-vit-rho0.5.onnx"
QP = 37


def tiny_chroma_model(path: Path) -> Path:
    """A few-op ONNX model of the chroma contract; its inputs set its logits (cb: QT, cr: MTT, luma: dir)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    def const(name: str, values: list[int]) -> object:
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)

    nodes = [
        helper.make_node("Slice", ["cb", "zero2", "eight2", "axes23"], ["cb8"]),
        helper.make_node("Mul", ["cb8", "scale"], ["cb8s"]),
        helper.make_node("Neg", ["cb8s"], ["cb8n"]),
        helper.make_node("Concat", ["cb8s", "cb8n", "cb8n", "cb8n"], ["qt_c"], axis=1),
    ]
    for src, out in (("cr", "mtt_c"), ("luma", "direction_c")):
        nodes += [
            helper.make_node("Slice", [src, "zero2", "sixteen2", "axes23"], [f"{src}16"]),
            helper.make_node("Mul", [f"{src}16", "scale"], [f"{src}s"]),
            helper.make_node("Unsqueeze", [f"{src}s", "axis1"], [f"{src}u"]),  # (B,1,1,16,16)
            helper.make_node("Concat", [f"{src}u"] * 3, [f"{src}l"], axis=2),  # three layers
            helper.make_node("Neg", [f"{src}l"], [f"{src}n"]),
            helper.make_node("Concat", [f"{src}l", f"{src}n", f"{src}n"], [out], axis=1),
        ]
    batch = ["batch"]
    graph = helper.make_graph(
        nodes,
        "tiny-chroma",
        [
            helper.make_tensor_value_info("luma", TensorProto.FLOAT, [*batch, 1, 68, 68]),
            helper.make_tensor_value_info("qp", TensorProto.FLOAT, batch),
            helper.make_tensor_value_info("cb", TensorProto.FLOAT, [*batch, 1, 34, 34]),
            helper.make_tensor_value_info("cr", TensorProto.FLOAT, [*batch, 1, 34, 34]),
        ],
        [
            helper.make_tensor_value_info("qt_c", TensorProto.FLOAT, [*batch, 4, 8, 8]),
            helper.make_tensor_value_info("mtt_c", TensorProto.FLOAT, [*batch, 3, 3, 16, 16]),
            helper.make_tensor_value_info("direction_c", TensorProto.FLOAT, [*batch, 3, 3, 16, 16]),
        ],
        initializer=[
            const("zero2", [0, 0]),
            const("eight2", [8, 8]),
            const("sixteen2", [16, 16]),
            const("axes23", [2, 3]),
            const("axis1", [1]),
            helper.make_tensor("scale", TensorProto.FLOAT, [], [20.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def chroma_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_chroma_model(tmp_path_factory.mktemp("chroma") / "tiny-chroma.onnx")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------- the rules
def chroma_guide(qt: np.ndarray, inc: np.ndarray, dirs: np.ndarray, level: int = 3, threshold: float = 0.0):  # type: ignore[no-untyped-def]
    """A guide whose chroma tree is ruled by these hard maps (its luma maps: one 64x64 leaf)."""
    g = MapGuide(level=3, chroma_level=level, chroma_threshold=threshold)
    g.set_maps(64, 64, *(one_hot(a, k) for a, k in zip(hard_maps(), (4, 3, 3), strict=True)))
    g.set_chroma_maps(64, 64, one_hot(qt, 4), one_hot(inc, 3), one_hot(dirs, 3))
    return g


def test_chroma_maps_rule_the_chroma_tree_at_their_own_level() -> None:
    qt, inc, dirs = hard_maps()
    dirs[:, 0], inc[:, 0] = 1, 1  # layer 1: BT_H of the 64x64 chroma root (legal in chroma: MaxBT 64)
    dirs[:, 1], inc[:, 1] = 2, 1  # layer 2: BT_V of both halves
    g = chroma_guide(qt, inc, dirs, level=2)
    assert vf(g.decide(cu(0, 0, 64, 64, 1))) == only(NS)  # the luma tree keeps its own maps
    assert vf(g.decide(cu(0, 0, 64, 64, 1, chroma=True))) == only(BTH)
    assert vf(g.decide(cu(0, 0, 64, 32, 1, 1, chroma=True))) == only(BTV)
    assert vf(g.decide(cu(0, 0, 32, 32, 1, 2, chroma=True))) == (0, 0)  # below chroma level 2: VTM's RDO
    assert vf(chroma_guide(qt, inc, dirs, level=1).decide(cu(0, 0, 64, 32, 1, 1, chroma=True))) == (0, 0)
    off = chroma_guide(qt, inc, dirs, level=0)
    assert vf(off.decide(cu(0, 0, 64, 64, 1, chroma=True))) == (0, 0)  # level 0: VTM's chroma search
    assert (g.chroma_level, off.chroma_level, g.has_chroma_maps) == (2, 0, True)


def test_chroma_threshold_is_its_own() -> None:
    g = MapGuide(level=2, threshold=0.9, chroma_level=2, chroma_threshold=0.5)
    assert (g.threshold, g.chroma_threshold) == (0.9, 0.5)
    assert MapGuide(threshold=0.7, chroma_level=1).chroma_threshold == 0.7  # negative: the luma threshold
    # Half of the chroma root's mass on "no split", half on BT_H: 0.5 keeps one mode, 0.9 both.
    qt = one_hot(np.zeros((1, 8, 8), np.int8), 4)
    inc = one_hot(np.zeros((1, 3, 16, 16), np.int8), 3)
    dirs = one_hot(np.zeros((1, 3, 16, 16), np.int8), 3)
    dirs[:, 0, 0] = dirs[:, 1, 0] = 0.5  # layer 1: none or horizontal
    for threshold, kept in ((0.5, 1), (0.9, 2)):
        g = MapGuide(level=2, chroma_level=2, chroma_threshold=threshold)
        g.set_chroma_maps(64, 64, qt, inc, dirs)
        veto, _ = vf(g.decide(cu(0, 0, 64, 64, 1, chroma=True)))
        assert bin(ALL & ~veto).count("1") == kept


def test_chroma_legality() -> None:
    """VTM's chroma rules (4:2:0, AI cfg): no TT at the 64x64 root (MaxTTChroma 32), no split into chroma
    blocks under 16 samples or 2 wide; the limits come from the picture."""
    qt, inc, dirs = hard_maps()
    dirs[:, 0], inc[:, 0] = 2, 2  # TT_V everywhere at layer 1
    g = chroma_guide(qt, inc, dirs)
    implied, _ = g.candidates(cu(0, 0, 64, 64, 1, chroma=True))
    assert implied not in (TTV, TTH)  # the root cannot be TT-split in chroma
    assert g.candidates(cu(0, 0, 32, 32, 2, chroma=True))[0] == TTV
    assert (
        g.candidates(cu(0, 0, 16, 16, 3, chroma=True))[0] != TTV
    )  # 8x8 chroma: TT_V would give 2-wide parts
    dirs[:, 0], inc[:, 0] = 2, 1  # BT_V
    g = chroma_guide(qt, inc, dirs)
    assert g.candidates(cu(0, 0, 8, 16, 3, chroma=True))[0] != BTV  # 4-wide chroma: no BT_V
    assert g.candidates(cu(0, 0, 16, 8, 3, chroma=True))[0] == BTV  # 8x4 chroma: BT_V gives 4x4
    # Limits from the picture (here: the chroma tree's MTT depth 1): no split at layer 1.
    dirs[:, 1], inc[:, 1] = 1, 1
    g.set_limits((32, 32, 3, 8), (64, 32, 1, 8))
    assert g.candidates(cu(0, 0, 32, 64, 1, 1, chroma=True))[0] == NS
    assert vf(g.decide(cu(0, 0, 32, 32, 2, chroma=True))) == only(BTV)
    qt[:] = 3  # QT down to 8x8 luma, i.e. 4x4 chroma, and no further (MinQTChroma: 4 chroma samples)
    g = chroma_guide(qt, inc, dirs)
    assert g.candidates(cu(0, 0, 16, 16, 3, chroma=True))[0] == QT
    assert g.candidates(cu(0, 0, 8, 8, 4, chroma=True))[0] != QT


def test_chroma_options_are_checked() -> None:
    with pytest.raises(Exception, match="chroma level"):
        MapGuide(chroma_level=4)
    with pytest.raises(Exception, match="chroma threshold"):
        MapGuide(chroma_level=1, chroma_threshold=1.5)
    for options, error, message in (
        ({"PMPGuide": "oracle:x.dump", "PMPChromaLevel": "4"}, ConfigError, "--PMPChromaLevel must be"),
        ({"PMPGuide": "oracle:x.dump", "PMPChromaLevel": "x"}, ConfigError, "not a valid int"),
        (
            {"PMPGuide": "oracle:x.dump", "PMPChromaThreshold": "1.5"},
            ConfigError,
            "--PMPChromaThreshold must",
        ),
        ({"PMPGuide": "no-qt-below:64", "PMPChromaLevel": "2"}, ConfigError, "needs the map guide"),
        ({"PMPChromaModel": str(MODEL)}, ConfigError, "needs --PMPModel"),
        ({"PMPModel": str(MODEL), "PMPChromaLevel": "2"}, ModelError, "needs a chroma model"),
        (
            {"PMPModel": str(MODEL), "PMPChromaLevel": "2", "PMPChromaModel": str(MODEL)},
            ModelError,
            "not a chroma model",
        ),
    ):
        with pytest.raises(error, match=message):
            guides.guide_from_options(options)


# -------------------------------------------------------------------------------------- the chroma model
def test_chroma_contract(chroma_model: Path) -> None:
    modelio.check_model(chroma_model, modelio.CHROMA)
    with pytest.raises(ModelError, match="not a luma model"):
        modelio.check_model(chroma_model)
    with pytest.raises(ModelError, match="not a chroma model"):
        modelio.check_model(MODEL, modelio.CHROMA)
    with pytest.raises(ModelError, match="not a chroma model"):
        predictor.ModelPredictor(MODEL, chroma_path=MODEL)


def test_predictor_runs_the_chroma_model_on_the_same_blocks(chroma_model: Path) -> None:
    rng = np.random.default_rng(5)
    luma = (rng.integers(16, 236, size=(72, 136)) << 2).astype(np.int16)
    cb, cr = ((rng.integers(16, 236, size=(36, 68)) << 2).astype(np.int16) for _ in range(2))
    pred = predictor.ModelPredictor(MODEL, chroma_path=chroma_model, edge_blocks=True)
    maps = pred.predict_picture(luma, 10, QP, (cb, cr))
    assert maps.chroma is not None and maps.search_states is None
    for arr in maps.chroma.as_tuple():
        assert arr.shape[0] == 6 and np.allclose(arr.sum(axis=1), 1.0, atol=1e-5)
    luma_only = pred.predict_picture(luma, 10, QP)
    assert luma_only.chroma is None
    assert all(
        np.array_equal(a, b) for a, b in zip(luma_only.luma.as_tuple(), maps.luma.as_tuple(), strict=True)
    )
    # The chroma block of luma block 1 is cut from the chroma planes at (32, 0): its cb sets its QT logits.
    cut = predictor.model_input(cb, 10, np.array([[64, 0]]), chroma=True)[0, 0, :8, :8]
    want = predictor.softmax(np.stack([20 * cut, -20 * cut, -20 * cut, -20 * cut])[None])[0]
    assert np.allclose(maps.chroma.qt[1], want, atol=1e-6)
    other = pred.predict_picture(luma, 10, QP, (cb // 2, cr)).chroma
    assert other is not None and not np.allclose(other.qt, maps.chroma.qt)
    with pytest.raises(ModelError, match="no chroma model"):
        predictor.ModelPredictor(MODEL).predict_picture(luma, 10, QP, (cb, cr))


def test_registry_companion(monkeypatch: pytest.MonkeyPatch, chroma_model: Path) -> None:
    """A luma entry names its chroma companion; --PMPChromaModel overrides it."""
    luma = modelzoo.MODELS[modelzoo.DEFAULT_POINT.model]
    if luma.chroma:
        assert modelzoo.MODELS[luma.chroma].tree == "chroma"
        assert modelzoo.resolve_chroma_model(modelzoo.DEFAULT) == modelzoo.model_path(luma.chroma)
    else:
        with pytest.raises(ModelError, match="names none"):
            modelzoo.resolve_chroma_model(modelzoo.DEFAULT)
    assert modelzoo.resolve_chroma_model(modelzoo.DEFAULT, chroma_model) == chroma_model
    with pytest.raises(ModelError, match="names none"):
        modelzoo.resolve_chroma_model(MODEL)  # a file names no companion


# ------------------------------------------------------------------------------------------- in the encoder
@pytest.fixture(scope="module")
def anchor(clip128: Clip, tmp_path_factory: pytest.TempPathFactory) -> tuple[pmp_vvc.EncodeStats, Path, Path]:
    tmp = tmp_path_factory.mktemp("chroma-anchor")
    dump, out = tmp / "anchor.dump", tmp / "anchor.bin"
    return pmp_vvc.encode(clip128.args(QP, out, f"--PMPDumpPartition={dump}", frames=1)), dump, out


def test_chroma_maps_round_trip_through_the_dump(anchor: tuple[pmp_vvc.EncodeStats, Path, Path]) -> None:
    _, dump, _ = anchor
    (pic,) = read_dump(dump)
    chroma = sort_cus(pic.cus[pic.cus[:, 1] == 1])
    assert len(chroma) > 4
    maps = cus_to_maps(pic.cus, pic.width, pic.height, chroma=True)
    assert maps.chroma and np.array_equal(maps_to_cus(maps, pic.poc), chroma)
    oracle = predictor.oracle_maps(dump).chroma[pic.poc]
    assert all(
        np.array_equal(a, b)
        for a, b in zip(oracle.as_tuple(), predictor.one_hot(maps).as_tuple(), strict=True)
    )


def test_chroma_oracle_codes_as_the_anchor_with_few_chroma_checks(
    clip128: Clip, anchor: tuple[pmp_vvc.EncodeStats, Path, Path], tmp_path: Path
) -> None:
    stats, dump, anchor_bin = anchor
    out = tmp_path / "o.bin"
    oracle = pmp_vvc.encode(
        clip128.args(QP, out, f"--PMPGuide=oracle:{dump}", "--PMPLevel=2", "--PMPChromaLevel=2", frames=1)
    )
    assert md5(out) == md5(anchor_bin)  # both trees' partitions replayed: the anchor's bitstream
    assert oracle.chroma.total < 0.2 * stats.chroma.total
    assert oracle.guide is not None and oracle.guide.fallbacks == 0


def adversarial_chroma_maps() -> predictor.MapProbabilities:
    """Chroma maps of a 128x128 picture that VTM cannot follow: QT to 32x32, TT_V, then BT_V of the TT's
    middle part (a BT parallel to the TT it is the middle of, which VTM forbids)."""
    qt, inc, dirs = hard_maps(blocks=4)
    qt[:] = 1
    dirs[:, :2] = 2
    inc[:, 0] = 2
    inc[:, 0, :, 2:6] = inc[:, 0, :, 10:14] = 1  # the TT's middle columns
    inc[:, 1] = 1
    return predictor.MapProbabilities(128, 128, one_hot(qt, 4), one_hot(inc, 3), one_hot(dirs, 3))


def test_chroma_guide_never_leaves_a_chroma_cu_without_a_mode(
    clip128: Clip, anchor: tuple[pmp_vvc.EncodeStats, Path, Path], tmp_path: Path
) -> None:
    _, dump, _ = anchor
    source = predictor.oracle_maps(dump)
    source.chroma = {0: adversarial_chroma_maps()}
    guide = predictor.map_guide(source, level=2, edge_blocks=True, chroma_level=2)
    out, rec, got = tmp_path / "g.bin", tmp_path / "g.yuv", tmp_path / "g.dump"
    stats = pmp_vvc.encode(
        clip128.args(QP, out, "-o", str(rec), f"--PMPDumpPartition={got}", frames=1), guide=guide
    )
    assert stats.guide is not None and stats.guide.fallbacks >= 16  # every TT middle part fell back
    (pic,) = read_dump(got)
    cus_to_maps(pic.cus, pic.width, pic.height, chroma=True)  # the chroma CUs tile the picture
    dec = tmp_path / "d.yuv"
    pmp_vvc.decode(["-b", str(out), "-o", str(dec)])
    assert md5(dec) == md5(rec)


def test_model_chroma_guide_in_the_encoder(clip128: Clip, chroma_model: Path, tmp_path: Path) -> None:
    luma_only = pmp_vvc.encode(clip128.args(QP, tmp_path / "l.bin", f"--PMPModel={MODEL}", frames=1))
    both = pmp_vvc.encode(
        clip128.args(
            QP,
            tmp_path / "c.bin",
            f"--PMPModel={MODEL}",
            f"--PMPChromaModel={chroma_model}",
            "--PMPChromaLevel=2",
            frames=1,
        )
    )
    assert both.luma == luma_only.luma  # the luma decisions are the luma model's alone
    assert both.chroma.total < luma_only.chroma.total
    assert both.guide is not None and both.guide.pictures == 1


@pytest.mark.parametrize("coded", ["444", "422", "400"])
def test_chroma_guide_needs_420(clip128: Clip, tmp_path: Path, coded: str) -> None:
    out = tmp_path / "x.bin"
    args = clip128.args(
        QP, out, f"--ChromaFormatIDC={coded}", "--PMPGuide=oracle:x.dump", "--PMPChromaLevel=1"
    )
    with pytest.raises(InputError, match=f"needs 4:2:0 pictures, the encode codes {coded}"):
        pmp_vvc.encode(args)
    assert not out.exists()


def test_chroma_model_option_paths_and_key(chroma_model: Path, tmp_path: Path) -> None:
    from pmp_vvc.codec.options import absolute_paths
    from pmp_vvc.evaluation.jobs import model_sha256
    from pmp_vvc.files import file_sha256

    got = absolute_paths(["--PMPChromaModel=oracle:d/x_QP{qp}.dump", "--PMPChromaModel", "c.onnx"], tmp_path)
    assert got == (
        f"--PMPChromaModel=oracle:{tmp_path}/d/x_QP{{qp}}.dump",
        f"--PMPChromaModel={tmp_path}/c.onnx",
    )
    luma = [f"--PMPModel={MODEL}"]
    chroma = [*luma, f"--PMPChromaModel={chroma_model}"]
    assert model_sha256(chroma) == model_sha256(luma) == file_sha256(MODEL)  # chroma level 0: not used
    both = model_sha256([*chroma, "--PMPChromaLevel=2"])
    assert both == f"{file_sha256(MODEL)}+{file_sha256(chroma_model)}"
    assert model_sha256([*luma, "--PMPChromaLevel=2", "--PMPChromaModel=oracle:x.dump"]) == file_sha256(MODEL)
