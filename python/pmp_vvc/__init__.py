"""pmp-vvc: fast VVC all-intra encoding with partition maps predicted by a sparse vision transformer.

The compiled VTM encoder lives in the private extension ``pmp_vvc._vtm``, loaded on first use, so the
pure-Python parts (BD-rate, log parsing, model training) work without a build.
"""

from __future__ import annotations

from pmp_vvc.buildinfo import build_id, vtm_cfg
from pmp_vvc.encoder import DecodeStats, EncodeStats, decode, encode

__version__ = "0.1.0"
__all__ = ["DecodeStats", "EncodeStats", "__version__", "build_id", "decode", "encode", "vtm_cfg"]
