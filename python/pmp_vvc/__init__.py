"""pmp-vvc: fast VVC all-intra encoding with partition maps predicted by a sparse vision transformer.

The compiled VTM encoder lives in the private extension ``pmp_vvc._vtm``; it is imported lazily so
that the pure-Python parts (BD-rate, log parsing, model training) work without a build.
"""

from __future__ import annotations

__version__ = "0.1.0"
