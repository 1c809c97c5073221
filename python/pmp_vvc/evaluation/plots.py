"""Figures of a run (matplotlib, Agg backend): RD curves and a TS / BD-rate bar chart.

Only this module imports matplotlib; it reads a :class:`pmp_vvc.evaluation.summary.RunSummary`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pmp_vvc.evaluation.summary import RunSummary
from pmp_vvc.files import atomic_path

__all__ = ["plot_bars", "plot_rd", "write_plots"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=110)


def plot_rd(summary: RunSummary, path: str | Path) -> Path:
    """``rd.png``: Y-PSNR over bitrate, anchor vs test, one panel per sequence."""
    plt = _pyplot()
    seqs = [s for s in summary.sequences if s.anchor]
    n = max(1, len(seqs))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, seq in zip(axes.flat, seqs, strict=False):
        for points, label, style in (
            (seq.anchor, "anchor", "o-"),
            (seq.test, summary.test_label or "test", "s--"),
        ):
            ax.plot([p.rate for p in points], [p.psnr_y for p in points], style, label=label, markersize=4)
        bd = seq.bd.bd_rate_y if seq.bd else math.nan
        ax.set_title(f"{seq.name} ({seq.seq_class})  BD-rate Y {bd:+.2f}%", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlabel("bitrate [kbps]", fontsize=8)
        ax.set_ylabel("Y-PSNR [dB]", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(seqs) :]:
        ax.axis("off")
    fig.tight_layout()
    out = Path(path)
    _save(fig, out)
    plt.close(fig)
    return out


def plot_bars(summary: RunSummary, path: str | Path) -> Path:
    """``ts_bdbr.png``: BD-rate Y (%) and mean time saving (%) per sequence and overall."""
    plt = _pyplot()
    names = [s.name for s in summary.sequences] + (["Overall"] if summary.overall else [])
    bdbr = [s.bd.bd_rate_y if s.bd else math.nan for s in summary.sequences]
    ts = [s.time.mean_ts if s.time else math.nan for s in summary.sequences]
    if summary.overall:
        bdbr.append(summary.overall.bd_rate_y)
        ts.append(summary.overall.mean_ts)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(max(6.0, 1.1 * len(names) + 3), 3.6))
    x = range(len(names))
    ax1.bar(x, [0 if math.isnan(v) else v for v in bdbr], color="tab:red")
    ax1.set_ylabel("BD-rate Y [%]")
    ax2.bar(x, [0 if math.isnan(v) else v for v in ts], color="tab:blue")
    ax2.set_ylabel("time saving [%]")
    for ax in (ax1, ax2):
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"{summary.test_label or 'test'} vs anchor", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    _save(fig, out)
    plt.close(fig)
    return out


def write_plots(summary: RunSummary, out_dir: str | Path) -> list[Path]:
    """Write ``rd.png`` and ``ts_bdbr.png`` into ``out_dir``."""
    out = Path(out_dir)
    return [plot_rd(summary, out / "rd.png"), plot_bars(summary, out / "ts_bdbr.png")]
