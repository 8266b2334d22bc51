"""compile(dataset) -> an exact Transformer that memorizes it: the driver, one stage after another.

    positions?  -> distinct tokens -> contexts (consistency) -> key tokens A -> token values f
    -> F1 (embedding, or Stage I + phi~ memorizer) -> uniform attention -> F2 (memorizer) -> assemble

Each stage is a function of the previous stages' frozen results; nothing is mutated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .construct.context import analyze
from .construct.memorizer import Scratch
from .construct.projection import project
from .construct.tokens import key_tokens, token_values
from .construct.transformer import (
    context_points,
    coords_for,
    embedding_table,
    f2_projection,
    memorize_on_line,
    paper_f2_bits,
)
from .data import Dataset
from .errors import DataError
from .ir.layers import Block, ExactModel, InputLayer, UniformAttention
from .ir.numbers import exact_dyadic
from .memorize import paper_range, separation

Progress = Callable[[str], None]


def _id_keys(ds: Dataset, positions: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The raw ids present (sorted), the table keys present (ids, or (id row - 1) * n + k with positions),
    and each position's index among those keys [N, n]."""
    vocab, inv = np.unique(ds.tokens, return_inverse=True)
    inv = inv.reshape(ds.N, ds.n)
    if not positions:
        return vocab, np.arange(len(vocab)), inv
    keys, idx = np.unique(inv * ds.n + np.arange(ds.n)[None, :], return_inverse=True)
    return vocab, keys, idx.reshape(ds.N, ds.n)


def _with_positions(ds: Dataset) -> tuple[np.ndarray, float]:
    """Token vectors with the position joined in as one more coordinate, and its scale."""
    n = ds.n
    flat = ds.vectors.reshape(-1, ds.d)
    delta = separation(np.unique(flat, axis=0)).delta
    scale = 2.0 ** math.floor(math.log2(min(delta, 1.0))) if math.isfinite(delta) else 1.0
    pos = np.broadcast_to(np.arange(n, dtype=np.float64)[None, :, None] * scale, (ds.N, n, 1))
    return np.concatenate([ds.vectors, pos], axis=2), scale


