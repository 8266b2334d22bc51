"""The exact causal map of a memorizer's FFN units: for each unit, the examples whose output changes when
the unit is zeroed, computed with the exact executor's own integer arithmetic.

Zeroing unit u of block b changes nothing before block b and, after it, only the examples where u's
activation on the unablated model is not zero. So one pass runs the unablated model block by block over
the examples (everything after the attention is token-wise, so each example is one column at its read
position) and carries, for every (unit, example) pair still in play, the difference between the ablated
stream and the unablated one. A unit of a later block needs recomputing on such a pair only when it reads
a coordinate where the difference is not zero; otherwise its activation, and so its writes, are the
unablated ones. A pair whose difference returns to zero is dropped: from there on both runs are the same
run. The output changed exactly where the difference of the output coordinate is not zero at the end.
Invariant: every number is an exact integer (numerators over the executor's denominator); nothing is
skipped that could change an output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.columns import SAFE, dense
from ..ir.executor import run
from ..ir.ffnstep import run_ffn
from ..ir.layers import ExactModel


@dataclass(frozen=True)
class CleanStart:
    """The unablated stream at the read position of each example, just before model block `block`."""

    stream: list
    den: int
    block: int


def stream_before(model: ExactModel, inputs: np.ndarray, block: int) -> CleanStart:
    """Run the exact executor to model block `block` (a block at or after the last mixing step) and keep
    the stream there at each example's read position (the last position)."""
    att = [i for i, b in enumerate(model.blocks) if b.mixes]
    if not att or block < att[-1]:
        raise ValueError("the causal map starts at or after the last attention block")
    caught: dict = {}

    def hook(event, index, stream, den, rows):
        if event == "ffn" and index == block and "stream" not in caught:
            caught["stream"], caught["den"] = list(stream), den

    n = np.asarray(inputs).shape[1]
    run(model, np.asarray(inputs), hook=hook)
    stream, den = caught["stream"], caught["den"]
    size = max((len(dense(z)) for z in stream if z is not None), default=0)
    if size != len(inputs):  # the mixing block runs on every position: keep the read position
        cols = np.arange(len(inputs)) * n + (n - 1)
        stream = [None if z is None else dense(z)[cols] for z in stream]
    return CleanStart(stream, den, block)


def _amax(a: np.ndarray) -> int:
    return int(np.abs(a).max()) if len(a) else 0


def _axpy(acc: np.ndarray, arr: np.ndarray, w: int) -> np.ndarray:
    """acc + w * arr exactly: int64 where a bound proves it cannot overflow, Python ints otherwise."""
    if acc.dtype != object and arr.dtype != object and abs(w) < SAFE and _amax(acc) + abs(w) * _amax(arr) < SAFE:
        return acc + arr * np.int64(w)
    return acc.astype(object) + arr.astype(object) * w


def _pre(stream: list, unit, rows: np.ndarray, den: int) -> np.ndarray:
    """The unablated pre-activation of `unit` at example columns `rows`."""
    bias = unit.bias * den
    acc = np.full(len(rows), bias, dtype=np.int64 if abs(bias) < SAFE else object)
    for c, w in unit.reads:
        if stream[c] is not None:
            acc = _axpy(acc, dense(stream[c])[rows], w)
    return acc


