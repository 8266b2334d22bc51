"""The Transformer assembly of Theorem 4.1 / Corollary 4.1 (docs/construction.md#next-token, §5.3):

    E_in -> F1 = (phi~ (+) F) -> uniform attention (sid <- mean phi~) -> F2 (memorizer on contexts) -> E_out

Token ids use the embedding of Theorem E.1 (phi~ and F are table columns, F1 has no blocks); token vectors
get F = the Stage I projection of the distinct tokens and phi~ = a memorizer that gives key tokens their
value f and every other token 0. F2 memorizes the context vectors (F(x_k), L * mean phi~) with the labels.
F1 and F2 share their scratch coordinates: F1 leaves U, W, cw, g at zero on every token of the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..ir.layers import FFN
from .memorizer import FLOAT_SNAP, GroupPlan, Scratch, build_blocks, choose_group_size, plan_groups
from .projection import Projection, project

IDS_COORDS = ("phi", "F", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")
VECTOR_COORDS = ("x", "F", "D1", "phi", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")


def coords_for(kind: str, float_safe: bool) -> tuple[str, ...]:
    """Stream coordinates of a compiled Transformer (the indicator slots only where float-safe)."""
    names = IDS_COORDS if kind == "ids" else VECTOR_COORDS
    return names if float_safe else names[:-2]


class BudgetError(DataError):
    pass


@dataclass(frozen=True)
class LineMemorizer:
    """A memorizer built on a projection: its plan and FFN blocks."""

    projection: Projection
    plan: GroupPlan
    blocks: tuple[FFN, ...]
    snap: int


def memorize_on_line(
    proj: Projection,
    form: tuple[tuple[int, int], ...],
    labelled: np.ndarray,
    stored: list[int],
    scratch: Scratch,
    no_match: int,
    mode: str,
    bit_budget: int | None,
    paper_bits: int,
    what: str,
    float_snap: bool = True,
) -> LineMemorizer:
    """Stages II-III for the points `labelled` (indices into proj) with their stored values (>= 1).
    `float_snap`: under a bit budget, snap with 3 * 2^51 so float64 rounds to the exact integer (the
    Transformer's way); off, the snap is the smallest power of two above the range (the plain memorizer's)."""
    rank = np.empty(len(proj.order), dtype=np.int64)
    rank[proj.order] = np.arange(len(proj.order))
    srt = np.argsort(rank[labelled], kind="stable")
    labelled = np.asarray(labelled)[srt]
    stored = [stored[i] for i in srt]
    floors = proj.floors()
    fl = [int(floors[i]) for i in labelled]
    t_max = max(abs(int(v)) for v in proj.values) // proj.den + 1
    label_bits = max(stored).bit_length()
    if bit_budget is not None:
        need = max((4 * t_max + 2).bit_length(), label_bits)
        if need > bit_budget:
            raise BudgetError(f"{what}: bit budget {bit_budget} is too small: the projected range needs "
                              f"{(4 * t_max + 2).bit_length()} bits and the stored values {label_bits} bits")
    k, addr_bits = choose_group_size(fl, label_bits, mode, bit_budget)
    if mode == "paper" and bit_budget is None:
        addr_bits = max(addr_bits, paper_bits)
    plan = plan_groups(fl, stored, k, addr_bits, label_bits)
    snap = FLOAT_SNAP if float_snap and bit_budget is not None and t_max < 1 << 50 else 1 << (t_max.bit_length() + 1)
    return LineMemorizer(proj, plan, tuple(build_blocks(form, plan, scratch, no_match, snap)), snap)


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
    """log2 of R^2 = 400 sqrt(3d) n^3 r N^5 / delta * pi (docs/construction.md#next-token), halved: R."""
    r, delta = max(r, 1.0), min(delta, 1.0)
    r2 = 400 * math.sqrt(3 * max(d, 1)) * n**3 * r * N**5 / delta * math.pi
    return math.ceil(math.log2(math.sqrt(r2)))


def f2_projection(points: np.ndarray, den: int, seed: int, mode: str) -> Projection:
    return project(points, den, seed=seed + 1, directions=1 if mode == "paper" else 4)
