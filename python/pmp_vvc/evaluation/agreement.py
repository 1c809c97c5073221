"""How closely a guided encode codes its luma CUs as its anchor did, from the two encodes' partition dumps.

The ceiling of a guide (the oracle) is explained by what it reproduces: the partition (the share of luma area
in CUs the anchor coded with the same position and size) and, on those CUs, the coding modes (intra mode, ISP,
MTS, LFNST, and all modes of :data:`~pmp_vvc.codec.dump.MODE_COLUMNS` at once). Shares are by luma area.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pmp_vvc.codec.dump import MODE_COLUMNS, PicturePartition
from pmp_vvc.errors import InputError

#: The agreement figures, in table order: partition, then modes on the CUs of the same position and size.
AGREEMENT_KEYS = ("partition", "intra_dir", "isp", "mts", "lfnst", "all_modes")


def _luma(pic: PicturePartition) -> dict[tuple[int, int, int, int], np.ndarray]:
    if pic.modes is None:
        raise InputError(f"picture {pic.poc}: the dump holds no coding modes (a version-1 dump)")
    rows = pic.cus[:, 1] == 0
    return {
        (int(c[2]), int(c[3]), int(c[4]), int(c[5])): m
        for c, m in zip(pic.cus[rows], pic.modes[rows], strict=True)
    }


def mode_agreement(anchor: Iterable[PicturePartition], test: Iterable[PicturePartition]) -> dict[str, float]:
    """Area shares (0..1, keys :data:`AGREEMENT_KEYS`) of the test's luma CUs that match the anchor's.

    Pictures are paired by POC; both must be version-2 dumps of the same pictures.
    """
    by_poc = {p.poc: p for p in anchor}
    area = same = 0.0
    matched = dict.fromkeys(AGREEMENT_KEYS[1:], 0.0)
    cols = {k: MODE_COLUMNS.index(k) for k in ("intra_dir", "isp", "mts", "lfnst")}
    mip = MODE_COLUMNS.index("mip")
    for pic in test:
        if pic.poc not in by_poc:
            raise InputError(f"the anchor dump has no picture {pic.poc}")
        ref = _luma(by_poc[pic.poc])
        for key, modes in _luma(pic).items():
            a = float(key[2] * key[3])
            area += a
            other = ref.get(key)
            if other is None:
                continue
            same += a
            for name, col in cols.items():
                # A MIP CU's intra_dir is a MIP mode index: the mode agrees only with the same MIP flag.
                extra = name == "intra_dir" and modes[mip] != other[mip]
                matched[name] += a * float(modes[col] == other[col] and not extra)
            matched["all_modes"] += a * float(np.array_equal(modes, other))
    if area == 0:
        raise InputError("no luma CUs to compare")
    return {"partition": same / area, **{k: (v / same if same else 0.0) for k, v in matched.items()}}
