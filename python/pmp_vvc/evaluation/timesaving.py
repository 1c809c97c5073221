"""Encoding-time saving and RD-check reduction, defined once (design §6).

* Time saving per QP: ``TS = (T_anchor - T_test) / T_anchor``, in percent.
* Mean TS: arithmetic mean of the per-QP savings.
* EncT (JVET sheet): geometric mean over QPs of ``T_test / T_anchor`` (a ratio; 0.25 = 4x faster).
* RD-check reduction: ``1 - checks_test / checks_anchor`` in percent, summed over the QPs, for the luma
  tree and for all trees; checks = non-split (intra) searches + split modes RD-tested.
* Intra-sample reduction: the same of the samples the intra searches covered (a search's work grows with
  its block's area, so this follows the time where a count of tests does not), for the luma tree and for
  all trees.
* Time-proxy fit: R² of the least-squares line of the time ratios ``T_test / T_anchor`` of paired encodes
  on the same ratios of a deterministic counter (how much of the time the counter explains).

Times are CPU seconds of the encoder process (user + sys, network inference included).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pmp_vvc.codec.vtmlog import ChannelCounters

__all__ = [
    "TimeSummary",
    "enc_t",
    "enc_t_of_ratios",
    "intra_sample_reduction",
    "mean_time_saving",
    "proxy_fit",
    "rd_check_reduction",
    "summarize",
    "time_saving",
]


def time_saving(t_anchor: float, t_test: float) -> float:
    """Time saving in percent; ``nan`` if the anchor time is not positive."""
    if not t_anchor > 0 or not math.isfinite(t_test):
        return math.nan
    return 100.0 * (t_anchor - t_test) / t_anchor


def mean_time_saving(t_anchor: Sequence[float], t_test: Sequence[float]) -> float:
    """Mean over QPs of the per-QP time saving (percent)."""
    if len(t_anchor) != len(t_test):
        raise ValueError("anchor and test time lists differ in length")
    values = [time_saving(a, t) for a, t in zip(t_anchor, t_test, strict=True)]
    return sum(values) / len(values) if values else math.nan


def enc_t(t_anchor: Sequence[float], t_test: Sequence[float]) -> float:
    """JVET EncT: geometric mean of ``T_test / T_anchor`` (``nan`` if any time is not positive)."""
    if len(t_anchor) != len(t_test):
        raise ValueError("anchor and test time lists differ in length")
    if not t_anchor or any(not (a > 0 and t > 0) for a, t in zip(t_anchor, t_test, strict=True)):
        return math.nan
    return enc_t_of_ratios([t / a for a, t in zip(t_anchor, t_test, strict=True)])


def enc_t_of_ratios(ratios: Sequence[float]) -> float:
    """EncT of time ratios ``T_test / T_anchor`` already taken (per QP, or over a class): geometric mean."""
    if not ratios or any(not r > 0 for r in ratios):
        return math.nan
    return math.exp(sum(map(math.log, ratios)) / len(ratios))


def rd_check_reduction(
    anchor: Sequence[Sequence[ChannelCounters]],
    test: Sequence[Sequence[ChannelCounters]],
    channel: str | None = None,
) -> float | None:
    """RD-check reduction in percent over all given encodes (one counter list per encode).

    ``channel`` restricts to one tree (``"luma"``/``"chroma"``); ``None`` sums all trees. Returns
    ``None`` when any encode has no counters (vanilla VTM) or the anchor made no checks.
    """
    return _reduction(anchor, test, channel, lambda c: c.total)


def intra_sample_reduction(
    anchor: Sequence[Sequence[ChannelCounters]],
    test: Sequence[Sequence[ChannelCounters]],
    channel: str | None = None,
) -> float | None:
    """Reduction in percent of the samples the intra searches covered, as :func:`rd_check_reduction`.

    ``None`` also when a log has no sample counts (an older build).
    """
    return _reduction(anchor, test, channel, lambda c: c.intra_samples)


def _reduction(
    anchor: Sequence[Sequence[ChannelCounters]],
    test: Sequence[Sequence[ChannelCounters]],
    channel: str | None,
    measure: Callable[[ChannelCounters], int | None],
) -> float | None:
    def total(encodes: Sequence[Sequence[ChannelCounters]]) -> int | None:
        amount = 0
        for counters in encodes:
            chosen = [measure(c) for c in counters if channel is None or c.channel == channel]
            if not chosen or None in chosen:
                return None
            amount += sum(v for v in chosen if v is not None)
        return amount

    a, t = total(anchor), total(test)
    if a is None or t is None or a <= 0 or not anchor:
        return None
    return 100.0 * (1.0 - t / a)


def proxy_fit(time_ratios: Sequence[float], counter_ratios: Sequence[float]) -> float:
    """R² of the line fitting the time ratios on the counter ratios (nan below 3 pairs or if one is flat)."""
    if len(time_ratios) != len(counter_ratios):
        raise ValueError("time and counter ratio lists differ in length")
    n = len(time_ratios)
    if n < 3:
        return math.nan
    mt, mc = sum(time_ratios) / n, sum(counter_ratios) / n
    stt = sum((t - mt) ** 2 for t in time_ratios)
    scc = sum((c - mc) ** 2 for c in counter_ratios)
    stc = sum((t - mt) * (c - mc) for t, c in zip(time_ratios, counter_ratios, strict=True))
    if not (stt > 0 and scc > 0):
        return math.nan
    return stc * stc / (stt * scc)  # a one-variable line's R² is the squared correlation


@dataclass(frozen=True)
class TimeSummary:
    """Time and RD-check figures of one sequence (or one class)."""

    ts_per_qp: Mapping[int, float]
    mean_ts: float
    enc_t: float
    rdc_reduction_luma: float | None
    rdc_reduction_total: float | None
    t_anchor: float
    t_test: float
    rdc_reduction_chroma: float | None = None
    samples_reduction_luma: float | None = None  # of the luma intra searches' samples
    samples_reduction_total: float | None = None  # of all trees' intra searches' samples


def summarize(
    t_anchor: Mapping[int, float],
    t_test: Mapping[int, float],
    counters_anchor: Mapping[int, Sequence[ChannelCounters]] | None = None,
    counters_test: Mapping[int, Sequence[ChannelCounters]] | None = None,
) -> TimeSummary:
    """Time saving per QP, mean TS, EncT and RD-check reductions over the QPs both sides have."""
    qps = sorted(set(t_anchor) & set(t_test))
    ta = [t_anchor[q] for q in qps]
    tt = [t_test[q] for q in qps]
    luma = chroma = total = samples = samples_total = None
    if counters_anchor is not None and counters_test is not None and qps:
        ca = [counters_anchor.get(q, ()) for q in qps]
        ct = [counters_test.get(q, ()) for q in qps]
        luma = rd_check_reduction(ca, ct, "luma")
        chroma = rd_check_reduction(ca, ct, "chroma")
        total = rd_check_reduction(ca, ct)
        samples = intra_sample_reduction(ca, ct, "luma")
        samples_total = intra_sample_reduction(ca, ct)
    return TimeSummary(
        ts_per_qp={q: time_saving(a, t) for q, a, t in zip(qps, ta, tt, strict=True)},
        mean_ts=mean_time_saving(ta, tt) if qps else math.nan,
        enc_t=enc_t(ta, tt) if qps else math.nan,
        rdc_reduction_luma=luma,
        rdc_reduction_total=total,
        t_anchor=sum(ta),
        t_test=sum(tt),
        rdc_reduction_chroma=chroma,
        samples_reduction_luma=samples,
        samples_reduction_total=samples_total,
    )
