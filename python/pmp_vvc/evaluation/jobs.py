"""One encode as data: an immutable :class:`EncodeJob`, run as a child process into its record.

The record is :class:`pmp_vvc.evaluation.records.EncodeResult` (the JSON next to the bitstream).

A job names everything that decides the bitstream and its timing: the encoder cfgs, the per-sequence
cfg (paths and content hashes), the QP, a frame-count override, extra VTM options (a shipped model's
name after ``--PMPModel`` replaced by its installed file), the model's sha256 and the encoder build
id. Its :attr:`EncodeJob.key` is a sha256 over these; the output stem ``<sequence>_QP<qp>_<key[:12]>``
gives ``.bin``, ``.log`` and ``.json`` siblings in the job's folder.

Running a job (:func:`run_job`) launches the encoder (``[sys.executable, "-m", "pmp_vvc.cli.encoder"]``
by default; ``PMP_ENCODER_CMD`` or :attr:`EncodeJob.encoder_cmd` replace it, e.g. by a vanilla VTM
EncoderApp) with ``-c cfg... -c seq.cfg -q QP [-f N] -b BIN -o REC options...``, measures the child's
user+sys CPU time with :func:`os.wait4` and the wall time, parses the log, hashes the reconstruction
and deletes it, then writes the JSON record under a temporary name and renames it: a ``.json`` with
``"status": "ok"`` exists only for a finished encode, and :func:`load_done` never reruns one.
A failed encode gets a ``"status": "failed"`` record with the log's error lines and tail (rerun).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import importlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pmp_vvc.codec.options import option_value
from pmp_vvc.codec.runner import DECODER_MODULE, ENCODER_MODULE, run_encoder
from pmp_vvc.codec.vtmlog import log_tail
from pmp_vvc.errors import BuildError
from pmp_vvc.evaluation.records import EncodeResult, load_done
from pmp_vvc.files import file_sha256, temp_path, temp_tag, write_json_atomic
from pmp_vvc.modelzoo import is_model_name, resolve_model

__all__ = [
    "DECODER_CMD_ENV",
    "ENCODER_CMD_ENV",
    "EncodeJob",
    "default_decoder_cmd",
    "default_encoder_cmd",
    "file_sha256",
    "model_sha256",
    "resolve_build_id",
    "resolve_model_option",
    "run_job",
    "verify_result",
]

ENCODER_CMD_ENV = "PMP_ENCODER_CMD"
DECODER_CMD_ENV = "PMP_DECODER_CMD"
_MODULE_ENCODER = ENCODER_MODULE
_MODULE_DECODER = DECODER_MODULE


def default_encoder_cmd() -> tuple[str, ...]:
    """``$PMP_ENCODER_CMD`` (shell-split) if set, else our encoder module."""
    env = os.environ.get(ENCODER_CMD_ENV, "").strip()
    return tuple(shlex.split(env)) if env else _MODULE_ENCODER


def default_decoder_cmd() -> tuple[str, ...]:
    """``$PMP_DECODER_CMD`` (shell-split) if set, else our decoder module."""
    env = os.environ.get(DECODER_CMD_ENV, "").strip()
    return tuple(shlex.split(env)) if env else _MODULE_DECODER


def _model_option(options: Sequence[str]) -> tuple[int, int, str] | None:
    """Token range and value of the ``--PMPModel`` option (the last one counts, as in VTM)."""
    return option_value(options, "PMPModel")


def model_sha256(options: Sequence[str]) -> str | None:
    """sha256 of the model named by ``--PMPModel`` in ``options`` (a file, a shipped model or ``default``).

    With the chroma guide on (``--PMPChromaLevel`` > 0), the chroma model's sha256 follows after a ``+``.

    Raises:
        ModelError: the model is neither a file nor a shipped model, or a shipped model is corrupt.
    """
    from pmp_vvc.codec.options import MapGuideOptions, chroma_oracle_dump
    from pmp_vvc.codec.vtmcfg import parse_option_args
    from pmp_vvc.modelzoo import resolve_chroma_model

    found = _model_option(options)
    if found is None:
        return None
    digest = file_sha256(resolve_model(found[2]))
    chroma = option_value(options, "PMPChromaModel")
    spec = chroma[2] if chroma else ""
    if (
        MapGuideOptions.parse(parse_option_args(options)).chroma_level > 0
        and chroma_oracle_dump(spec) is None
    ):
        digest += "+" + file_sha256(resolve_chroma_model(found[2], spec))
    return digest


def resolve_model_option(options: Sequence[str]) -> tuple[str, ...]:
    """``options`` with a shipped model's name or ``default`` after ``--PMPModel`` replaced by its file.

    The replacement is one ``--PMPModel=<installed file>`` token, so the record names the file that was
    used and ``--PMPModel=default`` gives the same job key as that file's path. Paths are left as given.

    Raises:
        ModelError: the shipped model is not installed or is corrupt.
    """
    found = _model_option(options)
    if found is None or not is_model_name(found[2]):
        return tuple(options)
    start, end, value = found
    return (*options[:start], f"--PMPModel={resolve_model(value)}", *options[end:])


def resolve_build_id(encoder_cmd: Sequence[str]) -> str:
    """Identify the encoder build behind ``encoder_cmd``.

    Our module: ``pmp_vvc.codec.buildinfo.build_id()``; any other command: the sha256 of its executable.

    Raises:
        BuildError: if our encoder is not built or the command's executable cannot be found.
    """
    if tuple(encoder_cmd) == _MODULE_ENCODER:
        try:
            buildinfo = importlib.import_module("pmp_vvc.codec.buildinfo")
        except ImportError as err:
            raise BuildError(f"pmp_vvc.codec.buildinfo is missing ({err}); was pmp-vvc built?") from None
        return str(buildinfo.build_id())
    exe = shutil.which(encoder_cmd[0]) if encoder_cmd else None
    if exe is None:
        raise BuildError(f"encoder command not found: {shlex.join(encoder_cmd)}")
    return f"exe:{file_sha256(exe)[:16]}:{Path(exe).name}"


@dataclass(frozen=True)
class EncodeJob:
    """Immutable description of one encode (see the module docstring).

    ``encoder_cmd`` empty means :func:`default_encoder_cmd` evaluated where the job runs.
    """

    seq_name: str
    seq_cfg: str
    seq_cfg_sha256: str
    input_file: str
    qp: int
    encoder_cfgs: tuple[str, ...]
    encoder_cfgs_sha256: tuple[str, ...]
    options: tuple[str, ...]
    frames: int | None
    model_sha256: str | None
    build_id: str
    out_dir: str
    encoder_cmd: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def create(
        cls,
        *,
        seq_name: str,
        seq_cfg: str | Path,
        input_file: str | Path,
        qp: int,
        encoder_cfgs: Sequence[str | Path],
        options: Sequence[str] = (),
        frames: int | None = None,
        build_id: str,
        out_dir: str | Path,
        encoder_cmd: Sequence[str] | None = None,
    ) -> EncodeJob:
        """Build a job, hashing the cfg files and the model named by ``--PMPModel``.

        A shipped model's name (or ``default``) in ``options`` is replaced by its installed file
        (:func:`resolve_model_option`).

        Raises:
            ModelError: the model is neither a file nor a shipped model, or a shipped model is corrupt.
        """
        cfgs = tuple(str(Path(c).absolute()) for c in encoder_cfgs)
        seq = str(Path(seq_cfg).absolute())
        options = resolve_model_option(options)
        return cls(
            seq_name=seq_name,
            seq_cfg=seq,
            seq_cfg_sha256=file_sha256(seq),
            input_file=str(Path(input_file).absolute()),
            qp=qp,
            encoder_cfgs=cfgs,
            encoder_cfgs_sha256=tuple(file_sha256(c) for c in cfgs),
            options=options,
            frames=frames,
            model_sha256=model_sha256(options),
            build_id=build_id,
            out_dir=str(Path(out_dir).absolute()),
            encoder_cmd=tuple(encoder_cmd) if encoder_cmd else (),
        )

    @property
    def key(self) -> str:
        """sha256 over what decides the encode (not the output folder or the command used)."""
        ident = {
            "seq_cfg": self.seq_cfg,
            "seq_cfg_sha256": self.seq_cfg_sha256,
            "input_file": self.input_file,
            "qp": self.qp,
            "encoder_cfgs": self.encoder_cfgs,
            "encoder_cfgs_sha256": self.encoder_cfgs_sha256,
            "options": self.options,
            "frames": self.frames,
            "model_sha256": self.model_sha256,
            "build_id": self.build_id,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    @property
    def stem(self) -> str:
        """Output file stem ``<sequence>_QP<qp>_<key[:12]>``."""
        return f"{self.seq_name}_QP{self.qp}_{self.key[:12]}"

    def path(self, suffix: str) -> Path:
        """Output path with ``suffix`` (``.bin``, ``.log``, ``.json``)."""
        return Path(self.out_dir) / f"{self.stem}{suffix}"

    def vtm_args(self, bitstream: str | Path, recon: str | Path) -> list[str]:
        """Build the EncoderApp arguments.

        Order: cfgs, input (resolved against the sequence cfg's folder; VTM itself would resolve it
        against the working directory), QP, frames, outputs, then the extra options (they win).
        """
        args: list[str] = []
        for cfg in (*self.encoder_cfgs, self.seq_cfg):
            args += ["-c", cfg]
        args += ["-i", self.input_file, "-q", str(self.qp)]
        if self.frames is not None:
            args += ["-f", str(self.frames)]
        return [*args, "-b", str(bitstream), "-o", str(recon), *self.options]


def _versions() -> dict[str, str]:
    from pmp_vvc import __version__

    return {"pmp_vvc": __version__, "python": platform.python_version(), "platform": platform.platform()}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def run_job(job: EncodeJob) -> EncodeResult:
    """Run ``job`` unless already done; return its record.

    The status is ``ok``, ``failed`` or ``interrupted`` (SIGINT/SIGTERM/SIGKILL: no record is written).
    The temporaries (``.<name>.<host>-<pid>-<random>.tmp``) are removed either way. Never raises for a
    failing encoder.
    """
    done = load_done(job)
    if done is not None:
        return done
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = temp_tag()
    tmp_bin, tmp_log, tmp_rec = (temp_path(job.path(s), tag) for s in (".bin", ".log", ".yuv"))
    encoder_cmd = job.encoder_cmd or default_encoder_cmd()  # resolved where the job runs (Dask worker)
    args = job.vtm_args(tmp_bin, tmp_rec)
    started = _now()
    try:
        run = run_encoder(args, command=encoder_cmd, log_path=tmp_log, cwd=out)
        ok = run.ok and tmp_bin.is_file() and tmp_bin.stat().st_size > 0
        interrupted = not ok and run.exit_code in (-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL)
        recon_md5 = None
        if ok and tmp_rec.is_file():
            recon_md5 = hashlib.md5(tmp_rec.read_bytes()).hexdigest()
        if not ok and not run.errors:
            run = dataclasses.replace(run, errors=(f"encoder exit code {run.exit_code}",))
        result = EncodeResult(
            job=job,
            status="ok" if ok else ("interrupted" if interrupted else "failed"),
            run_id=uuid.uuid4().hex,
            host=socket.gethostname(),
            started=started,
            finished=_now(),
            command=(*encoder_cmd, *args),
            run=run,
            versions=_versions(),
            bitstream_bytes=tmp_bin.stat().st_size if ok else None,
            bitstream_sha256=file_sha256(tmp_bin) if ok else None,
            recon_md5=recon_md5,
            log_tail=None if ok else log_tail(run.log_text),
        )
        if interrupted:
            return result
        os.replace(tmp_log, job.path(".log"))
        if ok:
            os.replace(tmp_bin, job.path(".bin"))
        write_json_atomic(job.path(".json"), result.to_dict())
        return result
    finally:
        for tmp in (tmp_bin, tmp_log, tmp_rec):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def verify_result(result: EncodeResult, decoder_cmd: Sequence[str] | None = None) -> tuple[bool, str]:
    """Decode the result's bitstream and compare the output's MD5 with the encoder's reconstruction.

    Returns ``(ok, message)``; never raises for a decoder failure.
    """
    if not result.ok or result.recon_md5 is None:
        return False, f"{result.job.stem}: no successful encode with a reconstruction MD5 to verify"
    cmd = tuple(decoder_cmd) if decoder_cmd else default_decoder_cmd()
    out = Path(result.job.out_dir)
    tmp = temp_path(result.job.path(".dec.yuv"))
    try:
        proc = subprocess.run(
            [*cmd, "-b", str(result.job.path(".bin")), "-o", str(tmp)],
            capture_output=True,
            text=True,
            errors="replace",
            cwd=out,
            check=False,
        )
        if proc.returncode != 0 or not tmp.is_file():
            return (
                False,
                f"{result.job.stem}: decoder failed ({proc.returncode}): "
                + log_tail(proc.stdout + proc.stderr, 5),
            )
        md5 = hashlib.md5(tmp.read_bytes()).hexdigest()
    except OSError as err:
        return False, f"{result.job.stem}: cannot run decoder {shlex.join(cmd)}: {err}"
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if md5 != result.recon_md5:
        return False, f"{result.job.stem}: decoded MD5 {md5} != encoder reconstruction {result.recon_md5}"
    return True, f"{result.job.stem}: decoded MD5 matches ({md5})"
