"""The exact, framework-free model: a residual stream of named coordinates and the blocks that act on it.

Forward semantics (docs/construction.md#the-transformer), recorded here once and implemented by `executor` (exact) and
`nn.model.MemTransformer` (float64):

    Z = E_in(x)                                     one column per token, len(coords) rows
                                                    (+ a register column of zeros in front, if any)
    for block in blocks:
        if block.attention:  Z[out] += mean_window(w * Z[in])      (uniform: W_Q = W_K = 0)
        if block.pool:       Z = sum of Z over the positions        (Deep Sets; no parameters)
        if block.recur:      Z[out]_k += sum_{j <= k} Z[in]_j      (h_k = h_{k-1} + x_k: an RNN, n steps)
        Z += W2 relu(W1 Z + b1) + b2                              (token-wise residual FFN)
    y = Z[output]                                   (E_out is the unit vector on `output`)

The window of an attention layer is its mask pattern: "all" (every position, or the prefix when causal);
with a register r in front (sparse attention), "gather" (r averages the n real tokens, each real token
attends only to r) and "read" (every position attends only to r). A uniform weight over the allowed keys
is 1/|allowed|: exact.

Invariant: every FFN weight and bias is a Python int. The only non-integers in a model are the input
layer's dyadic scale (the data's floats are dyadic) and the attention's exact 1/n (or 1/k when causal),
so an exact executor can carry one common denominator instead of rationals.
FFNs are stored sparsely, unit by unit: a built memorizer touches a handful of coordinates per block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..vocab import Attention, InputKind, ModelSetting, WindowPattern
from .record import ModelRecord, PlanSummary, StageDepths

Sparse = tuple[tuple[int, int], ...]  # (coordinate, integer weight) pairs


@dataclass(frozen=True)
class Unit:
    """One hidden ReLU unit: h = relu(sum(w * Z[c] for c, w in reads) + bias); Z[c] += w * h for writes."""

    reads: Sparse
    bias: int
    writes: Sparse


@dataclass(frozen=True)
class FFN:
    """A residual FFN layer: its hidden units plus b2 (`shift`, added straight to the stream)."""

    units: tuple[Unit, ...]
    shift: Sparse = ()


@dataclass(frozen=True)
class UniformAttention:
    """Attention with W_Q = 0, so every score is 0 and softmax and hardmax both weigh the window uniformly.

    `moves` lists the entries of W^O W^V as (out, in, weight). `causal` averages position k over its
    prefix 1..k instead of the whole sequence. `kind` records which normalisation the torch module uses.
    """

    moves: tuple[tuple[int, int, int], ...]
    kind: Attention = Attention.softmax  # softmax or hardmax (sparse attention is a pattern, not a kind)
    causal: bool = False
    pattern: WindowPattern = WindowPattern.all  # gather and read: the register patterns of sparse attention

    def connections(self, n: int) -> int:
        """(query, key) pairs the mask allows over n real tokens (plus the register for the sparse patterns)."""
        if self.pattern == WindowPattern.gather:
            return 2 * n  # r <- each real token, each real token <- r
        if self.pattern == WindowPattern.read:
            return n + 1  # every position <- r
        return n * (n + 1) // 2 if self.causal else n * n


@dataclass(frozen=True)
class Block:
    ffn: FFN
    attention: UniformAttention | None = None
    pool: bool = False  # Deep Sets: before the FFN, every position holds the sum of the stream over positions
    recur: tuple[tuple[int, int], ...] = ()  # (out, in): an identity recurrence h_k = h_{k-1} + Z[in]_k into out

    @property
    def mixes(self) -> bool:
        """Does this block move information between positions (attention, pooling or a recurrence)?"""
        return self.attention is not None or self.pool or bool(self.recur)


def lookup(keys: np.ndarray, x: np.ndarray) -> np.ndarray:
    """1 + the index of each x in the sorted `keys`, 0 where x is not a key."""
    if not len(keys):
        return np.zeros(np.shape(x), dtype=np.int64)
    i = np.minimum(np.searchsorted(keys, x), len(keys) - 1)
    return np.where(keys[i] == x, i + 1, 0).astype(np.int64)


@dataclass(frozen=True)
class InputLayer:
    """E_in. `vectors`: Z = weights @ x (integer weights on the exact dyadic input).

    `ids`: Z = table[row(token)], the embedding of Theorem E.1 with one row per token that occurs in the
    data. `vocab` lists the raw ids that occur, sorted; id vocab[j] has row j + 1 and row 0 is the row of
    every id the model never saw (all zeros: no key-token value). Memory and file size therefore grow with
    the tokens present, not with the largest id. With `positions` the row belongs to the pair (id,
    position): `pairs` lists the occurring keys (id row - 1) * n + k, sorted, and the pair pairs[j] has row
    j + 1. Vectors with `positions` get one more input coordinate equal to k * position_scale.
    """

    kind: InputKind
    dim: int  # d for vectors (before any position coordinate), table rows for ids
    weights: tuple[tuple[int, ...], ...] = ()  # [m][d(+1)] for vectors
    table: tuple[tuple[int, ...], ...] = ()  # [rows][m] for ids
    positions: bool = False
    seq_len: int = 0  # n, needed to combine ids with positions
    position_scale: float = 0.0  # a power of two, so the appended coordinate stays dyadic
    vocab: tuple[int, ...] = ()  # ids: the raw token ids present, sorted
    pairs: tuple[int, ...] = ()  # ids with positions: the (id row - 1) * n + k keys present, sorted
    pos_table: tuple[tuple[int, ...], ...] = ()  # ids: [n][m] added to the token's row (TransformerLens's pos_embed)
    register: bool = False  # a register column of zeros goes in front of the n tokens (sparse attention)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Table rows of raw token ids [B, n] (0 = never seen)."""
        ids = np.asarray(ids, dtype=np.int64)
        r = lookup(self._keys("vocab"), ids)
        if not self.positions:
            return r
        key = (r - 1) * self.seq_len + np.arange(ids.shape[1])[None, :]
        return np.where(r > 0, lookup(self._keys("pairs"), key), 0)

    def _keys(self, name: str) -> np.ndarray:
        # converted once per layer: a frozen dataclass still owns its __dict__
        cache = self.__dict__.setdefault("_arrays", {})
        if name not in cache:
            cache[name] = np.array(getattr(self, name), dtype=np.int64)
        return cache[name]


