"""Child processes of encoder/decoder runs: their CPU time, and no half-written outputs after a failure."""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


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
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage
