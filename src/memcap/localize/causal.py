"""The exact causal map of a memorizer's FFN units: for each unit, the examples whose output changes when
the unit is zeroed, computed with the exact executor's own integer arithmetic.

Zeroing unit u of block b changes nothing before block b and, after it, only the examples where u's
activation on the unablated model is not zero. So a pass runs the unablated model block by block over
the examples (everything after the attention is token-wise, so each example is one column at its read
position) and carries, for every such (unit, example) pair, the difference between the ablated stream and
the unablated one (`pairstore.PairStore`). A later unit needs recomputing on a pair only where it reads a
coordinate whose difference is not zero; and when it reads one such coordinate c with weight w and is
silent on the unablated example, it stays silent unless w * delta_c > 0. So each unit looks only at the
pairs with w * delta_c > 0 and at the pairs of the examples it fires on (`_candidates`). From block `tail`
on, the pairs of units before it are the unablated network run on a different stream: they are finished
as plain columns by the executor (`_finish`), pairs in the same state running once. The output changed
exactly where the difference of the output coordinate is not zero at the end.
Invariant: every number is an exact integer (numerators over the executor's denominator); nothing is
skipped that could change an output.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..interrupts import quiet_worker, sigint_blocked
from ..ir.columns import SAFE, absmax, columns, dense, fit
from ..ir.executor import run
from ..ir.ffnstep import run_ffn
from ..ir.layers import ExactModel
from .pairstore import PairStore


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


def _axpy(acc: np.ndarray, arr: np.ndarray, w: int) -> np.ndarray:
    """acc + w * arr exactly: int64 where a bound proves it cannot overflow, Python ints otherwise."""
    if acc.dtype != object and arr.dtype != object and abs(w) < SAFE and absmax(acc) + abs(w) * absmax(arr) < SAFE:
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


def _candidates(store: PairStore, unit, h: np.ndarray | None) -> np.ndarray:
    """The pairs on which `unit` may compute something else than on the unablated run: a pair whose reads
    all have a zero difference cannot. When only one read coordinate c (weight w) has differences, a pair
    where the unit is silent unablated (pre <= 0) and w * delta_c <= 0 stays silent, so the candidates are
    the pairs with w * delta_c > 0 and, among the examples where the unit fires, those with delta_c != 0."""
    reads = [(c, w) for c, w in unit.reads if store.count[c]]
    if not reads:
        return np.zeros(0, dtype=np.int64)
    if len(reads) > 1:
        return store.distinct(np.concatenate([store.listed(c, 0) for c, _ in reads]))
    (c, w), = reads
    rising = store.listed(c, 1 if w > 0 else -1)
    if h is None or not h.any():
        return rising
    fires = np.flatnonzero(h)
    if store.gather_cost(fires) <= store.listed_size(c):
        rows = store.of_examples(fires)
        firing = rows[store.values(c, rows) != 0]
    else:
        rows = store.listed(c, 0)
        firing = rows[h[store.ex[rows]] > 0]
    return store.distinct(np.r_[rising, firing])


def _step(store: PairStore, stream: list, ffn, den: int, hidden: list, uids: list[int]) -> None:
    """Advance every pair through one block: zero the block's ablated units on their pairs and recompute
    each unit on its candidates; every unit reads the stream before the block, so writes land after all."""
    updates = []
    for unit, h, uid in zip(ffn.units, hidden, uids, strict=True):
        ablated = store.of_unit(uid) if uid >= 0 else np.zeros(0, dtype=np.int64)
        cand = _candidates(store, unit, h)
        if not len(ablated) and not len(cand):
            continue
        rows = np.r_[ablated, cand]  # disjoint: an ablated pair has no difference before its own block
        ex = store.ex[rows]
        pre = _pre(stream, unit, store.ex[cand], den)
        for c, w in unit.reads:
            pre = _axpy(pre, store.values(c, cand), w)
        fired = np.maximum(pre, 0)
        after = np.concatenate([np.zeros(len(ablated), dtype=fired.dtype), fired])
        before = np.zeros(len(rows), dtype=np.int64) if h is None else h[ex]
        dh = _axpy(after, before, -1)
        moved = dh != 0
        if moved.any():
            rows, dh = rows[moved], dh[moved]
            updates += [(c, rows, _axpy(np.zeros(len(rows), dtype=np.int64), dh, w)) for c, w in unit.writes]
    for c, rows, d in updates:  # rows of one unit are distinct; two units' rows may overlap: add unit by unit
        store.update(c, rows, d)


def _words(d: np.ndarray) -> list[np.ndarray]:
    """An int64 column as itself; a Python-int column below 2^124 as two int64 words (high, low) with the
    same equalities."""
    if d.dtype != object:
        return [d]
    return [(d >> 62).astype(np.int64), (d & ((1 << 62) - 1)).astype(np.int64)]


def _unique_states(ex: np.ndarray, deltas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the distinct (example, differences) rows and each row's index among them (pairs in the
    same state have the same future); rows whose differences reach 2^123 are kept apart, uncompared.
    Rows are grouped by a 64-bit hash of their words and every group is then checked word by word, so a
    hash collision costs a slower exact grouping, never a wrong merge."""
    if any(d.dtype == object and absmax(d) >> 123 for d in deltas):
        return np.arange(len(ex)), np.arange(len(ex))
    words = [ex.astype(np.int64), *(w for d in deltas for w in _words(d))]
    h = np.zeros(len(ex), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, w in enumerate(words):
            h = (h ^ w.view(np.uint64)) * np.uint64(0x9E3779B97F4A7C15 + 2 * i)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if all(np.array_equal(w, w[first][inverse]) for w in words):
        return first, inverse
    _, first, inverse = np.unique(np.column_stack(words), axis=0, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def _small_first(deltas: list[np.ndarray]) -> np.ndarray:
    """An order of the rows of `deltas` that puts the rows whose differences all fit int64 comfortably
    first: a batch of them runs at numpy speed, while one Python-int value turns its whole batch into
    objects."""
    big = np.zeros(len(deltas[0]), dtype=bool)
    for d in deltas:
        if d.dtype == object:
            big |= ((d >= SAFE >> 4) | (d <= -(SAFE >> 4))).astype(bool)
    return np.r_[np.flatnonzero(~big), np.flatnonzero(big)]


def _finish(model: ExactModel, store: PairStore, rows: np.ndarray, stream: list, den: int, block: int,
            clean_out: np.ndarray, batch: int = 1 << 18) -> np.ndarray:
    """Run the pairs `rows`, whose ablated units all lie before `block`, to the end as plain columns
    (the unablated network on the ablated stream, which is what they are from here on) and return those
    whose output changes. Differences on coordinates that no later unit reads cannot change the output
    (unless the output is one) and are left out."""
    later = {c for b in model.blocks[block:] for u in b.ffn.units for c, _ in u.reads} | {model.output}
    coords = [c for c in sorted(later) if store.delta[c] is not None]
    rows = store.live(rows, coords)
    if not len(rows):
        return rows
    ex = store.ex[rows]
    deltas = [store.values(c, rows) for c in coords]
    first, inverse = _unique_states(ex, deltas)
    order = _small_first([d[first] for d in deltas])
    changed = np.zeros(len(first), dtype=bool)
    for lo in range(0, len(first), batch):
        states = order[lo : lo + batch]
        pick = first[states]
        cols = [None if z is None else dense(z)[ex[pick]] for z in stream]
        for c, d in zip(coords, deltas, strict=True):
            clean = cols[c]
            cols[c] = fit(d[pick]) if clean is None else _axpy(clean, fit(d[pick]), 1)
        for b in range(block, len(model.blocks)):
            cols = run_ffn(cols, model.blocks[b].ffn, den, len(pick), fast=True)
        out = np.zeros(len(pick), dtype=np.int64) if cols[model.output] is None else dense(cols[model.output])
        changed[states] = out != clean_out[ex[pick]]
    return rows[changed[inverse]]


def _fired_pairs(model: ExactModel, start: CleanStart, ids: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (unit id, example column) where a listed unit fires on the unablated run, and the unablated
    output of each column."""
    stream, den = list(start.stream), start.den
    size = columns(stream)
    src, ex = [], []
    for b in range(start.block, len(model.blocks)):
        hidden: list = []
        stream = run_ffn(stream, model.blocks[b].ffn, den, size, hidden_out=hidden)
        for u, h in enumerate(hidden):
            uid = ids.get((b, u))
            if uid is not None and h is not None:
                nz = np.flatnonzero(h)
                src.append(np.full(len(nz), uid, dtype=np.int64))
                ex.append(nz.astype(np.int64))
    out = stream[model.output]
    clean = np.zeros(size, dtype=np.int64) if out is None else dense(out)
    empty = [np.zeros(0, dtype=np.int64)]
    return np.concatenate(src or empty), np.concatenate(ex or empty), clean


def _chunk(model: ExactModel, start: CleanStart, ids: dict, tail: int) -> tuple[np.ndarray, np.ndarray]:
    src, ex, clean_out = _fired_pairs(model, start, ids)
    stream, den = list(start.stream), start.den
    size = columns(stream)
    store = PairStore(src, ex, size, len(ids), len(model.coords))
    block_of = np.array([b for b, _ in ids], dtype=np.int64)
    changed = []
    for b in range(start.block, len(model.blocks)):
        if b == tail:
            early = np.flatnonzero(block_of[store.src] < tail)
            changed.append(_finish(model, store, early, stream, den, b, clean_out))
            store.retire(early)
        ffn = model.blocks[b].ffn
        hidden: list = []
        after = run_ffn(stream, ffn, den, size, hidden_out=hidden)
        _step(store, stream, ffn, den, hidden, [ids.get((b, u), -1) for u in range(len(ffn.units))])
        stream = after
    changed.append(store.listed(model.output, 0))
    rows = np.concatenate(changed)
    return store.src[rows], store.ex[rows]


_JOB: tuple = ()  # (model, start, ids, tail) for the forked chunk workers


def _run_chunk(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model, start, ids, tail = _JOB
    sub = CleanStart([None if z is None else dense(z)[cols] for z in start.stream], start.den, start.block)
    src, ex = _chunk(model, sub, ids, tail)
    return src, cols[ex]


def _chunks(bounds: list[np.ndarray], workers: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each chunk's pairs, in order; in forked processes when `workers` > 1 (the arithmetic is the same)."""
    if workers < 2 or len(bounds) < 2 or "fork" not in mp.get_all_start_methods():
        yield from map(_run_chunk, bounds)
        return
    with sigint_blocked():  # the workers ignore Ctrl-C; leaving the pool terminates them
        pool = mp.get_context("fork").Pool(min(workers, len(bounds)), initializer=quiet_worker, initargs=(os.getpid(),))
    with pool:
        yield from pool.imap(_run_chunk, bounds)


def causal_pairs(model: ExactModel, start: CleanStart, units: list[tuple[int, int]], progress=None,
                 tail: int | None = None, chunk_pairs: int = 1 << 23, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(unit id, example column), sorted, of every pair whose output changes when that unit alone is
    zeroed; `units` lists (block, unit) of the units to ablate (their ids are their positions in the list),
    all in blocks at or after `start.block`. From block `tail` on, the pairs of units before it run to the
    end as plain columns (any block gives the same answer; the first block after the units that carry
    differences through many blocks is fastest). Examples go in chunks of about `chunk_pairs` pairs, which
    bounds the memory, over `workers` processes (default: the cores, at most 4); `progress(done, total)`
    follows the examples."""
    global _JOB
    ids = {bu: i for i, bu in enumerate(units)}
    size = columns(start.stream)
    step = max(1, chunk_pairs // max(1, len(units)))
    workers = min(os.cpu_count() or 1, 4) if workers is None else workers
    if size * len(units) < 1 << 22:  # too little work to pay for starting processes
        workers = 1
    count = -(-size // step)
    count = -(-count // workers) * workers if size >= workers else count  # a whole number of chunks a worker
    # every count-th example: the examples high on the line have the most pairs, so strides balance the chunks
    bounds = [np.arange(i, size, count) for i in range(count)]
    _JOB = (model, start, ids, len(model.blocks) if tail is None else tail)
    srcs, exs = [], []
    try:
        done = 0
        for cols, (s, e) in zip(bounds, _chunks(bounds, workers), strict=True):
            srcs.append(s)
            exs.append(e)
            done += len(cols)
            if progress:
                progress(done, size)
    finally:
        _JOB = ()
    src, ex = np.concatenate(srcs or [np.zeros(0, np.int64)]), np.concatenate(exs or [np.zeros(0, np.int64)])
    order = np.lexsort((ex, src))
    return src[order], ex[order]
