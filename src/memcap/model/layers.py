"""The exact, framework-free model: a residual stream of named coordinates and the blocks that act on it.

Forward semantics (SPEC §2), recorded here once and implemented by `executor` (exact) and `torch_model`
(float64):

    Z = E_in(x)                                     one column per token, len(coords) rows
    for block in blocks:
        if block.attention:  Z[out] += mean_window(w * Z[in])      (uniform: W_Q = W_K = 0)
        Z += W2 relu(W1 Z + b1) + b2                              (token-wise residual FFN)
    y = Z[output]                                   (E_out is the unit vector on `output`)

Invariant: every FFN weight and bias is a Python int. The only non-integers in a model are the input
layer's dyadic scale (the data's floats are dyadic) and the attention's exact 1/n (or 1/k when causal),
so an exact executor can carry one common denominator instead of rationals.
FFNs are stored sparsely, unit by unit: a built memorizer touches a handful of coordinates per block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    kind: str = "softmax"
    causal: bool = False


@dataclass(frozen=True)
class Block:
    ffn: FFN
    attention: UniformAttention | None = None


@dataclass(frozen=True)
class InputLayer:
    """E_in. `vectors`: Z = weights @ x (integer weights on the exact dyadic input).

    `ids`: Z = table[token] (the embedding of SPEC §5.3). With `positions`, the position k (0-based) joins
    the token: ids become id * n + k; vectors get one more input coordinate equal to k * position_scale.
    """

    kind: str  # "vectors" | "ids"
    dim: int  # d for vectors (before any position coordinate), vocabulary size for ids
    weights: tuple[tuple[int, ...], ...] = ()  # [m][d(+1)] for vectors
    table: tuple[tuple[int, ...], ...] = ()  # [vocab][m] for ids (sparse rows would do; tables are small)
    positions: bool = False
    seq_len: int = 0  # n, needed to combine ids with positions
    position_scale: float = 0.0  # a power of two, so the appended coordinate stays dyadic


@dataclass(frozen=True)
class ExactModel:
    coords: tuple[str, ...]
    input: InputLayer
    blocks: tuple[Block, ...]
    output: int
    setting: str = "points"  # "points" (plain ReLU network), "next-token", "seq2seq"
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_transformer(self) -> bool:
        return self.setting != "points"

    def coord(self, name: str) -> int:
        return self.coords.index(name)
