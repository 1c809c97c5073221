"""Bjøntegaard deltas (BD-rate, BD-PSNR) for Y, U, V and YUV, wrapping the ``bjontegaard`` package.

Conventions (design §6): rates in any common unit (kbps), PSNR in dB, QPs as the RD points;
interpolation ``pchip`` by default (the JVET CTC Excel sheet), ``cubic`` or ``akima`` on request;
``PSNR_YUV = (6·Y + U + V) / 8``. BD-rate is in percent (negative = test saves rate), BD-PSNR in dB.

Problems that make a delta unreliable (little overlap between the curves, non-monotonic curves, too
few points) do not raise: they are returned as human-readable strings in
:attr:`BDResult.warnings` and the affected value may be ``nan``.

Note: ``bjontegaard`` imports ``matplotlib.pyplot`` at import time, so it is imported lazily here
(only when a delta is computed) and this module itself never touches matplotlib.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from pmp_vvc.errors import ConfigError

__all__ = [
    "METHODS",
    "BDResult",
    "RDPoint",
    "bd_psnr",
    "bd_rate",
    "bd_rate_two_points",
    "compare",
    "psnr_yuv",
]

METHODS = ("pchip", "cubic", "akima")
#: Curves overlapping less than this fraction of their joint PSNR (or rate) span get a warning.
MIN_OVERLAP = 0.75


def psnr_yuv(y: float, u: float, v: float) -> float:
    """JVET weighted YUV PSNR: ``(6·Y + U + V) / 8``."""
    return (6.0 * y + u + v) / 8.0


@dataclass(frozen=True)
class RDPoint:
    """One rate-distortion point (one encode at one QP)."""

    rate: float
    psnr_y: float
    psnr_u: float
    psnr_v: float

    @property
    def psnr_yuv(self) -> float:
        """Weighted YUV PSNR of this point."""
        return psnr_yuv(self.psnr_y, self.psnr_u, self.psnr_v)


@dataclass(frozen=True)
class BDResult:
    """BD-rate (%) and BD-PSNR (dB) per component, with the method used and any warnings."""

    method: str
    bd_rate_y: float
    bd_rate_u: float
    bd_rate_v: float
    bd_rate_yuv: float
    bd_psnr_y: float
    bd_psnr_u: float
    bd_psnr_v: float
    bd_psnr_yuv: float
    warnings: tuple[str, ...] = field(default=())


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown BD interpolation method {method!r}; use one of {', '.join(METHODS)}")


def _monotonic(rate: Sequence[float], psnr: Sequence[float]) -> bool:
    pairs = sorted(zip(rate, psnr, strict=True))
    return all(b[0] > a[0] and b[1] > a[1] for a, b in itertools.pairwise(pairs))


def _delta(
    kind: str,
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
    method: str,
    label: str,
) -> tuple[float, list[str]]:
    """Compute one delta; never raises on bad curves (returns nan and warnings instead)."""
    _check_method(method)
    notes: list[str] = []
    prefix = f"{label}: " if label else ""
    if len(rate_anchor) != len(psnr_anchor) or len(rate_test) != len(psnr_test):
        raise ValueError("rate and PSNR lists must have the same length")
    if min(len(rate_anchor), len(rate_test)) < 2:
        return math.nan, [f"{prefix}BD-{kind} needs at least 2 points per curve"]
    if min(len(rate_anchor), len(rate_test)) < 4 and method == "cubic":
        notes.append(f"{prefix}cubic BD-{kind} with fewer than 4 points is not meaningful")
    values = [*rate_anchor, *rate_test, *psnr_anchor, *psnr_test]
    if not all(math.isfinite(x) for x in values) or min(*rate_anchor, *rate_test) <= 0:
        return math.nan, [*notes, f"{prefix}BD-{kind} needs positive rates and finite PSNRs"]
    for name, rate, psnr in (("anchor", rate_anchor, psnr_anchor), ("test", rate_test, psnr_test)):
        if not _monotonic(rate, psnr):
            notes.append(f"{prefix}{name} RD curve is not monotonic (PSNR does not rise with rate)")
    # Sort each curve along the interpolation variable so that bjontegaard sees increasing x.
    key = 1 if kind == "rate" else 0
    anchor = sorted(zip(rate_anchor, psnr_anchor, strict=True), key=lambda p: p[key])
    test = sorted(zip(rate_test, psnr_test, strict=True), key=lambda p: p[key])
    import bjontegaard

    func = bjontegaard.bd_rate if kind == "rate" else bjontegaard.bd_psnr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(
                func(
                    [p[0] for p in anchor],
                    [p[1] for p in anchor],
                    [p[0] for p in test],
                    [p[1] for p in test],
                    method=method,
                    require_matching_points=False,
                    min_overlap=MIN_OVERLAP,
                )
            )
        except (ValueError, AssertionError, ZeroDivisionError, FloatingPointError) as err:
            value = math.nan
            notes.append(f"{prefix}BD-{kind} could not be computed: {err or type(err).__name__}")
    notes.extend(f"{prefix}BD-{kind}: {w.message}" for w in caught)
    if not math.isfinite(value) and not any("could not" in n or "overlap" in n for n in notes):
        notes.append(f"{prefix}BD-{kind} is not finite")
    return value, notes


def bd_rate(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
    method: str = "pchip",
    label: str = "",
) -> tuple[float, list[str]]:
    """BD-rate in percent of test vs anchor, and the warnings it raised (``label`` prefixes them).

    Raises:
        ConfigError: unknown ``method``.
    """
    return _delta("rate", rate_anchor, psnr_anchor, rate_test, psnr_test, method, label)


def bd_psnr(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
    method: str = "pchip",
    label: str = "",
) -> tuple[float, list[str]]:
    """BD-PSNR in dB of test vs anchor, and the warnings it raised.

    Raises:
        ConfigError: unknown ``method``.
    """
    return _delta("psnr", rate_anchor, psnr_anchor, rate_test, psnr_test, method, label)


def compare(
    anchor: Sequence[RDPoint], test: Sequence[RDPoint], method: str = "pchip", label: str = ""
) -> BDResult:
    """All BD-rates and BD-PSNRs (Y, U, V, YUV) of a test curve against an anchor curve."""
    _check_method(method)
    rate_a = [p.rate for p in anchor]
    rate_t = [p.rate for p in test]
    rates: dict[str, float] = {}
    psnrs: dict[str, float] = {}
    notes: list[str] = []
    for comp in ("y", "u", "v", "yuv"):
        pa = [getattr(p, f"psnr_{comp}") for p in anchor]
        pt = [getattr(p, f"psnr_{comp}") for p in test]
        comp_label = f"{label} {comp.upper()}".strip()
        rates[comp], n1 = bd_rate(rate_a, pa, rate_t, pt, method, comp_label)
        psnrs[comp], n2 = bd_psnr(rate_a, pa, rate_t, pt, method, comp_label)
        notes.extend(n for n in (*n1, *n2) if n not in notes)
    return BDResult(
        method=method,
        bd_rate_y=rates["y"],
        bd_rate_u=rates["u"],
        bd_rate_v=rates["v"],
        bd_rate_yuv=rates["yuv"],
        bd_psnr_y=psnrs["y"],
        bd_psnr_u=psnrs["u"],
        bd_psnr_v=psnrs["v"],
        bd_psnr_yuv=psnrs["yuv"],
        warnings=tuple(notes),
    )


def bd_rate_two_points(anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]]) -> float:
    """BD-rate (a fraction, not percent) of two (rate, PSNR) points per side: log-rate linear in PSNR.

    The method for two QPs (the CI gate), where no cubic fit exists; ``nan`` without PSNR overlap.
    """

    def fit(pts: Sequence[tuple[float, float]]) -> tuple[float, float, float, float]:
        (r0, p0), (r1, p1) = sorted(pts, key=lambda t: t[1])
        slope = (math.log(r1) - math.log(r0)) / (p1 - p0)
        return p0, p1, math.log(r0), slope

    a, t = fit(anchor), fit(test)
    lo, hi = max(a[0], t[0]), min(a[1], t[1])
    if hi <= lo:
        return math.nan

    def mean_log_rate(f: tuple[float, float, float, float]) -> float:
        p0, _, l0, s = f
        return l0 + s * ((lo + hi) / 2 - p0)  # mean of a linear function over [lo, hi]

    return math.exp(mean_log_rate(t) - mean_log_rate(a)) - 1
