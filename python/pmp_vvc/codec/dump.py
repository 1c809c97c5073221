"""The encoder's binary partition dump (``--PMPDumpPartition``): record layouts, reader, writer.

A partition is an int64 array of CU rows with the columns of :data:`COLUMNS` (the starter-label layout,
``../shared/data/labels/README.md``). A dump (written by ``cpp/encoder/PartitionDump.h``) holds, per coded
picture, both trees' CUs, their final coding modes and the node visits of the split search
(:class:`PicturePartition`); :func:`search_state_table` turns the visits into the intra-search states an
oracle hands back to the encoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pmp_vvc.errors import InputError

COLUMNS = ("poc", "chroma", "x", "y", "w", "h", "qt_depth", "bt_depth", "mt_depth", "split_series")
MAGIC_V1 = b"PMPDUMP\x01"
MAGIC = b"PMPDUMP\x02"
#: Final coding modes of each CU (dump version 2), in the order of :attr:`PicturePartition.modes`.
MODE_COLUMNS = ("intra_dir", "mip", "isp", "lfnst", "mts", "mrl", "bdpcm")
#: Node visits of the split search (dump version 2), in the order of :attr:`PicturePartition.nodes`: a CU's
#: geometry (:data:`COLUMNS` without the POC), then what the search did there.
#: ``reused``: the non-split coding was not searched but reused from an earlier visit of the area with the
#: same neighbourhood (VTM's ETM_RECO_CACHED). ``rel_*``: the related CU VTM's fast ISP search loaded for the
#: node's intra search from an earlier visit of the same area (valid flag, bestISPIntraMode, IspPredModeVal
#: bits); its costs and the search's cost budget are :attr:`PicturePartition.search_costs`.
NODE_COLUMNS = (*COLUMNS[1:], "tested", "reused", "rel_valid", "rel_isp_mode", "rel_pred")
#: Modes of a node's RD costs, in the order of :attr:`PicturePartition.node_costs` (bits of ``tested``).
NODE_MODES = ("no_split", "qt", "bt_h", "bt_v", "tt_h", "tt_v")

IntArray = npt.NDArray[np.int64]
_HEADER_V1 = struct.Struct("<5i")
_HEADER = struct.Struct("<6i")
_GEOMETRY = [
    ("x", "<u2"),
    ("y", "<u2"),
    ("w", "<u2"),
    ("h", "<u2"),
    ("chroma", "u1"),
    ("qt_depth", "u1"),
    ("bt_depth", "u1"),
    ("mt_depth", "u1"),
    ("split_series", "<u8"),
]
_RECORD_V1 = np.dtype(_GEOMETRY)
_RECORD = np.dtype(_GEOMETRY + [(name, "u1") for name in MODE_COLUMNS] + [("reserved", "u1")])
_NODE = np.dtype(
    [
        *_GEOMETRY,
        ("tested", "u1"),
        ("rel_valid", "u1"),
        ("rel_isp_mode", "u1"),
        ("reused", "u1"),
        ("rel_pred", "<u2"),
        ("reserved2", "<u2"),
        ("cost", "<f4", (len(NODE_MODES),)),
        ("rel_dct2_cost", "<f8"),
        ("rel_nondct2_cost", "<f8"),
        ("cost_budget", "<f8"),
    ]
)
_SEARCH_COSTS = ("rel_dct2_cost", "rel_nondct2_cost", "cost_budget")
assert (_RECORD_V1.itemsize, _RECORD.itemsize, _NODE.itemsize) == (20, 28, 76)


@dataclass(frozen=True)
class PicturePartition:
    """The final partition of one coded picture: both trees' CUs as an (N, 10) int64 array."""

    poc: int
    width: int
    height: int
    qp: int
    cus: IntArray
    #: (N, 7) final coding modes of the CUs (:data:`MODE_COLUMNS`); None for a version-1 dump.
    modes: IntArray | None = None
    #: (M, 10) node visits of the split search (:data:`NODE_COLUMNS`); None for a version-1 dump.
    nodes: IntArray | None = None
    #: (M, 6) float32 RD cost of each mode at each node visit (:data:`NODE_MODES`), inf where not run.
    node_costs: npt.NDArray[np.float32] | None = None
    #: (M, 3) float64 per node visit: bestDCT2NonISPCost, bestNonDCT2Cost of its related CU (0 where none) and
    #: the cost budget (maxCostAllowed) of its intra search.
    search_costs: npt.NDArray[np.float64] | None = None


