"""Files written whole or not at all, their hashes, and the temporaries of runs that died.

Every output of pmp-vvc that a reader may see half-written (records, summaries, shards, checkpoints,
plots) is written to a hidden temporary in the same folder and renamed (:func:`atomic_path`, with the
helpers :func:`write_text_atomic`, :func:`write_json_atomic`, :func:`write_bytes_atomic`). A temporary is
named ``.<name>.<host>-<pid>-<random>.tmp[<suffix>]``, so that :func:`remove_stale_temporaries` can tell
those of a process that is gone (killed, crashed) from those of a run still at work.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "file_sha256",
    "remove_stale_temporaries",
    "temp_path",
    "temp_tag",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

_HOST = socket.gethostname().split(".")[0].replace("-", "_") or "host"
_TEMP = re.compile(r"^\..+\.(?P<host>[^.]+)-(?P<pid>\d+)-[0-9a-f]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (cached per process while the file's size and mtime stay the same)."""
    st = os.stat(path)
    return _sha256(str(Path(path).absolute()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temp_tag() -> str:
    """``<host>-<pid>-<random>``: names a temporary of this process."""
    return f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def temp_path(path: str | Path, tag: str | None = None, keep_suffix: bool = False) -> Path:
    """Hidden temporary beside ``path``; ``keep_suffix`` ends it in ``path``'s suffix (numpy's ``.npz``)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{tag or temp_tag()}.tmp{p.suffix if keep_suffix else ''}")


@contextlib.contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``, on error removed."""
    final = Path(path)
    tmp = temp_path(final, keep_suffix=keep_suffix)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 1) -> None:
    """Write ``data`` as JSON (NaN allowed) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent, allow_nan=True) + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries in ``folder`` left by processes of this host that no longer run.

    Temporaries of other hosts (a shared folder) and of live processes are kept. Returns what was removed.
    """
    removed: list[Path] = []
    directory = Path(folder)
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        match = _TEMP.match(entry.name)
        if match is None or match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed
