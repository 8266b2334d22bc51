"""Size of a model in the paper's convention (docs/construction.md#the-transformer) and in honest counts.

params (paper convention, every matrix entry, zeros too):
    input + L * [4 m s H + 2 (m + 1) q] + m        (E_out is m entries; H = s = 1 for a Transformer,
                                                    H = 0 without attention: Deep Sets, plain ReLU)
nonzero_params counts stored nonzeros; max_bits / total_bits are over the nonzero parameters, a
parameter's bits being the bit length of its integer magnitude.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .layers import ExactModel


@dataclass(frozen=True)
class ModelStats:
    m: int
    q: int
    H: int
    s: int
    depth: int
    width: int
    params: int
    nonzero_params: int
    max_bits: int
    total_bits: int
    attention_blocks: int
    attention_connections: int  # (query, key) pairs the masks allow, summed over the attention layers
    sequential_steps: int  # blocks one after another, the n steps of a recurrence counted one each

    def as_dict(self) -> dict:
        return asdict(self)


def _values(model: ExactModel):
    """Every stored parameter value, once (the attention's W^O W^V is stored as W^V and W^O with s = 1)."""
    layer = model.input
    for row in layer.weights:
        yield from row
    for row in layer.table:
        yield from row
    for block in model.blocks:
        for u in block.ffn.units:
            yield from (w for _, w in u.reads)
            yield u.bias
            yield from (w for _, w in u.writes)
        yield from (w for _, w in block.ffn.shift)
        for _ in block.recur:
            yield 1  # W_x entry
            yield 1  # W_h entry (identity)
        if block.attention is not None:
            for _, _, w in block.attention.moves:
                yield 1  # W^V entry
                yield w  # W^O entry
    yield 1  # E_out


def input_params(layer, m: int) -> int:
    """The input layer's entries in the every-entry convention: an id table's rows, or the m x d_in matrix
    of token vectors (a position coordinate counted as one more input)."""
    d_in = layer.dim + (1 if layer.positions and layer.kind == "vectors" else 0)
    return len(layer.table) * m if layer.kind == "ids" else m * d_in


def model_stats(model: ExactModel) -> ModelStats:
    m = len(model.coords)
    q = max((len(b.ffn.units) for b in model.blocks), default=0)
    H = s = 1 if model.has_attention else 0  # Deep Sets and plain ReLU networks have no attention
    layer = model.input
    L = len(model.blocks)
    recurrent = sum(1 for b in model.blocks if b.recur)
    # an RNN cell's W_x and W_h (m x m each) in the same every-entry convention
    params = input_params(layer, m) + L * (4 * m * s * H + 2 * (m + 1) * q) + m + recurrent * 2 * m * m
    nz = [abs(int(v)) for v in _values(model) if v != 0]
    return ModelStats(
        m=m, q=q, H=H, s=s, depth=L, width=max(m, s * H, q), params=params, nonzero_params=len(nz),
        max_bits=max((v.bit_length() for v in nz), default=0),
        total_bits=sum(v.bit_length() for v in nz),
        attention_blocks=sum(1 for b in model.blocks if b.attention is not None and b.attention.moves),
        attention_connections=sum(b.attention.connections(layer.seq_len) for b in model.blocks if b.attention is not None),
        sequential_steps=L + recurrent * max(layer.seq_len - 1, 0),
    )
