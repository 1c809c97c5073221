"""The --PMP* options on the Python side: defaults and checks once, file paths made absolute."""

from pathlib import Path

import pytest

from pmp_vvc.codec.options import MapGuideOptions, absolute_paths, option_value
from pmp_vvc.errors import ConfigError


def test_defaults_are_those_of_the_encoder_help() -> None:
    assert MapGuideOptions.parse({}) == MapGuideOptions(
        level=2,
        threshold=0.0,
        qt_threshold=-1.0,
        branch_threshold=-1.0,
        chroma_level=0,
        chroma_threshold=-1.0,
        edge_blocks=True,
        threads=1,
    )
    # the encoder hands over every option, empty when not given
    assert MapGuideOptions.parse({"PMPLevel": "", "PMPThreshold": ""}) == MapGuideOptions()
    got = MapGuideOptions.parse(
        {"PMPLevel": "3", "PMPThreshold": "0.7", "PMPEdgeBlocks": "0", "PMPBranchThreshold": "0.5"}
    )
    assert (got.level, got.threshold, got.edge_blocks, got.branch_threshold) == (3, 0.7, False, 0.5)


def test_threshold_per_qp() -> None:
    got = MapGuideOptions.parse({"PMPThreshold": "22:0.7,27:0.9"})
    assert got.threshold_by_qp == ((22, 0.7), (27, 0.9)) and got.threshold == 0.7
    assert MapGuideOptions.parse({"PMPThreshold": "0.8"}).threshold_by_qp == ()


def test_side_thresholds() -> None:
    got = MapGuideOptions.parse({"PMPSideThreshold": "32:0.7,8:0.95", "PMPThreshold": "0.9"})
    assert got.side_thresholds == ((32, 0.7), (8, 0.95)) and got.threshold == 0.9
    assert MapGuideOptions.parse({"PMPSideThreshold": ""}).side_thresholds == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"PMPLevel": "4"}, "--PMPLevel must be 0, 1, 2 or 3"),
        ({"PMPLevel": "two"}, "not a valid int"),
        ({"PMPThreshold": "1.5"}, "--PMPThreshold must be in"),
        ({"PMPThreshold": "22:0.7,27"}, "'27' is not QP:threshold"),
        ({"PMPThreshold": "22:0.7,x:0.9"}, "'x:0.9' is not QP:threshold"),
        ({"PMPThreshold": "27:0.7,22:0.9"}, "the QPs must increase, got 27 before 22"),
        ({"PMPThreshold": "22:0.7,27:1.2"}, "the threshold at QP 27 must be in"),
        ({"PMPQtThreshold": "2"}, "--PMPQtThreshold must be <= 1"),
        ({"PMPBranchThreshold": "1.5"}, "--PMPBranchThreshold must be <= 1"),
        ({"PMPSideThreshold": "0.7"}, "'0.7' is not side:threshold"),
        ({"PMPSideThreshold": "12:0.7"}, "a node side must be 4, 8, 16, 32 or 64, got 12"),
        ({"PMPSideThreshold": "32:0.7,32:0.8"}, "side 32 is given twice"),
        ({"PMPSideThreshold": "8:1.1"}, "the threshold at side 8 must be in"),
        ({"PMPThreads": "0"}, "--PMPThreads must be >= 1"),
    ],
)
def test_bad_values(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MapGuideOptions.parse(options)


def test_absolute_paths(tmp_path: Path) -> None:
    base = tmp_path
    opts = (
        "--PMPModel=m.onnx",
        "--PMPLevel=2",
        "--PMPGuide=oracle:d/x_QP{qp}.dump",
        "--PMPDumpPartition",
        "p.dump",
        "--PMPGuide=no-qt-below:32",
    )
    assert absolute_paths(opts, base) == (
        f"--PMPModel={base}/m.onnx",
        "--PMPLevel=2",
        f"--PMPGuide=oracle:{base}/d/x_QP{{qp}}.dump",
        f"--PMPDumpPartition={base}/p.dump",
        "--PMPGuide=no-qt-below:32",
    )
    # shipped model names win over files; absolute paths and two-token forms that need no change stay as given
    same = ("--PMPModel", "default", "--PMPModel=pmp-vit-rho0.5", "--PMPGuide=replay:/abs/m.npz")
    assert absolute_paths(same, base) == same
    assert option_value(["--PMPModel=a", "--PMPModel", "b"], "PMPModel") == (1, 3, "b")
