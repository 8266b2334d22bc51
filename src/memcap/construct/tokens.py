"""Key tokens A (Lemma B.1) and integer token values f (Lemma B.2).

Invariant of the result: the window ids L * SID(w) / len(w), SID(w) = sum over the window of f(token),
are distinct integers over all distinct windows; checked exactly by sorting, never pair by pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..data import Dataset
from ..vocab import InputKind, Mode
from .context import Contexts, Windows


@dataclass(frozen=True)
class DistinctTokens:
    """The distinct tokens of a dataset and each position's index among them.

    ids: `present` are the table keys (raw ids, or (id row - 1) * n + k with positions), `vocab` the raw ids
    present, sorted. vectors: `present` are the distinct token vectors (with the position coordinate
    appended under positions, scaled by `position_scale`)."""

    present: np.ndarray
    token_ids: np.ndarray  # [N, n]
    vocab: np.ndarray | None = None
    position_scale: float = 0.0

    def __len__(self) -> int:
        return len(self.present)


def distinct_tokens(ds: Dataset, positions: bool) -> DistinctTokens:
    """Number the distinct tokens (or (token, position) pairs) of `ds`."""
    N, n = ds.N, ds.n
    if ds.kind == InputKind.ids:
        vocab, inv = np.unique(ds.inputs, return_inverse=True)
        inv = inv.reshape(N, n)
        if not positions:
            return DistinctTokens(np.arange(len(vocab)), inv, vocab)
        keys, idx = np.unique(inv * n + np.arange(n)[None, :], return_inverse=True)
        return DistinctTokens(keys, idx.reshape(N, n), vocab)
    rows, scale = ds.inputs, 0.0
    if positions:
        from .projection import separation

        delta = separation(np.unique(ds.inputs.reshape(-1, ds.d), axis=0)).delta
        # a power of two at or below the token gap keeps the appended coordinate dyadic and the tokens apart
        scale = 2.0 ** math.floor(math.log2(min(delta, 1.0))) if math.isfinite(delta) else 1.0
        pos = np.broadcast_to(np.arange(n, dtype=np.float64)[None, :, None] * scale, (N, n, 1))
        rows = np.concatenate([ds.inputs, pos], axis=2)
    present, inv = np.unique(rows.reshape(N * n, -1), axis=0, return_inverse=True)
    return DistinctTokens(present, inv.reshape(N, n), position_scale=scale)


@dataclass(frozen=True)
class TokenValues:
    key_tokens: np.ndarray  # sorted distinct-token indices in A
    values: tuple[int, ...]  # f for every distinct token (0 outside A)
    window_ids: tuple[int, ...]  # L * SID / len per window
    tries: int


def key_tokens(windows: Windows, n_tokens: int, seed: int) -> np.ndarray:
    """Greedy key tokens: while two distinct windows agree on A, add a token on which they differ.

    Batched: each round hashes every window restricted to A (random 64-bit token hashes, wrapping sums),
    and adds one separating token per group of colliding windows, so each added token splits a group and
    |A| <= #windows - 1 as in Lemma B.1. Hash collisions can only add a token, never drop a needed one; the
    exact check of the token values downstream is the guarantee.
    """
    rng = np.random.default_rng(seed)
    h = rng.integers(1, np.iinfo(np.int64).max, size=n_tokens, dtype=np.int64).astype(np.uint64)
    in_a = np.zeros(n_tokens, dtype=bool)
    freq = np.bincount(windows.tok, minlength=n_tokens)
    starts = windows.ptr[:-1]
    while True:
        contrib = np.where(in_a[windows.tok], windows.cnt.astype(np.uint64) * h[windows.tok], np.uint64(0))
        with np.errstate(over="ignore"):
            key = np.add.reduceat(contrib, starts) if len(contrib) else np.zeros(0, np.uint64)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        same = np.flatnonzero(ks[1:] == ks[:-1])
        if same.size == 0:
            break
        heads = same[np.r_[True, np.diff(same) > 1]]  # first index of each collision group in sorted order
        added = False
        for i in heads:
            w1, w2 = order[i], order[i + 1]
            r1 = dict(zip(windows.tok[windows.ptr[w1]:windows.ptr[w1 + 1]].tolist(),
                          windows.cnt[windows.ptr[w1]:windows.ptr[w1 + 1]].tolist(), strict=True))
            r2 = dict(zip(windows.tok[windows.ptr[w2]:windows.ptr[w2 + 1]].tolist(),
                          windows.cnt[windows.ptr[w2]:windows.ptr[w2 + 1]].tolist(), strict=True))
            diff = [t for t in set(r1) | set(r2) if r1.get(t, 0) != r2.get(t, 0) and not in_a[t]]
            if diff:
                best = max(diff, key=lambda t: (freq[t], -t))
                in_a[best] = True
                added = True
        if not added:
            break
    return np.flatnonzero(in_a)


def choose_values(ctx: Contexts, n_tokens: int, greedy: bool, mode: Mode, seed: int) -> TokenValues:
    """Key tokens (greedy for token vectors, every token for ids and causal windows) and their values."""
    A = key_tokens(ctx.windows, n_tokens, seed) if greedy else np.arange(n_tokens)
    if not A.size:  # one window: nothing to tell apart, but phi~ needs one labelled token to exist
        A = np.arange(1)
    # repair only where each window is one context: where several contexts share a window (seq2seq, causal),
    # F2's projection separates them through the current token anyway (docs/construction.md, step 3)
    return token_values(ctx.windows, n_tokens, A, ctx.scale, mode, seed, repair=len(ctx.ctx_label) == len(ctx.windows))


def _window_ids(windows: Windows, f: np.ndarray, scale: int) -> np.ndarray:
    """L * SID / len per window: int64 where it provably fits, else Python ints (object)."""
    longest = int(np.diff(windows.ptr).max(initial=1)) * int(windows.cnt.max(initial=1))
    small = int(f.max(initial=0)) * longest * scale < 2**62
    vals = f.astype(np.int64) if small else f.astype(object)
    sid = np.add.reduceat(vals[windows.tok] * windows.cnt, windows.ptr[:-1])
    mult = scale // windows.length
    return sid * (mult if small else mult.astype(object))


class _Repair:
    """Re-draws of single token values that remove window-id collisions one at a time (int64 ids only).

    Random values need a range of about #windows^2 before no two window sums collide (the birthday bound);
    a narrower range leaves a few collisions, and a collision goes away when a token of one of its windows
    gets a new value that moves its windows onto free ids. A re-draw is kept only when it lowers the number
    of colliding windows, so the search ends with none or gives up within its budget."""

    def __init__(self, windows: Windows, f: np.ndarray, ids: np.ndarray, K: int, scale: int, rng: np.random.Generator):
        self.w, self.f, self.ids, self.K, self.rng = windows, f, ids, K, rng
        self.rid = np.repeat(np.arange(len(windows)), np.diff(windows.ptr))
        self.by_token = np.argsort(windows.tok, kind="stable")
        self.tptr = np.searchsorted(windows.tok[self.by_token], np.arange(len(f) + 1))
        self.mult = (scale // windows.length).astype(np.int64)
        self.count: dict[int, int] = {}
        for v in ids.tolist():
            self.count[v] = self.count.get(v, 0) + 1
        self.dups = {v for v, c in self.count.items() if c > 1}

    def _move(self, old: list[int], new: list[int]) -> None:
        for v in old:
            c = self.count[v] - 1
            self.count[v] = c
            if c <= 1:
                self.dups.discard(v)
        for v in new:
            c = self.count.get(v, 0) + 1
            self.count[v] = c
            if c > 1:
                self.dups.add(v)

    def _excess(self, vals) -> int:
        return sum(max(self.count.get(v, 0) - 1, 0) for v in vals)

    def run(self, budget: int) -> bool:
        w = self.w
        for _ in range(budget):
            if not self.dups:
                return True
            target = min(self.dups)
            win = int(np.flatnonzero(self.ids == target)[0])
            toks = w.tok[w.ptr[win] : w.ptr[win + 1]]
            toks = toks[self.f[toks] > 0]  # only key tokens carry values (phi~ gives every other token 0)
            if not len(toks):
                return False
            t = int(toks[self.rng.integers(len(toks))])
            runs = self.by_token[self.tptr[t] : self.tptr[t + 1]]
            A = self.rid[runs]
            new_value = int(self.rng.integers(1, self.K + 1))
            old_ids = self.ids[A]
            new_ids = old_ids + (new_value - int(self.f[t])) * w.cnt[runs] * self.mult[A]
            old, new = old_ids.tolist(), new_ids.tolist()
            touched = set(old) | set(new)
            before = self._excess(touched)
            self._move(old, new)
            if self._excess(touched) < before:
                self.ids[A], self.f[t] = new_ids, new_value
            else:
                self._move(new, old)
        return not self.dups


def _moved_collisions(windows: Windows, ids: np.ndarray, n_tokens: int) -> float:
    """Expected new collisions when one token's value is re-drawn: its windows land on random ids."""
    span = float(ids.max() - ids.min()) + 1.0
    return len(windows.tok) / max(n_tokens, 1) * len(ids) / span


