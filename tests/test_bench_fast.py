"""bench/bench_fast.py refuses bad model files before any encode (its report covers every point)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from conftest import BENCH, Clip, bench_script


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


def test_qp_mix_picks_each_held_out_sequence_on_the_others() -> None:
    bench_script("bench_fast")  # qp_mix imports it by name
    qp_mix = bench_script("qp_mix")
    s, luma = qp_mix.Score, qp_mix.OBJECTIVES["luma"]
    # mix "b" is cheap and saves more on sequences 1 and 2, but not on sequence 0
    table = {
        ("a",): [s(1.0, 1.0, 50.0, 70.0, 60.0)] * 3,
        ("b",): [s(3.0, 3.0, 60.0, 90.0, 80.0), s(0.5, 0.5, 55.0, 80.0, 70.0), s(0.5, 0.5, 55.0, 80.0, 70.0)],
    }
    assert qp_mix.best_within(table, [1, 2], 1.0, luma) == ("b",)
    assert qp_mix.best_within(table, [0, 1], 1.0, luma) == ("a",)  # b: 1.75 % on these, over the budget
    assert qp_mix.best_within(table, [0, 1, 2], 0.1, luma) == ("a",)  # nothing within: the cheapest
    score, picks = qp_mix.held_out(table, 1.0, 3, luma)
    assert picks == [("b",), ("a",), ("a",)]
    assert (score.bd_y, score.rdc_luma) == pytest.approx((5 / 3, 230 / 3))
    # with YUV against all RD checks the same numbers pick the same way here
    assert qp_mix.held_out(table, 1.0, 3, qp_mix.OBJECTIVES["yuv"])[1] == picks


def test_guided_chroma_oracle_reads_the_dumps_of_its_luma_point(bench: ModuleType, tmp_path: Path) -> None:
    a, b = Path("/m/a.onnx"), Path("/m/b.onnx")
    by_name = {m: {p.name: p for p in bench.all_points(m)} for m in (a, b)}
    folders = set()
    for luma in bench.GUIDED_LUMAS:
        # the dumps are made with the options of the luma point the +cgo points extend, with their model
        assert by_name[a][luma].options == bench.guided_luma_options(a, luma)
        cgo = {m: by_name[m][f"{luma}+cgo2"] for m in (a, b)}
        assert cgo[a].guided == bench.guided_luma_options(a, luma)
        assert cgo[a].options.startswith(cgo[a].guided + " --PMPChromaLevel=2 ")
        opts = {m: bench.point_options(cgo[m], "carphone", tmp_path) for m in (a, b)}
        folder = bench.guided_dumps(cgo[a], tmp_path)
        assert f"--PMPChromaModel=oracle-partition:{folder}/carphone_QP{{qp}}.dump" in opts[a]
        assert folder.parent == tmp_path / "guided-dumps" and folder != bench.guided_dumps(cgo[b], tmp_path)
        assert bench.guided_dumps(by_name[a][f"{luma}+cgo1"], tmp_path) == folder  # one folder per luma point
        folders.add(folder)
    assert len(folders) == len(bench.GUIDED_LUMAS) == 3


def test_noisy_oracle_reads_the_dumps_of_a_seeded_one_code_value_noisy_copy(
    bench: ModuleType, tmp_path: Path, clip128: Clip
) -> None:
    bench_script("perturb_check")  # bench_fast's noisy input imports its noise by name
    point = {p.name: p for p in bench.all_points(Path("/m/a.onnx"))}["oracle-noisy-partition-L2"]
    opts = bench.point_options(point, "carphone", tmp_path)
    assert f"--PMPGuide=oracle-partition:{tmp_path}/noisy-dumps/carphone_QP{{qp}}.dump" in opts
    seq = bench.load(clip128.cfg)
    noisy = bench.noisy_input(seq, tmp_path / "noisy")
    clean, dirty = np.fromfile(clip128.yuv, np.uint8), np.fromfile(noisy, np.uint8)
    diff = dirty.astype(int) - clean.astype(int)
    assert diff.shape == clean.shape and np.abs(diff).max() == 1 and 0.5 < np.mean(diff != 0) < 0.8
    assert noisy == tmp_path / "noisy" / f"{seq.name}.yuv"
    noisy.write_bytes(b"kept")  # made once: an existing copy is used as it is
    assert bench.noisy_input(seq, tmp_path / "noisy").read_bytes() == b"kept"


def test_time_proxies_fit_each_counter_over_the_pairs_that_count_it(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from pmp_vvc.codec.vtmlog import ChannelCounters

    def encode(cpu: float, luma: int, samples: int | None, chroma: int = 100) -> SimpleNamespace:
        counters = [
            ChannelCounters("luma", luma, 0, 0, 0, 0, 0, intra_samples=samples),
            ChannelCounters("chroma", chroma, 0, 0, 0, 0, 0, intra_samples=chroma * 16),
        ]
        return SimpleNamespace(cpu_time=cpu, counters=counters)

    anchor = encode(10.0, 100, 6400)
    # time follows the luma samples exactly; the luma RD checks do not; the last pair has no sample count
    tests = [encode(5.0, 90, 3200), encode(2.5, 30, 1600), encode(7.5, 60, 4800), encode(1.0, 10, None)]
    monkeypatch.setattr(bench, "finished", lambda *_: iter([(None, [(anchor, t) for t in tests])]))
    fit = bench.time_proxies(["one point"], [], None)
    assert fit["pairs"] == 3
    assert fit["intra samples, luma"] == pytest.approx(1.0)
    assert fit["RD checks, luma"] < 0.9
    assert set(fit) == {"pairs", *(name for name, _, _ in bench.TIME_PROXIES)}


@pytest.mark.parametrize(
    ("point_name", "bench_name"),
    [
        ("DEFAULT_POINT", "model-L2-lowqp0.7-s32-0.7-s8-0.95+mtt2+cmtt1"),
        ("CONSERVATIVE_POINT", "model-L2-lowqp0.7-s32-0.7-s8-0.95"),
    ],
)
def test_the_shipped_points_are_bench_points(bench: ModuleType, point_name: str, bench_name: str) -> None:
    from pmp_vvc import modelzoo

    shipped = getattr(modelzoo, point_name)
    model = Path("/m/a.onnx")
    point = {p.name: p for p in bench.all_points(model)}[bench_name]
    # the bench's edge-block option is the encoder's default; the rest is the shipped point, option for option
    options = [o for o in point.options.split() if o != "--PMPEdgeBlocks=1"]
    assert options == [f"--PMPModel={model}", *shipped.options]


def test_points_run_sequence_by_sequence(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from pmp_vvc.evaluation import sweep

    order: list[tuple[str, str]] = []
    monkeypatch.setattr(bench, "point_plan", lambda point, cfg, args: (point.name, cfg.stem))
    monkeypatch.setattr(
        sweep, "run_sweep", lambda plan, executor, verify: order.append(plan) or argparse.Namespace(ok=True)
    )
    points = [bench.Point("a", "", "k"), bench.Point("b", "", "k")]
    args = argparse.Namespace(out=tmp_path, jobs=1, verify=False)
    assert bench.run_points(points, [Path("s1.cfg"), Path("s2.cfg")], args) == 0
    assert order == [("a", "s1"), ("b", "s1"), ("a", "s2"), ("b", "s2")]


def test_dumps_are_made_jobs_at_once_and_kept(
    bench: ModuleType, tmp_path: Path, clip128: Clip, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import pmp_vvc
    from pmp_vvc.codec.dump import read_dump

    encode, threads = pmp_vvc.encode, set()

    def counted(args: list[str]) -> object:
        threads.add(threading.current_thread().name)
        return encode(args)

    monkeypatch.setattr(pmp_vvc, "encode", counted)
    dumps = tmp_path / "dumps"
    bench.make_dumps([clip128.cfg], [32, 37], 1, dumps, jobs=2)
    made = sorted(p.name for p in dumps.iterdir())
    assert made == [f"{bench.load(clip128.cfg).name}_QP{qp}.dump" for qp in (32, 37)]
    assert all(len(read_dump(dumps / name)) == 1 for name in made)  # one picture each
    assert len(threads) == 2  # both encodes ran in the pool, one per worker
    (dumps / made[0]).write_bytes(b"kept")
    bench.make_dumps([clip128.cfg], [32, 37], 1, dumps, jobs=2)
    assert (dumps / made[0]).read_bytes() == b"kept" and len(threads) == 2
