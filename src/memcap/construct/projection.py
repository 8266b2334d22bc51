"""Stage I of the memorizer (docs/construction.md#the-memorizer): project distinct points onto a line, at least 2 apart.

Invariant of the result: t(x) = direction . x is computed exactly (integer direction, dyadic points), and
the realised gaps between consecutive sorted values are checked exactly by sorting: every pair of distinct
points lands >= 2 apart. The direction is a random unit vector rounded to the fewest bits that achieve
that, so the scale comes from the data's measured gap, not from a worst-case constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..vocab import Mode

MAX_DIRECTION_BITS = 4096
AXIS_CANDIDATES_UP_TO = 4  # dimensions up to which the coordinate axes are tried as directions too


@dataclass(frozen=True)
class PointStats:
    r: float  # max norm
    delta: float  # min distance between distinct points


def separation(x: np.ndarray) -> PointStats:
    """(r, delta) of docs/construction.md#data by nearest-neighbour search (a k-d tree), not all pairs."""
    from scipy.spatial import cKDTree

    r = float(np.linalg.norm(x, axis=1).max()) if len(x) else 0.0
    if len(x) < 2:
        return PointStats(r, math.inf)
    dist, _ = cKDTree(x).query(x, k=2)
    return PointStats(r, float(dist[:, 1].min()))


def paper_range(v: int, r: float, delta: float, d: int) -> float:
    """The worst-case projected range R = 20 r V^2 / delta * sqrt(pi d) of docs/construction.md#the-memorizer (r >= 1, delta <= 1)."""
    r, delta = max(r, 1.0), min(delta, 1.0)
    return 20 * r * v * v / delta * math.sqrt(math.pi * max(d, 1))


class ProjectionError(ValueError):
    """The points cannot be separated on a line (they are not distinct)."""


@dataclass(frozen=True)
class Projection:
    direction: tuple[int, ...]  # integer weights a: t = a . x
    values: np.ndarray  # object array of exact t numerators over `den`
    den: int
    order: np.ndarray  # indices sorting the values ascending
    min_gap: Fraction  # smallest gap between consecutive values (>= 2)
    closest: tuple[int, int]  # the pair of points that realise min_gap

    @property
    def span(self) -> Fraction:
        return Fraction(int(self.values[self.order[-1]] - self.values[self.order[0]]), self.den)

    def floors(self) -> np.ndarray:
        """floor(t) of every point, exactly (object ints)."""
        return self.values // self.den


def _evaluate(num: np.ndarray, den: int, a: list[int]) -> tuple[np.ndarray, np.ndarray, int, int]:
    t = num.dot(np.array(a, dtype=object)) if num.shape[1] else np.zeros(num.shape[0], dtype=object)
    order = np.argsort(t, kind="stable")
    if len(t) < 2:
        return t, order, 2 * den, 0
    gaps = t[order[1:]] - t[order[:-1]]
    i = int(np.argmin(gaps))
    return t, order, int(gaps[i]), i


def _float_gap(num: np.ndarray, den: int, v: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        try:
            xf = num.astype(np.float64) / float(den)
        except OverflowError:
            return 0.0
        tf = np.sort(xf @ v)
        gaps = np.diff(tf)
    gaps = gaps[np.isfinite(gaps) & (gaps > 0)]
    return float(gaps.min()) if gaps.size else 0.0


def project(num: np.ndarray, den: int, seed: int, directions: int = 1, gap: int = 2) -> Projection:
    """Project points num/den ([V, d] object ints) to a line with every gap >= `gap`.

    Tries `directions` random directions, and the coordinate axes of low-dimensional points (an axis on
    which the points are already distinct, such as F2's window ids, spreads them no wider than needed), and
    keeps the one with the smallest span (fewest bits later).
    """
    num = np.asarray(num, dtype=object)
    if num.ndim != 2 or num.shape[0] == 0:
        raise ProjectionError("need a non-empty [V, d] array of points")
    rng = np.random.default_rng(seed)
    best: Projection | None = None
    d = num.shape[1]
    axes = [np.eye(d)[j] for j in range(d)] if directions > 1 and 1 < d <= AXIS_CANDIDATES_UP_TO else []
    if num.shape[0] > 100_000:  # each extra random direction costs a full exact pass; at this size one will do
        directions = 1
    candidates = [rng.standard_normal(d) if d else np.zeros(0) for _ in range(directions)] + axes
    for v in candidates:
        norm = float(np.linalg.norm(v)) or 1.0
        v = v / norm
        vq = [Fraction(float(c)) for c in v]
        g = _float_gap(num, den, v)
        p = max(0, math.ceil(math.log2(gap / g)) if g > 0 else 0)
        found = None
        while p <= MAX_DIRECTION_BITS:
            a = [round(c * (1 << p)) for c in vq]
            t, order, g_num, i = _evaluate(num, den, a)
            if g_num >= gap * den:
                found = Projection(tuple(a), t, den, order, Fraction(g_num, den),
                                   (int(order[i]), int(order[i + 1])) if len(t) > 1 else (0, 0))
                break
            p = p + 1 if g_num > 0 else max(2 * p, p + 8)
        if found is None:
            continue
        if best is None or found.span < best.span:
            best = found
    if best is None:
        raise ProjectionError("two points coincide: no direction separates them; deduplicate the points first")
    return best


def project_for(num: np.ndarray, den: int, seed: int, mode: Mode | str) -> Projection:
    """Stage I as every memorizer in the house chooses it: the paper's one random direction in paper mode,
    the narrowest of four (and the low-dimensional axes) otherwise. Written once so that F1, F2, the point
    memorizer and the export project alike."""
    return project(num, den, seed=seed, directions=1 if mode == Mode.paper else 4)
