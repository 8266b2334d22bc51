"""Capacity search on a sorted list of candidates: gallop from the first, then bisect.

Pure: `next_step` looks only at the outcomes decided so far, so every worker, and every resumed run, asks
for the same tests in the same order and reaches the same answer. Memorization is assumed monotone in the
candidate (more blocks help, more examples hurt); the trained outcome is noisy, and the answer is the
boundary this search finds, not a proof that no smaller model memorizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    done: bool
    test: int | None = None  # the candidate to train next (when not done)
    answer: int | None = None  # when done: smallest candidate that memorizes ("min"), largest ("max"); None: none


def gallop_indices(length: int) -> list[int]:
    out, i = [], 0
    while i < length - 1:
        out.append(i)
        i = 2 * i + 1
    return out + [length - 1]


def next_step(candidates: Sequence[int], outcomes: Mapping[int, bool], direction: str = "min") -> Step:
    """direction "min": smallest candidate that memorizes (outcome True from some point on);
    "max": largest candidate that memorizes (outcome True up to some point)."""
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    # search for the first index whose outcome is `flip`: True for "min", False for "max"
    flip = direction == "min"
    lo, hi = -1, None  # lo: last index known not flipped, hi: first index known flipped
    for i in gallop_indices(len(candidates)):
        v = candidates[i]
        if v not in outcomes:
            return Step(False, test=v)
        if outcomes[v] == flip:
            hi = i
            break
        lo = i
    if hi is None:  # never flipped
        return Step(True, answer=None if flip else candidates[-1])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        v = candidates[mid]
        if v not in outcomes:
            return Step(False, test=v)
        if outcomes[v] == flip:
            hi = mid
        else:
            lo = mid
    if flip:
        return Step(True, answer=candidates[hi])
    return Step(True, answer=candidates[lo] if lo >= 0 else None)
