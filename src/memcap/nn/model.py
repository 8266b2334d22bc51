"""The one PyTorch model file of memcap. `MemTransformer` is the Transformer of docs/construction.md#the-transformer (attention +
residual FFN blocks, no LayerNorm, no 1/sqrt(s) scale), used both by `nn.export.to_torch` (built weights) and by the
trainer (learned ones, `paper_config`: the architecture of the paper's Appendix H). `StandardTransformer`
is the usual small pre-LayerNorm Transformer with learned positions, for comparison.

A block's attention is present only where config.attention_at says so; with W_Q = 0 it is the uniform
attention of the paper (every score 0, weight exactly 1/n in exact arithmetic, rounded 1/n in float).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TransformerConfig:
    m: int  # residual width
    q: int  # FFN hidden width
    blocks: int
    attention_at: tuple[int, ...]  # blocks that have attention
    s: int = 1  # head size (one head)
    vocab: int = 0  # > 0: token ids through an embedding table
    d_in: int = 0  # > 0: token vectors through a linear E_in
    seq_len: int = 0
    positions: bool = False  # ids: id * n + k; vectors: one more input coordinate k * position_scale
    position_scale: float = 0.0
    attention: str = "softmax"  # or "hardmax"
    causal: bool = False
    uniform: bool = True  # W_Q fixed at 0 (the paper's uniform attention)
    out_dim: int = 1
    id_map: int = 0  # > 0: raw token ids are looked up in this many sorted ids (buffer id_map; 0 = unseen row)
    pair_map: int = 0  # > 0: with positions, (id row - 1) * seq_len + k is looked up in buffer pair_map
    pool_at: tuple[int, ...] = ()  # blocks that start with Deep Sets' sum pooling over the positions
    recur_at: tuple[int, ...] = ()  # blocks that start with an identity recurrence h_k = h_{k-1} + W_x z_k
    register: bool = False  # sparse attention: a zero register column in front of the tokens
    patterns: tuple[str, ...] = ()  # with a register, each attention layer's mask: "gather" or "read"

    def __post_init__(self):
        for name in ("attention_at", "pool_at", "recur_at", "patterns"):  # a JSON list reads back as a tuple
            object.__setattr__(self, name, tuple(getattr(self, name)))


def _lookup(keys: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """1 + the index of each x in the sorted keys, 0 where x is not a key (the table's unseen row)."""
    i = torch.searchsorted(keys, x).clamp(max=len(keys) - 1)
    return torch.where(keys[i] == x, i + 1, torch.zeros_like(i))


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig, pattern: str = "all"):
        super().__init__()
        self.cfg = cfg
        self.pattern = pattern
        self.q = nn.Linear(cfg.m, cfg.s, bias=False)
        self.k = nn.Linear(cfg.m, cfg.s, bias=False)
        self.v = nn.Linear(cfg.m, cfg.s, bias=False)
        self.o = nn.Linear(cfg.s, cfg.m, bias=False)
        if cfg.uniform:
            nn.init.zeros_(self.q.weight)
            self.q.weight.requires_grad_(False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[1]
        if self.cfg.uniform:
            # every score is 0, so softmax and hardmax both weigh each key 1/n (1/(k+1) under the causal
            # mask): the same weights without the n x n score matrix (n = 10^4 would need 400 MB per example)
            v = self.v(z)
            if self.pattern == "read":  # every position's one key is the register (column 0)
                return self.o(v[:, :1]).expand(-1, n, -1)
            if self.pattern == "gather":  # the register averages the real tokens, which read the register
                mean = (v[:, 1:] * (1.0 / (n - 1))).sum(dim=1, keepdim=True)
                return self.o(torch.cat([mean, v[:, :1].expand(-1, n - 1, -1)], dim=1))
            if not self.cfg.causal:
                return self.o((v * (1.0 / n)).sum(dim=1, keepdim=True)).expand(-1, n, -1)
            counts = torch.arange(1, n + 1, device=z.device, dtype=z.dtype)[None, :, None]
            return self.o(v.cumsum(dim=1) / counts)
        scores = self.k(z) @ self.q(z).transpose(1, 2)  # [B, key, query]: column-wise softmax over keys
        if self.cfg.causal:
            mask = torch.ones(n, n, dtype=torch.bool, device=z.device).tril(-1)  # [key, query]: key > query
            scores = scores.masked_fill(mask, float("-inf"))
        if self.cfg.attention == "hardmax":
            top = scores.max(dim=1, keepdim=True).values
            w = (scores == top).to(z.dtype)
            w = w / w.sum(dim=1, keepdim=True)
        else:
            w = torch.softmax(scores, dim=1)
        return self.o(w.transpose(1, 2) @ self.v(z))


class Recurrence(nn.Module):
    """h_k = h_{k-1} + W_x z_k (W_h = identity), step by step over the positions: a linear RNN cell."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.weight_x = nn.Parameter(torch.zeros(cfg.m, cfg.m))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h, out = torch.zeros_like(z[:, 0]), []
        for k in range(z.shape[1]):
            h = h + z[:, k] @ self.weight_x.T
            out.append(h)
        return torch.stack(out, dim=1)


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig, attention: str | None, pool: bool = False, recur: bool = False):
        super().__init__()
        self.attn = Attention(cfg, attention) if attention else None
        self.rnn = Recurrence(cfg) if recur else None
        self.pool = pool
        self.w1 = nn.Linear(cfg.m, cfg.q)
        self.w2 = nn.Linear(cfg.q, cfg.m)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.attn is not None:
            z = z + self.attn(z)
        if self.pool:
            z = z.sum(dim=1, keepdim=True).expand(-1, z.shape[1], -1)
        if self.rnn is not None:
            z = z + self.rnn(z)
        return z + self.w2(torch.relu(self.w1(z)))


class MemTransformer(nn.Module):
    id_map: torch.Tensor  # buffers, registered only when the config asks for them
    pair_map: torch.Tensor

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed: nn.Embedding | nn.Linear
        if cfg.vocab:
            self.embed = nn.Embedding(cfg.vocab, cfg.m)
            if cfg.id_map:
                self.register_buffer("id_map", torch.zeros(cfg.id_map, dtype=torch.int64))
            if cfg.pair_map:
                self.register_buffer("pair_map", torch.zeros(cfg.pair_map, dtype=torch.int64))
        else:
            self.embed = nn.Linear(cfg.d_in + (1 if cfg.positions else 0), cfg.m, bias=False)
        patterns = dict(zip(cfg.attention_at, cfg.patterns or ("all",) * len(cfg.attention_at), strict=True))
        self.blocks = nn.ModuleList(Block(cfg, patterns.get(i), i in cfg.pool_at, i in cfg.recur_at)
                                    for i in range(cfg.blocks))
        self.e_out = nn.Linear(cfg.m, cfg.out_dim, bias=False)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding rows of token ids [B, n]: the raw ids through the id (and pair) maps when the model has
        them (built models), else the ids themselves (trained models)."""
        cfg = self.cfg
        if not cfg.id_map:
            return x
        r = _lookup(self.id_map, x)
        if not cfg.pair_map:
            return r
        key = (r - 1) * cfg.seq_len + torch.arange(x.shape[1], device=x.device)[None, :]
        return torch.where(r > 0, _lookup(self.pair_map, key), torch.zeros_like(r))

    def forward(self, x: torch.Tensor, read: int | None = None) -> torch.Tensor:
        """x: ids [B, n] or vectors [B, n, d]; returns [B, n, out_dim], or [B, out_dim] at position `read`.
        Blocks after the last attention are token-wise, so with `read` only that position goes through them.
        A register (sparse attention) enters as a zero column in front and is dropped from the output.
        A length other than the configured n is refused (ValueError): the construction, and any positions,
        are defined for n tokens only. A built model (one with an id map) outputs -1 at every position of an
        example holding an id it never saw, as memcap's exact `predict` does: the construction says nothing
        about such an example."""
        cfg = self.cfg
        n = x.shape[1] if x.dim() >= 2 else 0
        if cfg.seq_len and (n != cfg.seq_len or x.dim() != (2 if cfg.vocab else 3)):
            raise ValueError(f"this model takes sequences of length n = {cfg.seq_len} as "
                             f"{'ids [B, n]' if cfg.vocab else 'vectors [B, n, d]'}; got shape {list(x.shape)}")
        unseen = None
        if cfg.vocab:
            rows = self.rows(x)
            z = self.embed(rows)
            if cfg.id_map:
                unseen = (rows == 0).any(dim=1)
        else:
            if cfg.positions:
                pos = torch.arange(n, device=x.device, dtype=x.dtype)[None, :, None] * cfg.position_scale
                x = torch.cat([x, pos.expand(x.shape[0], n, 1)], dim=2)
            z = self.embed(x)
        out = self._stack(z, read)
        if unseen is not None:  # the unseen row's output means nothing: no label, as in predict
            out = out.masked_fill(unseen.view(-1, *(1,) * (out.dim() - 1)), -1.0)
        return out

    def _stack(self, z: torch.Tensor, read: int | None) -> torch.Tensor:
        """The blocks and E_out on embedded tokens z [B, n, m]."""
        cfg = self.cfg
        n = z.shape[1]
        if cfg.register:
            z = torch.cat([torch.zeros_like(z[:, :1]), z], dim=1)
        split = max((*cfg.attention_at, *cfg.pool_at, *cfg.recur_at), default=-1) + 1
        for block in self.blocks[:split]:
            z = block(z)
        if read is not None:
            z = z[:, [read % n + cfg.register]]
        elif cfg.register:
            z = z[:, 1:]
        if torch.is_grad_enabled():
            for block in self.blocks[split:]:
                z = block(z)
        else:
            z = _tokenwise_inplace(self.blocks[split:], z)
        return self.e_out(z)[:, 0] if read is not None else self.e_out(z)


def _tokenwise_inplace(blocks, z: torch.Tensor) -> torch.Tensor:
    """The FFN-only blocks without autograd: the same addmm products as nn.Linear on the flattened tokens
    (so the same float64 values), with the residual added in place and no intermediate kept; the long
    F2 stack of a built model runs about twice as fast."""
    shape = z.shape
    flat = z.reshape(-1, shape[-1]).clone()
    for block in blocks:
        h = torch.addmm(block.w1.bias, flat, block.w1.weight.t()).relu_()
        flat.add_(torch.addmm(block.w2.bias, h, block.w2.weight.t()))
    return flat.view(shape)


def paper_config(blocks: int, n: int, out_dim: int, d_in: int = 0, vocab: int = 0, m: int = 2, q: int = 8) -> TransformerConfig:
    """The paper's experimental model (Appendix H): E_out . F2 . F^UA . F1 . E_in, with F1 and F2 each a
    stack of `blocks` residual FFN blocks and one uniform attention layer between them (W_Q = 0, s = m)."""
    if blocks < 1:
        raise ValueError(f"blocks must be >= 1, got {blocks}")
    return TransformerConfig(m=m, q=q, blocks=2 * blocks, attention_at=(blocks,), s=m, vocab=vocab, d_in=d_in,
                             seq_len=n, uniform=True, out_dim=out_dim)


@dataclass(frozen=True)
class StandardConfig:
    """A small pre-LayerNorm Transformer: learned positions, softmax multi-head attention with the
    1/sqrt(head size) scale, ReLU MLP of width mlp * width, a final LayerNorm."""

    width: int
    layers: int
    heads: int
    seq_len: int
    out_dim: int
    d_in: int = 0
    vocab: int = 0
    mlp: int = 4


class StandardLayer(nn.Module):
    def __init__(self, cfg: StandardConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.width)
        self.attn = nn.MultiheadAttention(cfg.width, cfg.heads, batch_first=True)
        self.ln2 = nn.LayerNorm(cfg.width)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, cfg.mlp * cfg.width), nn.ReLU(), nn.Linear(cfg.mlp * cfg.width, cfg.width))

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln1(z)
        z = z + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return z + self.mlp(self.ln2(z))


