"""The partition-map models shipped inside the package: which there are, where they are, that they are intact.

Every ONNX file of the repository's ``models/`` folder is installed as ``pmp_vvc/models/<file>`` (model
card: ``models/README.md``). :data:`MODELS` lists them by name with their sha256, which
:func:`model_path` checks once per process before handing out the path. :data:`DEFAULT_POINT` is the
recommended operating point (model and encoder options): the one place to change it;
:data:`CONSERVATIVE_POINT` the one for a small BD-rate budget.

``--PMPModel`` accepts a registry name, ``default`` (the model of :data:`DEFAULT_POINT`) or a file path
(:func:`resolve_model`); registry names win over files of the same name in the working directory
(write ``./default`` for such a file). The chroma guide (``--PMPChromaLevel`` > 0) runs a chroma model
(:data:`pmp_vvc.modelio.CHROMA`), a file of its own: ``--PMPChromaModel`` (a name or a path), or else the
luma model's companion, the entry its :attr:`ModelEntry.chroma` names (:func:`resolve_chroma_model`).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pmp_vvc.errors import ModelError
from pmp_vvc.files import file_sha256

__all__ = [
    "CONSERVATIVE_POINT",
    "DEFAULT",
    "DEFAULT_POINT",
    "MODELS",
    "ModelEntry",
    "OperatingPoint",
    "default_point_label",
    "default_point_options",
    "is_model_name",
    "model_path",
    "models_dir",
    "resolve_chroma_model",
    "resolve_model",
]

#: The ``--PMPModel`` value that names the model of :data:`DEFAULT_POINT`.
DEFAULT = "default"


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model: registry name, file name in ``pmp_vvc/models``, sha256, keep ratio, summary.

    A luma model's ``chroma`` names the registry entry of its chroma companion (a model of the chroma
    contract, run by the chroma guide unless ``--PMPChromaModel`` names another); empty: none. A chroma
    model's entry has ``tree="chroma"``.
    """

    name: str
    file: str
    sha256: str
    rho: float
    description: str
    chroma: str = ""  # registry name of the chroma companion model
    tree: str = "luma"  # "luma" or "chroma": which contract of pmp_vvc.modelio the file follows


@dataclass(frozen=True)
class OperatingPoint:
    """A registry model with the encoder options it is run with (single ``--Name=value`` tokens)."""

    model: str
    options: tuple[str, ...]


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            name="pmp-vit-rho0.5",
            file="pmp-vit-rho0.5.onnx",
            sha256="d1eda8a52154a843c0f18c10bcb6bd88791bf4df8b09b68e809d2f9bbea8ffe0",
            rho=0.5,
            description="v7 QP-conditioned sparse window transformer: v6 fine-tuned with the node loss at "
            "weight 20 on all 200 RD-cost label units, epoch 3 (best validation loss)",
            chroma="pmp-chroma-rho0.5",
        ),
        ModelEntry(
            name="pmp-vit-rho0.5-v6",
            file="pmp-vit-rho0.5-v6.onnx",
            sha256="60ce337e99903cdbd84da08f6da66a61616ef4abe1d4a651b46943758aa0c8ef",
            rho=0.5,
            description="v6, the model before v7 and its fine-tuning start (--init): v3 fine-tuned with the "
            "node loss on RD-cost labels, epoch 4",
            chroma="pmp-chroma-rho0.5",
        ),
        ModelEntry(
            name="pmp-vit-rho0.5-v3",
            file="pmp-vit-rho0.5-v3.onnx",
            sha256="bd183510c1dcffa6161017582b716847fc104cdb8efe6a06685dd6b689c9d932",
            rho=0.5,
            description="v3, the model before v6 and v6's fine-tuning start (--init), epoch 10",
            chroma="pmp-chroma-rho0.5",
        ),
        ModelEntry(
            name="pmp-chroma-rho0.5",
            file="pmp-chroma-rho0.5.onnx",
            sha256="5f0715fe4970ea1ec82cedeca1f5cedb31070cb03b7259b8b40a3fb06c62097c",
            rho=0.5,
            description="chroma-tree model (Cb, Cr, pooled luma), v1 epoch 20 (best validation loss)",
            tree="chroma",
        ),
    )
}

#: The recommended operating point; ``pmp-run --demo`` runs it as its test. Chosen from the bench curve
#: (README, bench/README.md): much time saving at BD-rate Y below 2.5 % on the dev sequences, with a margin
#: for content the project has not seen (it costs a little more): the map guide at L2 for the luma tree
#: with threshold 0.7 at QP <= 22 rising to 0.9 at QP >= 27 (at low QP a wrong skip costs about half the
#: BD-rate per RD check saved), 0.7 at the nodes with a shorter side of 32 (a skipped test there saves a
#: whole subtree) and 0.95 at those of 8 (their tests are cheap, a wrong skip is not), VTM's luma MTT depth
#: 2 (no third MTT layer) and, for the chroma tree, which the map guide leaves to VTM, VTM's chroma MTT
#: depth 1 (it costs chroma BD-rate: U/V +3.9/+4.4 % against +0.9/+0.7 % without it, for 9 points more
#: time saving; model v7, session 15).
DEFAULT_POINT = OperatingPoint(
    model="pmp-vit-rho0.5",
    options=(
        "--PMPLevel=2",
        "--PMPThreshold=22:0.7,27:0.9",
        "--PMPSideThreshold=32:0.7,8:0.95",
        "--MaxMTTHierarchyDepthISliceL=2",
        "--MaxMTTHierarchyDepthISliceC=1",
    ),
)
#: For a BD-rate Y budget of 1 % on the dev sequences: the default point's map guide (L2, per-QP and
#: side thresholds) with VTM's own MTT depths (v7, 9 frames: +0.64 % Y / +0.70 % YUV at 43.7 % TS, against
#: +0.71 / +0.68 % at 39.9 % without the side thresholds; session 17).
CONSERVATIVE_POINT = OperatingPoint(
    model="pmp-vit-rho0.5",
    options=("--PMPLevel=2", "--PMPThreshold=22:0.7,27:0.9", "--PMPSideThreshold=32:0.7,8:0.95"),
)

