"""The run summary: its types and how encode records become one (per sequence, per class, overall).

Per sequence: BD-rate Y/U/V/YUV (%), BD-PSNR Y/YUV (dB), mean time saving TS (%), EncT (geometric
mean of T_test/T_anchor), RD-check reductions (when the encoder printed counters), on the QPs where
both anchor and test succeeded. Per class (and "Overall"): arithmetic means of the sequence BD-rates,
BD-PSNRs, TS and RD-check reductions, and EncT as the geometric mean of every (sequence, QP) time
ratio in the class, as in the JVET CTC sheet. ``summary_json`` is its JSON form (schema
``pmp-vvc/run-summary`` v1; NaN as null); ``report.py`` writes the files.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pmp_vvc.evaluation.bdrate import BDResult, RDPoint, compare
from pmp_vvc.evaluation.records import EncodeResult
from pmp_vvc.evaluation.timesaving import TimeSummary, enc_t_of_ratios, summarize

__all__ = [
    "RUN_SCHEMA",
    "RUN_SCHEMA_VERSION",
    "ClassSummary",
    "QPPoint",
    "RunSummary",
    "SequenceSummary",
    "finite_or_none",
    "summarize_run",
    "summarize_sequence",
    "summary_json",
]

RUN_SCHEMA = "pmp-vvc/run-summary"
RUN_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class QPPoint:
    """One successful encode reduced to what the report needs."""

    qp: int
    rate: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    cpu_time: float
    wall: float

    @classmethod
    def from_result(cls, result: EncodeResult) -> QPPoint:
        """Point of a successful record (its summary table and CPU time)."""
        s = result.summary
        if s is None:
            raise ValueError(f"{result.job.stem} has no summary")
        return cls(
            result.job.qp, s.bitrate, s.psnr_y, s.psnr_u, s.psnr_v, s.psnr_yuv, result.cpu_time, result.wall
        )

    def rd(self) -> RDPoint:
        """As a BD-rate input point."""
        return RDPoint(self.rate, self.psnr_y, self.psnr_u, self.psnr_v)


@dataclass(frozen=True)
class SequenceSummary:
    """Results of one sequence over the QPs."""

    name: str
    seq_class: str
    width: int
    height: int
    coded_frames: int
    anchor: tuple[QPPoint, ...]
    test: tuple[QPPoint, ...]
    bd: BDResult | None
    time: TimeSummary | None
    missing_qps: tuple[int, ...]
    warnings: tuple[str, ...]

    @property
    def time_ratios(self) -> tuple[float, ...]:
        """``T_test / T_anchor`` per QP both sides have."""
        a = {p.qp: p.cpu_time for p in self.anchor}
        return tuple(p.cpu_time / a[p.qp] for p in self.test if p.qp in a and a[p.qp] > 0 and p.cpu_time > 0)


@dataclass(frozen=True)
class ClassSummary:
    """Averages over the sequences of one class (or all sequences: ``name == "Overall"``)."""

    name: str
    sequences: int
    bd_rate_y: float
    bd_rate_u: float
    bd_rate_v: float
    bd_rate_yuv: float
    bd_psnr_y: float
    bd_psnr_yuv: float
    mean_ts: float
    enc_t: float
    rdc_reduction_luma: float | None
    rdc_reduction_total: float | None


@dataclass(frozen=True)
class RunSummary:
    """The whole run: settings, sequences, classes, overall, and what went wrong."""

    bd_method: str
    anchor_options: tuple[str, ...]
    test_options: tuple[str, ...]
    test_label: str
    sequences: tuple[SequenceSummary, ...]
    classes: tuple[ClassSummary, ...]
    overall: ClassSummary | None
    failures: tuple[str, ...]
    warnings: tuple[str, ...]
    verify: tuple[str, ...] | None = None
    settings: Mapping[str, str] = dataclasses.field(default_factory=dict)


def summarize_sequence(
    name: str,
    seq_class: str,
    size: tuple[int, int],
    coded_frames: int,
    pairs: Mapping[int, tuple[EncodeResult | None, EncodeResult | None]],
    method: str = "pchip",
) -> SequenceSummary:
    """Summary of one sequence from ``{qp: (anchor record, test record)}`` (``None`` = missing)."""
    anchor: list[QPPoint] = []
    test: list[QPPoint] = []
    missing: list[int] = []
    for qp in sorted(pairs):
        a, t = pairs[qp]
        if a is None or t is None or not a.ok or not t.ok or a.summary is None or t.summary is None:
            missing.append(qp)
            continue
        anchor.append(QPPoint.from_result(a))
        test.append(QPPoint.from_result(t))
    notes: list[str] = []
    if missing:
        notes.append(
            f"{name}: QP {', '.join(map(str, missing))} missing (failed or not run); "
            "figures use the remaining QPs"
        )
    bd = None
    time = None
    if anchor:
        bd = compare([p.rd() for p in anchor], [p.rd() for p in test], method, label=name)
        notes.extend(bd.warnings)
        ca = {qp: pairs[qp][0].counters for qp in (p.qp for p in anchor)}  # type: ignore[union-attr]
        ct = {qp: pairs[qp][1].counters for qp in (p.qp for p in test)}  # type: ignore[union-attr]
        time = summarize({p.qp: p.cpu_time for p in anchor}, {p.qp: p.cpu_time for p in test}, ca, ct)
    return SequenceSummary(
        name=name,
        seq_class=seq_class,
        width=size[0],
        height=size[1],
        coded_frames=coded_frames,
        anchor=tuple(anchor),
        test=tuple(test),
        bd=bd,
        time=time,
        missing_qps=tuple(missing),
        warnings=tuple(notes),
    )


def _mean(values: Sequence[float | None]) -> float:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _class_summary(name: str, seqs: Sequence[SequenceSummary]) -> ClassSummary:
    have = [s for s in seqs if s.bd is not None and s.time is not None]
    ratios = [r for s in have for r in s.time_ratios]
    luma = [s.time.rdc_reduction_luma for s in have if s.time is not None]
    total = [s.time.rdc_reduction_total for s in have if s.time is not None]

    def bd(attr: str) -> float:
        return _mean([getattr(s.bd, attr) for s in have])

    return ClassSummary(
        name=name,
        sequences=len(have),
        bd_rate_y=bd("bd_rate_y"),
        bd_rate_u=bd("bd_rate_u"),
        bd_rate_v=bd("bd_rate_v"),
        bd_rate_yuv=bd("bd_rate_yuv"),
        bd_psnr_y=bd("bd_psnr_y"),
        bd_psnr_yuv=bd("bd_psnr_yuv"),
        mean_ts=_mean([s.time.mean_ts for s in have if s.time is not None]),
        enc_t=enc_t_of_ratios(ratios),
        rdc_reduction_luma=_mean(luma) if luma and None not in luma else None,
        rdc_reduction_total=_mean(total) if total and None not in total else None,
    )


def summarize_run(
    sequences: Sequence[SequenceSummary],
    *,
    bd_method: str,
    anchor_options: Sequence[str],
    test_options: Sequence[str],
    test_label: str = "",
    failures: Sequence[str] = (),
    verify: Sequence[str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> RunSummary:
    """Class averages (classes in first-seen order) and the overall average."""
    classes: dict[str, list[SequenceSummary]] = {}
    for seq in sequences:
        classes.setdefault(seq.seq_class, []).append(seq)
    return RunSummary(
        bd_method=bd_method,
        anchor_options=tuple(anchor_options),
        test_options=tuple(test_options),
        test_label=test_label,
        sequences=tuple(sequences),
        classes=tuple(_class_summary(c, s) for c, s in classes.items()),
        overall=_class_summary("Overall", sequences) if sequences else None,
        failures=tuple(failures),
        warnings=tuple(w for s in sequences for w in s.warnings),
        verify=tuple(verify) if verify is not None else None,
        settings=dict(settings or {}),
    )


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (in nested dicts, lists and tuples too) as ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """Return ``summary`` ready for ``json.dumps``: schema name and version first, NaN as ``None``."""
    return {
        "schema": RUN_SCHEMA,
        "schema_version": RUN_SCHEMA_VERSION,
        **finite_or_none(dataclasses.asdict(summary)),
    }
