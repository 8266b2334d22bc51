"""The executor's fast path (dictionary-encoded big integers, regrouped and in-place sparse writes) against
the plain reference path: the same numerators on every model kind, and a changed weight is still caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memcap
from memcap.ir.columns import Coded, encode
from memcap.ir.executor import run
from memcap.testing.strategies import id_datasets, multiset_datasets


def _same(model, inputs, read):
    fast, plain = run(model, inputs, read=read), run(model, inputs, read=read, fast=False)
    assert fast.den == plain.den and (fast.numerators == plain.numerators).all()
    return fast


@settings(max_examples=30)
@given(id_datasets(max_N=120), st.sampled_from([None, 48]), st.sampled_from(["plain", "positions", "sparse"]))
def test_fast_equals_reference_on_id_models(ds, budget, variant):
    opts = {"positions": {"positions": True}, "sparse": {"attention": "sparse"}}.get(variant, {})
    model = memcap.compile(ds, bit_budget=budget, **opts)
    _same(model, ds.inputs, "all" if ds.setting == "seq2seq" else "last")


@settings(max_examples=10)
@given(multiset_datasets(max_N=120))
def test_fast_equals_reference_on_deep_sets(ds):
    _same(memcap.compile(ds, arch="deep-sets"), ds.inputs, "last")


@pytest.mark.parametrize("opts", [{}, {"arch": "rnn"}, {"bit_budget": 48}, {"mode": "paper"}, {"objective": "bits"}])
def test_fast_equals_reference_at_scale_and_catches_a_changed_weight(opts):
    ds = memcap.Dataset.random_ids(3000, 16, 1000, 10, seed=2)
    model = memcap.compile(ds, **opts)
    out = _same(model, ds.inputs, "last")
    assert out.equals(ds.labels).all()
    # change the crafted labels of one group (a Stage II write of W, its largest): its examples, and
    # only exact arithmetic on them, must now miss
    blocks = list(model.blocks)
    W = model.coord("W")
    _, i, u = max((abs(w), i, u) for i, b in enumerate(blocks) for u, unit in enumerate(b.ffn.units)
                  for c, w in unit.writes if c == W and not any(r == W for r, _ in unit.reads))
    unit = blocks[i].ffn.units[u]
    changed = dataclasses.replace(unit, writes=tuple((c, w + (1 if c == W else 0)) for c, w in unit.writes))
    units = list(blocks[i].ffn.units)
    units[u] = changed
    blocks[i] = dataclasses.replace(blocks[i], ffn=dataclasses.replace(blocks[i].ffn, units=tuple(units)))
    broken = dataclasses.replace(model, blocks=tuple(blocks))
    bad = _same(broken, ds.inputs, "last")
    assert not bad.equals(ds.labels).all()


def test_vectors_seq2seq_and_causal_agree():
    vec = memcap.Dataset.random_vectors(400, 6, 3, 10, seed=3, setting="seq2seq")
    _same(memcap.compile(vec), vec.inputs, "all")
    lm = memcap.Dataset.random_ids(300, 6, 10**6, 10, seed=4, setting="seq2seq")  # distinct prefixes
    _same(memcap.compile(lm, causal=True), lm.inputs, "all")


def test_encode_keeps_values_and_refuses_many_distinct():
    z = np.array([2**200, 5, 2**200, 5] * 40, dtype=object)
    c = encode(z)
    assert isinstance(c, Coded) and len(c.values) == 2 and (c.dense() == z).all()
    assert not isinstance(encode(np.array([2**100 + i for i in range(100)], dtype=object)), Coded)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 80), st.sampled_from([1, 7, 1 << 20]), st.booleans())
def test_ramps_equal_the_units_one_by_one(seed, n_units, den, big):
    """Any units reading one coordinate (weights of both signs, zero biases, big writes) evaluated through
    their breakpoints give the numerators of the plain per-unit path, block after block."""
    from memcap.ir import ramps
    from memcap.ir.ffnstep import _add, run_ffn
    from memcap.ir.layers import FFN, Block, Unit

    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, size=300) * den // 3 + rng.integers(-2, 3, size=300)
    units = [Unit(reads=((0, int(rng.choice([-5, -1, 1, 3, 4])),),), bias=int(rng.integers(-60, 60)),
                  writes=((1, int(rng.integers(-9, 9)) << (200 if big else 0)), (2, int(rng.integers(1, 5)))))
             for _ in range(n_units)]
    blocks = [Block(ffn=FFN(units=tuple(units[i : i + 12]), shift=((2, 3),))) for i in range(0, n_units, 12)]
    stream = [x.astype(np.int64), None, np.ones(300, dtype=np.int64)]
    plain = stream
    for b in blocks:
        plain = run_ffn(plain, b.ffn, den, 300)
    merged = ramps.run_ramps(stream, blocks, den, 300, _add)
    for p, m in zip(plain, merged, strict=True):
        p, m = (np.zeros(300, dtype=object) if z is None else np.asarray(memcap.ir.columns.dense(z), dtype=object) for z in (p, m))
        assert (p == m).all()


def test_a_run_stops_where_a_unit_reads_what_the_run_writes():
    from memcap.ir import ramps
    from memcap.ir.layers import FFN, Block, Unit

    ramp = FFN(units=tuple(Unit(reads=((0, 4),), bias=-i, writes=((1, 1),)) for i in range(40)))
    reader = FFN(units=tuple(Unit(reads=((1, 1),), bias=-i, writes=((2, 1),)) for i in range(40)))
    blocks = [Block(ffn=ramp), Block(ffn=ramp), Block(ffn=reader), Block(ffn=ramp)]
    # the reader starts a run of its own, which ends where the next block writes what it reads
    assert ramps.runs(blocks, 0) == {0: 2, 2: 3, 3: 4}
    assert ramps.runs([Block(ffn=FFN(units=ramp.units[:5]))], 0) == {}  # too few units to be worth it