def token_values(
    windows: Windows, n_tokens: int, key: np.ndarray, scale: int, mode: Mode, seed: int, max_tries: int = 64,
    repair: bool = True,
) -> TokenValues:
    """Values f on A with distinct window ids. tight: uniform in [1, K], K doubling from #windows, the few
    collisions left at a K repaired by re-drawing single values where a re-draw can succeed (small values,
    fewer bits downstream). paper: Lemma B.2's f = ceil(N^2 |A| sqrt(pi) v) + floor(2 N^2 |A| sqrt(pi))
    for a random unit v."""
    rng = np.random.default_rng(seed)
    W, a = len(windows), max(len(key), 1)
    K = max(2, W)
    for tries in range(1, max_tries + 1):
        f = np.zeros(n_tokens, dtype=object if mode == Mode.paper else np.int64)
        if mode == Mode.paper:
            v = rng.standard_normal(len(key))
            v /= np.linalg.norm(v) or 1.0
            c = W * W * a * math.sqrt(math.pi)
            for t, vx in zip(key, v, strict=True):
                f[t] = math.ceil(c * vx) + math.floor(2 * c)
        else:
            f[key] = rng.integers(1, K + 1, size=len(key))
            K *= 2
        ids = _window_ids(windows, f, scale)
        srt = np.sort(ids)
        clashes = int((srt[1:] == srt[:-1]).sum())
        if repair and clashes and mode != Mode.paper and ids.dtype == np.int64 and _moved_collisions(windows, ids, n_tokens) < 0.5:
            if _Repair(windows, f, ids, K // 2, scale, rng).run(budget=40 * clashes + 200):
                srt = np.sort(ids)
        if not (srt[1:] == srt[:-1]).any():
            return TokenValues(key_tokens=key, values=tuple(int(x) for x in f), window_ids=tuple(int(i) for i in ids),
                               tries=tries)
    raise ValueError(f"no token values with distinct window ids after {max_tries} tries; the windows may not be "
                     "distinct on the key tokens")
