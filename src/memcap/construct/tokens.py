"""Key tokens A (Lemma B.1) and integer token values f (Lemma B.2).

Invariant of the result: the window ids L * SID(w) / len(w), SID(w) = sum over the window of f(token),
are distinct integers over all distinct windows; checked exactly by sorting, never pair by pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..data import Dataset
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
    if ds.kind == "ids":
        vocab, inv = np.unique(ds.tokens, return_inverse=True)
        inv = inv.reshape(N, n)
        if not positions:
            return DistinctTokens(np.arange(len(vocab)), inv, vocab)
        keys, idx = np.unique(inv * n + np.arange(n)[None, :], return_inverse=True)
        return DistinctTokens(keys, idx.reshape(N, n), vocab)
    rows, scale = ds.vectors, 0.0
    if positions:
        from .projection import separation

        delta = separation(np.unique(ds.vectors.reshape(-1, ds.d), axis=0)).delta
        # a power of two at or below the token gap keeps the appended coordinate dyadic and the tokens apart
        scale = 2.0 ** math.floor(math.log2(min(delta, 1.0))) if math.isfinite(delta) else 1.0
        pos = np.broadcast_to(np.arange(n, dtype=np.float64)[None, :, None] * scale, (N, n, 1))
        rows = np.concatenate([ds.vectors, pos], axis=2)
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


def choose_values(ctx: Contexts, n_tokens: int, greedy: bool, mode: str, seed: int) -> TokenValues:
    """Key tokens (greedy for token vectors, every token for ids and causal windows) and their values."""
    A = key_tokens(ctx.windows, n_tokens, seed) if greedy else np.arange(n_tokens)
    if not A.size:  # one window: nothing to tell apart, but phi~ needs one labelled token to exist
        A = np.arange(1)
    return token_values(ctx.windows, n_tokens, A, ctx.scale, mode, seed)


def _window_ids(windows: Windows, f: np.ndarray, scale: int) -> np.ndarray:
    """L * SID / len per window: int64 where it provably fits, else Python ints (object)."""
    longest = int(np.diff(windows.ptr).max(initial=1)) * int(windows.cnt.max(initial=1))
    small = int(f.max(initial=0)) * longest * scale < 2**62
    vals = f.astype(np.int64) if small else f.astype(object)
    sid = np.add.reduceat(vals[windows.tok] * windows.cnt, windows.ptr[:-1])
    mult = scale // windows.length
    return sid * (mult if small else mult.astype(object))


def token_values(
    windows: Windows, n_tokens: int, key: np.ndarray, scale: int, mode: str, seed: int, max_tries: int = 64
) -> TokenValues:
    """Values f on A with distinct window ids. tight: uniform in [1, K], K doubling from #windows (small
    values, fewer bits downstream). paper: Lemma B.2's f = ceil(N^2 |A| sqrt(pi) v) + floor(2 N^2 |A| sqrt(pi))
    for a random unit v."""
    rng = np.random.default_rng(seed)
    W, a = len(windows), max(len(key), 1)
    K = max(2, W)
    for tries in range(1, max_tries + 1):
        f = np.zeros(n_tokens, dtype=object if mode == "paper" else np.int64)
        if mode == "paper":
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
        if not (srt[1:] == srt[:-1]).any():
            return TokenValues(key_tokens=key, values=tuple(int(x) for x in f), window_ids=tuple(int(i) for i in ids),
                               tries=tries)
    raise ValueError(f"no token values with distinct window ids after {max_tries} tries; the windows may not be "
                     "distinct on the key tokens")
