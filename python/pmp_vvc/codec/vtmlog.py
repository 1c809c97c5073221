"""Parse a VTM EncoderApp log (ours or vanilla VTM-23.13) into frozen dataclasses.

What is read, line by line:

* per-frame lines ``POC 0 LId: 0 TId: 0 ( IDR_N_LP, I-SLICE, QP 37 ) 4744 bits [Y 33.6 dB U .. dB
  V .. dB] [ET 3 ] ... [MD5:...]``;
* the first summary table (``Total Frames | Bitrate Y-PSNR U-PSNR V-PSNR YUV-PSNR``; bitrate in kbps);
* `` Total Time: 4.995 sec. [user] 4.996 sec. [elapsed]``;
* our build's counter lines (optional): ``PMP counters: channel=luma intra=.. qt=.. bt_h=.. bt_v=..
  tt_h=.. tt_v=.. [intra_samples=..]`` (one per channel) and
  ``PMP guide: pictures=.. cpu_time=.. [fallbacks=..]``;
* error lines (``command line error: ...``, ``Error ...``, the message after ``terminate called``).

VTM's own YUV-PSNR column weights by sample count; :attr:`SummaryStats.psnr_yuv` is the JVET
``(6·Y + U + V) / 8`` used for BD-rates (design §6).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from pmp_vvc.errors import InputError

__all__ = [
    "ChannelCounters",
    "EncoderLog",
    "FrameStats",
    "GuideStats",
    "SummaryStats",
    "error_lines",
    "log_tail",
    "parse_log",
    "read_log",
    "user_message",
]

_FLOAT = r"(-?(?:\d+(?:\.\d*)?|inf|nan|1\.#INF))"
_FRAME = re.compile(
    r"^POC\s+(\d+)\s+LId:\s*(\d+)\s+TId:\s*(\d+)\s+\(\s*([A-Za-z_0-9]+),\s*([A-Z])-SLICE,\s*QP\s+(-?\d+)\s*\)"
    r"\s+(\d+)\s+bits\s+\[Y\s+" + _FLOAT + r"\s+dB\s+U\s+" + _FLOAT + r"\s+dB\s+V\s+" + _FLOAT + r"\s+dB\]"
)
_ET = re.compile(r"\[ET\s+([\d.]+)\s*\]")
_MD5 = re.compile(r"\[MD5:([0-9a-fA-F,]+)")
_SUMMARY_HEAD = re.compile(r"Total Frames\s*\|\s*Bitrate\s+Y-PSNR\s+U-PSNR\s+V-PSNR\s+YUV-PSNR")
_SUMMARY_ROW = re.compile(r"^\s*(\d+)\s+a\s+" + r"\s+".join([_FLOAT] * 5))
_TOTAL_TIME = re.compile(
    r"^\s*Total Time:\s*([\d.]+)\s*sec\.(?:\s*\[user\]\s*([\d.]+)\s*sec\.\s*\[elapsed\])?"
)
_VERSION = re.compile(r"VTM (?:Encoder|Decoder) Version\s+(\S+)")
_COUNTERS = re.compile(r"^PMP counters:\s*(.*)$")
_GUIDE = re.compile(r"^PMP guide:\s*(.*)$")
_KV = re.compile(r"(\w+)=(\S+)")
_ERROR = re.compile(r"^(command line error:.*|Error.*|ERROR.*|.*[Ee]rror:.*|Unknown option.*)$")
# VTM's THROW prefix: where in our (or VTM's) source the exception was thrown; no message for a user.
_WHERE = re.compile(r'^(?:ERROR:\s*)?In function "[^"]*" in \S+:\d+:\s*')
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_COUNTER_FIELDS = ("intra", "qt", "bt_h", "bt_v", "tt_h", "tt_v")


def _float(token: str) -> float:
    low = token.lower()
    if low in ("inf", "1.#inf"):
        return math.inf
    return float(low)


@dataclass(frozen=True)
class FrameStats:
    """One coded picture as reported by the encoder."""

    poc: int
    layer_id: int
    temporal_id: int
    nal_type: str
    slice_type: str
    qp: int
    bits: int
    psnr_y: float
    psnr_u: float
    psnr_v: float
    encode_time: float | None
    md5: tuple[str, ...] | None


@dataclass(frozen=True)
class SummaryStats:
    """The summary table: averages over all coded pictures; ``bitrate`` in kbps."""

    frames: int
    bitrate: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv_vtm: float

    @property
    def psnr_yuv(self) -> float:
        """JVET weighted YUV PSNR ``(6·Y + U + V) / 8``."""
        return (6.0 * self.psnr_y + self.psnr_u + self.psnr_v) / 8.0


@dataclass(frozen=True)
class ChannelCounters:
    """RD checks of one channel tree, from a ``PMP counters:`` line."""

    channel: str
    intra: int
    qt: int
    bt_h: int
    bt_v: int
    tt_h: int
    tt_v: int
    #: samples of the tree's first component over its intra searches (None: a log of an older build)
    intra_samples: int | None = None

    @property
    def splits(self) -> int:
        """Split modes RD-tested."""
        return self.qt + self.bt_h + self.bt_v + self.tt_h + self.tt_v

    @property
    def total(self) -> int:
        """All RD checks: non-split (intra) searches plus split modes tested."""
        return self.intra + self.splits


@dataclass(frozen=True)
class GuideStats:
    """Time spent in the partition guide (network inference included), from a ``PMP guide:`` line."""

    pictures: int
    cpu_time: float
    fallbacks: int | None = None


@dataclass(frozen=True)
class EncoderLog:
    """Everything :func:`parse_log` read from one encoder log."""

    version: str | None
    frames: tuple[FrameStats, ...]
    summary: SummaryStats | None
    total_time_user: float | None
    total_time_elapsed: float | None
    counters: tuple[ChannelCounters, ...]
    guide: GuideStats | None
    errors: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """True when the log reached the summary and the total time (the encode finished)."""
        return self.summary is not None and self.total_time_user is not None

    def counter(self, channel: str) -> ChannelCounters | None:
        """Counters of ``channel`` (``"luma"`` or ``"chroma"``), if the log has them."""
        return next((c for c in self.counters if c.channel == channel), None)

    @property
    def total_bits(self) -> int:
        """Sum of the per-frame bits."""
        return sum(f.bits for f in self.frames)


def _parse_counters(body: str) -> ChannelCounters | None:
    fields = dict(_KV.findall(body))
    try:
        samples = int(fields["intra_samples"]) if "intra_samples" in fields else None
        counts = {k: int(fields[k]) for k in _COUNTER_FIELDS}
        return ChannelCounters(channel=fields["channel"], **counts, intra_samples=samples)
    except (KeyError, ValueError):
        return None


def _parse_guide(body: str) -> GuideStats | None:
    fields = dict(_KV.findall(body))
    try:
        fallbacks = int(fields["fallbacks"]) if "fallbacks" in fields else None
        return GuideStats(int(fields["pictures"]), float(fields["cpu_time"]), fallbacks)
    except (KeyError, ValueError):
        return None


def parse_log(text: str) -> EncoderLog:
    """Parse the text of an encoder log. Never raises on odd lines: unknown lines are skipped."""
    version: str | None = None
    frames: list[FrameStats] = []
    summary: SummaryStats | None = None
    user: float | None = None
    elapsed: float | None = None
    counters: list[ChannelCounters] = []
    guide: GuideStats | None = None
    in_summary = False
    for line in text.splitlines():
        if version is None and (m := _VERSION.search(line)):
            version = m.group(1)
        elif m := _FRAME.match(line):
            et = _ET.search(line, m.end())
            md5 = _MD5.search(line, m.end())
            frames.append(
                FrameStats(
                    poc=int(m.group(1)),
                    layer_id=int(m.group(2)),
                    temporal_id=int(m.group(3)),
                    nal_type=m.group(4),
                    slice_type=m.group(5),
                    qp=int(m.group(6)),
                    bits=int(m.group(7)),
                    psnr_y=_float(m.group(8)),
                    psnr_u=_float(m.group(9)),
                    psnr_v=_float(m.group(10)),
                    encode_time=float(et.group(1)) if et else None,
                    md5=tuple(md5.group(1).strip(",").split(",")) if md5 else None,
                )
            )
        elif _SUMMARY_HEAD.search(line):
            in_summary = summary is None
        elif in_summary and (m := _SUMMARY_ROW.match(line)):
            summary = SummaryStats(int(m.group(1)), *(_float(m.group(i)) for i in range(2, 7)))
            in_summary = False
        elif m := _TOTAL_TIME.match(line):
            user = float(m.group(1))
            elapsed = float(m.group(2)) if m.group(2) else None
        elif m := _COUNTERS.match(line.strip()):
            if (c := _parse_counters(m.group(1))) is not None:
                counters.append(c)
        elif (m := _GUIDE.match(line.strip())) and (g := _parse_guide(m.group(1))) is not None:
            guide = g
    return EncoderLog(
        version=version,
        frames=tuple(frames),
        summary=summary,
        total_time_user=user,
        total_time_elapsed=elapsed,
        counters=tuple(counters),
        guide=guide,
        errors=tuple(error_lines(text)),
    )


def read_log(path: str | Path) -> EncoderLog:
    """Read and parse a log file.

    Raises:
        InputError: if the file cannot be read.
    """
    try:
        return parse_log(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError as err:
        raise InputError(f"cannot read encoder log {path}: {err.strerror}") from None


def _without_tracebacks(lines: list[str]) -> list[str]:
    """Drop Python tracebacks (a guide's, printed to the log) with their exception lines."""
    kept: list[str] = []
    in_traceback = False
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
            continue
        if in_traceback:
            if line.startswith((" ", "\t")) or not line.strip():
                continue
            in_traceback = False
            continue  # the exception line that ends the traceback
        if line.startswith(_CHAINED):
            continue
        kept.append(line)
    return kept


def user_message(line: str) -> str:
    """Return an error line as a user reads it: without VTM's ``In function "f" in <file>:<line>:``."""
    return _WHERE.sub("", line.strip()).strip()


def error_lines(text: str) -> list[str]:
    """Lines of a log that state an error (the message of an uncaught VTM exception included).

    Python tracebacks are left out (their message is in VTM's error line), and our source paths are cut
    from VTM's exception messages (:func:`user_message`).
    """
    found: list[str] = []
    lines = _without_tracebacks(text.splitlines())
    for i, line in enumerate(lines):
        stripped = line.strip()
        message = ""
        if stripped.startswith("what():"):
            rest = stripped[len("what():") :].strip()
            if not rest:  # VTM puts the message on the next non-empty line
                rest = next((x.strip() for x in lines[i + 1 :] if x.strip()), "")
            message = rest
        elif _ERROR.match(stripped):
            message = stripped
        message = user_message(message)
        if message and message not in found:
            found.append(message)
    return found


def log_tail(text: str, lines: int = 20) -> str:
    """Return the last ``lines`` non-empty lines of a log (for error reports)."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
