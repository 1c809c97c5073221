import pytest

from pmp_vvc.errors import ConfigError
from pmp_vvc.evaluation.qpspec import parse_qp_spec


@pytest.mark.parametrize(
    ("spec", "qps"),
    [
        ("22..37", (22, 27, 32, 37)),
        ("22..37:1", tuple(range(22, 38))),
        ("22..37:5", (22, 27, 32, 37)),
        ("22,27,32,37", (22, 27, 32, 37)),
        (" 37, 22 ", (22, 37)),
        ("32", (32,)),
        ("0..63:63", (0, 63)),
        ("22 .. 36 : 7", (22, 29, 36)),
    ],
)
def test_accepted_forms(spec: str, qps: tuple[int, ...]) -> None:
    assert parse_qp_spec(spec) == qps


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "abc",
        "22-37",
        "22..",
        "..37",
        "37..22",
        "22..37:0",
        "22,,27",
        "22,27,22",
        "64",
        "-1",
        "22.5",
        "22..37:-5",
        "22;27",
        "0x16",
    ],
)
def test_rejected_forms(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_qp_spec(spec)
