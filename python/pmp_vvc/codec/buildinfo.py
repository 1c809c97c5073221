"""The compiled part of pmp-vvc: loading it, what it was built from, and the VTM cfg files shipped with it."""

from __future__ import annotations

import importlib
import importlib.resources
from functools import cache
from pathlib import Path
from types import ModuleType

from pmp_vvc.errors import BuildError, ConfigError


@cache
def extension() -> ModuleType:
    """Load the ``pmp_vvc._vtm`` extension module (the patched VTM encoder and decoder).

    Raises:
        BuildError: the extension was not built (e.g. running from a source checkout without installing).
    """
    try:
        return importlib.import_module("pmp_vvc._vtm")
    except ImportError as err:
        raise BuildError(
            f"the compiled encoder pmp_vvc._vtm is missing ({err}); was pmp-vvc built? "
            "Install it with `pip install .` (see README: the VTM source must be provided)"
        ) from None


def build_id() -> str:
    """Return the encoder build id: the VTM version and a hash of our C++ sources and VTM patches."""
    return str(extension().BUILD_ID)


def vtm_version() -> str:
    """Return the VTM version the encoder was built from (e.g. ``"23.13"``)."""
    return str(extension().VTM_VERSION)


def vtm_cfg(name: str = "encoder_intra_vtm.cfg") -> Path:
    """Path of a cfg file from VTM's ``cfg/`` folder, installed with the package.

    Raises:
        BuildError: the package was installed without its cfg files.
        ConfigError: no cfg of that name (the message lists the top-level ones).
    """
    # importlib.resources also finds the files of an editable install, which live beside the build.
    cfg_dir = importlib.resources.files("pmp_vvc") / "vtm_cfg"
    if not cfg_dir.is_dir():
        raise BuildError("VTM cfg files are not installed (pmp_vvc/vtm_cfg is missing); was pmp-vvc built?")
    entry = cfg_dir / name
    if not entry.is_file():
        known = ", ".join(sorted(p.name for p in cfg_dir.iterdir() if p.name.endswith(".cfg")))
        raise ConfigError(f"no VTM cfg named {name!r}; available: {known}")
    return Path(str(entry))
