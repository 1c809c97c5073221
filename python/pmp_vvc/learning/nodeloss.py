"""The map guide's node mode probabilities inside the training graph, and the node-level loss on them.

:func:`node_probabilities` is ``MapGuide::modeProbabilities`` followed by the restriction to the legal modes
(``MapGuide::candidates``), written with integral images so that a batch's nodes cost a few gathers and
gradients reach the maps: P(QT) is the mean over the node's 8x8 cells of P(QT depth > its level); the rest
is shared by the node's MTT layer's direction classes (mean over its 4x4 cells), each direction split into
TT and BT by the mean P(+2) over the node's first quarter. ``tests/test_nodeloss.py`` holds it to the C++.

:func:`node_loss` is the weighted negative log of the probability the guide gives to the node's acceptable
modes (:mod:`pmp_vvc.learning.nodes`): a candidate set that holds one of them loses nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pmp_vvc.learning.nodes import NodeTable, legal_modes

__all__ = ["node_loss", "node_probabilities"]


def _integral(x: torch.Tensor) -> torch.Tensor:
    """Zero-padded 2-D cumulative sums over the last two axes: rectangle sums in four gathers."""
    return F.pad(x.cumsum(-1).cumsum(-2), (1, 0, 1, 0))


def _rect(
    ii: torch.Tensor, r0: torch.Tensor, c0: torch.Tensor, r1: torch.Tensor, c1: torch.Tensor
) -> torch.Tensor:
    """Sum rows r0..r1-1, cols c0..c1-1 of each node's plane; ``ii`` is (K, H+1, W+1)."""
    k = torch.arange(len(ii))
    return ii[k, r1, c1] - ii[k, r0, c1] - ii[k, r1, c0] + ii[k, r0, c0]


def node_probabilities(
    qt: torch.Tensor, mtt: torch.Tensor, direction: torch.Tensor, nodes: NodeTable
) -> torch.Tensor:
    """(K, 6) legal-mode probabilities of the nodes, NODE_MODES order, from the maps' softmax probabilities.

    ``qt`` (B,4,8,8), ``mtt`` and ``direction`` (B,3,3,16,16) are class probabilities of the batch whose
    positions ``nodes.sample`` indexes.
    """
    g = torch.from_numpy(nodes.geometry)
    b, x, y, w, h, level, layer = (g[:, i] for i in range(7))
    # QT: P(depth > level) per 8x8 cell, summed over the node's cells
    tail = qt.flip(1).cumsum(1).flip(1)  # tail[:, k] = P(class >= k)
    qt_legal = (layer == 0) & (w == h) & (w >= 16)
    above = torch.clamp(level + 1, max=3)
    plane = tail[b, above] * (level + 1 <= 3).to(qt.dtype)[:, None, None]
    cells = torch.where(qt_legal, w // 8, 1)  # the other nodes take one cell and a zero P(QT)
    qr, qc = torch.where(qt_legal, y // 8, 0), torch.where(qt_legal, x // 8, 0)
    p_qt = _rect(_integral(plane), qr, qc, qr + cells, qc + cells) / (cells * cells)
    p_qt = torch.where(qt_legal, p_qt, torch.zeros_like(p_qt))
    # MTT layer: direction classes over the node's 4x4 cells, P(+2) over its first quarter
    mtt_layer = layer < 3
    lay = torch.clamp(layer, max=2)
    r0, c0, rows, cols = y // 4, x // 4, h // 4, w // 4
    n_cells = (rows * cols).to(qt.dtype)
    pd = [_rect(_integral(direction[b, k, lay]), r0, c0, r0 + rows, c0 + cols) / n_cells for k in range(3)]
    plus2 = _integral(mtt[b, 2, lay])
    qr, qc = torch.clamp(rows // 4, min=1), torch.clamp(cols // 4, min=1)
    th = _rect(plus2, r0, c0, r0 + qr, c0 + cols) / (qr * cols)
    tv = _rect(plus2, r0, c0, r0 + rows, c0 + qc) / (rows * qc)
    rest = torch.clamp(1.0 - p_qt, min=0.0)
    zero = torch.zeros_like(p_qt)
    no_split = torch.where(mtt_layer, rest * pd[0], 1.0 - p_qt)

    def layered(v: torch.Tensor) -> torch.Tensor:
        return torch.where(mtt_layer, v, zero)

    prob = torch.stack(
        [
            no_split,
            p_qt,
            layered(rest * pd[1] * (1 - th)),
            layered(rest * pd[2] * (1 - tv)),
            layered(rest * pd[1] * th),
            layered(rest * pd[2] * tv),
        ],
        dim=1,
    )
    legal = torch.from_numpy(legal_modes(w.numpy(), h.numpy(), layer.numpy(), nodes.chroma))
    prob = prob * legal.to(prob.dtype)
    mass = prob.sum(dim=1, keepdim=True)
    fallback = F.one_hot(torch.zeros(len(prob), dtype=torch.long), 6).to(prob.dtype)
    return torch.where(mass > 0, prob / torch.clamp(mass, min=1e-12), fallback)


def node_loss(outs: tuple[torch.Tensor, ...], nodes: NodeTable, weight_power: float = 0.5) -> torch.Tensor:
    """Weighted mean of -log P(acceptable modes) over the nodes (weights ``nodes.weight ** weight_power``)."""
    if len(nodes) == 0:
        return outs[0].new_zeros(())
    qt, mtt, direction = (o.softmax(dim=1) for o in outs[:3])
    prob = node_probabilities(qt, mtt, direction, nodes)
    good = (prob * torch.from_numpy(nodes.acceptable).to(prob.dtype)).sum(dim=1)
    weight = torch.from_numpy(nodes.weight).to(prob.dtype) ** weight_power
    return (weight * -torch.log(torch.clamp(good, min=1e-6))).sum() / torch.clamp(weight.sum(), min=1e-12)
