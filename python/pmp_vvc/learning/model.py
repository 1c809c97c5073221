"""The partition-map network: a QP-conditioned hierarchical window transformer with token sparsification.

Input: ``luma`` (B,1,68,68) in [0,1] (64x64 block + 4 samples of top/left context) and ``qp`` (B,) or (B,1).
Outputs (logits): ``qt`` (B,4,8,8) QT depth classes per 8x8 cell; ``mtt`` (B,3,3,16,16) btDepth increment
classes {0,+1,+2} and ``direction`` (B,3,3,16,16) classes {none, horizontal, vertical}, laid out as
(batch, class, layer, row, col) so that ``cross_entropy`` takes them directly.

Architecture: an overlapping 12x12/stride-4 stem (each token sees its 4x4 cell and 4 samples around it,
so the left/top tokens see the context), three stages at 16x16, 8x8 and 4x4 tokens alternating local
and grid (dilated) window attention, QP as FiLM modulation at every stage, and a small convolutional
decoder. In the sparse stages a token scorer (design §4) picks the top floor(N·rho) tokens for the full
FFN; the others take a cheap linear path; attention sees every token and nothing leaves the grid.
Training uses hard Gumbel-softmax masks and a ratio loss (:meth:`MapNet.ratio_loss`).

:class:`ChromaNet` is the chroma tree's model on the same trunk (:class:`MapNet`): inputs ``cb``, ``cr``
(B,1,34,34) (the 32x32 chroma block of 4:2:0 with 2 samples of context) and, unless
``ChromaConfig.luma_input`` is off, the luma input average-pooled to the chroma grid; a 6x6/stride-2 stem
gives the same 16x16 token grid (one token per 2x2 chroma samples = 4x4 luma cell), so the outputs are
the chroma tree's maps in the luma model's layouts and luma cell units.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pmp_vvc.modelio import CHROMA_INPUTS, CHROMA_OUTPUTS, CHROMA_SAMPLE_SIZE, INPUTS, OUTPUTS, SAMPLE_SIZE

QP_CENTER, QP_SCALE = 29.5, 7.5


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`PartitionNet` (saved with checkpoints)."""

    dims: tuple[int, int, int] = (32, 64, 96)
    depths: tuple[int, int, int] = (2, 2, 2)
    heads: tuple[int, int, int] = (2, 4, 4)
    window: int = 8
    mlp_ratio: float = 4.0
    rho: float = 1.0
    sparse_stages: tuple[bool, bool, bool] = (True, True, False)
    qp_dim: int = 16
    gumbel_tau: float = 1.0

    def to_dict(self) -> dict[str, object]:
        """Plain-dict form for checkpoints and model cards."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ModelConfig:
        """Inverse of :meth:`to_dict` (lists become tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]


@dataclass(frozen=True)
class ChromaConfig(ModelConfig):
    """Hyper-parameters of :class:`ChromaNet`: a smaller trunk, and whether it sees the co-located luma."""

    dims: tuple[int, int, int] = (16, 32, 48)
    heads: tuple[int, int, int] = (1, 2, 2)
    luma_input: bool = True


