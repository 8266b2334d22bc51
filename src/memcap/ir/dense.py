"""Sparse exact model -> dense float64 arrays, written once: the keys and shapes of `MemTransformer`'s
state_dict, and the keyword arguments of its `TransformerConfig`. `weights.safetensors` holds exactly
this, and `to_torch` loads exactly this, so the file and the module cannot drift apart.

Weights wider than float64 (a model that is not float64-exact) are rounded to the nearest float; integers
beyond float64's range become +-inf. Such files open, but only the exact executor runs the model.
"""

from __future__ import annotations

import numpy as np

from ..vocab import Attention, InputKind
from .layers import ExactModel


def _f(v: int) -> float:
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def torch_config(model: ExactModel) -> dict:
    """The `TransformerConfig` of the module that runs `model`, as plain keyword arguments."""
    layer = model.input
    att_at = [i for i, b in enumerate(model.blocks) if b.attention is not None]
    atts = [b.attention for b in model.blocks if b.attention is not None]
    first = atts[0] if atts else None
    return {
        "m": len(model.coords), "q": max([len(b.ffn.units) for b in model.blocks] + [1]), "blocks": len(model.blocks),
        "attention_at": att_at, "s": max([len(a.moves) for a in atts] + [1]),
        "vocab": len(layer.table) if layer.kind == InputKind.ids else 0, "d_in": layer.dim if layer.kind == InputKind.vectors else 0,
        "seq_len": layer.seq_len, "positions": layer.positions, "position_scale": layer.position_scale,
        "attention": first.kind if first else Attention.softmax, "causal": bool(first and first.causal),
        "id_map": len(layer.vocab), "pair_map": len(layer.pairs), "out_dim": 1,
        **({"pool_at": [i for i, b in enumerate(model.blocks) if b.pool]} if any(b.pool for b in model.blocks) else {}),
        **({"recur_at": [i for i, b in enumerate(model.blocks) if b.recur]} if any(b.recur for b in model.blocks) else {}),
        **({"register": True, "patterns": [a.pattern for a in atts]} if layer.register else {}),
    }


def state_dict(model: ExactModel) -> dict[str, np.ndarray]:
    """`MemTransformer(TransformerConfig(**torch_config(model))).state_dict()` with the model's weights."""
    cfg = torch_config(model)
    m, q = cfg["m"], cfg["q"]
    layer = model.input
    sd: dict[str, np.ndarray] = {}
    if layer.kind == InputKind.ids:
        sd["embed.weight"] = np.array([[_f(v) for v in r] for r in layer.table], dtype=np.float64).reshape(-1, m)
        if layer.vocab:
            sd["id_map"] = np.array(layer.vocab, dtype=np.int64)
        if layer.pairs:
            sd["pair_map"] = np.array(layer.pairs, dtype=np.int64)
    else:
        sd["embed.weight"] = np.array([[_f(v) for v in r] for r in layer.weights], dtype=np.float64).reshape(m, -1)
    for i, b in enumerate(model.blocks):
        if b.attention is not None:
            s = cfg["s"]
            wq, wk, wv, wo = np.zeros((s, m)), np.zeros((s, m)), np.zeros((s, m)), np.zeros((m, s))
            for h, (o, inp, w) in enumerate(b.attention.moves):
                wv[h, inp] = 1.0
                wo[o, h] = _f(w)
            sd.update({f"blocks.{i}.attn.q.weight": wq, f"blocks.{i}.attn.k.weight": wk,
                       f"blocks.{i}.attn.v.weight": wv, f"blocks.{i}.attn.o.weight": wo})
        if b.recur:  # h_k = W_h h_{k-1} + W_x z_k, W_h the identity on the written coordinates
            wx = np.zeros((m, m))
            for o, inp in b.recur:
                wx[o, inp] = 1.0
            sd[f"blocks.{i}.rnn.weight_x"] = wx
        w1, b1, w2, b2 = np.zeros((q, m)), np.zeros(q), np.zeros((m, q)), np.zeros(m)
        for j, u in enumerate(b.ffn.units):
            for c, w in u.reads:
                w1[j, c] += _f(w)
            b1[j] = _f(u.bias)
            for c, w in u.writes:
                w2[c, j] += _f(w)
        for c, w in b.ffn.shift:
            b2[c] += _f(w)
        sd.update({f"blocks.{i}.w1.weight": w1, f"blocks.{i}.w1.bias": b1,
                   f"blocks.{i}.w2.weight": w2, f"blocks.{i}.w2.bias": b2})
    e_out = np.zeros((1, m))
    e_out[0, model.output] = 1.0
    sd["e_out.weight"] = e_out
    return sd
