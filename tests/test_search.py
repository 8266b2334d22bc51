"""Capacity search: gallop then bisect finds the boundary of any monotone outcome."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hst

from memcap.train.search import next_step


def run_search(cands, boundary, direction):
    """Drive next_step against a monotone truth; return (answer, tests)."""
    truth = (lambda v: v >= boundary) if direction == "min" else (lambda v: v <= boundary)
    outcomes, tests = {}, 0
    while True:
        step = next_step(cands, outcomes, direction)
        if step.done:
            return step.answer, tests
        assert step.test not in outcomes, "a candidate was asked twice"
        outcomes[step.test] = truth(step.test)
        tests += 1


@given(hst.integers(1, 200), hst.integers(-5, 210), hst.sampled_from(["min", "max"]))
@settings(max_examples=300)
def test_search_finds_the_boundary_of_any_monotone_outcome(length, boundary, direction):
    cands = list(range(1, length + 1))
    answer, tests = run_search(cands, boundary, direction)
    if direction == "min":
        expect = next((v for v in cands if v >= boundary), None)
    else:
        expect = max((v for v in cands if v <= boundary), default=None)
    assert answer == expect
    assert tests <= 2 * np.log2(length) + 3  # galloping + bisection, not a full grid


def test_search_gallops_then_bisects():
    asked = []
    outcomes = {}
    while not (s := next_step(list(range(1, 33)), outcomes)).done:
        asked.append(s.test)
        outcomes[s.test] = s.test >= 5
    assert asked == [1, 2, 4, 8, 6, 5] and s.answer == 5