def read_dump(path: str | Path) -> list[PicturePartition]:
    """Read our encoder's binary partition dump: magic ``PMPDUMP`` + version byte (1 or 2), then pictures."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read partition dump {path}: {err}") from err
    if data[: len(MAGIC)] not in (MAGIC, MAGIC_V1):
        raise InputError(f"{path}: not a partition dump (bad magic {data[:8]!r})")
    v2 = data[: len(MAGIC)] == MAGIC
    header, record = (_HEADER, _RECORD) if v2 else (_HEADER_V1, _RECORD_V1)
    pos, pictures = len(MAGIC), []
    while pos < len(data):
        if pos + header.size > len(data):
            raise InputError(f"{path}: truncated picture header at byte {pos}")
        poc, width, height, qp, num, *rest = header.unpack_from(data, pos)
        num_nodes = rest[0] if v2 else 0
        pos += header.size
        if width <= 0 or height <= 0 or num < 0 or num_nodes < 0:
            raise InputError(
                f"{path}: corrupt picture header at byte {pos - header.size} "
                f"(poc {poc}, {width}x{height}, {num} CUs)"
            )
        end = pos + num * record.itemsize
        if end > len(data):
            raise InputError(
                f"{path}: truncated CU records for poc {poc} ({num} expected, "
                f"{(len(data) - pos) // record.itemsize} present)"
            )
        rec = np.frombuffer(data, dtype=record, count=num, offset=pos)
        pos = end
        cus = np.empty((num, len(COLUMNS)), dtype=np.int64)
        cus[:, 0] = poc
        for i, name in enumerate(COLUMNS[1:], start=1):
            cus[:, i] = rec[name].astype(np.int64)  # uint64 series fits: 6 levels use 30 bits
        if np.any(cus[:, 1] > 1) or np.any(cus[:, 4] == 0) or np.any(cus[:, 5] == 0):
            raise InputError(f"{path}: corrupt CU record for poc {poc} (chroma flag > 1 or empty CU)")
        if not v2:
            pictures.append(PicturePartition(poc, width, height, qp, cus))
            continue
        end = pos + num_nodes * _NODE.itemsize
        if end > len(data):
            raise InputError(f"{path}: truncated node records for poc {poc} ({num_nodes} expected)")
        node = np.frombuffer(data, dtype=_NODE, count=num_nodes, offset=pos)
        pos = end
        modes = np.empty((num, len(MODE_COLUMNS)), dtype=np.int64)
        for i, name in enumerate(MODE_COLUMNS):
            modes[:, i] = rec[name]
        nodes = np.empty((num_nodes, len(NODE_COLUMNS)), dtype=np.int64)
        for i, name in enumerate(NODE_COLUMNS):
            nodes[:, i] = node[name].astype(np.int64)
        search = np.stack([node[c] for c in _SEARCH_COSTS], axis=1).reshape(num_nodes, len(_SEARCH_COSTS))
        costs = node["cost"].copy()
        pictures.append(PicturePartition(poc, width, height, qp, cus, modes, nodes, costs, search))
    return pictures


def search_state_table(pic: PicturePartition) -> npt.NDArray[np.float64]:
    """Return the intra-search state of every luma node visit of a version-2 dump picture (map guide rows).

    Rows: x, y, w, h, split series, related-CU valid, bestISPIntraMode, IspPredModeVal bits,
    bestDCT2NonISPCost, bestNonDCT2Cost, cost budget. VTM's fast ISP search depends on earlier visits of the
    same area and on the budget the parent leaves; an oracle hands this state back to the encoder, so that
    each replayed CU starts its intra search where the anchor's did. A visit that reused an earlier visit's
    coding instead of searching gets the state of the area's last searched visit, which found that coding.
    Empty for a version-1 picture.
    """
    if pic.nodes is None or pic.search_costs is None:
        return np.zeros((0, 11))
    col = {c: NODE_COLUMNS.index(c) for c in NODE_COLUMNS}
    luma = pic.nodes[:, col["chroma"]] == 0
    nodes, costs = pic.nodes[luma], pic.search_costs[luma]
    geometry = [col["x"], col["y"], col["w"], col["h"]]
    related = nodes[:, [col["rel_valid"], col["rel_isp_mode"], col["rel_pred"]]]
    state = np.concatenate([related, costs], axis=1)
    # Visits of one area never nest, so the dump's order (nodes as they finish) is their order: within each
    # area, a reused visit takes the state of the latest searched visit before it.
    area = (nodes[:, geometry] << np.array([48, 32, 16, 0])).sum(axis=1)
    order = np.argsort(area, kind="stable")
    sorted_area = area[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_area)) + 1]
    group_start = np.repeat(start, np.diff(np.r_[start, len(order)]))
    searched = (nodes[order, col["reused"]] == 0) & (nodes[order, col["tested"]] & 1 == 1)
    latest = np.maximum.accumulate(np.where(searched, np.arange(len(order)), -1))
    reused = (nodes[order, col["reused"]] == 1) & (latest >= group_start)
    source = np.arange(len(nodes))
    source[order[reused]] = order[latest[reused]]
    rows = np.concatenate([nodes[:, [*geometry, col["split_series"]]], state[source]], axis=1)
    return rows.astype(np.float64)


def write_dump(path: str | Path, pictures: list[PicturePartition]) -> None:
    """Write pictures in the version-2 format of :func:`read_dump` (for tests and hand-made partitions).

    Missing modes are written as zeros, missing node visits as none.
    """
    with open(path, "wb") as out:
        out.write(MAGIC)
        for pic in pictures:
            cus = np.asarray(pic.cus, dtype=np.int64).reshape(-1, len(COLUMNS))
            nodes = np.zeros((0, len(NODE_COLUMNS)), np.int64) if pic.nodes is None else pic.nodes
            out.write(_HEADER.pack(pic.poc, pic.width, pic.height, pic.qp, len(cus), len(nodes)))
            rec = np.zeros(len(cus), dtype=_RECORD)
            for i, name in enumerate(COLUMNS[1:], start=1):
                rec[name] = cus[:, i]
            for i, name in enumerate(MODE_COLUMNS):
                rec[name] = 0 if pic.modes is None else pic.modes[:, i]
            out.write(rec.tobytes())
            node = np.zeros(len(nodes), dtype=_NODE)
            for i, name in enumerate(NODE_COLUMNS):
                node[name] = nodes[:, i]
            if pic.node_costs is not None:
                node["cost"] = pic.node_costs
            if pic.search_costs is not None:
                for i, name in enumerate(_SEARCH_COSTS):
                    node[name] = pic.search_costs[:, i]
            out.write(node.tobytes())
