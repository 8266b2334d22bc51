"""F2 and the assembly of Theorem 4.1 / Corollary 4.1 (docs/construction.md#next-token):

    E_in -> F1 = (phi~ (+) F) -> uniform attention (sid <- mean phi~) -> F2 (memorizer on contexts) -> E_out

Token ids use the embedding of Theorem E.1 (phi~ and F are table columns, F1 has no blocks); token vectors
get F = the Stage I projection of the distinct tokens and phi~ = a memorizer that gives key tokens their
value f and every other token 0. F2 memorizes the context vectors (F(x_k), L * mean phi~) with the labels.
F1 and F2 share their scratch coordinates: F1 leaves U, W, cw, g at zero on every token of the data.
"""

from __future__ import annotations

import math

import numpy as np

from ..bounds import theorem_R
from ..ir.layers import Block, ExactModel, UniformAttention
from .context import Contexts
from .memorizer import LineMemorizer, Scratch, memorize_on_line
from .options import CompileOptions
from .projection import Projection, project

IDS_COORDS = ("phi", "F", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")
VECTOR_COORDS = ("x", "F", "D1", "phi", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")


def coords_for(kind: str, float_safe: bool) -> tuple[str, ...]:
    """Stream coordinates of a compiled Transformer (the indicator slots only where float-safe)."""
    names = IDS_COORDS if kind == "ids" else VECTOR_COORDS
    return names if float_safe else names[:-2]


def shared_scratch(c: dict[str, int]) -> dict[str, int]:
    """The scratch coordinates that F1's and F2's memorizers share (F1 leaves them at zero)."""
    return {name: c[name] for name in ("U", "W", "cw0", "cw1", "g", "i0", "i1") if name in c}


def embedding_table(f: tuple[int, ...], F_values: list[int], coords: tuple[str, ...]) -> tuple:
    """Rows of E_in for token ids, one per distinct token j (row j + 1): phi = f(token), F = F_values[j]
    (distinct small integers, whatever the raw ids). Row 0, for ids never seen, is all zeros."""
    m = len(coords)
    phi, F = coords.index("phi"), coords.index("F")
    rows = [[0] * m for _ in range(len(f) + 1)]
    for j, (value, fv) in enumerate(zip(f, F_values, strict=True)):
        rows[j + 1][F] = fv
        rows[j + 1][phi] = value
    return tuple(tuple(r) for r in rows)


def context_points(ctx_token: np.ndarray, ctx_window: np.ndarray, F_num: list[int], den: int,
                   window_ids: tuple[int, ...]) -> np.ndarray:
    """F2's points (F(x_k), L * mean phi~) as integer numerators over `den`, one row per context."""
    pts = np.empty((len(ctx_token), 2), dtype=object)
    for i, (t, w) in enumerate(zip(ctx_token, ctx_window, strict=True)):
        pts[i, 0] = F_num[int(t)]
        pts[i, 1] = window_ids[int(w)] * den
    return pts


def paper_f2_bits(N: int, n: int, d: int, r: float, delta: float) -> int:
    """Bits of the paper's worst-case range R of Theorem 4.1 for F2's points (paper mode's address width)."""
    return math.ceil(math.log2(theorem_R(N, n, max(d, 1), r, delta)))


def f2_projection(points: np.ndarray, den: int, seed: int, mode: str) -> Projection:
    return project(points, den, seed=seed + 1, directions=1 if mode == "paper" else 4)


def context_memorizer(ctx: Contexts, F_num: tuple[int, ...], den: int, window_ids: tuple[int, ...], n: int, d: int, r: float,
                      delta: float, coords: tuple[str, ...], opts: CompileOptions) -> LineMemorizer:
    """F2: the memorizer on the distinct contexts (F, n * sid), storing label + 1 (0 = no label)."""
    c = {name: i for i, name in enumerate(coords)}
    pts = context_points(ctx.ctx_token, ctx.ctx_window, list(F_num), den, window_ids)
    proj = f2_projection(pts, den, opts.seed, opts.mode)
    form = ((c["F"], proj.direction[0]), (c["sid"], proj.direction[1] * ctx.scale))
    return memorize_on_line(
        proj, form, np.arange(len(pts)), [int(y) + 1 for y in ctx.ctx_label],
        Scratch(t=c["t"], D=c["D"], y=c["y"], **shared_scratch(c)), -1, opts.mode, opts.bit_budget,
        paper_f2_bits(len(ctx.ctx_label), n, d, r, delta), "F2 (contexts)")


def assemble(f1, f2: LineMemorizer, coords: tuple[str, ...], setting: str, info: dict, opts: CompileOptions) -> ExactModel:
    """E_in, F1's blocks, the attention (sid <- mean phi) fused with F2's first block, F2, E_out = y."""
    c = {name: i for i, name in enumerate(coords)}
    att = UniformAttention(moves=((c["sid"], c["phi"], 1),), kind=opts.attention, causal=opts.causal)
    blocks = (*f1.blocks, Block(ffn=f2.blocks[0], attention=att), *(Block(ffn=f) for f in f2.blocks[1:]))
    meta = {
        "mode": opts.mode, "seed": opts.seed, "bit_budget": opts.bit_budget, "positions": opts.positions, "causal": opts.causal,
        "attention": opts.attention, **info, "r": f1.r, "delta": f1.delta, "F1": f1.meta,
        "F2": {"k": f2.plan.k, "groups": len(f2.plan.groups), "addr_bits": f2.plan.addr_bits, "label_bits": f2.plan.label_bits},
        "stages": {"phi": len(f1.blocks), "attention": 1, "F2": len(f2.blocks) - 1},
    }
    return ExactModel(coords=coords, input=f1.layer, blocks=blocks, output=c["y"], setting=setting, meta=meta)

