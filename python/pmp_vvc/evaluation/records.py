"""The record of one keyed encode: :class:`EncodeResult`, its JSON (schema v1), and reading it back.

A record is the job (:class:`pmp_vvc.evaluation.jobs.EncodeJob`) and where and when it ran, around the
encoder run's own record (:class:`pmp_vvc.codec.runner.EncodeStats`, the type :func:`pmp_vvc.encode`
returns). A ``.json`` with ``"status": "ok"`` exists only for a finished encode (written under a
temporary name and renamed), so :func:`load_done` never reruns one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmp_vvc.codec.runner import EncodeStats
from pmp_vvc.codec.vtmlog import ChannelCounters, FrameStats, GuideStats, SummaryStats
from pmp_vvc.errors import EncodeError

if TYPE_CHECKING:
    from pmp_vvc.evaluation.jobs import EncodeJob

__all__ = ["SCHEMA", "SCHEMA_VERSION", "EncodeResult", "load_done", "load_result"]

SCHEMA = "pmp-vvc/encode-result"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class EncodeResult:
    """The JSON record of one encode (schema :data:`SCHEMA` version :data:`SCHEMA_VERSION`).

    The job, and where and when it ran, around the encoder run's own record (:class:`EncodeStats`, the
    type :func:`pmp_vvc.encode` returns); the JSON keeps the flat v1 layout.
    """

    job: EncodeJob
    status: str
    run_id: str
    host: str
    started: str
    finished: str
    command: tuple[str, ...]
    run: EncodeStats
    versions: Mapping[str, str]
    bitstream_bytes: int | None = None
    bitstream_sha256: str | None = None
    recon_md5: str | None = None
    log_tail: str | None = None

    @property
    def ok(self) -> bool:
        """True for a finished, successful encode."""
        return self.status == "ok"

    @property
    def exit_code(self) -> int | None:
        """Exit code of the encoder (None: it did not start)."""
        return self.run.exit_code

    @property
    def cpu_user(self) -> float:
        """User CPU seconds of the encoder process."""
        return self.run.cpu_user

    @property
    def cpu_sys(self) -> float:
        """System CPU seconds of the encoder process."""
        return self.run.cpu_sys

    @property
    def cpu_time(self) -> float:
        """CPU seconds (user + sys) of the encoder process."""
        return self.run.cpu_time

    @property
    def wall(self) -> float:
        """Wall seconds of the encoder process."""
        return self.run.wall_time

    @property
    def max_rss_kb(self) -> int:
        """Peak resident memory of the encoder process."""
        return self.run.max_rss_kb

    @property
    def summary(self) -> SummaryStats | None:
        """The log's summary table."""
        return self.run.summary

    @property
    def frames(self) -> tuple[FrameStats, ...]:
        """Per-picture results."""
        return self.run.frames

    @property
    def counters(self) -> tuple[ChannelCounters, ...]:
        """RD-check counters per tree (none for an encoder that does not print them)."""
        return self.run.counters

    @property
    def guide(self) -> GuideStats | None:
        """Guide statistics, if a guide ran."""
        return self.run.guide

    @property
    def errors(self) -> tuple[str, ...]:
        """Error lines of the log."""
        return self.run.errors

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready record, with ``schema`` and ``schema_version`` first."""
        job = {**_plain(self.job), "key": self.job.key, "encoder_cmd": list(self.job.encoder_cmd)}
        body = {
            "job": job,
            "status": self.status,
            "run_id": self.run_id,
            "host": self.host,
            "started": self.started,
            "finished": self.finished,
            "command": list(self.command),
            "exit_code": self.exit_code,
            "cpu_user": self.cpu_user,
            "cpu_sys": self.cpu_sys,
            "wall": self.wall,
            "max_rss_kb": self.max_rss_kb,
            "versions": dict(self.versions),
            "bitstream_bytes": self.bitstream_bytes,
            "bitstream_sha256": self.bitstream_sha256,
            "recon_md5": self.recon_md5,
            "summary": _plain(self.summary),
            "frames": _plain(self.frames),
            "counters": _plain(self.counters),
            "guide": _plain(self.guide),
            "errors": list(self.errors),
            "log_tail": self.log_tail,
            "cpu_time": self.cpu_time,
        }
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **body}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncodeResult:
        """Rebuild a record from :meth:`to_dict` output.

        Raises:
            EncodeError: unknown schema or version.
        """
        if data.get("schema") != SCHEMA or data.get("schema_version") != SCHEMA_VERSION:
            raise EncodeError(f"not a {SCHEMA} v{SCHEMA_VERSION} record")
        jd = {k: v for k, v in data["job"].items() if k != "key"}
        for name in ("encoder_cfgs", "encoder_cfgs_sha256", "options", "encoder_cmd"):
            jd[name] = tuple(jd[name])
        summary = data.get("summary")
        guide = data.get("guide")
        frames = tuple(
            FrameStats(**{**f, "md5": tuple(f["md5"]) if f.get("md5") else None}) for f in data["frames"]
        )
        run = EncodeStats(
            frames=frames,
            summary=SummaryStats(**summary) if summary else None,
            counters=tuple(ChannelCounters(**c) for c in data["counters"]),
            guide=GuideStats(**guide) if guide else None,
            errors=tuple(data["errors"]),
            complete=data["status"] == "ok",
            exit_code=data["exit_code"],
            cpu_user=data["cpu_user"],
            cpu_sys=data["cpu_sys"],
            wall_time=data["wall"],
            max_rss_kb=data["max_rss_kb"],
        )
        return cls(
            status=data["status"],
            run_id=data["run_id"],
            host=data["host"],
            started=data["started"],
            finished=data["finished"],
            bitstream_bytes=data["bitstream_bytes"],
            bitstream_sha256=data["bitstream_sha256"],
            recon_md5=data["recon_md5"],
            log_tail=data["log_tail"],
            job=_job(jd),
            command=tuple(data["command"]),
            run=run,
            versions=dict(data["versions"]),
        )


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and mappings as JSON-ready dicts and lists."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def load_result(path: str | Path) -> EncodeResult | None:
    """Read a record; ``None`` if missing, unreadable or of another schema."""
    try:
        return EncodeResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, EncodeError):
        return None


def load_done(job: EncodeJob) -> EncodeResult | None:
    """Return the finished record of ``job`` if one exists (status ok, same key), else ``None``."""
    result = load_result(job.path(".json"))
    if result is not None and result.ok and result.job.key == job.key:
        return result
    return None


def _job(fields: dict[str, Any]) -> EncodeJob:
    from pmp_vvc.evaluation.jobs import EncodeJob

    return EncodeJob(**fields)
