r"""pmp-dataset: make partition-map training labels with the anchor encoder (resumable, parallel).

Photos (PNG/JPEG; folders are searched recursively) and/or YUV sequences (VTM per-sequence cfgs) are
converted to YUV 4:2:0 (photos: BT.601 limited range, 8-bit), cut into square crops on a 64-aligned grid
spread over all sources under a pixel budget, and encoded by the unmodified VTM-23.13 all-intra encoder at
each QP with the partition dump. Shards and a provenance manifest go to OUT (default
``$PMP_VVC_CACHE/labels/NAME``, i.e. ``~/.cache/pmp-vvc/labels/NAME``). Rerun the same command to resume.

Example::

    pmp-dataset ../shared/data/train --name train-256 --budget-mpix 20 --jobs 2 \
        --exclude-crops ../shared/data/labels/vtm23.13-ai-256/batch011/crops.npz
    pmp-dataset /shared/photos --out /shared/labels/x --executor dask --scheduler tcp://head:8786
    pmp-dataset --name rd-seed11 --pack labels/rd-seed11          # compact form, for committing
    pmp-dataset --from-labels labels/rd-seed11 --name rd-seed11    # shards again, without encoding
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pmp_vvc.cli.common import executor_parser, parent_parser, run_cli, setup_logging
from pmp_vvc.errors import ConfigError, InputError

log = logging.getLogger("pmp_vvc.cli.dataset")


def build_parser() -> argparse.ArgumentParser:
    """Build the pmp-dataset argument parser."""
    p = argparse.ArgumentParser(
        prog="pmp-dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[parent_parser(), executor_parser()],
    )
    p.add_argument(
        "sources",
        nargs="*",
        type=Path,
        help="image files/folders (PNG/JPEG) and/or per-sequence .cfg files of YUV sequences",
    )
    p.add_argument("--name", default="train", help="dataset name (folder under the cache; default train)")
    p.add_argument("--out", type=Path, help="output folder (overrides --name)")
    p.add_argument(
        "--budget-mpix",
        type=float,
        default=4.0,
        help="luma megapixels of crops per QP (default 4; VTM needs ~200 CPU-µs per pixel per QP)",
    )
    p.add_argument("--crop", type=int, default=256, help="crop side, multiple of 64 (default 256)")
    p.add_argument("--group", type=int, default=8, help="crops per encoder run / shard (default 8)")
    p.add_argument("--qp", type=int, nargs="+", help="QPs (default 22 27 32 37)")
    p.add_argument("--seed", type=int, default=0, help="seed of the crop plan (default 0)")
    p.add_argument(
        "--frame-step", type=int, default=8, help="YUV sequences: use every N-th frame (default 8)"
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="leave out this image (name relative to its source folder); repeatable",
    )
    p.add_argument(
        "--exclude-crops",
        action="append",
        default=[],
        type=Path,
        metavar="CROPS_NPZ",
        help="leave out every image used by a starter-label crops.npz (e.g. held-out batches)",
    )
    p.add_argument(
        "--encoder-arg",
        action="append",
        default=[],
        metavar="OPTION",
        help="extra EncoderApp option of every label encode, repeatable, e.g. "
        "--encoder-arg=--PMPModel=default --encoder-arg=--PMPLevel=2: labels of a guided encode (such as "
        "chroma trees coded after the model's luma tree); part of the plan",
    )
    p.add_argument(
        "--max-shards",
        type=int,
        help="stop after encoding this many new shards; with --from-labels: make the label set's first N "
        "units only (200: the data of the shipped model v7)",
    )
    p.add_argument(
        "--pack",
        type=Path,
        metavar="DIR",
        help="only write the compact label set (RD-cost labels, no pixels) of OUT/NAME's finished shards "
        "into DIR, for committing",
    )
    p.add_argument(
        "--from-labels",
        type=Path,
        metavar="DIR",
        help="make OUT/NAME's shards from the packed label set DIR without encoding, reading the crops "
        "again from the images under --data-root",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path("../shared/data/train"),
        help="with --from-labels: folder the label set's image names are relative to "
        "(default ../shared/data/train)",
    )
    p.add_argument(
        "--stats",
        action="store_true",
        help="only print the label statistics (per QP) of the finished shards of OUT/NAME",
    )
    return p


def _excluded(args: argparse.Namespace) -> set[str]:
    names = set(args.exclude)
    for path in args.exclude_crops:
        try:
            with np.load(path, allow_pickle=False) as z:
                names.update(str(s).rsplit("@", 1)[0] for s in z["source"])
        except (OSError, KeyError, ValueError) as err:
            raise InputError(f"cannot read crop sources from {path}: {err}") from err
    return names


def _print_stats(out: Path) -> None:
    from pmp_vvc.learning import dataset
    from pmp_vvc.learning.labels import concat, label_statistics, load_shard

    paths = dataset.shard_paths(out)
    if not paths:
        raise InputError(f"no finished shards in {out}")
    stats = label_statistics(concat([load_shard(p) for p in paths]))
    print(
        "| QP | blocks | QT 64/32/16/8 | MTT incr 0/1/2, layer 1 ; 2 ; 3 "
        "| dir none/hor/ver, layer 1 ; 2 ; 3 |"
    )
    print("|---|---|---|---|---|")
    for qp, row in stats.items():

        def f(v: list[float]) -> str:
            return "/".join(f"{x:.2f}" for x in v)

        mtt = " ; ".join(f(row[f"mtt{k}"]) for k in (1, 2, 3))
        dirs = " ; ".join(f(row[f"direction{k}"]) for k in (1, 2, 3))
        print(f"| {qp} | {int(row['blocks'][0])} | {f(row['qt'])} | {mtt} | {dirs} |")


def _encoder_args(options: Sequence[str]) -> tuple[str, ...]:
    """Check the extra label-encode options (before any encode) and make their paths absolute."""
    from pmp_vvc.codec.options import MapGuideOptions, absolute_paths
    from pmp_vvc.codec.vtmcfg import parse_option_args
    from pmp_vvc.evaluation.sweep import check_models, check_test_options

    check_test_options(options, "--encoder-arg")
    if any(o.split("=", 1)[0] == "--PMPDumpPartition" for o in options):
        raise ConfigError("--encoder-arg must not set --PMPDumpPartition (pmp-dataset sets it)")
    MapGuideOptions.parse(parse_option_args(options))
    check_models(options)
    return absolute_paths(options)


def _pack_or_materialise(args: argparse.Namespace, out: Path) -> int:
    from pmp_vvc.learning import labelset

    if args.pack and args.from_labels:
        raise ConfigError("--pack and --from-labels are two different jobs: give one")
    if args.pack:
        manifest = labelset.pack(out, args.pack)
        size = sum(p.stat().st_size for p in args.pack.rglob("*") if p.is_file())
        log.info(
            "pmp-dataset: packed %d units (%d blocks) into %s, %.1f MB",
            len(manifest["units"]),
            manifest["blocks"],
            args.pack,
            size / 1e6,
        )
        return 0

    def progress(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            log.info("[%d/%d] shards made", done, total)

    manifest = labelset.materialise(
        args.from_labels, out, args.data_root, progress=progress, max_units=args.max_shards
    )
    log.info("pmp-dataset: %d shards, %d blocks in %s", len(manifest["shards"]), manifest["blocks"], out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run pmp-dataset; returns the exit code."""
    from pmp_vvc.evaluation.executors import make_executor
    from pmp_vvc.learning import dataset, sources

    args = build_parser().parse_args(argv)
    setup_logging(args)
    out = args.out or dataset.default_out_dir(args.name)
    if args.stats:
        _print_stats(out)
        return 0
    if args.pack or args.from_labels:
        return _pack_or_materialise(args, out)
    if not args.sources:
        raise ConfigError(
            "give the sources to encode (images, folders, sequence cfgs), or --pack/--from-labels"
        )
    jobs = 1 if args.jobs is None else args.jobs
    if jobs < 1 or args.group < 1 or args.budget_mpix <= 0:
        raise ConfigError("--jobs and --group must be >= 1 and --budget-mpix > 0")
    cfgs = [s for s in args.sources if s.suffix == ".cfg"]
    images = [s for s in args.sources if s.suffix != ".cfg"]
    found = []
    if images:
        found += sources.find_images(images, exclude=_excluded(args))
    if cfgs:
        found += sources.sequence_sources(cfgs, frame_step=args.frame_step)
    crops = sources.plan_crops(found, int(args.budget_mpix * 1e6), args.crop, args.seed)
    plan = dataset.DatasetPlan(
        tuple(crops), dataset.qps_from(args.qp), args.group, _encoder_args(args.encoder_arg)
    )
    log.info(
        "pmp-dataset: %d crops of %dx%d from %d sources, %d shards x %d QPs -> %s",
        len(crops),
        args.crop,
        args.crop,
        len({c.source.name for c in crops}),
        len(plan.groups),
        len(plan.qps),
        out,
    )

    def progress(done: int, total: int, record: dict[str, Any]) -> None:
        log.info(
            "[%d/%d] %s: %d blocks, %.1f CPU-s",
            done,
            total,
            record["shard"],
            record["blocks"],
            record["cpu_seconds"],
        )

    executor = make_executor(args.executor, jobs, args.scheduler)
    try:
        manifest = dataset.build_dataset(
            plan, out, progress=progress, max_units=args.max_shards, executor=executor
        )
    finally:
        executor.close()
    log.info("pmp-dataset: %d shards, %d blocks in %s", len(manifest["shards"]), manifest["blocks"], out)
    return 0


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    entry()