def _windows(x: Tensor, w: int, grid: bool) -> Tensor:
    """(B,H,W,C) -> (B*nW, w*w, C): local w x w windows, or grid windows of tokens strided by H/w."""
    b, h, wd, c = x.shape
    if grid:
        x = x.reshape(b, w, h // w, w, wd // w, c).permute(0, 2, 4, 1, 3, 5)
    else:
        x = x.reshape(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def _unwindows(x: Tensor, w: int, grid: bool, b: int, h: int, wd: int) -> Tensor:
    """Inverse of :func:`_windows`."""
    c = x.shape[-1]
    if grid:
        x = x.reshape(b, h // w, wd // w, w, w, c).permute(0, 3, 1, 4, 2, 5)
    else:
        x = x.reshape(b, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, c)


class Attention(nn.Module):
    """Multi-head self-attention inside windows (explicit matmuls: counted by fvcore, plain ONNX)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Attend within each window of x (nW, T, C)."""
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(torch.matmul(qkv[0] * self.scale, qkv[1].transpose(-2, -1)), dim=-1)
        out: Tensor = self.proj(torch.matmul(att, qkv[2]).transpose(1, 2).reshape(n, t, c))
        return out


class TokenScorer(nn.Module):
    """Keep/drop logits per token: local features plus a block-wide mean for global context (design §4)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        hid = max(dim // 2, 8)
        self.inp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hid), nn.GELU())
        self.out = nn.Sequential(nn.Linear(hid, hid // 2), nn.GELU(), nn.Linear(hid // 2, 2))

    def forward(self, x: Tensor) -> Tensor:
        """Return (B, N, 2) logits (keep, drop) for tokens x (B, N, C)."""
        h = self.inp(x)
        half = h.shape[-1] // 2
        glob = h[..., half:].mean(dim=1, keepdim=True).expand(-1, h.shape[1], -1)
        out: Tensor = self.out(torch.cat([h[..., :half], glob], dim=-1))
        return out


class Block(nn.Module):
    """Window attention + FFN; the FFN can be split into a full and a cheap path by a token selection."""

    def __init__(self, dim: int, heads: int, window: int, grid: bool, mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.grid = window, grid
        self.norm1, self.attn, self.norm2 = nn.LayerNorm(dim), Attention(dim, heads), nn.LayerNorm(dim)
        hid = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hid), nn.GELU(), nn.Linear(hid, dim))
        self.cheap = nn.Linear(dim, dim)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, keep: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        """Apply to x (B,H,W,C) with a (B,N) keep ``mask`` (training) or ``keep`` (kept, dropped) indices."""
        b, h, w, c = x.shape
        win = min(self.window, h)
        grid = self.grid and h > win
        x = x + _unwindows(self.attn(_windows(self.norm1(x), win, grid)), win, grid, b, h, w)
        t = x.reshape(b, h * w, c)
        y = self.norm2(t)
        if mask is not None:
            m = mask.unsqueeze(-1)
            t = t + m * self.mlp(y) + (1 - m) * self.cheap(y)
        elif keep is not None:
            kept, dropped = (i.unsqueeze(-1).expand(-1, -1, c) for i in keep)
            out = torch.zeros_like(y).scatter(1, kept, self.mlp(torch.gather(y, 1, kept)))
            t = t + out.scatter(1, dropped, self.cheap(torch.gather(y, 1, dropped)))
        else:
            t = t + self.mlp(y)
        return t.reshape(b, h, w, c)


class Stage(nn.Module):
    """Optional 2x2 patch merging, QP FiLM, a token scorer (if sparse) and blocks (local/grid windows)."""

    def __init__(
        self, cin: int, dim: int, depth: int, heads: int, cfg: ModelConfig, merge: bool, sparse: bool
    ) -> None:
        super().__init__()
        self.merge = nn.Sequential(nn.LayerNorm(4 * cin), nn.Linear(4 * cin, dim)) if merge else None
        self.film = nn.Linear(cfg.qp_dim, 2 * dim)
        self.scorer = TokenScorer(dim) if sparse else None
        self.rho, self.tau = cfg.rho, cfg.gumbel_tau
        self.blocks = nn.ModuleList(
            Block(dim, heads, cfg.window, i % 2 == 1, cfg.mlp_ratio) for i in range(depth)
        )
        self.keep_rate: Tensor | None = None
        self.full_tokens: int | None = None

    def forward(self, x: Tensor, qp_emb: Tensor) -> Tensor:
        """X (B,H,W,Cin) -> (B,H',W',dim)."""
        if self.merge is not None:
            b, h, w, c = x.shape
            x = x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 4, 2, 5)
            x = x.reshape(b, h // 2, w // 2, 4 * c)
            x = self.merge(x)
        scale, shift = self.film(qp_emb)[:, None, None].chunk(2, dim=-1)
        x = x * (1 + scale) + shift
        b, h, w, c = x.shape
        mask, keep = None, None
        if self.scorer is not None:
            logits = self.scorer(x.reshape(b, h * w, c))
            if self.training:
                mask = F.gumbel_softmax(logits, tau=self.tau, hard=True)[..., 0]
                self.keep_rate = mask.mean(dim=1)
            else:
                n = h * w
                k = min(max(math.floor(n * self.rho), 0), n)
                score = logits[..., 0] - logits[..., 1]
                keep = (torch.topk(score, k, dim=1).indices, torch.topk(-score, n - k, dim=1).indices)
                self.full_tokens = k
        for blk in self.blocks:
            x = blk(x, mask, keep)
        return x


class MapNet(nn.Module):
    """The trunk both models share: a stem (given by the subclass), three QP-FiLM stages, the map decoder.

    Subclasses set :attr:`TARGET` and the ONNX names of their inputs and outputs, and turn their inputs
    into the stem's padded image in ``forward``.
    """

    TARGET: ClassVar[str]
    INPUT_NAMES: ClassVar[tuple[str, ...]]
    OUTPUT_NAMES: ClassVar[tuple[str, ...]]

    def __init__(self, cfg: ModelConfig, stem: nn.Conv2d) -> None:
        super().__init__()
        self.cfg = cfg
        d1, d2, d3 = cfg.dims
        self.qp_mlp = nn.Sequential(nn.Linear(1, cfg.qp_dim), nn.GELU(), nn.Linear(cfg.qp_dim, cfg.qp_dim))
        self.stem = stem
        self.stem_norm = nn.LayerNorm(d1)
        self.pos = nn.Parameter(torch.zeros(1, 16, 16, d1))
        nn.init.trunc_normal_(self.pos, std=0.02)
        sparse = [s and cfg.rho < 1.0 for s in cfg.sparse_stages]
        self.stages = nn.ModuleList(
            [
                Stage(d1, d1, cfg.depths[0], cfg.heads[0], cfg, False, sparse[0]),
                Stage(d1, d2, cfg.depths[1], cfg.heads[1], cfg, True, sparse[1]),
                Stage(d2, d3, cfg.depths[2], cfg.heads[2], cfg, True, sparse[2]),
            ]
        )
        self.lat3, self.lat2, self.lat1 = nn.Conv2d(d3, d2, 1), nn.Conv2d(d2, d2, 1), nn.Conv2d(d1, d1, 1)
        self.fuse2 = nn.Sequential(nn.Conv2d(d2, d2, 3, padding=1), nn.GELU())
        self.up2 = nn.Conv2d(d2, d1, 1)
        self.fuse1 = nn.Sequential(nn.Conv2d(d1, d1, 3, padding=1), nn.GELU())
        self.film2, self.film1 = nn.Linear(cfg.qp_dim, 2 * d2), nn.Linear(cfg.qp_dim, 2 * d1)
        self.qt_head = nn.Conv2d(d2, 4, 1)
        self.mtt_head, self.dir_head = nn.Conv2d(d1, 9, 1), nn.Conv2d(d1, 9, 1)

    def maps(self, image: Tensor, qp: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Logits (qt, mtt, direction) from the stem's input ``image`` (giving 16x16 tokens) and ``qp``."""
        b = image.shape[0]
        emb = self.qp_mlp((qp.reshape(b, 1).to(image.dtype) - QP_CENTER) / QP_SCALE)
        x = self.stem(image).permute(0, 2, 3, 1)
        x = self.stem_norm(x) + self.pos
        feats = []
        for stage in self.stages:
            x = stage(x, emb)
            feats.append(x.permute(0, 3, 1, 2))
        f1, f2, f3 = feats
        g2 = self.lat2(f2) + F.interpolate(self.lat3(f3), scale_factor=2.0, mode="nearest")
        s2, t2 = self.film2(emb)[:, :, None, None].chunk(2, dim=1)
        g2 = self.fuse2(g2 * (1 + s2) + t2)
        g1 = self.lat1(f1) + F.interpolate(self.up2(g2), scale_factor=2.0, mode="nearest")
        s1, t1 = self.film1(emb)[:, :, None, None].chunk(2, dim=1)
        g1 = self.fuse1(g1 * (1 + s1) + t1)
        mtt = self.mtt_head(g1).reshape(b, 3, 3, 16, 16)
        direction = self.dir_head(g1).reshape(b, 3, 3, 16, 16)
        return self.qt_head(g2), mtt, direction

    def example_inputs(self, batch: int) -> tuple[Tensor, ...]:
        """Random inputs of ``batch`` blocks in the order of :attr:`INPUT_NAMES` (QPs 22..37)."""
        qp = torch.linspace(22.0, 37.0, batch).round()
        shapes = [(batch, 1, SAMPLE_SIZE, SAMPLE_SIZE)] + [
            (batch, 1, CHROMA_SAMPLE_SIZE, CHROMA_SAMPLE_SIZE)
        ] * (len(self.INPUT_NAMES) - 2)
        planes = [torch.rand(*shape) for shape in shapes]
        return (planes[0], qp, *planes[1:])

    def ratio_loss(self) -> Tensor:
        """(mean keep rate - rho)^2 over the sparse stages of the last training forward (0 if dense)."""
        rates = [s.keep_rate for s in self.stage_list() if s.keep_rate is not None]
        if not rates:
            return torch.zeros(())
        return torch.stack([((r - self.cfg.rho) ** 2).mean() for r in rates]).mean()

    def stage_list(self) -> list[Stage]:
        """Return the three stages, typed."""
        return [s for s in self.stages if isinstance(s, Stage)]

    def full_path_tokens(self) -> list[int | None]:
        """Tokens per block that took the full FFN in each stage at the last eval forward (None: dense)."""
        return [s.full_tokens for s in self.stage_list()]


class PartitionNet(MapNet):
    """QP-conditioned sparse window transformer predicting partition-map logits for 64x64 luma blocks."""

    TARGET = "luma"
    INPUT_NAMES = tuple(INPUTS)
    OUTPUT_NAMES = tuple(OUTPUTS)

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        cfg = cfg or ModelConfig()
        super().__init__(cfg, nn.Conv2d(1, cfg.dims[0], kernel_size=12, stride=4))

    def forward(self, luma: Tensor, qp: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return logits (qt, mtt, direction) for luma (B,1,68,68) and qp (B,) or (B,1)."""
        return self.maps(F.pad(luma, (0, 4, 0, 4)), qp)


class ChromaNet(MapNet):
    """The chroma tree's maps of a 64x64 luma area from its Cb, Cr (and co-located luma) samples."""

    TARGET = "chroma"
    INPUT_NAMES = tuple(CHROMA_INPUTS)
    OUTPUT_NAMES = tuple(CHROMA_OUTPUTS)

    def __init__(self, cfg: ChromaConfig | None = None) -> None:
        cfg = cfg or ChromaConfig()
        super().__init__(cfg, nn.Conv2d(2 + cfg.luma_input, cfg.dims[0], kernel_size=6, stride=2))
        self.luma_input = cfg.luma_input

    def forward(self, luma: Tensor, qp: Tensor, cb: Tensor, cr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return logits (qt_c, mtt_c, direction_c) for luma (B,1,68,68), qp (B,), cb and cr (B,1,34,34)."""
        planes = [cb, cr, F.avg_pool2d(luma, 2)] if self.luma_input else [cb, cr]
        return self.maps(F.pad(torch.cat(planes, dim=1), (0, 2, 0, 2)), qp)


def chroma_from_luma(luma: PartitionNet) -> ChromaNet:
    """Return a chroma network that starts as ``luma`` run on the 2x2-pooled luma plane (to fine-tune).

    The trunk (QP MLP, stages, decoder, heads) is copied; the chroma stem's luma channel is the luma stem
    summed over 2x2 taps (the same 12x12-sample field, on luma averaged per chroma sample), its Cb and Cr
    channels start at zero. On luma that is constant over 2x2 samples both give the same maps.
    """
    net = ChromaNet(ChromaConfig(**{**luma.cfg.to_dict(), "luma_input": True}))  # type: ignore[arg-type]
    trunk = {k: v for k, v in luma.state_dict().items() if not k.startswith("stem.")}
    missing, unexpected = net.load_state_dict(trunk, strict=False)
    if sorted(missing) != ["stem.bias", "stem.weight"] or unexpected:
        raise ValueError(f"luma and chroma trunks differ: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        net.stem.weight.zero_()
        net.stem.weight[:, 2:3] = 4 * F.avg_pool2d(luma.stem.weight, 2)
        if net.stem.bias is not None and luma.stem.bias is not None:
            net.stem.bias.copy_(luma.stem.bias)
    return net


#: The configuration type of each training target's network.
TARGET_CONFIGS: dict[str, type[ModelConfig]] = {"luma": ModelConfig, "chroma": ChromaConfig}


def build_model(cfg: ModelConfig) -> MapNet:
    """Build the network a configuration describes: :class:`ChromaNet` for a :class:`ChromaConfig`."""
    return ChromaNet(cfg) if isinstance(cfg, ChromaConfig) else PartitionNet(cfg)


def count_parameters(model: nn.Module) -> int:
    """Count trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
