"""The ReLU memorizer (docs/construction.md#the-memorizer; Vardi et al. Thm 3.1 as extended by the paper's Lemma C.1), as FFN blocks.

Input: a line t (a linear form over the stream, Stage I already chosen) on which every point is >= 2 from
every other, the labelled points' stored values (>= 1), and the value that unlabelled points must get.
Output: residual FFN blocks after which coordinate y holds `no_match + stored` on labelled points and
`no_match` on every other point of the data. Every weight is an integer.

Stage I   t <- relu(form + M) - M, and D <- t (one unit; M makes the ReLU exact on the data).
Stage II  groups of at most k consecutive labelled points (construct.grouping plans them); an indicator
          per group (in the paper's shape a trapezoid on t: 1 on [lo - 1/4, hi + 1/4], 0 half a unit
          outside, 4 units) adds the group's crafted integers U (address deltas, `addr_bits` each) and
          W (stored labels, `label_bits` each) to two accumulators and subtracts the group's base
          address from D. Telescoped (tight mode): one step pair at each group's start adds the
          difference between its integers and the previous group's, so a point above the step of its
          group and below the next one holds exactly its group's integers: 2 units per group.
Stage III chunk by chunk, one digit of U (1 bit, or 2 in tight mode: steps at 1, 2 and 3 times 2^p) and
          one bit of W per block (step pairs relu(X - T + 1) - relu(X - T), exact on integers); the U
          digits are subtracted from D, so after chunk i, D = t - floor(t_i). A trapezoid on D in [0, 1]
          gates the chunk's label into y. Gate and add of chunk i run inside the digit blocks of chunk
          i + 1 (the residual writes are additive and every unit reads the stream before its block), so a
          chunk costs max(addr_bits / digit, label_bits) blocks.
Float-safe variant (used with a bit budget, docs/construction.md#bit-budget): Stage II first writes each group's indicator
to a coordinate (i0, i1) and multiplies the big integers by it one block later, so that no float64 product
of a large ramp value and a large weight is ever formed; every other product is by a power of two.
Addresses are stored as deltas between consecutive floors, so a chunk needs the bits of the largest gap
inside a group, not of the whole range; the trapezoid margins of 1/4 leave float64 room to round t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..ir.layers import FFN, Unit
from ..ir.record import PlanSummary
from ..vocab import Stage2
from .grouping import UNITS_PER_BLOCK, GroupPlan, choose_for_bits, choose_for_depth, choose_group_size, plan_groups, stage2_blocks, step_bounds
from .projection import Projection

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

    @property
    def float_safe(self) -> bool:
        return self.i0 is not None


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


def _stepped_stage2(plan: GroupPlan, s: Scratch, tags: list) -> list[FFN]:
    """Stage II by shared steps. S_j = relu(4t - 4b_j + 2) - relu(4t - 4b_j + 1) is 0 up to b_j - 1/2 and 1
    from b_j - 1/4, at every group's start b_g = lo_g and after the last group (b_G = hi + 1); group g's
    indicator is S_g - S_(g+1), since the next group starts at least 1 above hi_g. One block writes 3 steps
    (6 units) to slots; the next multiplies 3 indicators by their groups' integers (3 units) and clears the
    3 lower steps (3 units, relu(S) = S): 2 units at a bias as wide as t per group instead of a trapezoid's
    4, each crafted integer written once, and the indicators are 0 outside their group, so the big products
    are formed only there. Step j lives in slot j mod 4: a block clears exactly the slots its own new steps
    refill (every unit reads the stream before the block's additive writes), and step 3b carries over. The
    slots are Stage III's scratch (cw0, cw1, g) and i0: all four are 0 again when Stage II ends."""
    assert s.i0 is not None  # memorize_on_line refuses the bits objective without the slot i0
    slots = (s.cw0, s.cw1, s.g, s.i0)
    per = len(slots) - 1
    bounds = step_bounds(plan)
    out = []
    n_batches = math.ceil(len(plan.groups) / per)
    for b in range(n_batches + 1):
        units, tag = [], []
        for j in range(0 if b == 0 else per * b + 1, min(per * b + per + 1, len(bounds))):  # block 0: the first start too
            units += [Unit(reads=((s.t, 4),), bias=-4 * bounds[j] + 2, writes=((slots[j % len(slots)], 1),)),
                      Unit(reads=((s.t, 4),), bias=-4 * bounds[j] + 1, writes=((slots[j % len(slots)], -1),))]
            tag += [("step", j, -1)] * 2
        if b > 0:
            done = range(per * (b - 1), min(per * b, len(plan.groups)))
            for g in done:
                grp, lo_slot, hi_slot = plan.groups[g], slots[g % len(slots)], slots[(g + 1) % len(slots)]
                units.append(Unit(reads=((lo_slot, 1), (hi_slot, -1)), bias=0,
                                  writes=_nz((s.U, grp.addresses), (s.W, grp.labels), (s.D, -grp.lo))))
                tag.append(("product", g, -1))
            last = b == n_batches
            for j in (*done, len(plan.groups)) if last else done:  # the last block clears the end step too
                units.append(Unit(reads=((slots[j % len(slots)], 1),), bias=0, writes=((slots[j % len(slots)], -1),)))
                tag.append(("clear", j, -1))
        out.append(FFN(units=tuple(units)))
        tags.append(tag)
    return out


def _telescoped_stage2(plan: GroupPlan, s: Scratch, tags: list) -> list[FFN]:
    """Stage II by shared steps writing differences: S_j (as in the stepped shape) at group j's start adds
    group j's integers minus group j-1's, and at 1 above the last group subtracts the last group's. On the
    data every point lies on an integer, so S_j is 1 at and above b_j and 0 below, and the sum telescopes to
    the integers of the group whose start is the last one at or below t: 6 steps (12 units) per block."""
    bounds = step_bounds(plan)
    prev = (0, 0, 0)
    units = []
    for j, b in enumerate(bounds):
        grp = plan.groups[j] if j < len(plan.groups) else None
        cur = (grp.addresses, grp.labels, grp.lo) if grp else (0, 0, 0)
        dU, dW, dlo = (c - p for c, p in zip(cur, prev, strict=True))
        writes = _nz((s.U, dU), (s.W, dW), (s.D, -dlo))
        units += [Unit(reads=((s.t, 4),), bias=-4 * b + 2, writes=writes),
                  Unit(reads=((s.t, 4),), bias=-4 * b + 1, writes=tuple((c, -w) for c, w in writes))]
        prev = cur
    per = UNITS_PER_BLOCK
    tags.extend([("step", j // 2, -1) for j in range(i, min(i + per, len(units)))] for i in range(0, len(units), per))
    return [FFN(units=tuple(units[i : i + per])) for i in range(0, len(units), per)]


def _digits(width: int, digit: int) -> list[int]:
    """Digit widths of a chunk, top first: the odd bit first, then `digit` bits each."""
    head = width % digit
    return ([head] if head else []) + [digit] * (width // digit)


def _stage2(plan: GroupPlan, s: Scratch, tags: list) -> list[FFN]:
    """Stage II's blocks of the plan's shape; `tags` gets, per block, each unit's (role, group, chunk)."""
    if plan.stage2 == "stepped":
        return _stepped_stage2(plan, s, tags)
    if plan.stage2 == "telescoped":
        return _telescoped_stage2(plan, s, tags)
    out = []
    if plan.stage2 == "trapezoid":
        for b in range(0, len(plan.groups), 3):
            units = []
            for grp in plan.groups[b : b + 3]:
                for reads, bias, sign in _trapezoid(((s.t, 4),), grp.lo, grp.hi):
                    units.append(Unit(reads=reads, bias=bias,
                                      writes=_nz((s.U, sign * grp.addresses), (s.W, sign * grp.labels),
                                                 (s.D, -sign * grp.lo))))
            out.append(FFN(units=tuple(units)))
            tags.append([("indicator", g, -1) for g in range(b, min(b + 3, len(plan.groups))) for _ in range(4)])
        return out
    # the float-safe shape comes only with a bit budget, and every caller's coords hold both indicator slots
    assert s.i0 is not None and s.i1 is not None
    slots = (s.i0, s.i1)
    batches = [range(b, min(b + 2, len(plan.groups))) for b in range(0, len(plan.groups), 2)]
    for b in range(len(batches) + 1):
        units, tag = [], []
        if b < len(batches):
            for slot, g in zip(slots, batches[b], strict=False):
                for reads, bias, sign in _trapezoid(((s.t, 4),), plan.groups[g].lo, plan.groups[g].hi):
                    units.append(Unit(reads=reads, bias=bias, writes=((slot, sign),)))
                    tag.append(("indicator", g, -1))
        if b > 0:
            for slot, g in zip(slots, batches[b - 1], strict=False):
                grp = plan.groups[g]
                units.append(Unit(reads=((slot, 1),), bias=0,
                                  writes=_nz((s.U, grp.addresses), (s.W, grp.labels), (s.D, -grp.lo), (slot, -1))))
                tag.append(("product", g, -1))
        out.append(FFN(units=tuple(units)))
        tags.append(tag)
    return out


def _stage3(plan: GroupPlan, s: Scratch, tags: list) -> list[FFN]:
    """Stage III's blocks (bit extraction, gates, label adds); `tags` as in `_stage2`, chunk = i."""
    k, ab, lb = plan.k, plan.addr_bits, plan.label_bits
    B = plan.chunk_blocks
    stage3: list[list[Unit]] = [[] for _ in range(k * B + 2)]
    tag3: list[list[tuple]] = [[] for _ in range(k * B + 2)]
    cw = (s.cw0, s.cw1)
    for i in range(k):
        low = ab  # local bit position below the digits placed so far
        for j, width in enumerate(_digits(ab, plan.digit) if i > 0 else []):
            low -= width
            p = ab * (k - 1 - i) + low  # the digit's lowest bit in U
            for c in range(1, 1 << width):  # [U >= c 2^p] for c = 1 .. 2^width - 1 sums to the digit
                stage3[i * B + j] += [
                    Unit(reads=((s.U, 1),), bias=1 - c * (1 << p), writes=((s.U, -(1 << p)), (s.D, -(1 << low)))),
                    Unit(reads=((s.U, 1),), bias=-c * (1 << p), writes=((s.U, 1 << p), (s.D, 1 << low))),
                ]
                tag3[i * B + j] += [("digit", -1, i)] * 2
        for j in range(lb):
            p = lb * (k - 1 - i) + (lb - 1 - j)
            stage3[i * B + j] += [
                Unit(reads=((s.W, 1),), bias=1 - (1 << p), writes=((s.W, -(1 << p)), (cw[i % 2], 1 << (lb - 1 - j)))),
                Unit(reads=((s.W, 1),), bias=-(1 << p), writes=((s.W, 1 << p), (cw[i % 2], -(1 << (lb - 1 - j))))),
            ]
            tag3[i * B + j] += [("label-bit", -1, i)] * 2
        gate_at = (i + 1) * B
        for reads, bias, sign in _trapezoid(((s.D, 4),), 0, 1):
            stage3[gate_at].append(Unit(reads=reads, bias=bias, writes=((s.g, sign),)))
            tag3[gate_at].append(("gate", -1, i))
        stage3[gate_at + 1] += [
            Unit(reads=((s.g, 1 << lb), (cw[i % 2], 1)), bias=-(1 << lb), writes=((s.y, 1),)),
            Unit(reads=((s.g, 1),), bias=0, writes=((s.g, -1),)),
            Unit(reads=((cw[i % 2], 1),), bias=0, writes=((cw[i % 2], -1),)),
        ]
        tag3[gate_at + 1] += [("add", -1, i), ("reset", -1, i), ("reset", -1, i)]
    tags.extend(tag3)
    return [FFN(units=tuple(u)) for u in stage3]


def build_blocks(
    form: tuple[tuple[int, int], ...], plan: GroupPlan, scratch: Scratch, no_match: int, snap: int,
    tags: list | None = None,
) -> list[FFN]:
    """Stages I-III as FFN layers. `form`: t = sum(w * Z[c]); `snap` = M with t + M >= 0 on the data.
    `tags`, when given, receives the construction's record of each unit's role: per block, a list of
    (role, group, chunk) in unit order (`construct.roles` names the roles)."""
    s = scratch
    tags = [] if tags is None else tags
    # Stage I: t and D; y starts at the no-match value
    blocks = [FFN(units=(Unit(reads=form, bias=snap, writes=((s.t, 1), (s.D, 1))),),
                  shift=_nz((s.t, -snap), (s.D, -snap), (s.y, no_match)))]
    tags.append([("project", -1, -1)])
    blocks += _stage2(plan, s, tags)
    blocks += _stage3(plan, s, tags)
    return blocks


class BudgetError(DataError):
    """A bit budget below what a memorizer stage needs; `need` is the least budget that stage accepts (it
    depends on the data, not on the budget asked for)."""

    def __init__(self, message: str, need: int | None = None):
        super().__init__(message)
        self.need = need


@dataclass(frozen=True)
class LineMemorizer:
    """A memorizer built on a projection: its plan and FFN blocks."""

    projection: Projection
    plan: GroupPlan
    blocks: tuple[FFN, ...]
    snap: int
    tags: tuple[tuple[tuple[str, int, int], ...], ...] = ()  # per block, each unit's (role, group, chunk)

    def plan_summary(self) -> PlanSummary:
        """The plan as the model records it."""
        p = self.plan
        return PlanSummary(p.k, len(p.groups), p.addr_bits, p.label_bits, Stage2(p.stage2), p.digit)

    @property
    def stage2(self) -> int:
        """How many of the blocks are Stage II."""
        return stage2_blocks(len(self.plan.groups), self.plan.stage2)


def memorize_on_line(
    proj: Projection,
    form: tuple[tuple[int, int], ...],
    *,
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
    `objective`: "bits" (fewest parameter bits: needs the scratch slots), else the fewest blocks (the
    memorizer of token vectors under the balanced objective takes that plan too)."""
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
                              f"{(4 * t_max + 2).bit_length()} bits and the stored values {label_bits} bits", need)
    if objective == "bits":  # the stepped Stage II (slot i0 and Stage III's scratch), groups cut at wide gaps
        plan = choose_for_bits(fl, stored, label_bits, (4 * t_max + 2).bit_length())
    elif mode == "tight" and bit_budget is None:  # telescoped Stage II, 2-bit address digits, cuts at wide gaps
        plan = choose_for_depth(fl, stored, label_bits, digit=2)
    else:
        k, addr_bits = choose_group_size(fl, label_bits, mode, bit_budget)
        if mode == "paper" and bit_budget is None:
            addr_bits = max(addr_bits, paper_bits)
        plan = plan_groups(fl, stored, k, addr_bits, label_bits, stage2="float-safe" if bit_budget is not None else "trapezoid")
    snap = FLOAT_SNAP if float_snap and bit_budget is not None and t_max < 1 << 50 else 1 << (t_max.bit_length() + 1)
    tags: list = []
    blocks = tuple(build_blocks(form, plan, scratch, no_match, snap, tags))
    return LineMemorizer(proj, plan, blocks, snap, tuple(tuple(t) for t in tags))
