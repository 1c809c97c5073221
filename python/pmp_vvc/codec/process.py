"""Child processes of encoder/decoder runs: their CPU time, stopping them, no half-written outputs.

Every encoder or decoder child of this process is registered while it runs, so that a stopped run
(SIGTERM from a batch scheduler, Ctrl-C) can end them all (:func:`terminate_children`) instead of
leaving them to run on as orphans; after that, no new child is started. A process that dies without
that cleanup (a library caller killed by SIGTERM's default action, or by SIGKILL) takes its children
with it on Linux: each child asks the kernel for SIGTERM when its parent dies (:func:`die_with_parent`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ChildRun",
    "Stopped",
    "die_with_parent",
    "remove_changed_outputs",
    "run_logged_command",
    "run_removing_failed_outputs",
    "snapshot_outputs",
    "stopping",
    "terminate_children",
    "track_child",
    "untrack_child",
    "wait_child",
]

_lock = threading.Lock()
_children: set[int] = set()
_stopping = False


class Stopped(Exception):
    """Raised instead of starting a child once :func:`terminate_children` was called."""


def track_child(pid: int) -> None:
    """Register a running child; if the run is already stopping, kill it at once."""
    with _lock:
        _children.add(pid)
        stopping = _stopping
    if stopping:
        _kill(pid, signal.SIGKILL)


def untrack_child(pid: int) -> None:
    """Forget a child that was reaped."""
    with _lock:
        _children.discard(pid)


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def terminate_children(sig: int = signal.SIGTERM) -> int:
    """Send ``sig`` to every registered child and refuse new ones; return how many were signalled."""
    global _stopping
    with _lock:
        _stopping = True
        pids = list(_children)
    for pid in pids:
        _kill(pid, sig)
    return len(pids)


_PR_SET_PDEATHSIG = 1
# Looked up once in the parent: between fork and exec only the call itself is safe.
_prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def die_with_parent(parent: int) -> None:
    """In a new child of ``parent``: get SIGTERM when the parent dies (Linux; elsewhere nothing).

    Called between fork and exec; if the parent is already gone, the child ends at once.
    """
    if _prctl is None:
        return
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(143)


def stopping() -> bool:
    """Tell whether :func:`terminate_children` was called in this process."""
    return _stopping


@dataclass(frozen=True)
class _FileState:
    path: Path
    stamp: tuple[int, int] | None

    @classmethod
    def of(cls, path: Path) -> _FileState:
        st = path.stat() if path.exists() else None
        return cls(path, (st.st_mtime_ns, st.st_size) if st else None)

    def changed(self) -> bool:
        return _FileState.of(self.path).stamp != self.stamp


def remove_changed_outputs(states: Sequence[_FileState]) -> None:
    """Delete outputs that a failed run created or rewrote, so that no half-written file is left."""
    for s in states:
        if s.changed() and s.path.is_file():
            s.path.unlink()


def snapshot_outputs(paths: Sequence[Path]) -> list[_FileState]:
    """Remember the state of output files before a run (see :func:`remove_changed_outputs`)."""
    return [_FileState.of(p) for p in paths]


def run_removing_failed_outputs(run: Callable[[], int], outputs: Sequence[Path]) -> int:
    """Call ``run`` (returns an exit code); if it fails, delete the outputs it created or rewrote."""
    before = snapshot_outputs(outputs)
    rc = run()
    if rc != 0:
        remove_changed_outputs(before)
    return rc


def wait_child(proc: subprocess.Popen[bytes]) -> tuple[int, resource.struct_rusage]:
    """Wait for ``proc``; return its exit code and resource usage (its own CPU time, via ``wait4``).

    If the wait is interrupted (Ctrl-C), the child is killed and reaped before the exception propagates.
    """
    track_child(proc.pid)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        untrack_child(proc.pid)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


@dataclass(frozen=True)
class ChildRun:
    """How a child process ended: exit code (None: it could not start), CPU and wall seconds, peak RSS."""

    exit_code: int | None
    cpu_user: float
    cpu_sys: float
    wall: float
    max_rss_kb: int
    start_error: str | None = None


def run_logged_command(
    command: Sequence[str], log_path: Path, cwd: str | Path | None = None, what: str = "encoder"
) -> ChildRun:
    """Run ``command`` with stdout and stderr into ``log_path``; never raises for a failing command."""
    if _stopping:
        raise Stopped("the run is stopping; no new encoder is started")
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        try:
            parent = os.getpid()
            proc = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                preexec_fn=lambda: die_with_parent(parent),
            )
        except OSError as err:
            message = f"cannot start {what} {shlex.join(command[:1])}: {err}"
            log.write(f"{message}\n".encode())
            return ChildRun(None, 0.0, 0.0, time.monotonic() - t0, 0, message)
        code, usage = wait_child(proc)
    return ChildRun(code, usage.ru_utime, usage.ru_stime, time.monotonic() - t0, usage.ru_maxrss)
