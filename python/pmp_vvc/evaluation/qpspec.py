"""Parse the ``--qp`` syntax of ``pmp-run`` into a sorted tuple of QPs.

Accepted forms (whitespace around tokens is ignored):

* ``22..37``      a range with the JVET step of 5: 22, 27, 32, 37
* ``22..37:1``    a range with an explicit step: 22, 23, ..., 37
* ``22,27,32,37`` an explicit list (order does not matter; duplicates are an error)
* ``32``          a single QP

QPs must lie in VTM's range 0..63 (the 8-bit QP range extends below 0 for higher bit depths, but the
CTC only uses 22..37, so negative QPs are rejected). Anything else raises
:class:`pmp_vvc.errors.ConfigError` naming the accepted forms.
"""

from __future__ import annotations

import re

from pmp_vvc.errors import ConfigError

__all__ = ["DEFAULT_QP_SPEC", "QP_MAX", "QP_MIN", "parse_qp_spec"]

DEFAULT_QP_SPEC = "22..37"
QP_MIN = 0
QP_MAX = 63
DEFAULT_STEP = 5

_RANGE = re.compile(r"^(\d+)\s*\.\.\s*(\d+)(?:\s*:\s*(\d+))?$")
_SINGLE = re.compile(r"^\d+$")
_FORMS = "expected 'A..B' (step 5), 'A..B:STEP' or a list 'A,B,C' of integers in 0..63"


def _check_range(qp: int, spec: str) -> int:
    if not QP_MIN <= qp <= QP_MAX:
        raise ConfigError(f"QP {qp} in {spec!r} is outside {QP_MIN}..{QP_MAX}")
    return qp


def parse_qp_spec(spec: str) -> tuple[int, ...]:
    """Return the QPs described by ``spec`` in increasing order.

    Raises:
        ConfigError: if ``spec`` is not one of the accepted forms, a QP is out of range, a range is
            empty or reversed, the step is zero, or a list repeats a QP.
    """
    text = spec.strip()
    if not text:
        raise ConfigError(f"empty QP specification; {_FORMS}")
    match = _RANGE.match(text)
    if match:
        first, last = _check_range(int(match.group(1)), spec), _check_range(int(match.group(2)), spec)
        step = int(match.group(3)) if match.group(3) is not None else DEFAULT_STEP
        if step <= 0:
            raise ConfigError(f"QP step must be positive in {spec!r}")
        if last < first:
            raise ConfigError(f"QP range {spec!r} is reversed (first > last)")
        return tuple(range(first, last + 1, step))
    tokens = [tok.strip() for tok in text.split(",")]
    if not all(_SINGLE.match(tok) for tok in tokens):
        raise ConfigError(f"bad QP specification {spec!r}; {_FORMS}")
    qps = [_check_range(int(tok), spec) for tok in tokens]
    if len(set(qps)) != len(qps):
        raise ConfigError(f"QP list {spec!r} repeats a QP")
    return tuple(sorted(qps))