class StandardTransformer(nn.Module):
    def __init__(self, cfg: StandardConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.width) if cfg.vocab else nn.Linear(cfg.d_in, cfg.width)
        self.pos = nn.Parameter(torch.zeros(cfg.seq_len, cfg.width))
        nn.init.normal_(self.pos, std=0.02)
        self.layers = nn.ModuleList(StandardLayer(cfg) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.out_dim)

    def forward(self, x: torch.Tensor, read: int | None = None) -> torch.Tensor:
        z = self.embed(x) + self.pos[: x.shape[1]]
        for layer in self.layers:
            z = layer(z)
        out = self.head(self.ln(z))
        return out[:, read] if read is not None else out


@dataclass(frozen=True)
class GPTConfig:
    """A GPT-2-style causal language model (the model of trained-capacity measurements): the standard
    model's pre-LayerNorm layers under a causal mask, learned positions, the output logits through the
    token embedding itself (tied), a final LayerNorm. forward(tokens [B, S]) gives next-token logits [B, S, V]."""

    vocab: int
    seq_len: int
    width: int
    layers: int
    heads: int = 1
    mlp: int = 4


class GPT(nn.Module):
    mask: torch.Tensor  # a registered buffer

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.width)
        self.pos = nn.Parameter(torch.zeros(cfg.seq_len, cfg.width))
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)
        std = StandardConfig(width=cfg.width, layers=cfg.layers, heads=cfg.heads, seq_len=cfg.seq_len, out_dim=cfg.vocab, mlp=cfg.mlp)
        self.layers = nn.ModuleList(StandardLayer(std) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.width)
        self.register_buffer("mask", torch.ones(cfg.seq_len, cfg.seq_len, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, x: torch.Tensor, read: int | None = None) -> torch.Tensor:
        S = x.shape[1]
        z = self.embed(x) + self.pos[:S]
        for layer in self.layers:
            z = layer(z, self.mask[:S, :S])
        out = self.ln(z) @ self.embed.weight.T
        return out[:, read] if read is not None else out


@dataclass(frozen=True)
class RecurrentConfig:
    """A GRU or LSTM (torch.nn) over the tokens, a linear head on every position's hidden state."""

    cell: str  # "gru" | "lstm"
    width: int  # hidden size
    layers: int
    seq_len: int
    out_dim: int
    d_in: int = 0
    vocab: int = 0


class RecurrentNet(nn.Module):
    def __init__(self, cfg: RecurrentConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_in or cfg.width
        self.embed = nn.Embedding(cfg.vocab, d) if cfg.vocab else None
        self.rnn = (nn.GRU if cfg.cell == "gru" else nn.LSTM)(d, cfg.width, cfg.layers, batch_first=True)
        self.head = nn.Linear(cfg.width, cfg.out_dim)

    def forward(self, x: torch.Tensor, read: int | None = None) -> torch.Tensor:
        h, _ = self.rnn(self.embed(x) if self.embed is not None else x)
        out = self.head(h if read is None else h[:, read])
        return out


@dataclass(frozen=True)
class MLPConfig:
    """A ReLU MLP on the flattened input (d * n values, or n embedded ids): Remark 4.3's plain FFN."""

    width: int
    layers: int  # hidden layers
    seq_len: int
    out_dim: int
    d_in: int = 0
    vocab: int = 0
    embed: int = 4  # ids: embedding width before flattening


class FlatMLP(nn.Module):
    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_in or cfg.embed
        self.embed = nn.Embedding(cfg.vocab, cfg.embed) if cfg.vocab else None
        sizes = [d * cfg.seq_len] + [cfg.width] * cfg.layers
        hidden = [m for a, b in zip(sizes, sizes[1:], strict=False) for m in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(*hidden, nn.Linear(sizes[-1], cfg.out_dim))

    def forward(self, x: torch.Tensor, read: int | None = None) -> torch.Tensor:
        """One output per sequence: it reads all n tokens at once, so `read` must be the last position."""
        if read is None or read % x.shape[1] != x.shape[1] - 1:
            raise ValueError("the flat MLP gives one output per sequence (next-token labels)")
        z = self.embed(x) if self.embed is not None else x
        return self.net(z.reshape(z.shape[0], -1))


MODELS = {TransformerConfig: MemTransformer, StandardConfig: StandardTransformer, RecurrentConfig: RecurrentNet,
          MLPConfig: FlatMLP, GPTConfig: GPT}
CONFIGS = {c.__name__: c for c in MODELS}  # the kind a saved config.json names -> its config class


def build(cfg) -> nn.Module:
    return MODELS[type(cfg)](cfg)


def trainable_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
