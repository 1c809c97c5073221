"""Run the pmp-vvc encoder and decoder (patched VTM-23.13) from Python and get results as typed records.

VTM keeps global state and may call ``exit()``, so it never runs in the caller's process: each
:func:`encode`/:func:`decode` runs in a child, which keeps repeated runs independent and gives the
encoder's own CPU time (user + sys of the child, network inference of a guide included). The child is
a fresh interpreter (``python -m pmp_vvc.cli.encoder``), except when a Python guide object is passed:
then it is a fork, which inherits the object as it is (its state changes there do not come back) and
everything else the caller's process holds.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmp_vvc.codec.buildinfo import extension
from pmp_vvc.codec.process import (
    ChildRun,
    die_with_parent,
    remove_changed_outputs,
    run_logged_command,
    snapshot_outputs,
    track_child,
    untrack_child,
)
from pmp_vvc.codec.vtmcfg import check_decoder_args, check_encoder_args
from pmp_vvc.codec.vtmlog import (
    ChannelCounters,
    EncoderLog,
    FrameStats,
    GuideStats,
    SummaryStats,
    error_lines,
    log_tail,
    parse_log,
)
from pmp_vvc.errors import EncodeError

__all__ = [
    "ENCODER_MODULE",
    "DecodeStats",
    "EncodeStats",
    "decode",
    "encode",
    "encoder_failure",
    "run_encoder",
]

#: Our encoder as a command (a fresh interpreter running ``pmp-encoder``).
ENCODER_MODULE = (sys.executable, "-m", "pmp_vvc.cli.encoder")
DECODER_MODULE = (sys.executable, "-m", "pmp_vvc.cli.decoder")


@dataclass(frozen=True)
class EncodeStats:
    """One encoder run: per-frame bits and PSNR, the summary, RD-check counters, CPU and wall time.

    The one record of an encode: :func:`encode` returns it, and a sweep's
    :class:`pmp_vvc.evaluation.records.EncodeResult` keeps it with the job that produced it.
    """

    frames: tuple[FrameStats, ...]
    summary: SummaryStats | None
    counters: tuple[ChannelCounters, ...]
    guide: GuideStats | None
    errors: tuple[str, ...]
    complete: bool
    exit_code: int | None
    cpu_user: float
    cpu_sys: float
    wall_time: float
    max_rss_kb: int
    log_text: str = field(default="", compare=False, repr=False)

    @classmethod
    def from_run(cls, run: ChildRun, text: str) -> EncodeStats:
        """Record of a finished child from its exit and its log."""
        log = parse_log(text)
        errors = log.errors
        if run.start_error:
            errors = (run.start_error, *errors)
        return cls(
            frames=log.frames,
            summary=log.summary,
            counters=log.counters,
            guide=log.guide,
            errors=errors,
            complete=log.complete,
            exit_code=run.exit_code,
            cpu_user=run.cpu_user,
            cpu_sys=run.cpu_sys,
            wall_time=run.wall,
            max_rss_kb=run.max_rss_kb,
            log_text=text,
        )

    @property
    def ok(self) -> bool:
        """The encoder exited with 0 and its log reached the summary."""
        return self.exit_code == 0 and self.complete

    @property
    def cpu_time(self) -> float:
        """CPU seconds (user + sys) of the encoder process."""
        return self.cpu_user + self.cpu_sys

    @property
    def log(self) -> EncoderLog:
        """The parsed log (empty for records read back from JSON)."""
        return parse_log(self.log_text)

    def counter(self, channel: str) -> ChannelCounters | None:
        """Counters of ``channel`` (``"luma"`` or ``"chroma"``), if the encoder printed them."""
        return next((c for c in self.counters if c.channel == channel), None)

    @property
    def luma(self) -> ChannelCounters:
        """RD checks of the luma tree (EncodeError if the encoder printed none: not our encoder)."""
        return self._need("luma")

    @property
    def chroma(self) -> ChannelCounters:
        """RD checks of the chroma tree (EncodeError if the encoder printed none)."""
        return self._need("chroma")

    def _need(self, channel: str) -> ChannelCounters:
        found = self.counter(channel)
        if found is None:
            raise EncodeError(f"the encoder log has no {channel} RD-check counters (not pmp-encoder?)")
        return found

    @property
    def total_bits(self) -> int:
        """Bits of all coded pictures."""
        return sum(f.bits for f in self.frames)

    @property
    def rd_checks(self) -> int:
        """All RD tests run (non-split searches plus split modes), both trees."""
        return sum(c.total for c in self.counters)


def _in_child(run: Callable[[], int], log_fd: int, parent: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    # Python-level output of a guide goes to the log too, whatever sys.stdout was in the parent.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    return run()


def _fork_run(run: Callable[[], int], log_path: Path) -> ChildRun:
    """Call ``run`` in a forked child logging to ``log_path``.

    VTM's global state is not reusable within one process, so every VTM run of the library happens in a
    child; the caller's process never runs VTM itself.
    """
    extension()  # fail in the parent, with the clear message, if the build is missing
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t0 = time.monotonic()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: never returns
        rc = 70
        try:
            rc = _in_child(run, fd, parent)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    os.close(fd)
    track_child(pid)
    try:
        _, status, usage = os.wait4(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        untrack_child(pid)
    code = os.waitstatus_to_exitcode(status)
    return ChildRun(code, usage.ru_utime, usage.ru_stime, time.monotonic() - t0, usage.ru_maxrss)


def run_encoder(
    args: Sequence[str],
    *,
    guide: Any = None,
    command: Sequence[str] | None = None,
    log_path: str | Path,
    cwd: str | Path | None = None,
) -> EncodeStats:
    """Run one encode in a child process and return its record; never raises for a failing encoder.

    ``args`` are EncoderApp options (no argv[0]). With a ``guide`` object the child is a fork of this
    process (it inherits the object); otherwise it is ``command`` (default :data:`ENCODER_MODULE`: a fresh
    interpreter, which inherits nothing) followed by ``args``, run in ``cwd``. The log goes to
    ``log_path``. The one encode runner of the package: :func:`encode` and the sweep's jobs use it.
    """
    arg_list = [str(a) for a in args]
    path = Path(log_path)
    if guide is not None:

        def run() -> int:
            from pmp_vvc.codec.guides import guide_from_options

            return int(
                extension().run_encoder(
                    ["pmp-encoder", *arg_list], guide=guide, guide_factory=guide_from_options
                )
            )

        child = _fork_run(run, path)
    else:
        cmd = tuple(command) if command else ENCODER_MODULE
        if cmd == ENCODER_MODULE:
            extension()  # fail here, with the clear message, if the build is missing
        child = run_logged_command([*cmd, *arg_list], path, cwd)
    return EncodeStats.from_run(child, path.read_text(encoding="utf-8", errors="replace"))


def encoder_failure(what: str, exit_code: int | None, errors: Sequence[str], text: str) -> str:
    """One-line message of a failed encoder or decoder run: its first error line, else its last log line."""
    why = next(iter(errors), "") or (log_tail(text, 1) or "no output")
    return f"{what} failed (exit code {exit_code}): {why}"


def _temporary_log(log_path: str | Path | None) -> Path:
    if log_path is not None:
        return Path(log_path)
    return Path(tempfile.mkstemp(prefix="pmp-vtm-", suffix=".log")[1])


def encode(args: Sequence[str], guide: Any = None, *, log_path: str | Path | None = None) -> EncodeStats:
    """Encode with the EncoderApp command line ``args`` (without argv[0]) and an optional guide.

    Args:
        args: VTM EncoderApp options, e.g. ``["-c", cfg, "-c", seq_cfg, "-q", "37", "-b", "out.bin"]``;
            ``--PMP*`` options are accepted too.
        guide: a :class:`pmp_vvc.codec.guides.Guide` instance; overrides ``--PMPGuide``/``--PMPModel``.
        log_path: where to keep the encoder log (default: a temporary file, removed afterwards).

    Raises:
        ConfigError, InputError: bad cfg or input, found before encoding.
        EncodeError: the encoder failed; the message is its first error line (``log_tail`` holds the
            end of its log). Outputs it created or rewrote are removed.
        BuildError: the extension is not built.
    """
    merged = check_encoder_args([str(a) for a in args])
    arg_list = merged.vtm_args([str(a) for a in args])
    before = snapshot_outputs(merged.outputs)
    path = _temporary_log(log_path)
    try:
        stats = run_encoder(arg_list, guide=guide, log_path=path)
    finally:
        if log_path is None:
            path.unlink(missing_ok=True)
    if not stats.ok or stats.counter("luma") is None or stats.counter("chroma") is None:
        remove_changed_outputs(before)
        raise EncodeError(
            encoder_failure("encoder", stats.exit_code, stats.errors, stats.log_text),
            log_tail=log_tail(stats.log_text),
        )
    return stats


@dataclass(frozen=True)
class DecodeStats:
    """Result of one decoder run."""

    cpu_time: float
    wall_time: float
    log_text: str


def decode(args: Sequence[str], *, log_path: str | Path | None = None) -> DecodeStats:
    """Decode with the DecoderApp command line ``args`` (no argv[0]), e.g. ``["-b", "x.bin", "-o", "x.yuv"]``.

    Raises:
        InputError: the bitstream is missing.
        EncodeError: the decoder failed (corrupt bitstream, MD5 mismatch with ``--SEIDecodedPictureHash``);
            the message is its first error line, and an output it wrote is removed.
    """
    arg_list = [str(a) for a in args]
    outputs = check_decoder_args(arg_list)
    before = snapshot_outputs(outputs)
    extension()
    path = _temporary_log(log_path)
    try:
        child = run_logged_command([*DECODER_MODULE, *arg_list], path, what="decoder")
        text = path.read_text(encoding="utf-8", errors="replace")
    finally:
        if log_path is None:
            path.unlink(missing_ok=True)
    if child.exit_code != 0:
        remove_changed_outputs(before)
        raise EncodeError(
            encoder_failure("decoder", child.exit_code, error_lines(text), text), log_tail=log_tail(text)
        )
    return DecodeStats(cpu_time=child.cpu_user + child.cpu_sys, wall_time=child.wall, log_text=text)
