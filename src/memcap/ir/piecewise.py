"""Runs of blocks evaluated as piecewise-affine functions of one key coordinate.

Why: the hashed memorizer's Stage II (construct.hashed) is thousands of blocks whose units each read one
coordinate: the slot index D, or a slot that earlier units of the run wrote from D. Every coordinate such a
run reads is then a function of D's value on entry, affine on intervals of integers, with a handful of
pieces; so each unit is evaluated once on its input's few pieces instead of once per column, and the
coordinates that the run writes but never reads (the registers) are summed piece by piece and evaluated on
the columns once, at the end.

A run qualifies (`start`) when every unit reads exactly one coordinate; one coordinate, the key x, is read
and is written only by shifts (constants); every other coordinate the run reads is zero on entry; and the
run has at least MIN_UNITS units. A tracked function that grows past MAX_PIECES pieces ends the run early.

Invariant: exactly what the blocks compute one after another on every column: integer weights and biases
as stored, relu(a x + b) > 0 exactly when x > -b / a on the integers, the writes of a block applied after
all of its units have read the stream.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .columns import SAFE, Coded, absmax, fit
from .layers import Block
from .ramps import one_read_ffn

MIN_UNITS = 64
MAX_PIECES = 64
Fn = list[tuple[int, int, int, int]]  # pieces (lo, hi, a, b): f(x) = a x + b on the integers lo..hi, contiguous


def is_zero(z) -> bool:
    if z is None:
        return True
    if isinstance(z, Coded):
        return not any(z.values)
    return not z.any()


def _scan(blocks, i: int, stream: list) -> tuple[int, int, set[int]] | None:
    """(key, end, read set) of the run from block i on, or None."""
    key, units, j = None, 0, i
    reads: set[int] = set()
    while j < len(blocks):
        b = blocks[j]
        if not one_read_ffn(b):
            break
        r = {u.reads[0][0] for u in b.ffn.units}
        written = {c for u in b.ffn.units for c, _ in u.writes}
        new_key = key
        for c in r - reads:
            if not is_zero(stream[c]):
                if new_key is not None and new_key != c:
                    new_key = -1
                new_key = c if new_key is None else new_key
        if new_key == -1 or (new_key is not None and new_key in written):
            break
        key, reads, units, j = new_key, reads | r, units + len(b.ffn.units), j + 1
    if key is None or units < MIN_UNITS:
        return None
    return key, j, reads


def _affine(f: Fn, w: int, bias: int) -> Fn:
    return [(lo, hi, w * a, w * b + bias) for lo, hi, a, b in f]


def _relu(f: Fn) -> Fn:
    out: Fn = []
    for lo, hi, a, b in f:
        if a == 0:
            out.append((lo, hi, 0, max(b, 0)))
            continue
        k = (-b) // a + 1 if a > 0 else -((-b) // -a) - 1  # a > 0: on for x >= k; a < 0: on for x <= k
        on = (max(lo, k), hi) if a > 0 else (lo, min(hi, k))
        off = (lo, min(hi, k - 1)) if a > 0 else (max(lo, k + 1), hi)
        parts = [(off, 0, 0), (on, a, b)] if a > 0 else [(on, a, b), (off, 0, 0)]
        out += [(p[0], p[1], pa, pb) for p, pa, pb in parts if p[0] <= p[1]]
    return out


def _add(f: Fn, g: Fn, w: int = 1) -> Fn:
    """f + w g (both cover the same integers), adjacent equal pieces merged."""
    out: Fn = []
    i = j = 0
    lo = f[0][0]
    while i < len(f) and j < len(g):
        hi = min(f[i][1], g[j][1])
        a, b = f[i][2] + w * g[j][2], f[i][3] + w * g[j][3]
        if lo == hi:  # one integer: a constant, so that it merges with an equal neighbour
            a, b = 0, a * lo + b
        if out and out[-1][2] == a and out[-1][3] == b:
            out[-1] = (out[-1][0], hi, a, b)
        else:
            out.append((lo, hi, a, b))
        lo = hi + 1
        i += f[i][1] == hi
        j += g[j][1] == hi
    return out


def _column(pieces: list[tuple[int, int, int, int]], xs: np.ndarray, inv: np.ndarray, size: int):
    """Sum of pieces (possibly overlapping) at every column whose key is xs[inv]: slope and intercept by
    difference arrays over the sorted distinct keys, Coded when the values need Python ints (every Coded
    output of a run shares the codes `inv`, so that sums of them stay Coded without re-encoding)."""
    if not pieces:
        return None
    dA = np.zeros(len(xs) + 1, dtype=object)
    dB = np.zeros(len(xs) + 1, dtype=object)
    for lo, hi, a, b in pieces:
        i0, i1 = np.searchsorted(xs, lo, "left"), np.searchsorted(xs, hi, "right")
        dA[i0] += a
        dA[i1] -= a
        dB[i0] += b
        dB[i1] -= b
    A, B = np.cumsum(dA[:-1]), np.cumsum(dB[:-1])
    vals = A * xs.astype(object) + B if any(A) else B
    if not any(vals):
        return None
    if absmax(vals) < SAFE:
        return vals.astype(np.int64)[inv]
    return Coded(inv, vals) if 2 * len(xs) <= size else fit(vals)[inv]


def run(stream: list, blocks: Sequence[Block], i: int, den: int, size: int, add) -> tuple[list, int] | None:
    """The stream after the piecewise run from block i (and the block after it), or None if none starts."""
    found = _scan(blocks, i, stream)
    if found is None:
        return None
    key, end, reads = found
    x = stream[key].dense() if isinstance(stream[key], Coded) else stream[key]
    xs, inv = np.unique(x, return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    lo, hi = int(xs[0]), int(xs[-1])
    fns: dict[int, Fn] = {c: [(lo, hi, 1 if c == key else 0, 0)] for c in reads}
    loose: dict[int, list] = defaultdict(list)  # written, never read: pieces to sum at the end
    j = i
    while j < end:
        pending: dict[int, Fn] = {}
        for u in blocks[j].ffn.units:
            (c, w), = u.reads
            h = _relu(_affine(fns[c], w, u.bias * den))
            for out, wo in u.writes:
                if out in fns:
                    pending[out] = _add(pending.get(out, fns[out]), h, wo)
                else:
                    loose[out] += [(p, q, wo * a, wo * b) for p, q, a, b in h if a or b]
        for out, v in blocks[j].ffn.shift:
            if out in fns:
                pending[out] = _add(pending.get(out, fns[out]), [(lo, hi, 0, v * den)])
            else:
                loose[out].append((lo, hi, 0, v * den))
        fns.update(pending)
        j += 1
        if max(len(f) for f in fns.values()) > MAX_PIECES:
            break
    new = list(stream)
    for c, f in fns.items():  # the key, or zero on entry: the function is the whole value
        new[c] = _column(list(f), xs, inv, size)
    for c, pieces in loose.items():
        new[c] = add(stream[c], _column(pieces, xs, inv, size))
    return new, j
