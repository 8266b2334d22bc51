"""F2, the memorizer after the mixing layer (docs/construction.md#next-token): on the contexts
(F(x_k), L * mean phi~) for attention and the recurrence, or on the pooled phi~ of each multiset for Deep
Sets (rho~, Theorem D.1). It stores label + 1 (0 = no label); under the bits objective the hashed
memorizer stores the label. Invariant: F2 reads only F (or Fi), sid / phi and the scratch that F1 left at
zero, and writes y.
"""

from __future__ import annotations

import math

import numpy as np

from ..bounds import theorem_R
from ..data import Dataset
from ..ir.layers import input_params
from .context import Contexts
from .f1 import TokenLayer
from .hashed import Coords, HashedMemorizer
from .hashplan import memorize_hashed
from .layout import shared_scratch
from .memorizer import LineMemorizer, Scratch, memorize_on_line
from .options import CompileOptions
from .projection import Projection, project_for
from .tokens import TokenValues


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


def hashed_memorizer(proj: Projection, form: tuple[tuple[int, int], ...], labels: np.ndarray, c: dict[str, int],
                     seed: int, den: int, reserved: tuple[int, int] = (0, 0), fewest: str = "bits") -> HashedMemorizer:
    """F2 or rho~ of the balanced and bits objectives: a retrieval table on the line's exact values (the form
    times the common denominator, so the keys are integers), y = the label on the data and anything
    elsewhere. `den`: the executor's denominator at F2 (token vectors' dyadic scale times the attention's).
    `reserved`: the rest of the model's dense parameters outside blocks, and its blocks: counted in the
    plan's dense parameters (the bits objective keeps the whole model at most one dense parameter per
    stored label where it can). `fewest`: the objective, "balanced" or "bits"."""
    form_int = tuple((coord, w * proj.den) for coord, w in form)
    coords = Coords(t=c["t"], X=c["i1"], D=c["D"], regs=(c["U"], c["W"]), slots=(c["cw0"], c["g"], c["cw1"], c["i0"]), y=c["y"])
    return memorize_hashed(proj.values, form_int, [int(y) for y in labels], coords, seed, den, m=len(c),
                           max_params=len(labels) - reserved[0], other_blocks=reserved[1], fewest=fewest)


def f2_memorizer(ctx: Contexts, f1: TokenLayer, tv: TokenValues, ds: Dataset, coords: tuple[str, ...],
                 opts: CompileOptions) -> LineMemorizer | HashedMemorizer:
    """F2 for the variant `opts` chooses: rho~ on the multisets for Deep Sets, else the memorizer on the
    contexts. Under the bits objective it is planned around what the rest of the model costs in dense
    parameters (the input layer and E_out) and F1's blocks."""
    reserved = (input_params(f1.layer, len(coords)) + len(coords), len(f1.blocks))
    make = multiset_memorizer if opts.multiset else context_memorizer
    return make(ctx, f1, tv, ds, coords, opts, reserved)


def context_memorizer(ctx: Contexts, f1: TokenLayer, tv: TokenValues, ds: Dataset, coords: tuple[str, ...],
                      opts: CompileOptions, reserved: tuple[int, int] = (0, 0)) -> LineMemorizer | HashedMemorizer:
    """F2: the memorizer on the distinct contexts (F, n * sid), storing label + 1 (0 = no label); under the
    bits objective, the hashed memorizer storing the label. Reads F1's token ids F_num over f1.den, the
    windows' ids from `tv` and the dataset's shape (n, d) for paper mode's address width."""
    c = {name: i for i, name in enumerate(coords)}
    den = f1.den
    pts = context_points(ctx.ctx_token, ctx.ctx_window, list(f1.F_num), den, tv.window_ids)
    proj = project_for(pts, den, opts.seed + 1, opts.mode)  # F2's own draw: seed + 1
    F = c.get("Fi", c["F"])  # float-safe token vectors: the integer id, which float64 computes exactly too
    # the recurrence's state is the sum of phi (n * the attention's mean): it needs no scale
    form = ((F, proj.direction[0]), (c["sid"], proj.direction[1] * (1 if opts.recurrent else ctx.scale)))
    if opts.hashed:
        return hashed_memorizer(proj, form, ctx.ctx_label, c, opts.seed, den * (1 if opts.recurrent else ctx.scale), reserved,
                                str(opts.chosen_objective))
    return memorize_on_line(
        proj, form, labelled=np.arange(len(pts)), stored=[int(y) + 1 for y in ctx.ctx_label],
        scratch=Scratch(t=c["t"], D=c["D"], y=c["y"], **shared_scratch(c)), no_match=-1, mode=opts.mode,
        bit_budget=opts.bit_budget, paper_bits=paper_f2_bits(len(ctx.ctx_label), ds.n, ds.d, f1.r, f1.delta),
        what="F2 (contexts)", objective=opts.chosen_objective)


def multiset_memorizer(ctx: Contexts, f1: TokenLayer, tv: TokenValues, ds: Dataset, coords: tuple[str, ...],
                       opts: CompileOptions, reserved: tuple[int, int] = (0, 0)) -> LineMemorizer | HashedMemorizer:
    """rho~ of Deep Sets: the memorizer on the pooled phi~ of each distinct multiset (its SID, distinct per
    multiset), storing label + 1 (the bits objective: the hashed memorizer, storing the label)."""
    c = {name: i for i, name in enumerate(coords)}
    den = f1.den
    pts = np.array([[tv.window_ids[int(w)] * den] for w in ctx.ctx_window], dtype=object).reshape(-1, 1)
    proj = project_for(pts, den, opts.seed + 1, opts.mode)  # F2's own draw: seed + 1
    if opts.hashed:
        return hashed_memorizer(proj, ((c["phi"], proj.direction[0]),), ctx.ctx_label, c, opts.seed, den, reserved,
                                str(opts.chosen_objective))
    return memorize_on_line(
        proj, ((c["phi"], proj.direction[0]),), labelled=np.arange(len(pts)),
        stored=[int(y) + 1 for y in ctx.ctx_label], scratch=Scratch(t=c["t"], D=c["D"], y=c["y"], **shared_scratch(c)),
        no_match=-1, mode=opts.mode, bit_budget=opts.bit_budget,
        paper_bits=paper_f2_bits(len(ctx.ctx_label), ds.n, ds.d, f1.r, f1.delta), what="rho~ (multisets)",
        objective=opts.chosen_objective)
