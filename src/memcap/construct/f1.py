"""F1, the token-wise stage before the attention: each token's value f (coordinate phi) and a distinct
current-token id (coordinate F).

Token ids: the embedding of Theorem E.1 (both are table columns, no blocks). Token vectors: Stage I
projects the distinct tokens to a line (F) and a phi~ memorizer gives key tokens their value f and every
other token 0. Invariant: on every token of the data, F is distinct per distinct token and the memorizer's
shared scratch coordinates (U, W, cw, g, and the indicator slots) are left at zero for F2.

Under a bit budget the model must also run in float64, whose Stage I rounds the projected value t to an
integer while the exact run keeps it fractional: both are fine for the memorizer's own trapezoids, but F2
would read two different current-token values. So a second memorizer on the same line writes to Fi, for
each token that F2 reads as a current token, its rank + 1 among them (an integer in both arithmetics;
0 for the rest), and F2 reads Fi.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..ir.layers import Block, InputLayer
from ..ir.numbers import exact_dyadic
from ..ir.record import F1Summary
from ..vocab import InputKind
from .layout import embedding_table, shared_scratch
from .memorizer import Scratch, memorize_on_line
from .options import CompileOptions
from .projection import paper_range, project_for, separation
from .tokens import DistinctTokens, TokenValues


@dataclass(frozen=True)
class TokenLayer:
    layer: InputLayer
    blocks: tuple[Block, ...]
    F_num: tuple[int, ...]  # F of each distinct token, as a numerator over `den`
    den: int
    r: float  # largest token norm (ids: the largest F)
    delta: float  # smallest gap between distinct tokens
    plan: F1Summary | None  # the phi~ memorizer's plan (None for ids)


def token_layer(d: int, n: int, toks: DistinctTokens, tv: TokenValues, coords: tuple[str, ...], opts: CompileOptions,
                read_tokens: np.ndarray | None = None) -> TokenLayer:
    """F1 for the distinct tokens; `read_tokens` (indices) are those that F2 reads as the current token."""
    c = {name: i for i, name in enumerate(coords)}
    present = toks.present
    if toks.vocab is not None:
        # F: the row number, or with positions key + 1 = (id row - 1) * n + k + 1, which an additive token
        # plus position embedding can also form (the TransformerLens export relies on it)
        F_rows = [int(p) + 1 for p in present] if opts.positions else list(range(1, len(present) + 1))
        # rho~ of Deep Sets reads the pooled phi alone: under a retrieval table its table holds no F
        unread = opts.multiset and opts.hashed
        table = embedding_table(tv.values, [0] * len(F_rows) if unread else F_rows, coords)
        layer = InputLayer(kind=InputKind.ids, dim=len(table), table=table, positions=opts.positions, seq_len=n,
                           vocab=tuple(int(v) for v in toks.vocab),
                           pairs=tuple(int(p) for p in present) if opts.positions else ())
        return TokenLayer(layer, (), tuple(F_rows), 1, float(max(F_rows)), 1.0, None)
    num, den = exact_dyadic(present)
    proj = project_for(num, den, opts.seed, opts.mode)
    sep = separation(present)
    delta = sep.delta if math.isfinite(sep.delta) else 1.0
    A = tv.key_tokens
    mem = memorize_on_line(
        proj, ((c["x"], 1),), labelled=A, stored=[tv.values[int(a)] for a in A],
        scratch=Scratch(t=c["F"], D=c["D1"], y=c["phi"], **shared_scratch(c)), no_match=0, mode=opts.mode,
        bit_budget=opts.bit_budget,
        paper_bits=math.ceil(math.log2(paper_range(len(present), sep.r, delta, present.shape[1]))),
        what="phi~ (token values)", objective=opts.chosen_objective)
    weights = tuple(tuple(proj.direction) if name == "x" else (0,) * present.shape[1] for name in coords)
    layer = InputLayer(kind=InputKind.vectors, dim=d, weights=weights, positions=opts.positions, seq_len=n,
                       position_scale=toks.position_scale)
    plan = F1Summary(mem.plan.k, len(mem.plan.groups), mem.plan.addr_bits, mem.plan.label_bits)
    blocks, F_num = mem.blocks, tuple(int(v) for v in proj.values)
    if "Fi" in c:
        read = np.unique(read_tokens) if read_tokens is not None else np.arange(len(present))
        ids = memorize_on_line(proj, ((c["x"], 1),), labelled=read, stored=list(range(1, len(read) + 1)),
                               scratch=Scratch(t=c["T2"], D=c["D2"], y=c["Fi"], **shared_scratch(c)), no_match=0,
                               mode=opts.mode, bit_budget=opts.bit_budget, paper_bits=0, what="integer token ids")
        rank = np.zeros(len(present), dtype=np.int64)
        rank[read] = np.arange(1, len(read) + 1)
        blocks, F_num = (*blocks, *ids.blocks), tuple(int(r) * den for r in rank)
        plan = dataclasses.replace(plan, id_blocks=len(ids.blocks))
    return TokenLayer(layer, tuple(Block(ffn=f) for f in blocks), F_num, den, sep.r, delta, plan)
