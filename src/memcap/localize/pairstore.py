"""The (ablated unit, example) pairs of a causal-map pass and their stream differences, indexed so that a
unit of a later block finds the pairs it can change without scanning every pair.

Every pair exists from the start: pair (u, x) for each ablated unit u and each example x on which u fires
in the unablated run (only there can zeroing u change anything). Pairs are sorted by example, so the pairs
of one example are one contiguous range, and a second order lists each unit's pairs together. A pair's
difference is zero in every coordinate until its unit's block ablates it.

Per coordinate c the store keeps the difference of every pair (allocated on the first write, int64 until a
value needs more) and three candidate lists, each from the first time a unit asks for it: pairs whose
difference on c is non-zero, positive, negative. A list may hold stale entries (a pair whose difference
has changed since); a query filters it against the current differences and keeps the result, so each
list shrinks to its true set whenever it is read.
Invariant: every pair with a non-zero (positive, negative) difference on c is in c's non-zero (positive,
negative) list where that list is kept; `count[c]` is exactly the number of pairs with a non-zero difference on c.
"""

from __future__ import annotations

import numpy as np

from ..ir.columns import SAFE, absmax


def ranges(offsets: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The concatenated ranges [offsets[k], offsets[k + 1]) for each k in `keys`."""
    lo, hi = offsets[keys], offsets[keys + 1]
    n = hi - lo
    if not n.sum():
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n)
    return starts + np.arange(int(n.sum()), dtype=np.int64)


class PairStore:
    """Pairs (src unit id, ex column) sorted by example; `ex_off[x]:ex_off[x + 1]` are example x's pairs,
    `by_unit[unit_off[u]:unit_off[u + 1]]` unit u's pairs."""

    def __init__(self, src: np.ndarray, ex: np.ndarray, columns: int, units: int, coords: int):
        order = np.argsort(ex, kind="stable")
        self.src, self.ex = src[order], ex[order]
        self.n = len(self.src)
        self.ex_off = np.r_[0, np.cumsum(np.bincount(self.ex, minlength=columns))].astype(np.int64)
        self.by_unit = np.argsort(self.src, kind="stable")
        self.unit_off = np.r_[0, np.cumsum(np.bincount(self.src, minlength=units))].astype(np.int64)
        self.delta: list[np.ndarray | None] = [None] * coords
        self.count = np.zeros(coords, dtype=np.int64)
        self.lists: dict[tuple[int, int], list[np.ndarray]] = {}  # (coordinate, sign 0 / +1 / -1) -> stale-able parts
        self.sizes: dict[tuple[int, int], int] = {}  # each list's length, stale entries included
        self._stamp = np.zeros(self.n, dtype=np.int64)  # scratch for `distinct`: each row's last position

    def distinct(self, rows: np.ndarray) -> np.ndarray:
        """`rows` without repeats (the last of each), in linear time: a sort costs more at these sizes."""
        self._stamp[rows] = np.arange(len(rows))
        return rows[self._stamp[rows] == np.arange(len(rows))]

    def of_unit(self, uid: int) -> np.ndarray:
        return self.by_unit[self.unit_off[uid] : self.unit_off[uid + 1]]

    def of_examples(self, columns: np.ndarray) -> np.ndarray:
        return ranges(self.ex_off, columns)

    def gather_cost(self, columns: np.ndarray) -> int:
        return int((self.ex_off[columns + 1] - self.ex_off[columns]).sum())

    def listed(self, c: int, sign: int) -> np.ndarray:
        """Exactly the pairs whose difference on c is non-zero (sign 0) or has the given sign. A list is
        kept from its first query on, which scans the coordinate once: lists nobody reads cost nothing."""
        d = self.delta[c]
        if d is None:
            return np.zeros(0, dtype=np.int64)
        parts = self.lists[(c, sign)] if (c, sign) in self.lists else [np.arange(self.n)]
        rows = self.distinct(np.concatenate(parts)) if len(parts) > 1 else parts[0]
        v = d[rows]
        rows = rows[(v != 0) if sign == 0 else (v > 0) if sign > 0 else (v < 0)]
        self.lists[(c, sign)] = [rows]
        self.sizes[(c, sign)] = len(rows)
        return rows

    def listed_size(self, c: int) -> int:
        """What reading c's non-zero list costs: its length, stale entries included; for a list not yet
        kept, the pairs it will hold (its first reading scans the coordinate once; later ones are cheap)."""
        return self.sizes.get((c, 0), int(self.count[c]))

    def values(self, c: int, rows: np.ndarray) -> np.ndarray:
        d = self.delta[c]
        return np.zeros(len(rows), dtype=np.int64) if d is None else d[rows]

    def update(self, c: int, rows: np.ndarray, d: np.ndarray) -> None:
        """delta[c][rows] += d (rows distinct), widening the coordinate to Python ints where int64 could
        overflow, and keeping the count and candidate lists true."""
        cur = self.delta[c]
        if cur is None:
            cur = self.delta[c] = np.zeros(self.n, dtype=np.int64)
        if cur.dtype != object and (d.dtype == object or absmax(cur[rows]) + absmax(d) >= SAFE):
            cur = self.delta[c] = cur.astype(object)
        old = cur[rows]
        new = old + (d.astype(object) if cur.dtype == object else d)
        cur[rows] = new
        was, now = old != 0, new != 0
        self.count[c] += int(now.sum()) - int(was.sum())
        for sign in (0, 1, -1):
            if (c, sign) in self.lists:
                keep = (now & ~was) if sign == 0 else (new > 0) & ~(old > 0) if sign > 0 else (new < 0) & ~(old < 0)
                if keep.any():
                    self.lists[(c, sign)].append(rows[keep])
                    self.sizes[(c, sign)] += int(keep.sum())

    def retire(self, rows: np.ndarray) -> None:
        """Set every difference of `rows` to zero (their run has been finished elsewhere)."""
        for c, cur in enumerate(self.delta):
            if cur is not None and len(rows):
                self.count[c] -= int((cur[rows] != 0).sum())
                cur[rows] = 0

    def live(self, rows: np.ndarray, coords) -> np.ndarray:
        """Of `rows`, those with a non-zero difference on any of `coords`."""
        keep = np.zeros(len(rows), dtype=bool)
        for c in coords:
            if self.delta[c] is not None:
                keep |= self.delta[c][rows] != 0
        return rows[keep]
