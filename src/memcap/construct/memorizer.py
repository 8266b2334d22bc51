"""The ReLU memorizer (docs/construction.md#the-memorizer; Vardi et al. Thm 3.1 as extended by the paper's Lemma C.1), as FFN blocks.

Input: a line t (a linear form over the stream, Stage I already chosen) on which every point is >= 2 from
every other, the labelled points' stored values (>= 1), and the value that unlabelled points must get.
Output: residual FFN blocks after which coordinate y holds `no_match + stored` on labelled points and
`no_match` on every other point of the data. Every weight is an integer.

Stage I   t <- relu(form + M) - M, and D <- t (one unit; M makes the ReLU exact on the data).
Stage II  groups of k consecutive labelled points; an indicator per group (a trapezoid on t: 1 on
          [lo - 1/4, hi + 1/4], 0 half a unit outside, 4 units) adds the group's crafted integers
          U (address deltas, `addr_bits` each) and W (stored labels, `label_bits` each) to two
          accumulators and subtracts the group's base address from D.
Stage III chunk by chunk, one bit of U and one bit of W per block (step pairs relu(X - 2^p + 1) -
          relu(X - 2^p), exact on integers); the U digits are subtracted from D, so after chunk i,
          D = t - floor(t_i). A trapezoid on D in [0, 1] gates the chunk's label into y. Gate and add of
          chunk i run inside the digit blocks of chunk i + 1 (the residual writes are additive and every
          unit reads the stream before its block), so a chunk costs max(addr_bits, label_bits) blocks.
Float-safe variant (used with a bit budget, docs/construction.md#bit-budget): Stage II first writes each group's indicator
to a coordinate (i0, i1) and multiplies the big integers by it one block later, so that no float64 product
of a large ramp value and a large weight is ever formed; every other product is by a power of two.
Addresses are stored as deltas between consecutive floors, so a chunk needs the bits of the largest gap
inside a group, not of the whole range; the trapezoid margins of 1/4 leave float64 room to round t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import DataError
from ..ir.layers import FFN, Unit
from .projection import Projection

UNITS_PER_BLOCK = 12  # the width q of every FFN; Stage II packs 3 groups, Stage III needs 11 units
FLOAT_SNAP = 3 << 51  # relu(x + 1.5 * 2^52) - 1.5 * 2^52 rounds x to an integer in float64, is x exactly


@dataclass(frozen=True)
class Scratch:
    """Stream coordinates the memorizer writes (indices into the model's coords)."""

    t: int
    D: int
    U: int
    W: int
    cw0: int
    cw1: int
    g: int
    y: int
    i0: int | None = None  # indicator slots of the float-safe Stage II
    i1: int | None = None
    stepped: bool = False  # Stage II by steps shared between neighbouring groups (the bits objective)

    @property
    def float_safe(self) -> bool:
        return self.i0 is not None

    @property
    def slots(self) -> tuple[int, ...]:
        """The stepped Stage II borrows Stage III's scratch, which is 0 until Stage III."""
        return (self.cw0, self.cw1, self.g, self.i0) if self.stepped else tuple(i for i in (self.i0, self.i1) if i is not None)


@dataclass(frozen=True)
class Group:
    lo: int  # floor(t) of the first point
    hi: int  # floor(t) of the last point + 1
    addresses: int  # U: deltas of floors, addr_bits each, chunk 1 at the top (chunk 0's delta is 0)
    labels: int  # W: stored labels, label_bits each, chunk 0 at the top


@dataclass(frozen=True)
class GroupPlan:
    """Stage II's result: group size k, chunk widths, and the crafted integers of every group."""

    k: int
    addr_bits: int
    label_bits: int
    groups: tuple[Group, ...]


def stage2_depth(groups: int, float_safe: bool) -> int:
    return math.ceil(groups / 2) + 1 if float_safe else math.ceil(groups / 3)


def stage_depth(groups: int, k: int, addr_bits: int, label_bits: int, float_safe: bool = False) -> int:
    """Blocks of Stage I + II + III for this plan."""
    return 1 + stage2_depth(groups, float_safe) + k * max(addr_bits, label_bits, 1) + 2


def _bits(x: int) -> int:
    return int(x).bit_length()


def choose_group_size(
    floors: list[int], label_bits: int, mode: str, bit_budget: int | None
) -> tuple[int, int]:
    """Pick k (points per group) and addr_bits for sorted floors.

    tight: the k that minimises total depth, with addr_bits measured from the gaps inside groups.
    paper: the paper's m = sqrt(N log N) groups, k = N/m (addr_bits is then set by the caller).
    bit_budget: the largest k whose crafted integers fit in the budget, as in docs/construction.md#the-construction
    """
    n = len(floors)
    if n <= 1:
        return 1, 0
    gap_bits = np.array([_bits(b - a) for a, b in zip(floors[:-1], floors[1:], strict=True)], dtype=np.int64)
    if mode == "paper" and bit_budget is None:
        m = max(1, math.ceil(math.sqrt(n * math.log2(n))))
        k = math.ceil(n / m)
        return k, int(gap_bits.max())

    def addr_bits(k: int) -> int:
        if k == 1:
            return 0
        inside = np.arange(1, n) % k != 0  # gap i sits between points i-1 and i
        return int(gap_bits[inside].max()) if inside.any() else 0

    best = None
    k_max = n if bit_budget is None else max(1, n)
    for k in range(1, k_max + 1):
        a = addr_bits(k)
        if bit_budget is not None and max(a * (k - 1), label_bits * k) > bit_budget and k > 1:
            break
        cost = stage_depth(math.ceil(n / k), k, a, label_bits, float_safe=bit_budget is not None)
        if best is None or cost < best[0]:
            best = (cost, k, a)
        if bit_budget is None and k > 4 * math.isqrt(n) + 4:
            break
    return best[1], best[2]


def group_starts(floors: list[int], k: int, addr_bits: int) -> list[int]:
    """Where each group begins: after k points, or at a gap wider than addr_bits can hold (a gap between
    groups costs no address bits, so cutting at the widest gaps narrows every group's fields)."""
    starts, count = [], 0
    for i in range(len(floors)):
        if count == 0 or count == k or (floors[i] - floors[i - 1]).bit_length() > addr_bits:
            starts.append(i)
            count = 0
        count += 1
    return starts


def _bits_estimate(n: int, segments: np.ndarray, k: int, a: int, lb: int, t_bits: int) -> int:
    """Parameter bits of a stepped plan, roughly: each group's step (2 units), product and clear, every
    point's address and label chunk, and Stage III's step pairs, whose constants grow to the width of the
    crafted integers. Ranks candidates for `plan_bits`, which counts a built plan exactly."""
    lengths, counts = np.unique(segments, return_counts=True)
    groups = int((np.ceil(lengths / k).astype(np.int64) * counts).sum())
    return groups * (3 * t_bits + 18) + n * (a + lb) + 2 * (a * (k - 1)) ** 2 + 2 * (lb * k) ** 2 + 60 * k


def _step_bounds(plan: GroupPlan) -> list[int]:
    """Where the stepped Stage II's steps sit: every group's start, and 1 above the last group's end."""
    return [g.lo for g in plan.groups] + [plan.groups[-1].hi + 1]


def plan_bits(plan: GroupPlan) -> int:
    """Parameter bits of the stepped Stage II and of Stage III for this plan (Stage I and the gates, the
    same for every plan of one line, left out)."""
    bounds = _step_bounds(plan)
    steps = sum(_bits(4 * b - 2) + _bits(4 * b - 1) + 8 for b in bounds)
    products = sum(_bits(g.addresses) + _bits(g.labels) + _bits(g.lo) + 2 for g in plan.groups) + 2 * len(plan.groups)
    k, a, lb = plan.k, plan.addr_bits, plan.label_bits
    extraction = sum(4 * p + 4 + 2 * (a - p % a) for p in range(a * (k - 1))) + sum(4 * p + 4 for p in range(lb * k))
    return steps + products + extraction


def choose_for_bits(floors: list[int], stored: list[int], label_bits: int, t_bits: int, candidates: int = 8) -> GroupPlan:
    """The stepped plan with the fewest parameter bits: groups of at most k, cut at gaps wider than
    addr_bits; the best few (k, addr_bits) by `_bits_estimate` are built and counted exactly."""
    n = len(floors)
    if n <= 1:
        return plan_groups(floors, stored, 1, 0, label_bits)
    gap_bits = np.array([_bits(b - a) for a, b in zip(floors[:-1], floors[1:], strict=True)], dtype=np.int64)
    ranked = []
    for a in range(0, int(gap_bits.max()) + 1):
        edges = np.r_[0, np.flatnonzero(gap_bits > a) + 1, n]  # segments between gaps too wide for a
        segments = np.diff(edges)
        for k in range(1, min(n, 4 * math.isqrt(n) + 4) + 1):
            ranked.append((_bits_estimate(n, segments, k, a, label_bits, t_bits), k, a))
    plans = [plan_groups(floors, stored, k, a, label_bits, group_starts(floors, k, a)) for _, k, a in sorted(ranked)[:candidates]]
    return min(plans, key=lambda p: (plan_bits(p), p.k, p.addr_bits))


def plan_groups(
    floors: list[int], stored: list[int], k: int, addr_bits: int, label_bits: int, starts: list[int] | None = None
) -> GroupPlan:
    """Cut the sorted labelled points into groups (of k, or at `starts`, at most k each) and craft their
    integers U and W; a short group's missing chunks are zero (delta 0, label 0: they add nothing)."""
    starts = list(range(0, len(floors), k)) if starts is None else starts
    groups = []
    for s, e in zip(starts, [*starts[1:], len(floors)], strict=True):
        fl, st = floors[s:e], stored[s:e]
        u = 0
        for i in range(1, k):
            delta = fl[i] - fl[i - 1] if i < len(fl) else 0
            u = (u << addr_bits) | delta
        w = 0
        for i in range(k):
            w = (w << label_bits) | (st[i] if i < len(st) else 0)
        groups.append(Group(lo=fl[0], hi=fl[-1] + 1, addresses=u, labels=w))
    return GroupPlan(k=k, addr_bits=addr_bits, label_bits=label_bits, groups=tuple(groups))


def _nz(*pairs: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    return tuple((c, w) for c, w in pairs if w != 0)


def _trapezoid(reads_weight: tuple[tuple[int, int], ...], lo: int, hi: int, extra_bias: int = 0):
    """Reads and biases of 4 units whose signed sum (+, -, -, +) is 1 on [lo - 1/4, hi + 1/4] and 0 outside
    (lo - 1/2, hi + 1/2), for x = sum of reads (weights are pre-multiplied by 4)."""
    return [
        (reads_weight, -4 * lo + 2 + extra_bias, 1),
        (reads_weight, -4 * lo + 1 + extra_bias, -1),
        (reads_weight, -4 * hi - 1 + extra_bias, -1),
        (reads_weight, -4 * hi - 2 + extra_bias, 1),
    ]


def _stepped_stage2(plan: GroupPlan, s: Scratch) -> list[FFN]:
    """Stage II by shared steps. S_j = relu(4t - 4b_j + 2) - relu(4t - 4b_j + 1) is 0 up to b_j - 1/2 and 1
    from b_j - 1/4, at every group's start b_g = lo_g and after the last group (b_G = hi + 1); group g's
    indicator is S_g - S_(g+1), since the next group starts at least 1 above hi_g. One block writes 3 steps
    (6 units) to slots; the next multiplies 3 indicators by their groups' integers (3 units) and clears the
    3 lower steps (3 units, relu(S) = S): 2 units at a bias as wide as t per group instead of a trapezoid's
    4, each crafted integer written once, and the indicators are 0 outside their group, so the big products
    are formed only there. Step j lives in slot j mod 4: a block clears exactly the slots its own new steps
    refill (every unit reads the stream before the block's additive writes), and step 3b carries over. The
    slots are Stage III's scratch (cw0, cw1, g) and i0: all four are 0 again when Stage II ends."""
    slots = s.slots
    per = len(slots) - 1
    bounds = _step_bounds(plan)
    out = []
    n_batches = math.ceil(len(plan.groups) / per)
    for b in range(n_batches + 1):
        units = []
        for j in range(0 if b == 0 else per * b + 1, min(per * b + per + 1, len(bounds))):  # block 0: the first start too
            units += [Unit(reads=((s.t, 4),), bias=-4 * bounds[j] + 2, writes=((slots[j % len(slots)], 1),)),
                      Unit(reads=((s.t, 4),), bias=-4 * bounds[j] + 1, writes=((slots[j % len(slots)], -1),))]
        if b > 0:
            done = range(per * (b - 1), min(per * b, len(plan.groups)))
            for g in done:
                grp, lo_slot, hi_slot = plan.groups[g], slots[g % len(slots)], slots[(g + 1) % len(slots)]
                units.append(Unit(reads=((lo_slot, 1), (hi_slot, -1)), bias=0,
                                  writes=_nz((s.U, grp.addresses), (s.W, grp.labels), (s.D, -grp.lo))))
            last = b == n_batches
            for j in (*done, len(plan.groups)) if last else done:  # the last block clears the end step too
                units.append(Unit(reads=((slots[j % len(slots)], 1),), bias=0, writes=((slots[j % len(slots)], -1),)))
        out.append(FFN(units=tuple(units)))
    return out


def build_blocks(
    form: tuple[tuple[int, int], ...], plan: GroupPlan, scratch: Scratch, no_match: int, snap: int
) -> list[FFN]:
    """Stages I-III as FFN layers. `form`: t = sum(w * Z[c]); `snap` = M with t + M >= 0 on the data."""
    s = scratch
    blocks: list[FFN] = []
    # Stage I: t and D; y starts at the no-match value
    blocks.append(
        FFN(units=(Unit(reads=form, bias=snap, writes=((s.t, 1), (s.D, 1))),),
            shift=_nz((s.t, -snap), (s.D, -snap), (s.y, no_match)))
    )
    # Stage II: 3 groups per block (stepped too: steps, then products and clears), or 2 when float-safe
    if s.stepped:
        blocks.extend(_stepped_stage2(plan, s))
    elif not s.float_safe:
        for b in range(0, len(plan.groups), 3):
            units = []
            for grp in plan.groups[b : b + 3]:
                for reads, bias, sign in _trapezoid(((s.t, 4),), grp.lo, grp.hi):
                    units.append(Unit(reads=reads, bias=bias,
                                      writes=_nz((s.U, sign * grp.addresses), (s.W, sign * grp.labels),
                                                 (s.D, -sign * grp.lo))))
            blocks.append(FFN(units=tuple(units)))
    else:
        slots = (s.i0, s.i1)
        batches = [plan.groups[b : b + 2] for b in range(0, len(plan.groups), 2)]
        for b in range(len(batches) + 1):
            units = []
            if b < len(batches):
                for slot, grp in zip(slots, batches[b], strict=False):
                    for reads, bias, sign in _trapezoid(((s.t, 4),), grp.lo, grp.hi):
                        units.append(Unit(reads=reads, bias=bias, writes=((slot, sign),)))
            if b > 0:
                for slot, grp in zip(slots, batches[b - 1], strict=False):
                    units.append(Unit(reads=((slot, 1),), bias=0,
                                      writes=_nz((s.U, grp.addresses), (s.W, grp.labels), (s.D, -grp.lo),
                                                 (slot, -1))))
            blocks.append(FFN(units=tuple(units)))
    # Stage III
    k, ab, lb = plan.k, plan.addr_bits, plan.label_bits
    B = max(ab, lb, 1)
    stage3: list[list[Unit]] = [[] for _ in range(k * B + 2)]
    cw = (s.cw0, s.cw1)
    for i in range(k):
        for j in range(ab if i > 0 else 0):
            p = ab * (k - 1 - i) + (ab - 1 - j)
            stage3[i * B + j] += [
                Unit(reads=((s.U, 1),), bias=1 - (1 << p), writes=((s.U, -(1 << p)), (s.D, -(1 << (ab - 1 - j))))),
                Unit(reads=((s.U, 1),), bias=-(1 << p), writes=((s.U, 1 << p), (s.D, 1 << (ab - 1 - j)))),
            ]
        for j in range(lb):
            p = lb * (k - 1 - i) + (lb - 1 - j)
            stage3[i * B + j] += [
                Unit(reads=((s.W, 1),), bias=1 - (1 << p), writes=((s.W, -(1 << p)), (cw[i % 2], 1 << (lb - 1 - j)))),
                Unit(reads=((s.W, 1),), bias=-(1 << p), writes=((s.W, 1 << p), (cw[i % 2], -(1 << (lb - 1 - j))))),
            ]
        gate_at = (i + 1) * B
        for reads, bias, sign in _trapezoid(((s.D, 4),), 0, 1):
            stage3[gate_at].append(Unit(reads=reads, bias=bias, writes=((s.g, sign),)))
        stage3[gate_at + 1] += [
            Unit(reads=((s.g, 1 << lb), (cw[i % 2], 1)), bias=-(1 << lb), writes=((s.y, 1),)),
            Unit(reads=((s.g, 1),), bias=0, writes=((s.g, -1),)),
            Unit(reads=((cw[i % 2], 1),), bias=0, writes=((cw[i % 2], -1),)),
        ]
    blocks.extend(FFN(units=tuple(u)) for u in stage3)
    return blocks


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
    objective: str = "depth",
) -> LineMemorizer:
    """Stages II-III for the points `labelled` (indices into proj) with their stored values (>= 1).
    `float_snap`: under a bit budget, snap with 3 * 2^51 so float64 rounds to the exact integer (the
    Transformer's way); off, the snap is the smallest power of two above the range (the plain memorizer's).
    `objective`: "depth" (fewest blocks) or "bits" (fewest parameter bits: needs the scratch slots)."""
    if objective == "bits" and not scratch.float_safe:
        raise ValueError("the bits objective's Stage II needs the slot i0: give it in scratch")
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
    if objective == "bits":  # the stepped Stage II (slot i0 and Stage III's scratch), groups cut at wide gaps
        scratch = replace(scratch, stepped=True)
        plan = choose_for_bits(fl, stored, label_bits, (4 * t_max + 2).bit_length())
    else:
        k, addr_bits = choose_group_size(fl, label_bits, mode, bit_budget)
        if mode == "paper" and bit_budget is None:
            addr_bits = max(addr_bits, paper_bits)
        plan = plan_groups(fl, stored, k, addr_bits, label_bits)
    snap = FLOAT_SNAP if float_snap and bit_budget is not None and t_max < 1 << 50 else 1 << (t_max.bit_length() + 1)
    return LineMemorizer(proj, plan, tuple(build_blocks(form, plan, scratch, no_match, snap)), snap)
