"""What a permutation-equivariant model can tell apart (docs/construction.md: data, next-token, positions).

With no positions and uniform attention, the model sees at a read position only (the current token, the
empirical distribution of the attended window). This stage maps every read position of the data to such a
context, deduplicates the contexts, and refuses data whose equal contexts carry different labels, naming the
examples. Invariant of the result: every distinct context has exactly one label.

Windows are the distinct distributions, stored as CSR (token, count) runs with their length; for causal
attention the window of position k is the prefix 1..k, and proportional prefixes ([a] and [a, a]) are the
same distribution, stored once in lowest terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, NeedsPositions


@dataclass(frozen=True)
class Windows:
    ptr: np.ndarray  # [W + 1] CSR offsets
    tok: np.ndarray  # distinct-token index of each run
    cnt: np.ndarray  # count of each run
    length: np.ndarray  # [W] window length in lowest terms (sum of counts)

    def __len__(self) -> int:
        return len(self.length)


@dataclass(frozen=True)
class Contexts:
    token_ids: np.ndarray  # [N, n] index of each position's token among the distinct tokens
    windows: Windows
    scale: int  # L: the attention output times L is an integer (n, or lcm(1..n) when causal)
    ctx_window: np.ndarray  # [K] window of each distinct context
    ctx_token: np.ndarray  # [K] current token of each distinct context
    ctx_label: np.ndarray  # [K]
    read_positions: np.ndarray  # positions read per example


def _csr_from_sorted(rows: np.ndarray) -> Windows:
    W, n = rows.shape
    flat = rows.ravel()
    rid = np.repeat(np.arange(W), n)
    start = np.ones(len(flat), dtype=bool)
    start[1:] = (flat[1:] != flat[:-1]) | (rid[1:] != rid[:-1])
    starts = np.flatnonzero(start)
    cnt = np.diff(np.append(starts, len(flat)))
    ptr = np.searchsorted(starts, np.arange(W) * n)
    return Windows(ptr=np.append(ptr, len(starts)), tok=flat[starts], cnt=cnt, length=np.full(W, n))


def _causal_windows(token_ids: np.ndarray) -> tuple[Windows, np.ndarray]:
    """Distinct prefix distributions (lowest terms) and the window of every (example, position)."""
    N, n = token_ids.shape
    index: dict[tuple, int] = {}
    runs: list[tuple] = []
    win_of = np.empty((N, n), dtype=np.int64)
    for i in range(N):
        counts: dict[int, int] = {}
        for k in range(n):
            t = int(token_ids[i, k])
            counts[t] = counts.get(t, 0) + 1
            g = math.gcd(*counts.values())
            key = tuple(sorted((tok, c // g) for tok, c in counts.items()))
            w = index.get(key)
            if w is None:
                w = index[key] = len(runs)
                runs.append(key)
            win_of[i, k] = w
    ptr = np.zeros(len(runs) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in runs])
    tok = np.array([t for r in runs for t, _ in r], dtype=np.int64)
    cnt = np.array([c for r in runs for _, c in r], dtype=np.int64)
    length = np.array([sum(c for _, c in r) for r in runs], dtype=np.int64)
    return Windows(ptr=ptr, tok=tok, cnt=cnt, length=length), win_of


def analyze(token_ids: np.ndarray, labels: np.ndarray, causal: bool = False, positions: bool = False,
            multiset: bool = False) -> Contexts:
    """Contexts of a dataset given as distinct-token indices [N, n] and labels [N] or [N, n]. With
    `multiset` (Deep Sets) a context is the window alone: the current token is not seen."""
    N, n = token_ids.shape
    seq2seq = labels.ndim == 2
    if causal and not seq2seq:
        raise DataError("causal attention needs per-token labels (seq2seq): label k is the token after prefix k")
    if causal:
        windows, win_of = _causal_windows(token_ids)
        scale = math.lcm(*range(1, n + 1))
    else:
        rows, inv = np.unique(np.sort(token_ids, axis=1), axis=0, return_inverse=True)
        windows = _csr_from_sorted(rows)
        win_of = np.repeat(inv.reshape(-1, 1), n, axis=1)
        scale = n
    reads = np.arange(n) if seq2seq else np.array([n - 1])
    cw = win_of[:, reads].reshape(-1)
    ct = token_ids[:, reads].reshape(-1) if not multiset else np.zeros(len(cw), dtype=np.int64)
    lab = labels.reshape(-1) if seq2seq else labels
    keys = np.stack([cw, ct], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    lo = np.full(len(uniq), np.iinfo(np.int64).max)
    hi = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(lo, inv, lab)
    np.maximum.at(hi, inv, lab)
    bad = np.flatnonzero(lo != hi)
    if bad.size:
        raise _conflict(bad, inv, lab, token_ids, reads, causal, positions, multiset)
    return Contexts(token_ids=token_ids, windows=windows, scale=scale, ctx_window=uniq[:, 0], ctx_token=uniq[:, 1],
                    ctx_label=lo, read_positions=reads)


def _identical_pair(where: np.ndarray, lab: np.ndarray, token_ids: np.ndarray, reads: np.ndarray) -> tuple[int, int] | None:
    """Two read positions among `where` of the same sequence at the same position with different labels."""
    seen: dict[tuple, int] = {}
    for w in where:
        e, p = divmod(int(w), len(reads))
        key = (tuple(token_ids[e].tolist()), p)
        first = seen.setdefault(key, int(w))
        if lab[first] != lab[w]:
            return first, int(w)
    return None


def _conflict(bad, inv, lab, token_ids, reads, causal: bool, positions: bool, multiset: bool) -> DataError:
    """The error for contexts that carry two labels, naming the first pair; identical inputs are named as
    such, since neither positions nor any other model can separate them."""
    c = bad[0]
    where = np.flatnonzero(inv == c)
    pair = _identical_pair(where, lab, token_ids, reads)
    if pair is None:
        a = where[np.flatnonzero(lab[where] == lab[where].min())[0]]
        b = where[np.flatnonzero(lab[where] == lab[where].max())[0]]
    else:
        a, b = pair
    per = len(reads)
    (ea, pa), (eb, pb) = divmod(int(a), per), divmod(int(b), per)
    seq2seq = per > 1
    what = f"examples {ea} (position {reads[pa]}) and {eb} (position {reads[pb]})" if seq2seq else f"examples {ea} and {eb}"
    if pair is not None:
        return DataError(f"{what} are identical sequences with labels {lab[a]} and {lab[b]}: no model can give both "
                         f"({bad.size} conflicting context(s) in all). Fix the labels or drop the duplicates.")
    why = ("have the same current token and the same prefix distribution" if causal
           else "are permutations of each other" if multiset
           else "are permutations of each other with the same current token")
    who = "a Deep Sets model sees only the multiset" if multiset else "a model without positions cannot tell them apart"
    error = DataError if positions or multiset or causal else NeedsPositions
    return error(
        f"{what} {why} but labels {lab[a]} and {lab[b]}: {who} ({bad.size} such context(s) in all). "
        + ("These inputs are identical even with positions: fix the labels." if positions
           else "Use positions (positions=True) or fix the labels.")
    )