def compile(
    ds: Dataset,
    setting: str | None = None,
    attention: str = "softmax",
    positions: bool = False,
    causal: bool = False,
    mode: str = "tight",
    bit_budget: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> ExactModel:
    """Compile `ds` into an ExactModel of docs/construction.md#the-transformer form that memorizes every example (see verify).

    `progress` is called with each finished stage's name; `timings`, when given, receives seconds per stage
    (kept out of the model so that the same inputs and seed give the same bytes)."""
    say = progress or (lambda _: None)
    if setting is not None and setting != ds.setting:
        raise DataError(f"setting {setting!r} needs labels of shape "
                        f"{'[N]' if setting == 'next-token' else '[N, n]'}; this dataset's are {ds.labels.shape}")
    if attention not in ("softmax", "hardmax"):
        raise DataError(f"attention must be 'softmax' or 'hardmax', got {attention!r}")
    if mode not in ("tight", "paper"):
        raise DataError(f"mode must be 'tight' or 'paper', got {mode!r}")
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 4)
        clock = now
        say(stage)

    n = ds.n
    if ds.kind == "ids":
        vocab, present, token_ids = _id_keys(ds, positions)
    else:
        rows, pos_scale = _with_positions(ds) if positions else (ds.inputs, 0.0)
        present, token_ids = np.unique(rows.reshape(ds.N * n, -1), axis=0, return_inverse=True)
        token_ids = token_ids.reshape(ds.N, n)
    lap("tokens")

    ctx = analyze(token_ids, ds.labels, causal=causal, positions=positions)
    lap("contexts")

    V = len(present)
    greedy = ds.kind == "vectors" and not causal
    A = key_tokens(ctx.windows, V, seed) if greedy else np.arange(V)
    if not A.size:  # one window: nothing to tell apart, but phi~ needs one labelled token to exist
        A = np.arange(1)
    tv = token_values(ctx.windows, V, A, ctx.scale, mode, seed)
    lap("key tokens and values")

    coords = coords_for(ds.kind, float_safe=bit_budget is not None)
    c = {name: i for i, name in enumerate(coords)}
    shared = {name: c[name] for name in ("U", "W", "cw0", "cw1", "g", "i0", "i1") if name in c}
    f1_blocks: list = []
    meta_f1: dict = {}
    if ds.kind == "ids":
        # F: the row number, or with positions key + 1 = (id row - 1) * n + k + 1, which an additive token
        # plus position embedding can also form (the TransformerLens export relies on it)
        F_num, den = [int(p) + 1 for p in present] if positions else list(range(1, V + 1)), 1
        table = embedding_table(tv.values, F_num, coords)
        layer = InputLayer(kind="ids", dim=len(table), table=table, positions=positions, seq_len=n,
                           vocab=tuple(int(v) for v in vocab),
                           pairs=tuple(int(p) for p in present) if positions else ())
        stats_r, stats_delta = float(max(F_num)), 1.0
    else:
        num, den = exact_dyadic(present)
        proj1 = project(num, den, seed=seed, directions=1 if mode == "paper" else 4)
        sep = separation(present)
        stats_r, stats_delta = sep.r, sep.delta if math.isfinite(sep.delta) else 1.0
        stored = [tv.values[int(a)] for a in A]
        mem1 = memorize_on_line(
            proj1, ((c["x"], 1),), A, stored, Scratch(t=c["F"], D=c["D1"], y=c["phi"], **shared), 0,
            mode, bit_budget, math.ceil(math.log2(paper_range(V, sep.r, stats_delta, present.shape[1]))),
            "phi~ (token values)")
        f1_blocks = [Block(ffn=f) for f in mem1.blocks]
        weights = tuple(tuple(proj1.direction) if name == "x" else (0,) * present.shape[1] for name in coords)
        layer = InputLayer(kind="vectors", dim=ds.d, weights=weights, positions=positions, seq_len=n,
                           position_scale=pos_scale)
        F_num = [int(v) for v in proj1.values]
        meta_f1 = {"k": mem1.plan.k, "groups": len(mem1.plan.groups), "addr_bits": mem1.plan.addr_bits,
                   "label_bits": mem1.plan.label_bits}
    lap("F1")

    pts = context_points(ctx.ctx_token, ctx.ctx_window, F_num, den, tv.window_ids)
    proj2 = f2_projection(pts, den, seed, mode)
    form = ((c["F"], proj2.direction[0]), (c["sid"], proj2.direction[1] * ctx.scale))
    mem2 = memorize_on_line(
        proj2, form, np.arange(len(pts)), [int(y) + 1 for y in ctx.ctx_label],
        Scratch(t=c["t"], D=c["D"], y=c["y"], **shared), -1, mode, bit_budget,
        paper_f2_bits(len(ctx.ctx_label), n, ds.d, stats_r, stats_delta), "F2 (contexts)")
    lap("F2")

    att = UniformAttention(moves=((c["sid"], c["phi"], 1),), kind=attention, causal=causal)
    blocks = (*f1_blocks, Block(ffn=mem2.blocks[0], attention=att), *(Block(ffn=f) for f in mem2.blocks[1:]))
    meta = {
        "mode": mode, "seed": seed, "bit_budget": bit_budget, "positions": positions, "causal": causal,
        "attention": attention, "input": ds.kind, "N": ds.N, "n": n, "d": ds.d, "C": ds.C,
        "r": stats_r, "delta": stats_delta, "distinct_tokens": V, "key_tokens": int(len(A)),
        "windows": len(ctx.windows), "contexts": len(ctx.ctx_label), "max_token_value": max(tv.values),
        "value_tries": tv.tries,
        "F1": meta_f1,
        "F2": {"k": mem2.plan.k, "groups": len(mem2.plan.groups), "addr_bits": mem2.plan.addr_bits,
               "label_bits": mem2.plan.label_bits},
        "stages": {"phi": len(f1_blocks), "attention": 1, "F2": len(mem2.blocks) - 1},
    }
    model = ExactModel(coords=coords, input=layer, blocks=blocks, output=c["y"], setting=ds.setting, meta=meta)
    lap("assemble")
    return model
