"""F2 and the assembly of Theorem 4.1 / Corollary 4.1 (docs/construction.md#next-token):

    E_in -> F1 = (phi~ (+) F) -> uniform attention (sid <- mean phi~) -> F2 (memorizer on contexts) -> E_out

and its two relatives: sparse attention (a register r in front: r <- mean phi~ over the real tokens, then
every token's sid <- r's, 3n + 1 connections instead of n^2), and Deep Sets (Theorem D.1: sum pooling
instead of attention, rho~ = the memorizer on the pooled phi~ = SID alone).

Token ids use the embedding of Theorem E.1 (phi~ and F are table columns, F1 has no blocks); token vectors
get F = the Stage I projection of the distinct tokens and phi~ = a memorizer that gives key tokens their
value f and every other token 0. F2 memorizes the context vectors (F(x_k), L * mean phi~) with the labels.
F1 and F2 share their scratch coordinates: F1 leaves U, W, cw, g at zero on every token of the data.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..bounds import theorem_R
from ..ir.layers import FFN, Block, ExactModel, UniformAttention
from ..ir.record import CompileChoices, DataSummary, ModelRecord, StageDepths
from ..vocab import InputKind, Mode, ModelSetting, Setting, WindowPattern
from .context import Contexts
from .hashed import Coords, HashedMemorizer, memorize_hashed
from .memorizer import LineMemorizer, Scratch, memorize_on_line
from .options import CompileOptions
from .projection import Projection, project
from .roles import RoleRecord

IDS_COORDS = ("phi", "F", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")
VECTOR_COORDS = ("x", "F", "D1", "phi", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")


def coords_for(kind: InputKind, float_safe: bool, sparse: bool = False, multiset: bool = False, slots: bool = False,
               hashed: bool = False) -> tuple[str, ...]:
    """Stream coordinates of a compiled model (the indicator slots only where float-safe; the register's
    gathered value `reg` only with sparse attention; the integer token id Fi where F2 reads a float-safe
    current token vector). `slots`: the one slot i0 of the bits objective's stepped Stage II; `hashed`:
    both slots (i1 is the hashed memorizer's scratch X)."""
    names: tuple[str, ...] = IDS_COORDS if kind == InputKind.ids else VECTOR_COORDS
    names = names if float_safe or hashed else names[:-1] if slots else names[:-2]
    if float_safe and kind == InputKind.vectors and not multiset:  # an integer token id for F2 (see f1.token_layer)
        at = names.index("phi") + 1
        names = (*names[:at], "Fi", "T2", "D2", *names[at:])
    if sparse:
        at = names.index("sid") + 1
        names = (*names[:at], "reg", *names[at:])
    return names


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


def f2_projection(points: np.ndarray, den: int, seed: int, mode: Mode) -> Projection:
    return project(points, den, seed=seed + 1, directions=1 if mode == Mode.paper else 4)


def hashed_memorizer(proj: Projection, form: tuple[tuple[int, int], ...], labels: np.ndarray, c: dict[str, int],
                     seed: int, den: int, reserved: tuple[int, int] = (0, 0)) -> HashedMemorizer:
    """The bits objective's F2 or rho~: a retrieval table on the line's exact values (the form times the
    common denominator, so the keys are integers), y = the label on the data and anything elsewhere.
    `den`: the executor's denominator at F2 (token vectors' dyadic scale times the attention's).
    `reserved`: the rest of the model's dense parameters outside blocks, and its blocks: the plan keeps
    the whole model at most one dense parameter per stored label where it can."""
    form_int = tuple((coord, w * proj.den) for coord, w in form)
    coords = Coords(t=c["t"], X=c["i1"], D=c["D"], regs=(c["U"], c["W"]), slots=(c["cw0"], c["g"], c["cw1"], c["i0"]), y=c["y"])
    return memorize_hashed(proj.values, form_int, [int(y) for y in labels], coords, seed, den, m=len(c),
                           max_params=len(labels) - reserved[0], other_blocks=reserved[1])


def context_memorizer(ctx: Contexts, F_num: tuple[int, ...], den: int, window_ids: tuple[int, ...], n: int, d: int, r: float,
                      delta: float, coords: tuple[str, ...], opts: CompileOptions,
                      reserved: tuple[int, int] = (0, 0)) -> LineMemorizer | HashedMemorizer:
    """F2: the memorizer on the distinct contexts (F, n * sid), storing label + 1 (0 = no label); under the
    bits objective, the hashed memorizer storing the label."""
    c = {name: i for i, name in enumerate(coords)}
    pts = context_points(ctx.ctx_token, ctx.ctx_window, list(F_num), den, window_ids)
    proj = f2_projection(pts, den, opts.seed, opts.mode)
    F = c.get("Fi", c["F"])  # float-safe token vectors: the integer id, which float64 computes exactly too
    # the recurrence's state is the sum of phi (n * the attention's mean): it needs no scale
    form = ((F, proj.direction[0]), (c["sid"], proj.direction[1] * (1 if opts.recurrent else ctx.scale)))
    if opts.objective == "bits":
        return hashed_memorizer(proj, form, ctx.ctx_label, c, opts.seed, den * (1 if opts.recurrent else ctx.scale), reserved)
    return memorize_on_line(
        proj, form, np.arange(len(pts)), [int(y) + 1 for y in ctx.ctx_label],
        Scratch(t=c["t"], D=c["D"], y=c["y"], **shared_scratch(c)), -1, opts.mode, opts.bit_budget,
        paper_f2_bits(len(ctx.ctx_label), n, d, r, delta), "F2 (contexts)", objective=opts.objective)


def multiset_memorizer(ctx: Contexts, den: int, window_ids: tuple[int, ...], n: int, d: int, r: float, delta: float,
                       coords: tuple[str, ...], opts: CompileOptions,
                       reserved: tuple[int, int] = (0, 0)) -> LineMemorizer | HashedMemorizer:
    """rho~ of Deep Sets: the memorizer on the pooled phi~ of each distinct multiset (its SID, distinct per
    multiset), storing label + 1 (the bits objective: the hashed memorizer, storing the label)."""
    c = {name: i for i, name in enumerate(coords)}
    pts = np.array([[window_ids[int(w)] * den] for w in ctx.ctx_window], dtype=object).reshape(-1, 1)
    proj = f2_projection(pts, den, opts.seed, opts.mode)
    if opts.objective == "bits":
        return hashed_memorizer(proj, ((c["phi"], proj.direction[0]),), ctx.ctx_label, c, opts.seed, den, reserved)
    return memorize_on_line(
        proj, ((c["phi"], proj.direction[0]),), np.arange(len(pts)), [int(y) + 1 for y in ctx.ctx_label],
        Scratch(t=c["t"], D=c["D"], y=c["y"], **shared_scratch(c)), -1, opts.mode, opts.bit_budget,
        paper_f2_bits(len(ctx.ctx_label), n, d, r, delta), "rho~ (multisets)", objective=opts.objective)


def _mixing(f2: LineMemorizer | HashedMemorizer, c: dict[str, int], opts: CompileOptions) -> tuple[Block, ...]:
    """The blocks that move information between positions, ending with F2's first block."""
    if opts.multiset:
        return (Block(ffn=f2.blocks[0], pool=True),)
    if opts.recurrent:
        return (Block(ffn=f2.blocks[0], recur=((c["sid"], c["phi"]),)),)
    if opts.sparse:
        gather = UniformAttention(moves=((c["reg"], c["phi"], 1),), pattern=WindowPattern.gather)
        read = UniformAttention(moves=((c["sid"], c["reg"], 1),), pattern=WindowPattern.read)
        return Block(ffn=FFN(units=()), attention=gather), Block(ffn=f2.blocks[0], attention=read)
    att = UniformAttention(moves=((c["sid"], c["phi"], 1),), kind=opts.attention, causal=opts.causal)
    return (Block(ffn=f2.blocks[0], attention=att),)


def _mixing_name(opts: CompileOptions) -> str:
    return "pool" if opts.multiset else "recurrence" if opts.recurrent else "attention"


def assemble(f1, f2: LineMemorizer | HashedMemorizer, coords: tuple[str, ...], setting: Setting, sizes: DataSummary,
             opts: CompileOptions) -> ExactModel:
    """E_in, F1's blocks, the attention (sid <- mean phi) fused with F2's first block, F2, E_out = y.
    Deep Sets pools instead; sparse attention adds the register and a second attention layer."""
    c = {name: i for i, name in enumerate(coords)}
    mixing = _mixing(f2, c, opts)
    blocks = (*f1.blocks, *mixing, *(Block(ffn=f) for f in f2.blocks[1:]))
    roles = (RoleRecord.of("F2", len(f1.blocks) + len(mixing) - 1, f2.plan.stage2, f2.plan.k, f2.tags,
                           [g.lo for g in f2.plan.groups], [g.hi for g in f2.plan.groups])
             if isinstance(f2, LineMemorizer) else None)  # the hashed memorizer's slots are shared: no per-group units
    record = ModelRecord(
        options=CompileChoices(mode=opts.mode, seed=opts.seed, bit_budget=opts.bit_budget, positions=opts.positions,
                               causal=opts.causal, attention=opts.attention, objective=opts.objective, arch=opts.arch),
        data=sizes,
        stages=StageDepths.of(phi=len(f1.blocks), **{_mixing_name(opts): len(mixing)}, F2=len(f2.blocks) - 1),
        plan=f2.plan_summary(),
        F1=f1.plan, roles=roles)
    layer = dataclasses.replace(f1.layer, register=True) if opts.sparse else f1.layer
    return ExactModel(coords=coords, input=layer, blocks=blocks, output=c["y"],
                      setting=ModelSetting.multiset if opts.multiset else ModelSetting(setting), record=record)

