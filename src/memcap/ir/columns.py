"""Stream columns of the exact executor: int64 arrays where a bound proves they fit, object arrays of
Python ints where they might not, and `Coded` columns (a code per column and the distinct values) for big
integers that repeat across examples. Invariant: every representation holds the exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Coded:
    """A dictionary-encoded stream coordinate: column j holds values[codes[j]] (values: Python ints)."""

    codes: np.ndarray  # int64 [columns]
    values: np.ndarray  # object [distinct]

    def dense(self) -> np.ndarray:
        return fit(self.values)[self.codes]


def take(z, idx: np.ndarray):
    """Columns idx of a coordinate, Coded ones staying Coded; None stays None."""
    if z is None:
        return None
    return Coded(z.codes[idx], z.values) if isinstance(z, Coded) else z[idx]


def dense(z):
    """A coordinate as a plain array (decoding a Coded one); None stays None."""
    return z.dense() if isinstance(z, Coded) else z


def encode(z: np.ndarray) -> np.ndarray | Coded:
    """An object column as Coded when it has at most half as many distinct values as columns."""
    index: dict = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in z), dtype=np.int64, count=len(z))
    if len(index) * 2 > len(z):
        return z
    return Coded(codes, np.array(list(index), dtype=object))


def coded_add(a: Coded, b: Coded) -> np.ndarray | Coded:
    if a.codes is b.codes:
        return Coded(a.codes, a.values + b.values)
    kb = len(b.values)
    u, inv = np.unique(a.codes * kb + b.codes, return_inverse=True)
    if len(u) * 2 > len(a.codes):
        return a.dense().astype(object) + b.dense().astype(object)
    return Coded(inv.reshape(-1), a.values[u // kb] + b.values[u % kb])


# Coordinates whose values fit are held as int64 arrays, the rest as object arrays of Python ints; every
# int64 operation is first bounded with Python ints and done in objects when the bound reaches 2^62, so
# the int64 path never overflows. Only the bit-extraction registers stay big; the rest runs at numpy speed.
SAFE = 1 << 62


def absmax(a: np.ndarray | Coded | None) -> int:
    """Largest |value| of a stream coordinate (0 for one held as None, or empty)."""
    if isinstance(a, Coded):
        return absmax(a.values)
    if a is None or not a.size:
        return 0
    return max(abs(int(a.max())), abs(int(a.min())))


def columns(stream: list) -> int:
    """How many columns (tokens or positions) a stream holds; 0 when every coordinate is still zero."""
    return next((len(z) for z in stream if z is not None), 0)


def fit(a: np.ndarray) -> np.ndarray:
    """An object array whose values fit, as int64."""
    return a.astype(np.int64) if a.dtype == object and absmax(a) < SAFE else a


