"""The float64 check measured inside the exact verification (slices, forked workers) gives the same
verdict as the check run on its own over the whole dataset; `verify --torch` uses it instead of a second
exact pass."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memcap
from memcap.errors import DataError
from memcap.ir.executor import read_positions
from memcap.ir.float64 import float64_check
from memcap.testing.strategies import id_datasets
from memcap.verification import verify


def _same(whole, sliced):
    assert sliced.exact == whole.exact and sliced.examples == whole.examples
    if whole.exact:  # a refusal stops watching where it is met, so its bound may differ between slicings
        assert sliced == whole


@settings(max_examples=25)
@given(ds=id_datasets(), budget=st.sampled_from([None, 48]), positions=st.booleans(), batch=st.integers(1, 7))
def test_sliced_check_equals_the_whole_one(ds, budget, positions, batch):
    try:
        model = memcap.compile(ds, bit_budget=budget, positions=positions)
    except DataError:
        return
    res = verify(model, ds, batch=batch, workers=1, float_check=True)
    assert res.ok
    _same(float64_check(model, ds.inputs, read_positions(model)), res.float64)


@pytest.mark.parametrize("budget", [None, 48])
def test_forked_check_equals_the_whole_one(budget):
    ds = memcap.Dataset.random_ids(N=2400, n=5, vocab=60, C=10, seed=3)
    model = memcap.compile(ds, bit_budget=budget)
    res = verify(model, ds, batch=700, workers=2, float_check=True)
    _same(float64_check(model, ds.inputs, read_positions(model)), res.float64)
    assert verify(model, ds).float64 is None  # not asked for: not measured


def test_a_refusal_met_in_one_slice_refuses_the_whole():
    ds = memcap.Dataset.random_ids(N=1000, n=5, vocab=50, C=10, seed=0)  # weights fit, activations round
    model = memcap.compile(ds)
    res = verify(model, ds, batch=300, workers=1, float_check=True)
    assert not res.float64.exact and "rounds" in res.float64.reason
    _same(float64_check(model, ds.inputs, read_positions(model)), res.float64)
