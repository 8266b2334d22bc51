"""Runs of blocks whose units each read one coordinate, evaluated by sorted breakpoints and prefix sums.

Why: the memorizer's Stage II is hundreds of blocks of ramps on t, and a ramp is active on one side of
its breakpoint: relu(a x + b) with a > 0 is a x + b for x above -b/a and 0 below. So for any set of units
reading the same column x, sum_u w_u relu(a_u x + b_u) = x P + Q, where P and Q sum w_u a_u and w_u b_u
over the active units, and the active units are a prefix of the units sorted by breakpoint (a > 0) or a
suffix (a < 0). One search per column and one pair of prefix sums per written coordinate replace one
product per unit per column; where P is 0 (a group's ramps cancel in pairs away from its edges) the result
takes one value per breakpoint interval and stays dictionary-encoded.

Invariant: exactly what the blocks compute one after another, weights and biases as stored. A run is a
sequence of blocks in which no unit reads a coordinate that a unit or shift of the run writes, so every
unit sees the stream as it was before the run and the run's writes (additive) can be summed in any order.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import numpy as np

from .columns import SAFE, Coded, absmax
from .layers import Block, Unit

MIN_UNITS = 32  # below this the plain per-unit path is as fast



def one_read_ffn(block: Block) -> bool:
    """An FFN-only block whose every unit reads one coordinate with a nonzero weight: what both fast paths
    (runs of ramps here, piecewise runs in ir/piecewise) can evaluate as functions of single coordinates."""
    return not block.mixes and all(len(u.reads) == 1 and u.reads[0][1] != 0 for u in block.ffn.units)

def runs(blocks: tuple[Block, ...] | list[Block], start: int) -> dict[int, int]:
    """{first block: one past the last} of the runs from `start` on with at least MIN_UNITS units, each
    unit reading one coordinate with a nonzero weight and nothing read being written inside the run."""
    out: dict[int, int] = {}
    i = start
    while i < len(blocks):
        j, units = i, 0
        read: set[int] = set()
        written: set[int] = set()
        while j < len(blocks):
            b = blocks[j]
            if not one_read_ffn(b):
                break
            r = {u.reads[0][0] for u in b.ffn.units}
            w = {c for u in b.ffn.units for c, _ in u.writes} | {c for c, _ in b.ffn.shift}
            if r & (written | w) or read & w:
                break
            read |= r
            written |= w
            units += len(b.ffn.units)
            j += 1
        if units >= MIN_UNITS:
            out[i] = j
            i = j
        else:  # too short to be worth it (or block i itself does not qualify): try from the next block
            i += 1
    return out


def _active_counts(thresholds: list[int], x: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
    """np.searchsorted of x in sorted thresholds, in int64 where both fit."""
    if not thresholds:
        return np.zeros(len(x), dtype=np.int64)
    if x.dtype != object and max(abs(thresholds[0]), abs(thresholds[-1])) < SAFE:
        return np.searchsorted(np.array(thresholds, dtype=np.int64), x, side=side)
    return np.searchsorted(np.array(thresholds, dtype=object), x.astype(object), side=side)


def _prefix(units: list[Unit], c: int, den: int) -> tuple[list[int], list[int]]:
    """Running sums of w a and w b den over `units` for coordinate c, starting from 0."""
    P, Q = [0], [0]
    for u in units:
        w = sum(wt for cc, wt in u.writes if cc == c)
        a = u.reads[0][1]
        P.append(P[-1] + w * a)
        Q.append(Q[-1] + w * u.bias * den)
    return P, Q


def _column(x: np.ndarray, pos: list[Unit], neg: list[Unit], cells: tuple[np.ndarray, list[int], list[int]], c: int, den: int):
    """sum over the active units of w_c relu(a x + b den): Coded, int64 or object. `cells`: each column's
    cell (code into the distinct (positive count, negative start) pairs) and those pairs."""
    inv, a_i, b_i = cells
    Pp, Qp = _prefix(pos, c, den)
    Pn, Qn = _prefix(neg[::-1], c, den)  # negative ramps are active from index ineg on: sum the suffix
    Pn, Qn = Pn[::-1], Qn[::-1]
    P = [Pp[i] + Pn[j] for i, j in zip(a_i, b_i, strict=True)]
    Q = np.array([Qp[i] + Qn[j] for i, j in zip(a_i, b_i, strict=True)], dtype=object)
    if any(P):
        val = x.astype(object) * np.array(P, dtype=object)[inv] + Q[inv]
        return val.astype(np.int64) if absmax(val) < SAFE else val
    if not any(Q):
        return None
    if absmax(Q) < SAFE:
        return Q.astype(np.int64)[inv]
    return Coded(inv.astype(np.int64), Q)


def run_ramps(stream: list, blocks: list[Block], den: int, size: int, add) -> list:
    """The stream after `blocks` (a run of `runs`), every unit evaluated through its breakpoint."""
    by_read: dict[int, list[Unit]] = defaultdict(list)
    for b in blocks:
        for u in b.ffn.units:
            by_read[u.reads[0][0]].append(u)
    new = list(stream)
    for c, units in by_read.items():
        x = stream[c]
        if x is None:  # relu(b den) for every column: the units with b > 0 add constants
            x = np.zeros(size, dtype=np.int64)
        if isinstance(x, Coded):
            x = x.dense()
        # relu(a x + b den) > 0  <=>  x >= floor(-b den / a) + 1 (a > 0)  or  x <= ceil(b den / -a) - 1 (a < 0)
        on_pos = sorted((((-u.bias * den) // u.reads[0][1] + 1, i), u) for i, u in enumerate(units) if u.reads[0][1] > 0)
        on_neg = sorted(((-((-u.bias * den) // -u.reads[0][1]) - 1, i), u) for i, u in enumerate(units) if u.reads[0][1] < 0)
        pos, neg = [u for _, u in on_pos], [u for _, u in on_neg]
        ip = _active_counts([t for (t, _), _ in on_pos], x, "right")  # units with threshold <= x
        ineg = _active_counts([t for (t, _), _ in on_neg], x, "left")  # units with threshold < x are off; the rest are on
        uniq, inv = np.unique(ip * (len(neg) + 1) + ineg, return_inverse=True)  # the same cells for every output
        cells = (inv.reshape(-1), (uniq // (len(neg) + 1)).tolist(), (uniq % (len(neg) + 1)).tolist())
        for out in sorted({cc for u in units for cc, _ in u.writes}):
            new[out] = add(new[out], _column(x, pos, neg, cells, out, den))
    for b in blocks:
        for c, v in b.ffn.shift:
            new[c] = add(new[c], np.full(size, v * den, dtype=np.int64 if abs(v * den) < SAFE else object))
    return new