class _Pairs:
    """The (ablated unit, example) pairs in play and their stream differences, one array per coordinate
    (int64 until a value needs more), in buffers that grow by doubling; rows [0, n) are live, and a row
    whose difference is zero in every coordinate is dead."""

    def __init__(self, m: int):
        self.n = 0
        self.src = np.zeros(0, dtype=np.int64)
        self.ex = np.zeros(0, dtype=np.int64)
        self.delta = [np.zeros(0, dtype=np.int64) for _ in range(m)]
        self.nz = [np.zeros(0, dtype=bool) for _ in range(m)]

    def add(self, uid: int, examples: np.ndarray) -> None:
        need = self.n + len(examples)
        if need > len(self.src):
            cap = max(need, 2 * len(self.src), 1024)

            def grow(a):
                return np.r_[a[: self.n], np.zeros(cap - self.n, dtype=a.dtype)]

            self.src, self.ex = grow(self.src), grow(self.ex)
            self.delta = [grow(d) for d in self.delta]
            self.nz = [grow(z) for z in self.nz]
        self.src[self.n : need], self.ex[self.n : need] = uid, examples
        self.n = need

    def alive(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for z in self.nz:
            out |= z[: self.n]
        return out

    def compact(self) -> None:
        """Drop the dead rows (kept while they are few: copying the buffers costs more)."""
        alive = self.alive()
        if alive.sum() * 4 > self.n * 3:
            return
        rows = np.flatnonzero(alive)
        self.src, self.ex = self.src[rows], self.ex[rows]
        self.delta = [d[rows] for d in self.delta]
        self.nz = [z[rows] for z in self.nz]
        self.n = len(rows)

    def update(self, c: int, rows: np.ndarray, d: np.ndarray) -> None:
        """delta[c][rows] += d, widening the coordinate to Python ints where int64 could overflow."""
        cur = self.delta[c]
        if cur.dtype != object and (d.dtype == object or _amax(cur[: self.n]) + _amax(d) >= SAFE):
            cur = self.delta[c] = cur.astype(object)
        cur[rows] = cur[rows] + (d.astype(object) if cur.dtype == object else d)
        self.nz[c][rows] = cur[rows] != 0


def _step(pairs: _Pairs, stream: list, ffn, den: int, hidden: list, uids: list[int], first_new: int) -> None:
    """Advance every pair through one block: recompute the units whose reads differ (or that are ablated:
    the pairs added for this block, rows from `first_new`)."""
    updates = []  # every unit reads the stream before its block: apply the writes after all of them
    n, src = pairs.n, pairs.src[: pairs.n]
    for unit, h, uid in zip(ffn.units, hidden, uids, strict=True):
        ablated = np.zeros(n, dtype=bool)
        if uid >= 0:
            ablated[first_new:] = src[first_new:] == uid
        mask = ablated.copy()
        for c, _ in unit.reads:
            mask |= pairs.nz[c][:n]
        rows = np.flatnonzero(mask)
        if not len(rows):
            continue
        ex = pairs.ex[rows]
        pre = _pre(stream, unit, ex, den)
        for c, w in unit.reads:
            pre = _axpy(pre, pairs.delta[c][rows], w)
        after = np.where(ablated[rows], 0, np.maximum(pre, 0))
        before = np.zeros(len(rows), dtype=np.int64) if h is None else h[ex]
        dh = _axpy(after if after.dtype == object else after.astype(np.int64), before, -1)
        if not dh.any():
            continue
        updates += [(rows, c, _axpy(np.zeros(len(rows), dtype=np.int64), dh, w)) for c, w in unit.writes]
    merged: dict[int, list] = {}
    for rows, c, d in updates:
        merged.setdefault(c, []).append((rows, d))
    for c, parts in merged.items():
        for rows, d in parts:  # rows of one unit are distinct; two units' rows may overlap, so add unit by unit
            pairs.update(c, rows, d)


def causal_pairs(model: ExactModel, start: CleanStart, units: list[tuple[int, int]], progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(unit id, example column) of every pair whose output changes when that unit alone is zeroed;
    `units` lists (block, unit) of the units to ablate (their ids are their positions in the list), all
    in blocks at or after `start.block`."""
    ids = {bu: i for i, bu in enumerate(units)}
    stream, den = list(start.stream), start.den
    size = len(next(dense(z) for z in stream if z is not None))
    pairs = _Pairs(len(model.coords))
    for b in range(start.block, len(model.blocks)):
        ffn = model.blocks[b].ffn
        hidden: list = []
        after = run_ffn(stream, ffn, den, size, hidden_out=hidden)
        uids = [ids.get((b, u), -1) for u in range(len(ffn.units))]
        first_new = pairs.n
        for uid, h in zip(uids, hidden, strict=True):
            if uid >= 0 and h is not None:
                pairs.add(uid, np.flatnonzero(h))
        if pairs.n:
            _step(pairs, stream, ffn, den, hidden, uids, first_new)
            pairs.compact()
        stream = after
        if progress:
            progress(b, pairs.n)
    changed = np.flatnonzero(pairs.nz[model.output][: pairs.n])
    return pairs.src[changed], pairs.ex[changed]