# Short forms of options in the default point's label (others are shown as given).
_LABEL_PREFIX = {
    "--PMPLevel": "L",
    "--PMPThreshold": "t",
    "--PMPSideThreshold": "s",
    "--MaxMTTHierarchyDepthISliceL": "mtt",
    "--MaxMTTHierarchyDepthISliceC": "cmtt",
}


def models_dir() -> Path:
    """Folder of the installed models (``pmp_vvc/models``; may be missing if the package was not built)."""
    # importlib.resources also finds the files of an editable install, which live beside the build.
    return Path(str(importlib.resources.files("pmp_vvc") / "models"))


@cache
def _verified(path: Path, sha256: str) -> bool:
    """Hash ``path`` and compare (cached: each installed file is hashed at most once per process)."""
    return file_sha256(path) == sha256


def model_path(name: str) -> Path:
    """Path of the installed model ``name``, after checking its sha256 against the registry.

    Raises:
        ModelError: unknown name (the message lists the known ones), or the file is missing or corrupt.
    """
    entry = MODELS.get(name)
    if entry is None:
        known = ", ".join(sorted(MODELS))
        raise ModelError(f"no shipped model named {name!r}; known: {known} (or {DEFAULT!r})")
    path = models_dir() / entry.file
    if not path.is_file():
        raise ModelError(
            f"shipped model {name!r} is not installed ({path} is missing); "
            "reinstall pmp-vvc (`pip install .`)"
        )
    if not _verified(path, entry.sha256):
        raise ModelError(
            f"shipped model {name!r} is corrupt: sha256 of {path} is not {entry.sha256}; "
            "reinstall pmp-vvc (`pip install .`)"
        )
    return path


def is_model_name(text: str) -> bool:
    """Tell whether ``text`` names a shipped model or is ``default`` (names win over files of that name)."""
    return text == DEFAULT or text in MODELS


def resolve_model(spec: str | Path) -> Path:
    """Turn a ``--PMPModel`` value into a model file: a registry name, ``default``, or a path.

    Registry models are sha256-checked (:func:`model_path`); a path is returned as given.

    Raises:
        ModelError: ``spec`` is neither a registry name nor an existing file, or the registry file is bad.
    """
    text = str(spec)
    if text == DEFAULT:
        return model_path(DEFAULT_POINT.model)
    if text in MODELS:
        return model_path(text)
    path = Path(spec)
    if not path.is_file():
        raise ModelError(
            f"model file {path} does not exist (and it is no shipped model: "
            f"{', '.join(sorted(MODELS))} or {DEFAULT!r})"
        )
    return path


def resolve_chroma_model(luma_spec: str | Path, chroma_spec: str | Path = "") -> Path:
    """Return the chroma guide's model file.

    That is ``chroma_spec`` (``--PMPChromaModel``: a name or a path) if given, else the companion of the
    registry model ``luma_spec`` (``--PMPModel``) names.

    Raises:
        ModelError: no chroma model given and the luma model names none (a file, or an entry without
            companion), or the chosen one is missing or corrupt.
    """
    if str(chroma_spec):
        return resolve_model(chroma_spec)
    text = str(luma_spec)
    entry = MODELS.get(DEFAULT_POINT.model if text == DEFAULT else text)
    if entry is None or not entry.chroma:
        raise ModelError(
            f"the chroma guide (--PMPChromaLevel > 0) needs a chroma model: --PMPModel={text} names none; "
            "give --PMPChromaModel=PATH|NAME"
        )
    return model_path(entry.chroma)


def default_point_options() -> list[str]:
    """Return the encoder options of :data:`DEFAULT_POINT`: ``--PMPModel=<installed file>``, then its own.

    Raises:
        ModelError: the default model is not installed or is corrupt.
    """
    return [f"--PMPModel={model_path(DEFAULT_POINT.model)}", *DEFAULT_POINT.options]


def default_point_label() -> str:
    """Name of :data:`DEFAULT_POINT` for tables and plots, e.g. ``pmp-vit-rho0.5 L2 t0.7 (default point)``."""
    parts = [DEFAULT_POINT.model]
    for option in DEFAULT_POINT.options:
        key, _, value = option.partition("=")
        parts.append(_LABEL_PREFIX[key] + value if key in _LABEL_PREFIX else option)
    return " ".join([*parts, "(default point)"])
