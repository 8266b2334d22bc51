"""Stage II's plan (docs/construction.md#the-memorizer): which labelled points share a group, how wide the
chunks of the crafted integers are, and which Stage II shape writes them.

Input: the sorted floors of the labelled points on the line and their stored values. Output: a frozen
`GroupPlan`. Invariant: inside a group, every gap between consecutive floors fits in `addr_bits`; a group
holds at most k points; the plan's depth (or, for the bits objective, its parameter bits) is the smallest
among the candidates counted, so the shape comes from the data's measured gaps.

Stage II shapes: "trapezoid" (the paper's: 4 ramps per group), "float-safe" (an indicator slot, then the
big products), "stepped" (steps shared by neighbouring groups into slots, each crafted integer written
once: the bits objective), "telescoped" (the shared steps write the difference between neighbouring
groups' integers straight to the registers: 2 units per group, the depth objective in tight mode).
Stage III reads the address deltas `digit` bits a block (1, or 2 in tight mode: three steps per digit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

UNITS_PER_BLOCK = 12  # the width q of every FFN: 3 trapezoids, 6 shared steps, or a 2-bit digit + a bit + a gate


@dataclass(frozen=True)
class Group:
    lo: int  # floor(t) of the first point
    hi: int  # floor(t) of the last point + 1
    addresses: int  # U: deltas of floors, addr_bits each, chunk 1 at the top (chunk 0's delta is 0)
    labels: int  # W: stored labels, label_bits each, chunk 0 at the top


@dataclass(frozen=True)
class GroupPlan:
    """Stage II's result: group size k, chunk widths, the crafted integers of every group, the Stage II
    shape and the address digit width of Stage III."""

    k: int
    addr_bits: int
    label_bits: int
    groups: tuple[Group, ...]
    stage2: str = "trapezoid"
    digit: int = 1

    @property
    def chunk_blocks(self) -> int:
        """Stage III blocks per chunk: the address digits or the label bits, whichever is longer."""
        return max(math.ceil(self.addr_bits / self.digit), self.label_bits, 1)


def stage2_blocks(groups: int, stage2: str) -> int:
    """Stage II blocks of each shape for this many groups."""
    per = UNITS_PER_BLOCK
    return {"trapezoid": math.ceil(groups / (per // 4)), "float-safe": math.ceil(groups / 2) + 1,
            "stepped": math.ceil(groups / 3) + 1, "telescoped": math.ceil((groups + 1) / (per // 2))}[stage2]


def stage_depth(groups: int, k: int, addr_bits: int, label_bits: int, stage2: str = "trapezoid", digit: int = 1) -> int:
    """Blocks of Stage I + II + III for this plan."""
    return 1 + stage2_blocks(groups, stage2) + k * max(math.ceil(addr_bits / digit), label_bits, 1) + 2


def _bits(x: int) -> int:
    return int(x).bit_length()


def gap_bits(floors: list[int]) -> np.ndarray:
    """Bit length of every gap between consecutive floors (gap i lies between points i and i + 1)."""
    fl = np.array(floors, dtype=object)
    gaps = (fl[1:] - fl[:-1]) if len(fl) > 1 else np.zeros(0, dtype=object)
    if len(gaps) and max(gaps) < 1 << 62:
        g = gaps.astype(np.int64)
        b = np.where(g > 0, np.floor(np.log2(np.maximum(g, 1))).astype(np.int64) + 1, 0)
        b -= (b > 0) & (np.left_shift(1, np.maximum(b - 1, 0)) > g)  # float log2 may round up near 2^b
        b += np.left_shift(1, b) <= g
        return b
    return np.array([_bits(g) for g in gaps], dtype=np.int64)


def choose_group_size(floors: list[int], label_bits: int, mode: str, bit_budget: int | None) -> tuple[int, int]:
    """Pick k (points per group) and addr_bits for sorted floors, groups of exactly k.

    paper: the paper's m = sqrt(N log N) groups, k = N/m (addr_bits is then set by the caller).
    bit_budget: the k of least depth whose crafted integers fit in the budget (docs/construction.md#bit-budget).
    """
    n = len(floors)
    if n <= 1:
        return 1, 0
    gb = gap_bits(floors)
    if mode == "paper" and bit_budget is None:
        m = max(1, math.ceil(math.sqrt(n * math.log2(n))))
        return math.ceil(n / m), int(gb.max())
    best: tuple[int, int, int] | None = None
    for k in range(1, n + 1):
        inside = np.arange(1, n) % k != 0  # gap i sits between points i-1 and i
        a = int(gb[inside].max()) if k > 1 and inside.any() else 0
        if bit_budget is not None and max(a * (k - 1), label_bits * k) > bit_budget and k > 1:
            break
        cost = stage_depth(math.ceil(n / k), k, a, label_bits, "float-safe" if bit_budget is not None else "trapezoid")
        if best is None or cost < best[0]:
            best = (cost, k, a)
        if bit_budget is None and k > 4 * math.isqrt(n) + 4:
            break
    assert best is not None  # n >= 2, and k = 1 never breaks, so the first pass sets it
    return best[1], best[2]


def _segments(gb: np.ndarray, a: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of the runs of points between gaps wider than a bits."""
    n = len(gb) + 1
    edges = np.r_[0, np.flatnonzero(gb > a) + 1, n]
    return edges[:-1], np.diff(edges)


def group_starts(gb: np.ndarray, k: int, a: int) -> list[int]:
    """Where each group begins: every k points inside each run between gaps wider than a (a gap between
    groups costs no address bits, so cutting at the widest gaps narrows every group's fields)."""
    starts, lengths = _segments(gb, a)
    per = -(-lengths // k)
    offsets = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    return (np.repeat(starts, per) + k * offsets).tolist()


def choose_for_depth(floors: list[int], stored: list[int], label_bits: int, digit: int) -> GroupPlan:
    """The telescoped plan of least depth over every address width a and group size k, groups cut at gaps
    wider than a (so a group's gaps fit and the runs between wide gaps are grouped by k)."""
    n = len(floors)
    if n <= 1:
        return plan_groups(floors, stored, 1, 0, label_bits, stage2="telescoped", digit=digit)
    gb = gap_bits(floors)
    ks = np.arange(1, min(n, 4 * math.isqrt(n) + 4) + 1)
    best: tuple[int, int, int] | None = None
    for a in range(0, int(gb.max()) + 1):
        lengths, counts = np.unique(_segments(gb, a)[1], return_counts=True)
        groups = (-(-lengths[:, None] // ks[None, :]) * counts[:, None]).sum(axis=0)
        chunk = np.maximum(np.maximum(-(-a // digit), label_bits), 1)
        depth = 1 + -(-(groups + 1) // (UNITS_PER_BLOCK // 2)) + np.where(ks > 1, ks * chunk, max(label_bits, 1)) + 2
        i = int(np.argmin(depth))
        if best is None or depth[i] < best[0]:
            best = (int(depth[i]), int(ks[i]), a)
    assert best is not None  # a = 0 is always tried, and the first pass sets it
    _, k, a = best
    starts = group_starts(gb, k, a)
    inside = np.ones(len(gb), dtype=bool)
    inside[np.array(starts[1:], dtype=np.int64) - 1] = False
    a = int(gb[inside].max()) if k > 1 and inside.any() else 0
    return plan_groups(floors, stored, k, a, label_bits, starts, "telescoped", digit)


def _bits_estimate(n: int, segments: np.ndarray, k: int, a: int, lb: int, t_bits: int) -> int:
    """Parameter bits of a stepped plan, roughly: each group's step (2 units), product and clear, every
    point's address and label chunk, and Stage III's step pairs, whose constants grow to the width of the
    crafted integers. Ranks candidates for `plan_bits`, which counts a built plan exactly."""
    lengths, counts = np.unique(segments, return_counts=True)
    groups = int((np.ceil(lengths / k).astype(np.int64) * counts).sum())
    return groups * (3 * t_bits + 18) + n * (a + lb) + 2 * (a * (k - 1)) ** 2 + 2 * (lb * k) ** 2 + 60 * k


def step_bounds(plan: GroupPlan) -> list[int]:
    """Where the shared steps sit: every group's start, and 1 above the last group's end."""
    return [g.lo for g in plan.groups] + [plan.groups[-1].hi + 1]


def plan_bits(plan: GroupPlan) -> int:
    """Parameter bits of the stepped Stage II and of Stage III for this plan (Stage I and the gates, the
    same for every plan of one line, left out)."""
    bounds = step_bounds(plan)
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
        return plan_groups(floors, stored, 1, 0, label_bits, stage2="stepped")
    gb = gap_bits(floors)
    ranked = []
    for a in range(0, int(gb.max()) + 1):
        segments = _segments(gb, a)[1]
        for k in range(1, min(n, 4 * math.isqrt(n) + 4) + 1):
            ranked.append((_bits_estimate(n, segments, k, a, label_bits, t_bits), k, a))
    plans = [plan_groups(floors, stored, k, a, label_bits, group_starts(gb, k, a), "stepped") for _, k, a in sorted(ranked)[:candidates]]
    return min(plans, key=lambda p: (plan_bits(p), p.k, p.addr_bits))


def plan_groups(
    floors: list[int], stored: list[int], k: int, addr_bits: int, label_bits: int, starts: list[int] | None = None,
    stage2: str = "trapezoid", digit: int = 1,
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
    return GroupPlan(k=k, addr_bits=addr_bits, label_bits=label_bits, groups=tuple(groups), stage2=stage2, digit=digit)
