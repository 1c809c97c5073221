"""pmp-vvc: fast VVC all-intra encoding with partition maps predicted by a sparse vision transformer.

The package has three parts: :mod:`pmp_vvc.codec` (the patched VTM encoder behind a typed API),
:mod:`pmp_vvc.evaluation` (anchor-vs-test sweeps, BD-rate, time saving, reports) and
:mod:`pmp_vvc.learning` (labels, datasets, the network, training, export), with the model's run-time
pieces beside them (:mod:`pmp_vvc.modelio`, :mod:`pmp_vvc.predictor`, :mod:`pmp_vvc.modelzoo`).

The compiled VTM encoder lives in the private extension ``pmp_vvc._vtm``, loaded on first use, so the
pure-Python parts (BD-rate, log parsing, model training) work without a build.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pmp_vvc.codec.buildinfo import build_id, vtm_cfg
from pmp_vvc.codec.runner import DecodeStats, EncodeStats, decode, encode

try:
    __version__ = version("pmp-vvc")  # the one version: pyproject.toml
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"
__all__ = ["DecodeStats", "EncodeStats", "__version__", "build_id", "decode", "encode", "vtm_cfg"]
