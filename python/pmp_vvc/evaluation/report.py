"""Write a run summary as ``summary.md`` (the JVET-style table), ``summary.csv`` and ``summary.json``.

Each file is written to a temporary name and renamed; the numbers come from ``summary.py``. No
matplotlib here (see plots.py).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from pmp_vvc.evaluation.bdrate import BDResult
from pmp_vvc.evaluation.summary import ClassSummary, RunSummary, finite_or_none, summary_json
from pmp_vvc.evaluation.timesaving import enc_t_of_ratios, time_saving
from pmp_vvc.files import write_text_atomic

__all__ = ["markdown", "write_reports"]


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:{spec}}{suffix}"


_HEAD = (
    "Class",
    "Sequence",
    "BD-rate Y",
    "BD-rate U",
    "BD-rate V",
    "BD-rate YUV",
    "BD-PSNR Y",
    "TS mean",
    "EncT",
    "RD checks -luma",
    "RD checks -all",
)


def _row(
    cls: str,
    name: str,
    bd: BDResult | ClassSummary | None,
    ts: float,
    enc: float,
    luma: float | None,
    total: float | None,
) -> list[str]:
    get = (lambda a: getattr(bd, a)) if bd is not None else (lambda a: math.nan)
    return [
        cls,
        name,
        *(_fmt(get(a), ".2f", "%") for a in ("bd_rate_y", "bd_rate_u", "bd_rate_v", "bd_rate_yuv")),
        _fmt(get("bd_psnr_y"), "+.3f", " dB"),
        _fmt(ts, ".1f", "%"),
        _fmt(100 * enc, ".1f", "%"),
        _fmt(luma, ".1f", "%"),
        _fmt(total, ".1f", "%"),
    ]


def _table_rows(summary: RunSummary) -> list[list[str]]:
    rows = []
    for s in summary.sequences:
        t = s.time
        rows.append(
            _row(
                s.seq_class,
                s.name,
                s.bd,
                t.mean_ts if t else math.nan,
                enc_t_of_ratios(s.time_ratios),
                t.rdc_reduction_luma if t else None,
                t.rdc_reduction_total if t else None,
            )
        )
    for c in (*summary.classes, *([summary.overall] if summary.overall else [])):
        label = "Overall" if c.name == "Overall" else f"Class {c.name}"
        rows.append(
            _row(
                c.name if c.name != "Overall" else "",
                f"**{label}** ({c.sequences})",
                c,
                c.mean_ts,
                c.enc_t,
                c.rdc_reduction_luma,
                c.rdc_reduction_total,
            )
        )
    return rows


def markdown(summary: RunSummary) -> str:
    """``summary.md``: settings, the main table, per-QP details, warnings, failures, verification."""
    out = io.StringIO()
    out.write("# pmp-run summary\n\n")
    out.write(f"- anchor options: `{' '.join(summary.anchor_options) or '(none)'}`\n")
    out.write(
        f"- test options: `{' '.join(summary.test_options) or '(none)'}`"
        f"{f' ({summary.test_label})' if summary.test_label else ''}\n"
    )
    out.write(
        f"- BD interpolation: {summary.bd_method}; YUV PSNR = (6Y+U+V)/8; "
        "negative BD-rate = test saves rate\n"
    )
    out.write(
        "- TS = (T_anchor - T_test)/T_anchor (CPU time of the encoder process), mean over QPs; "
        "EncT = geometric mean of T_test/T_anchor\n"
    )
    for key, value in summary.settings.items():
        out.write(f"- {key}: {value}\n")
    out.write("\n")
    out.write("| " + " | ".join(_HEAD) + " |\n|" + "---|" * len(_HEAD) + "\n")
    for row in _table_rows(summary):
        out.write("| " + " | ".join(row) + " |\n")
    out.write(
        "\n## Per QP\n\n| Sequence | QP | anchor kbps | anchor Y-PSNR | anchor CPU s | test kbps "
        "| test Y-PSNR | test CPU s | TS |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    for s in summary.sequences:
        for a, t in zip(s.anchor, s.test, strict=True):
            ts = time_saving(a.cpu_time, t.cpu_time)
            out.write(
                f"| {s.name} | {a.qp} | {a.rate:.2f} | {a.psnr_y:.4f} | {a.cpu_time:.2f} | {t.rate:.2f} "
                f"| {t.psnr_y:.4f} | {t.cpu_time:.2f} | {_fmt(ts, '.1f', '%')} |\n"
            )
    for title, items in (
        ("Warnings", summary.warnings),
        ("Failures", summary.failures),
        ("Verification", summary.verify or ()),
    ):
        if items:
            out.write(f"\n## {title}\n\n" + "".join(f"- {line}\n" for line in items))
    return out.getvalue()


def _csv(summary: RunSummary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = ("bd_rate_y", "bd_rate_u", "bd_rate_v", "bd_rate_yuv", "bd_psnr_y", "bd_psnr_yuv")
    writer.writerow(
        [
            "kind",
            "class",
            "sequence",
            "width",
            "height",
            "frames",
            *fields,
            "mean_ts",
            "enc_t",
            "rdc_reduction_luma",
            "rdc_reduction_total",
            "missing_qps",
        ]
    )
    for s in summary.sequences:
        enc = enc_t_of_ratios(s.time_ratios)
        writer.writerow(
            finite_or_none(
                [
                    "sequence",
                    s.seq_class,
                    s.name,
                    s.width,
                    s.height,
                    s.coded_frames,
                    *(getattr(s.bd, f) if s.bd else math.nan for f in fields),
                    s.time.mean_ts if s.time else math.nan,
                    enc,
                    s.time.rdc_reduction_luma if s.time else None,
                    s.time.rdc_reduction_total if s.time else None,
                    " ".join(map(str, s.missing_qps)),
                ]
            )
        )
    for c in (*summary.classes, *([summary.overall] if summary.overall else [])):
        writer.writerow(
            finite_or_none(
                [
                    "overall" if c.name == "Overall" else "class",
                    c.name,
                    "",
                    "",
                    "",
                    "",
                    *(getattr(c, f) for f in fields),
                    c.mean_ts,
                    c.enc_t,
                    c.rdc_reduction_luma,
                    c.rdc_reduction_total,
                    "",
                ]
            )
        )
    return out.getvalue()


def write_reports(summary: RunSummary, out_dir: str | Path) -> list[Path]:
    """Write ``summary.csv``, ``summary.json`` and ``summary.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    files = {
        "summary.csv": _csv(summary),
        "summary.json": json.dumps(summary_json(summary), indent=1) + "\n",
        "summary.md": markdown(summary),
    }
    for name, text in files.items():
        write_text_atomic(out / name, text)
    return [out / name for name in files]
