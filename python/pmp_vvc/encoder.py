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
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmp_vvc.buildinfo import extension
from pmp_vvc.errors import EncodeError
from pmp_vvc.outputs import remove_changed_outputs, snapshot_outputs, wait_child
from pmp_vvc.vtmargs import check_decoder_args, check_encoder_args
from pmp_vvc.vtmlog import ChannelCounters, EncoderLog, FrameStats, GuideStats, log_tail, parse_log


@dataclass(frozen=True)
class EncodeStats:
    """Results of one encode: per-frame bits and PSNR, encoder CPU time, RD-check counters."""

    frames: tuple[FrameStats, ...]
    cpu_time: float
    wall_time: float
    luma: ChannelCounters
    chroma: ChannelCounters
    guide: GuideStats | None
    log: EncoderLog
    log_text: str

    @property
    def total_bits(self) -> int:
        """Bits of all coded pictures."""
        return sum(f.bits for f in self.frames)

    @property
    def rd_checks(self) -> int:
        """All RD tests run (non-split searches plus split modes), both trees."""
        return self.luma.total + self.chroma.total


def _in_child(run: Callable[[], int], log_fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    # Python-level output of a guide goes to the log too, whatever sys.stdout was in the parent.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    return run()


def _fork_run(run: Callable[[], int], log_path: Path) -> tuple[int, float, float]:
    """Call ``run`` in a forked child logging to ``log_path``; return (exit code, CPU s, wall s).

    VTM's global state is not reusable within one process, so every VTM run of the library happens in a
    child; the caller's process never runs VTM itself.
    """
    extension()  # fail in the parent, with the clear message, if the build is missing
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: never returns
        rc = 70
        try:
            rc = _in_child(run, fd)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    os.close(fd)
    try:
        _, status, usage = os.wait4(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    wall = time.perf_counter() - t0
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, wall


def _spawn_run(command: Sequence[str], log_path: Path) -> tuple[int, float, float]:
    """Run ``command`` as a new process logging to ``log_path``; return (exit code, CPU s, wall s)."""
    extension()  # fail here, with the clear message, if the build is missing
    with log_path.open("wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        code, usage = wait_child(proc)
    return code, usage.ru_utime + usage.ru_stime, time.perf_counter() - t0


def _run_logged(
    run: Callable[[], int] | Sequence[str], log_path: str | Path | None
) -> tuple[int, float, float, str]:
    """Run in a fresh process (a command) or a fork (a callable), logging to ``log_path`` or a temporary file.

    A fresh interpreter is preferred: a forked child inherits whatever the caller's process holds (its
    heap, the threads and locks of torch or onnxruntime), which is not safe in general. A fork is needed
    only to hand a Python guide object to the encoder.
    """
    path = (
        Path(log_path)
        if log_path is not None
        else Path(tempfile.mkstemp(prefix="pmp-vtm-", suffix=".log")[1])
    )
    try:
        rc, cpu, wall = _fork_run(run, path) if callable(run) else _spawn_run(run, path)
        return rc, cpu, wall, path.read_text(errors="replace")
    finally:
        if log_path is None:
            path.unlink(missing_ok=True)


def encode(args: Sequence[str], guide: Any = None, *, log_path: str | Path | None = None) -> EncodeStats:
    """Encode with the EncoderApp command line ``args`` (without argv[0]) and an optional guide.

    Args:
        args: VTM EncoderApp options, e.g. ``["-c", cfg, "-c", seq_cfg, "-q", "37", "-b", "out.bin"]``;
            ``--PMP*`` options are accepted too.
        guide: a :class:`pmp_vvc.guides.Guide` instance; overrides ``--PMPGuide``/``--PMPModel``.
        log_path: where to keep the encoder log (default: a temporary file, removed afterwards).

    Raises:
        ConfigError, InputError: bad cfg or input, found before encoding.
        EncodeError: the encoder failed; the message holds the tail of its log. Outputs it created
            or rewrote are removed.
        BuildError: the extension is not built.
    """
    arg_list = [str(a) for a in args]
    merged = check_encoder_args(arg_list)
    before = snapshot_outputs(merged.outputs)

    def run() -> int:
        from pmp_vvc.guides import guide_from_options

        return int(
            extension().run_encoder(["pmp-encoder", *arg_list], guide=guide, guide_factory=guide_from_options)
        )

    command = [sys.executable, "-m", "pmp_vvc.cli.encoder", *arg_list]
    rc, cpu, wall, text = _run_logged(run if guide is not None else command, log_path)
    log = parse_log(text)
    luma, chroma = log.counter("luma"), log.counter("chroma")
    if rc != 0 or not log.complete or luma is None or chroma is None:
        remove_changed_outputs(before)
        raise EncodeError(f"encoder failed (exit code {rc}):\n{log_tail(text)}")
    return EncodeStats(
        frames=log.frames,
        cpu_time=cpu,
        wall_time=wall,
        luma=luma,
        chroma=chroma,
        guide=log.guide,
        log=log,
        log_text=text,
    )


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
            the message holds the tail of its log, and an output it wrote is removed.
    """
    arg_list = [str(a) for a in args]
    outputs = check_decoder_args(arg_list)
    before = snapshot_outputs(outputs)
    rc, cpu, wall, text = _run_logged([sys.executable, "-m", "pmp_vvc.cli.decoder", *arg_list], log_path)
    if rc != 0:
        remove_changed_outputs(before)
        raise EncodeError(f"decoder failed (exit code {rc}):\n{log_tail(text)}")
    return DecodeStats(cpu_time=cpu, wall_time=wall, log_text=text)
