from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmp_vvc.cli import dataset as cli
from pmp_vvc.codec.dump import COLUMNS, PicturePartition
from pmp_vvc.codec.partition import sort_cus
from pmp_vvc.errors import ConfigError, EncodeError, InputError
from pmp_vvc.learning import dataset, shards
from pmp_vvc.learning import sources as srcmod
from pmp_vvc.learning.labels import load_shard

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
STARTER = SHARED / "labels" / "vtm23.13-ai-256"


def _shared_or_skip(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} missing (CI=true)")
    pytest.skip(f"{path} not found (../shared/data is not on this machine)")


def _photo(path: Path, w: int, h: int, seed: int = 0) -> Path:
    """A smooth synthetic RGB photo (cheap to encode) with a little texture."""
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    rgb = np.stack(
        [
            (xx * 255 // max(w - 1, 1)),
            (yy * 255 // max(h - 1, 1)),
            128 + 40 * np.sin(xx / 7.0 + seed) * np.cos(yy / 5.0),
        ],
        axis=-1,
    )
    rgb = np.clip(rgb + rng.normal(0, 2, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def _leaf_cus(poc: int, width: int, height: int, chroma_too: bool = True) -> np.ndarray:
    """A partition of 32x32 QT leaves (qtDepth 2) for both trees."""
    rows = []
    for tree in (0, 1) if chroma_too else (0,):
        for y in range(0, height, 32):
            for x in range(0, width, 32):
                series = 1 | (1 << 5)  # QT 128->64, QT 64->32
                rows.append([poc, tree, x, y, 32, 32, 2, 0, 0, series])
    return np.array(rows, dtype=np.int64)


# ------------------------------------------------------------------------------------------ crop planning
def test_plan_crops_grid_budget_spread_and_determinism(tmp_path: Path) -> None:
    sources = [
        srcmod.Source("image", str(_photo(tmp_path / f"p{i}.png", 320, 200, i)), f"p{i}.png")
        for i in range(3)
    ]
    small = srcmod.Source("image", str(_photo(tmp_path / "small.png", 100, 300)), "small.png")
    crops = srcmod.plan_crops([*sources, small], budget_pixels=5 * 128 * 128, crop_size=128, seed=3)
    assert len(crops) == 5
    assert all(c.x % 64 == 0 and c.y % 64 == 0 and c.x + 128 <= 320 and c.y + 128 <= 200 for c in crops)
    assert "small.png" not in {c.source.name for c in crops}  # narrower than a crop
    # round robin: every source gets one crop before any gets a second
    assert {c.source.name for c in crops[:3]} == {"p0.png", "p1.png", "p2.png"}
    for a in crops:  # no overlap within a source
        for b in crops:
            if a is not b and a.source == b.source:
                assert abs(a.x - b.x) >= 128 or abs(a.y - b.y) >= 128
    assert srcmod.plan_crops([*sources, small], 5 * 128 * 128, 128, seed=3) == crops
    assert srcmod.plan_crops([*sources, small], 5 * 128 * 128, 128, seed=4) != crops


def test_plan_crops_bad_arguments(tmp_path: Path) -> None:
    src = [srcmod.Source("image", str(_photo(tmp_path / "a.png", 128, 128)), "a.png")]
    with pytest.raises(ConfigError):
        srcmod.plan_crops(src, 10**6, crop_size=100)
    with pytest.raises(ConfigError):
        srcmod.plan_crops(src, 100, crop_size=64)
    with pytest.raises(InputError):
        srcmod.plan_crops(src, 10**6, crop_size=192)


def test_find_images_names_and_exclude(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    _photo(tmp_path / "set" / "a.png", 64, 64)
    _photo(tmp_path / "set" / "b.jpg", 64, 64)
    (tmp_path / "set" / "notes.txt").write_text("x")
    names = [s.name for s in srcmod.find_images([tmp_path], exclude=["set/b.jpg"])]
    assert names == ["set/a.png"]
    with pytest.raises(InputError):
        srcmod.find_images([tmp_path / "missing"])


def test_image_conversion_reproduces_starter_crops() -> None:
    crops = np.load(_shared_or_skip(STARTER / "batch011" / "crops.npz"))
    name, xy = str(crops["source"][0]).rsplit("@", 1)
    x, y = (int(v) for v in xy.split(","))
    luma, cb, cr = srcmod.read_image_yuv(SHARED / "train" / name)
    assert np.array_equal(luma[y : y + 256, x : x + 256], crops["luma"][0])
    assert np.array_equal(cb[y // 2 : y // 2 + 128, x // 2 : x // 2 + 128], crops["cb"][0])
    assert np.array_equal(cr[y // 2 : y // 2 + 128, x // 2 : x // 2 + 128], crops["cr"][0])


def test_read_sequence_yuv_10bit(tmp_path: Path) -> None:
    w, h = 64, 32
    frames = [np.full(w * h * 3 // 2, 100 * (i + 1), dtype="<u2") for i in range(3)]
    (tmp_path / "s.yuv").write_bytes(b"".join(f.tobytes() for f in frames))
    (tmp_path / "s.cfg").write_text(
        f"InputFile : s.yuv\nInputBitDepth : 10\nSourceWidth : {w}\n"
        f"SourceHeight : {h}\nFramesToBeEncoded : 3\nFrameRate : 30\n"
    )
    y, cb, _cr, depth = srcmod.read_sequence_yuv(tmp_path / "s.cfg", 2)
    assert depth == 10 and y.shape == (h, w) and cb.shape == (h // 2, w // 2) and int(y[0, 0]) == 300
    assert [s.frame for s in srcmod.sequence_sources([tmp_path / "s.cfg"], frame_step=2)] == [0, 2]
    with pytest.raises(InputError):
        srcmod.read_sequence_yuv(tmp_path / "s.cfg", 3)


# ------------------------------------------------------------------------------- dump -> shard round trip
def test_samples_from_dump_and_shard_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    planes = [
        (
            rng.integers(16, 236, (128, 128)).astype(np.uint16),
            rng.integers(16, 241, (64, 64)).astype(np.uint16),
            rng.integers(16, 241, (64, 64)).astype(np.uint16),
        )
        for _ in range(2)
    ]
    pics = [PicturePartition(p, 128, 128, 32, _leaf_cus(p, 128, 128)) for p in range(2)]
    samples, extra = shards.samples_from_dump(pics, planes, ["a+0,0", "b+64,0"], 32, 8)
    assert len(samples) == 8 and (samples.qp == 32).all() and (samples.qt == 1).all()
    assert samples.source[5] == "b+64,0@64,0 qp32"
    assert np.array_equal(samples.luma[5, 4:, 4:], planes[1][0][:64, 64:])
    assert np.array_equal(samples.luma[5, 4:, :4], planes[1][0][:64, 60:64])  # left context
    assert extra["cb"].shape == (8, 34, 34) and np.array_equal(extra["cb"][5, 2:, 2:], planes[1][1][:32, 32:])
    assert (extra["cb"][5, :2] == 0).all()  # top context outside the picture
    assert (extra["qt_c"] == 1).all() and (extra["mtt_c"] == 0).all() and (extra["direction_c"] == 0).all()
    from pmp_vvc.learning.labels import save_shard

    save_shard(tmp_path / "s.npz", samples, extra=extra)
    back = load_shard(tmp_path / "s.npz")
    assert np.array_equal(back.luma, samples.luma) and np.array_equal(back.mtt, samples.mtt)
    chroma = shards.load_chroma(tmp_path / "s.npz")
    assert all(np.array_equal(chroma[k], extra[k]) for k in shards.CHROMA_FIELDS)
    save_shard(tmp_path / "luma_only.npz", samples)
    with pytest.raises(InputError, match="no field"):
        shards.load_chroma(tmp_path / "luma_only.npz")


def test_incomplete_dump_is_rejected() -> None:
    zeros = np.zeros((128, 64), np.uint16)
    planes = [(np.zeros((256, 128), np.uint16), zeros, zeros)]
    first_ctu_only = PicturePartition(0, 128, 256, 37, _leaf_cus(0, 128, 128))
    with pytest.raises(EncodeError, match="incomplete"):
        shards.samples_from_dump([first_ctu_only], planes, ["x"], 37, 8)
    with pytest.raises(EncodeError, match="POCs"):
        shards.samples_from_dump([], planes, ["x"], 37, 8)
    whole = PicturePartition(0, 128, 256, 32, _leaf_cus(0, 128, 256))
    with pytest.raises(EncodeError, match="QP"):
        shards.samples_from_dump([whole], planes, ["x"], 37, 8)


def test_plan_json_round_trip_and_mismatch(tmp_path: Path) -> None:
    src = srcmod.Source("image", str(_photo(tmp_path / "a.png", 384, 128)), "a.png")
    plan = dataset.DatasetPlan(tuple(srcmod.plan_crops([src], 2 * 128 * 128, 128)), (37,), 1, ())
    assert dataset.DatasetPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    assert len(plan.groups) == 2
    dataset.check_plan(tmp_path, plan)
    other = dataset.DatasetPlan(plan.crops, (22,), 1, ())
    with pytest.raises(ConfigError, match=r"plan\.json: qps\[0\]: 37 -> 22\)"):
        dataset.check_plan(tmp_path, other)
    moved = dataset.DatasetPlan(
        (replace(plan.crops[0], source=replace(src, path="/elsewhere/a.png")), *plan.crops[1:]), (37,), 1, ()
    )
    with pytest.raises(ConfigError, match=r"crops\[0\]\.source\.path: '.*a\.png' -> '/elsewhere/a\.png'"):
        dataset.check_plan(tmp_path, moved)
    with pytest.raises(ConfigError, match=r"crops: 2 entries -> 1"):
        dataset.check_plan(tmp_path, dataset.DatasetPlan(plan.crops[:1], (37,), 1, ()))


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    _photo(tmp_path / "a.png", 128, 128)
    with pytest.raises(ConfigError):
        cli.main([str(tmp_path), "--out", str(tmp_path / "o"), "--crop", "96", "--quiet"])
    with pytest.raises(ConfigError):
        cli.main([str(tmp_path), "--out", str(tmp_path / "o"), "--jobs", "0", "--quiet"])
    assert cli.run_cli(cli.main, [str(tmp_path / "nothing-here"), "--quiet"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["--help"])


# ----------------------------------------------------------------------------------- with the encoder
def _one_photo_two_shards(tmp_path: Path, out: Path) -> list[str]:
    """pmp-dataset arguments for one 128x128 photo: one crop group, two QPs (two shards)."""
    _photo(tmp_path / "a.png", 128, 128)
    return [
        str(tmp_path / "a.png"),
        "--out",
        str(out),
        "--crop",
        "128",
        "--budget-mpix",
        "0.0164",
        "--qp",
        "37",
        "32",
        "--quiet",
    ]


@pytest.mark.encoder
def test_build_dataset_resumes_and_records_provenance(tmp_path: Path) -> None:
    import pmp_vvc

    out = tmp_path / "ds"
    argv = _one_photo_two_shards(tmp_path, out)
    with pytest.raises(SystemExit):  # stop after one of two shards, as a killed run would
        raise SystemExit(cli.main([*argv, "--max-shards", "1"]))
    assert len(dataset.shard_paths(out)) == 1
    assert cli.main(argv) == 0
    paths = dataset.shard_paths(out)
    assert [p.name for p in paths] == ["g000000-qp32.npz", "g000000-qp37.npz"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["blocks"] == 8 and len(manifest["shards"]) == 2
    rec = manifest["shards"][0]
    assert rec["build_id"] == pmp_vvc.build_id() and rec["crops"][0]["source"] == "a.png"
    assert len(rec["bitstream_md5"]) == 32
    s = load_shard(paths[0])
    assert len(s) == 4 and (s.qp == 32).all() and (s.qt >= 0).all()
    assert not (out / "work" / "g000000").exists()
    stamp = paths[0].stat().st_mtime_ns
    assert cli.main(argv) == 0  # nothing left to do: no shard rewritten
    assert paths[0].stat().st_mtime_ns == stamp


@pytest.mark.encoder
def test_anchor_reproduces_starter_labels_first_pictures(tmp_path: Path) -> None:
    """Our anchor + dump on the starter's exact samples gives the starter's CU rows (QP 37, POCs 0-1)."""
    crops = np.load(_shared_or_skip(STARTER / "batch011" / "crops.npz"))
    ref = np.load(STARTER / "batch011" / "qp37.npz")
    assert tuple(ref["columns"]) == COLUMNS
    planes = [(crops["luma"][i], crops["cb"][i], crops["cr"][i]) for i in range(2)]
    result = shards.encode_anchor(shards.write_sequence(planes, 8, tmp_path), 37)
    assert [p.poc for p in result.pictures] == [0, 1]
    for pic in result.pictures:
        want = ref["cus"][ref["cus"][:, 0] == pic.poc]
        assert np.array_equal(sort_cus(pic.cus), sort_cus(want))


@pytest.mark.encoder
@pytest.mark.slow
def test_anchor_reproduces_starter_batch_bit_exactly(tmp_path: Path) -> None:
    """Whole batch011 at QP 37 (~60 CPU-s): same bitstream MD5 as the stored .bin and same CU rows."""
    import hashlib

    crops = np.load(_shared_or_skip(STARTER / "batch011" / "crops.npz"))
    ref = np.load(STARTER / "batch011" / "qp37.npz")
    planes = [(crops["luma"][i], crops["cb"][i], crops["cr"][i]) for i in range(len(crops["luma"]))]
    result = shards.encode_anchor(shards.write_sequence(planes, 8, tmp_path), 37)
    assert result.bitstream_md5 == hashlib.md5((STARTER / "batch011" / "qp37.bin").read_bytes()).hexdigest()
    cus = np.concatenate([p.cus for p in result.pictures])
    assert np.array_equal(sort_cus(cus), sort_cus(ref["cus"]))


def test_cli_dask_needs_a_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _photo(tmp_path / "a.png", 128, 128)
    argv = [str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--crop", "128", "--executor", "dask"]
    assert cli.run_cli(cli.main, argv) == 2
    assert "--scheduler" in capsys.readouterr().err


@pytest.mark.encoder
@pytest.mark.slow
def test_build_dataset_on_dask(tmp_path: Path) -> None:
    """pmp-dataset's shards run on the executors, so on a Dask cluster as pmp-run's encodes do."""
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "ds"
    argv = _one_photo_two_shards(tmp_path, out)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        assert cli.main([*argv, "--executor", "dask", "--scheduler", cluster.scheduler_address]) == 0
    assert [p.name for p in dataset.shard_paths(out)] == ["g000000-qp32.npz", "g000000-qp37.npz"]
    assert json.loads((out / "manifest.json").read_text())["blocks"] == 8
