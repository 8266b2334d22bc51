"""One residual FFN layer run exactly on the stream's columns (`run_ffn`), and the column arithmetic the
executor shares: sums and scalings that stay int64 where a bound proves they cannot overflow and become
Python ints where they might, dictionary-encoded (`Coded`) columns kept encoded.

Fast-path savings of one layer (`fast=True`): a block's writes are summed per (coordinate, |weight|)
before they are scaled, so the four ramps of a group's indicator, which write one big integer with weights
+-A and cancel outside the group, form that big product only where their small signed sum is not zero
(added there in place); and a step pair, relu(p) - relu(p - 1) written with opposite weights (the bit
extraction's comparison of a register with a threshold), is one clipped value clip(p, 0, 1) written once:
exactly the pair's sum, computed once instead of two big activations and their difference.

Invariant: the new stream is exactly stream + sum_u w_u relu(pre_u) + shift, over the denominator `den`.
"""

from __future__ import annotations

import numpy as np

from .columns import SAFE as _SAFE
from .columns import Coded, absmax, coded_add, dense
from .layers import FFN, Unit


def _const(size: int, v: int) -> np.ndarray:
    return np.full(size, v, dtype=np.int64 if abs(v) < _SAFE else object)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, Coded) or isinstance(b, Coded):
        if isinstance(a, Coded) and isinstance(b, Coded):
            return coded_add(a, b)
        return _add(dense(a), dense(b))
    if a.dtype == object or b.dtype == object:
        return a.astype(object) + b.astype(object) if a.dtype != b.dtype else a + b
    if absmax(a) + absmax(b) < _SAFE:
        return a + b
    return a.astype(object) + b.astype(object)


def _scaled(arr, w):
    if w == 1:
        return arr
    if isinstance(arr, Coded):
        return Coded(arr.codes, arr.values * w)
    if w == -1:
        return -arr
    if arr.dtype != object and abs(w) < _SAFE and absmax(arr) * abs(w) < _SAFE:
        return arr * np.int64(w)
    return arr.astype(object) * w


def _relu(pre, den: int):
    if isinstance(pre, Coded):  # stays Coded: it has few values (the bit extraction's registers); dense() fits them
        return Coded(pre.codes, np.maximum(pre.values, 0))
    h = np.maximum(pre, 0)
    # after the ReLU the minimum is >= 0, so the maximum alone decides whether int64 holds it; over a
    # denominator of 2^40 or more (float inputs) nothing nonzero fits, so the pass is not worth trying
    return h.astype(np.int64) if h.dtype == object and den < 1 << 40 and h.max() < _SAFE else h


def _sparse_write(new: list, owned: set, c: int, h: np.ndarray, w: int) -> bool:
    """Add w * h in place where h is not zero, when that is at most an eighth of the columns and the
    product needs Python ints; returns whether it did."""
    if h.dtype == object or abs(w) * absmax(h) < _SAFE:
        return False
    nz = np.flatnonzero(h)
    if len(nz) * 8 > len(h):
        return False
    if c not in owned:  # the block's units read the stream before it: write into a copy, once per block
        cur = dense(new[c])
        new[c] = np.zeros(len(h), dtype=object) if cur is None else cur.astype(object)
        owned.add(c)
    new[c][nz] += h[nz].astype(object) * w
    return True


def _write_grouped(new: list, writes: list, hidden: list) -> None:
    """The residual writes sum_u w_u h_u (`writes[i]`: (coordinate, weight) pairs of activation
    `hidden[i]`), regrouped exactly as sum over |w| of |w| (sum_u sign_u h_u): the four ramps of a trapezoid
    write one big integer with weights +-A and cancel outside their group, so the small signed sum is zero
    on most columns and the big product is formed only where it is not."""
    terms: dict[tuple[int, int], object] = {}
    for unit_writes, h in zip(writes, hidden, strict=True):
        if h is None:
            continue
        for c, w in unit_writes:
            key, old = (c, abs(w)), terms.get((c, abs(w)))
            if w < 0 and isinstance(old, Coded) and isinstance(h, Coded) and old.codes is h.codes:
                terms[key] = Coded(h.codes, old.values - h.values)  # one pass instead of negate, then add
            else:
                terms[key] = _add(old, _scaled(h, 1 if w > 0 else -1))
    owned: set[int] = set()
    for (c, w), h in terms.items():
        if isinstance(h, np.ndarray) and _sparse_write(new, owned, c, h, w):
            continue
        if c in owned:  # keep adding into the block's own copy
            new[c] += dense(_scaled(h, w))
        else:
            new[c] = _add(new[c], _scaled(h, w))


def _pre(stream: list, unit: Unit, den: int, size: int):
    """The unit's pre-activation sum_c w_c stream[c] + bias, or None where it is 0 on every column."""
    pre = None
    for c, w in unit.reads:
        if stream[c] is not None:
            pre = _add(pre, _scaled(stream[c], w))
    bias = unit.bias * den
    if pre is None:
        return _const(size, bias) if bias > 0 else None
    if bias:
        pre = Coded(pre.codes, pre.values + bias) if isinstance(pre, Coded) else _add(pre, _const(size, bias))
    return pre


def step_pairs(ffn: FFN) -> list[tuple[int, bool]]:
    """The layer's units as (first unit, fused): a fused entry is a step pair, units i and i + 1 that read
    the same coordinates with the same weights, whose biases differ by 1, and whose writes are opposite:
    relu(p) - relu(p - 1) = clip(p, 0, 1) on every real p, written with unit i's weights."""
    out, i, units = [], 0, ffn.units
    while i < len(units):
        u = units[i]
        if i + 1 < len(units):
            v = units[i + 1]
            if v.reads == u.reads and v.bias == u.bias - 1 and v.writes == tuple((c, -w) for c, w in u.writes) and u.writes:
                out.append((i, True))
                i += 2
                continue
        out.append((i, False))
        i += 1
    return out


def _clip(pre, den: int):
    """clip(pre, 0, den) as int64 (den < 2^62): a step pair's activation over the denominator."""
    if isinstance(pre, Coded):
        return Coded(pre.codes, np.clip(pre.values, 0, den))
    return np.clip(pre, 0, den).astype(np.int64) if den < _SAFE else np.clip(pre, 0, den)


def run_ffn(stream: list, ffn: FFN, den: int, size: int, hidden_out: list | None = None, fast: bool = False) -> list:
    """One residual FFN layer on the stream (list of coordinate arrays or None); returns the new stream.
    `hidden_out`, when given, receives each unit's activation array (None where it is zero). `fast`
    allows Coded coordinates, in-place sparse writes and fused step pairs (the block-after-attention path
    of `run`; not with `hidden_out`, which wants every unit's own activation)."""
    fuse = fast and hidden_out is None
    entries = step_pairs(ffn) if fuse else [(i, False) for i in range(len(ffn.units))]
    hidden, writes = [], []
    for i, fused in entries:
        unit = ffn.units[i]
        pre = _pre(stream, unit, den, size)
        hidden.append(None if pre is None else _clip(pre, den) if fused else _relu(pre, den))
        writes.append(unit.writes)
    if hidden_out is not None:
        hidden_out.extend(dense(h) for h in hidden)
    new = list(stream)
    if fast:
        _write_grouped(new, writes, hidden)
    else:
        for unit_writes, h in zip(writes, hidden, strict=True):
            if h is None:
                continue
            for c, w in unit_writes:
                new[c] = _add(new[c], _scaled(h, w))
    for c, b in ffn.shift:
        new[c] = _add(new[c], _const(size, b * den))
    return new
