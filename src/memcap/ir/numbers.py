"""Exact numbers: float64 data as dyadic integers over one power-of-two denominator."""

from __future__ import annotations

import numpy as np


def exact_dyadic(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Write every float of `x` exactly as num / den with one common den = 2**e (e >= 0).

    A float64 is m * 2**k with an integer 53-bit m, so the smallest k over the array fixes the shared
    denominator. Returns an object array of Python ints of x's shape.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot write NaN or inf as an exact number")
    mant, expo = np.frexp(x)
    m53 = (mant * 2.0**53).astype(np.int64)
    k = expo.astype(np.int64) - 53
    nz = m53 != 0
    if not nz.any():
        return np.zeros(x.shape, dtype=object), 1
    # strip trailing zero bits of the mantissas so that the shared denominator is no larger than needed
    tz = np.zeros_like(m53)
    mm = np.where(nz, np.abs(m53), 1)
    while True:
        even = (mm & 1) == 0
        if not even.any():
            break
        mm = np.where(even, mm >> 1, mm)
        tz += even
    m53 = np.where(nz, np.sign(m53) * mm, 0)
    k = k + tz
    e = max(0, int(-k[nz].min()))
    shifts = np.where(nz, k + e, 0)
    flat = [int(m) << int(s) for m, s in zip(m53.ravel(), shifts.ravel(), strict=True)]
    return np.array(flat, dtype=object).reshape(x.shape), 1 << e