@dataclass(frozen=True, repr=False)  # the generated repr prints every weight (kilobytes for 5 examples)
class ExactModel:
    coords: tuple[str, ...]
    input: InputLayer
    blocks: tuple[Block, ...]
    output: int
    setting: ModelSetting = ModelSetting.points
    record: ModelRecord = field(default_factory=ModelRecord, compare=False)  # how it was built

    @property
    def is_transformer(self) -> bool:
        return self.setting != ModelSetting.points

    @property
    def has_attention(self) -> bool:
        return any(b.attention is not None for b in self.blocks)

    def coord(self, name: str) -> int:
        return self.coords.index(name)

    @property
    def params(self) -> int:
        """Parameters in the paper's convention: every matrix entry, zeros too (`memcap.stats` has the rest)."""
        return dense_params(self)

    def __repr__(self) -> str:
        what = ("Transformer" if self.has_attention else "RNN" if any(b.recur for b in self.blocks)
                else "Deep Sets" if any(b.pool for b in self.blocks) else "ReLU network")
        on = f"token {self.input.kind}, n={self.input.seq_len}" if self.is_transformer else f"points, d={self.input.dim}"
        data = f"N={self.record.data.N}, " if self.record.data else ""
        setting = f"{self.setting} " if self.is_transformer else ""
        return (f"<ExactModel: {setting}{what} on {on}, {data}depth {len(self.blocks)}, "
                f"{len(self.coords)} stream coordinates, {self.params:,} params>")

    @property
    def stages(self) -> StageDepths:
        """The blocks each stage took (none recorded: empty)."""
        return self.record.stages

    @property
    def group_plan(self) -> PlanSummary | None:
        """F2's plan (a Transformer), or the plain memorizer's own; None when the model records none."""
        return self.record.plan


def input_params(layer: InputLayer, m: int) -> int:
    """The input layer's entries in the every-entry convention: an id table's rows, or the m x d_in matrix
    of token vectors (a position coordinate counted as one more input)."""
    d_in = layer.dim + (1 if layer.positions and layer.kind == InputKind.vectors else 0)
    return len(layer.table) * m if layer.kind == InputKind.ids else m * d_in


def dense_params(model: ExactModel) -> int:
    """input + L * [4 m s H + 2 (m + 1) q] + m (+ an RNN cell's W_x and W_h, m x m each, per recurrence)."""
    m = len(model.coords)
    q = max((len(b.ffn.units) for b in model.blocks), default=0)
    H = s = 1 if model.has_attention else 0  # Deep Sets and plain ReLU networks have no attention
    recurrent = sum(1 for b in model.blocks if b.recur)
    return input_params(model.input, m) + len(model.blocks) * (4 * m * s * H + 2 * (m + 1) * q) + m + recurrent * 2 * m * m
