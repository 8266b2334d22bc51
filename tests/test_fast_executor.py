"""The executor's fast path (dictionary-encoded big integers, regrouped and in-place sparse writes) against
the plain reference path: the same numerators on every model kind, and a changed weight is still caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memcap
from memcap.ir.executor import Coded, encode, run
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


@pytest.mark.parametrize("opts", [{}, {"arch": "rnn"}, {"bit_budget": 48}, {"mode": "paper"}])
def test_fast_equals_reference_at_scale_and_catches_a_changed_weight(opts):
    ds = memcap.Dataset.random_ids(3000, 16, 1000, 10, seed=2)
    model = memcap.compile(ds, **opts)
    out = _same(model, ds.inputs, "last")
    assert out.equals(ds.labels).all()
    # change the crafted integer of one group (a Stage II write of U): its examples, and only exact
    # arithmetic on them, must now miss
    blocks = list(model.blocks)
    U = model.coord("U")
    i, u = next((i, u) for i, b in enumerate(blocks) for u, unit in enumerate(b.ffn.units)
                if any(c == U and abs(w) > 1 << 40 for c, w in unit.writes))
    unit = blocks[i].ffn.units[u]
    changed = dataclasses.replace(unit, writes=tuple((c, w + (1 if c == U else 0)) for c, w in unit.writes))
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
