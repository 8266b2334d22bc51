"""The bits objective's hashed memorizer: the retrieval table (peeling, deterministic retries), the built
model on any dataset, a changed table chunk caught by verification, and the executor's piecewise runs
against the plain path."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memcap
from memcap import data
from memcap.compiling import compile
from memcap.construct import f2 as f2_stage
from memcap.construct import retrieval
from memcap.construct.hashed import part_bounds, register_base
from memcap.construct.hashplan import Plan, table_modulus
from memcap.ir.executor import run
from memcap.ir.layers import Unit
from memcap.testing.strategies import id_datasets
from memcap.verification import verify


def _lookup(table: retrieval.Table, keys) -> np.ndarray:
    u = retrieval.as_uint64(retrieval.shifted(np.asarray(keys, dtype=object), table.shift))
    if not table.offset_group:  # written out here as the hash's definition, not through the module's own helper
        h = [retrieval.hash_slots(u, table.multipliers[i], table.w, table.segment) for i in range(3)]
    else:
        first = retrieval.hash_slots(u, table.multipliers[0], table.w, table.segment)
        G, n = table.offset_group, table.segment // table.offset_group
        h = [first] + [retrieval.hash_slots(u, table.multipliers[i], table.w, n) * G + first % G for i in (1, 2)]
    return sum(table.values[i][h[i]] for i in range(3)) % table.modulus


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 400), st.sampled_from([2, 3, 10, 1000]), st.sampled_from([1, 4, 24]), st.integers(0, 2**16),
       st.sampled_from([10**3, 2**40, 2**100]))
def test_the_table_returns_every_value(n, C, G, seed, top):
    rng = np.random.default_rng(seed)
    keys = np.unique(np.array([int(v) for v in rng.integers(0, 2**62, size=n)], dtype=object) % top)
    y = rng.integers(0, C, size=len(keys))
    table = retrieval.solve(keys, y, C, G, seed)
    assert table.segment % G == 0 and table.values.shape == (3, table.segment)
    assert (_lookup(table, keys) == y).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 400), st.sampled_from([2, 3, 10, 1000]), st.sampled_from([1, 4, 24]), st.integers(0, 2**16))
def test_a_shared_offset_table_returns_every_value(n, C, G, seed):
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, 2**40, size=n))
    y = rng.integers(0, C, size=len(keys))
    P = table_modulus(C, shared=True)
    table = retrieval.solve(keys, y, P, G, seed, shared=True)
    slots = table.slots(keys)
    assert (slots[:, 1:] % G == (slots[:, :1] % G)).all()  # the three slots share their offset in the group
    assert (_lookup(table, keys) == y).all()


def test_a_shared_offset_core_is_solved_by_elimination_not_drawn_again():
    keys = np.unique(np.random.default_rng(5).integers(0, 2**40, size=4000)).astype(np.uint64)
    y = np.arange(len(keys)) % 10
    S = retrieval.segment_size(len(keys), 16, retrieval.SHARED_LOAD)
    cores = [a for a in range(8) if len(retrieval.peel(retrieval.draw(keys, 40, S, 7, a, 0, 16)[2], 3 * S)[1])]
    assert cores, "some draw leaves a 2-core"
    table = retrieval.solve(keys, y, 11, 16, 7, shared=True)
    stuck = retrieval.peel(table.slots(keys), 3 * S)[1]
    assert len(stuck)  # the table kept a draw whose peeling stopped: its core was solved
    assert (_lookup(table, keys) == y).all()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.integers(3, 6), st.integers(0, 2**16), st.sampled_from([2, 3, 5]))
def test_elimination_solves_every_solvable_core_and_only_those(k, v, seed, P):
    rng = np.random.default_rng(seed)
    slots = np.stack([rng.choice(v, 3, replace=False) for _ in range(k)])
    y = rng.integers(0, P, size=k)
    got = retrieval.solve_core(slots, y, P)
    names = sorted(set(slots.ravel().tolist()))
    exists = any(all(sum(dict(zip(names, x, strict=True))[s] for s in row) % P == target
                     for row, target in zip(slots.tolist(), y.tolist(), strict=True))
                 for x in itertools.product(range(P), repeat=len(names)))
    assert (got is not None) == exists
    if got is not None:
        table = dict(zip(got[0].tolist(), got[1].tolist(), strict=True))
        assert all(sum(table[s] for s in row) % P == target for row, target in zip(slots.tolist(), y.tolist(), strict=True))


def test_two_keys_on_the_same_three_slots_with_different_values_are_unsolvable():
    slots = np.array([[0, 5, 9], [0, 5, 9], [1, 5, 10]])
    assert retrieval.solve_core(slots, np.array([1, 2, 3]), 11) is None
    cols, values = retrieval.solve_core(slots, np.array([4, 4, 3]), 11)
    table = dict(zip(cols.tolist(), values.tolist(), strict=True))
    assert all(sum(table[s] for s in row) % 11 == v for row, v in zip(slots.tolist(), [4, 4, 3], strict=True))


def _failing_first_draw(load: float) -> tuple[np.ndarray, int]:
    """Keys and a seed whose first draw leaves a 2-core (found by trying seeds in order: deterministic)."""
    keys = np.arange(0, 60 * 7919, 7919, dtype=np.int64)
    S = retrieval.segment_size(len(keys), 4, load)
    for seed in range(200):
        _, _, slots = retrieval.draw(keys.astype(np.uint64), int(keys.max()).bit_length(), S, seed, 0)
        if len(retrieval.peel(slots, 3 * S)[1]):
            return keys, seed
    raise AssertionError("no failing first draw found")


def test_a_peeling_failure_retries_deterministically():
    keys, seed = _failing_first_draw(1.0)
    y = np.arange(len(keys)) % 7
    first = retrieval.solve(keys, y, 7, 4, seed, load=1.0)
    again = retrieval.solve(keys, y, 7, 4, seed, load=1.0)
    assert first.attempt >= 1
    assert (first.attempt, first.multipliers, first.segment) == (again.attempt, again.multipliers, again.segment)
    assert np.array_equal(first.values, again.values)
    assert (_lookup(first, keys) == y).all()


def test_a_model_whose_table_needed_retries_verifies_and_is_the_same_twice(monkeypatch):
    monkeypatch.setattr(retrieval, "LOAD", 1.0)  # few slots: the first draws fail often
    monkeypatch.setattr(retrieval, "EXTRA_SLOTS", 0)
    ds = data.random_ids(150, 6, vocab=40, C=10, seed=3)
    model = compile(ds, objective="bits")
    assert model.group_plan.table.peel_attempts > 1
    assert verify(model, ds).ok
    assert model == compile(ds, objective="bits")


@settings(max_examples=12, deadline=None)
@given(id_datasets(max_N=40), st.sampled_from(["plain", "positions"]))
def test_any_id_dataset_verifies_and_the_fast_path_equals_the_plain_one(ds, variant):
    """(test_objective runs the bits objective on id datasets with sparse attention and the RNN, and on
    multisets; here positions, and every output of the fast executor against the plain path.)"""
    model = compile(ds, objective="bits", positions=variant == "positions")
    assert model.group_plan.stage2 == "hashed"
    res = verify(model, ds)
    assert res.ok, (variant, res.misses)
    read = memcap.ir.executor.read_positions(model)
    assert (run(model, ds.inputs, read=read).numerators == run(model, ds.inputs, read=read, fast=False).numerators).all()


def _built(ds, plan: Plan | None = None):
    """The model and its hashed memorizer (kept from the compile), of `plan` where given."""
    kept = {}
    make = f2_stage.memorize_hashed
    try:
        f2_stage.memorize_hashed = lambda *a, **k: kept.setdefault("f2", make(*a, **{**k, "plan": plan or k.get("plan")}))
        model = compile(ds, objective="bits")
    finally:
        f2_stage.memorize_hashed = make
    return model, kept["f2"]


def _with_digit(model, f2, segment: int, slot: int, value: int):
    """The model with table slot `slot` of `segment` set to `value`: its group's product unit rewritten."""
    G, C = f2.group, register_base(f2.table)
    offset = len(model.blocks) - len(f2.blocks)  # F2's first block is fused with the attention
    products = [(offset + k, u) for k, name in enumerate(f2.block_stage) if name == "groups"
                for u, unit in enumerate(model.blocks[offset + k].ffn.units) if unit.writes[-1] == (unit.reads[0][0], -1)]
    groups = f2.table.segment // G
    assert len(products) == 3 * groups
    order = (1, 2, 0) if f2.table.offset_group else (0, 1, 2)  # the segments in the order the blocks read them
    b, u = products[order.index(segment) * groups + slot // G]
    chunk = f2.table.values[segment][slot // G * G : slot // G * G + G].copy()
    chunk[slot % G] = value
    bounds = part_bounds(G, f2.parts)
    regs = [int(sum(int(v) * C ** (hi - 1 - i) for i, v in enumerate(chunk[lo:hi], start=lo)))
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    reg_coords = (model.coord("U"), model.coord("W"))
    unit = model.blocks[b].ffn.units[u]
    writes = (*((c, r) for c, r in zip(reg_coords, regs, strict=False) if r), unit.writes[-1])
    units = list(model.blocks[b].ffn.units)
    units[u] = Unit(reads=unit.reads, bias=unit.bias, writes=writes)
    blocks = list(model.blocks)
    blocks[b] = dataclasses.replace(blocks[b], ffn=dataclasses.replace(blocks[b].ffn, units=tuple(units)))
    return dataclasses.replace(model, blocks=tuple(blocks))


@pytest.mark.parametrize("shared", [False, True])
def test_a_flipped_bit_in_a_table_chunk_is_caught_and_an_unread_chunk_is_free(shared):
    ds = data.random_ids(400, 6, vocab=60, C=10, seed=2)
    model, f2 = _built(ds, Plan(8, 2, shared))
    assert verify(model, ds).ok and bool(f2.table.offset_group) == shared
    keys = np.array([int(v) for v in (np.asarray(f2_keys(model, ds), dtype=object))], dtype=object)
    slots = f2.table.slots(keys)
    used = [set((slots[:, i] - i * f2.table.segment).tolist()) for i in range(3)]
    rng = np.random.default_rng(0)
    for segment in range(3):
        read = sorted(used[segment])
        for slot in rng.choice(read, size=4, replace=False):
            v = int(f2.table.values[segment][slot])
            q = int(rng.integers(0, f2.digit_bits))
            flipped = v ^ (1 << q) if v ^ (1 << q) < f2.table.modulus else v ^ 1 if v ^ 1 < f2.table.modulus else v - 1
            assert not verify(_with_digit(model, f2, segment, int(slot), flipped), ds).ok
        free = sorted(set(range(f2.table.segment)) - used[segment])
        if free:  # no key reads it: the output on the data does not depend on it
            slot = free[0]
            other = (int(f2.table.values[segment][slot]) + 1) % f2.table.modulus
            assert verify(_with_digit(model, f2, segment, slot, other), ds).ok


def f2_keys(model, ds) -> list[int]:
    """Each distinct context's key t as the model computes it (the stream's t after F2's first block)."""
    seen = {}

    def hook(kind, i, stream, den, rows):
        if kind == "ffn" and i == model.stages["phi"] + 1:
            seen["t"] = memcap.ir.columns.dense(stream[model.coord("t")]) // den

    run(model, ds.inputs, read=memcap.ir.executor.read_positions(model), hook=hook)
    return sorted({int(v) for v in seen["t"]})


def test_causal_language_data_with_the_hashed_memorizer():
    lm = data.random_ids(150, 6, 10**6, 10, seed=4, setting="seq2seq")  # distinct prefixes
    model = compile(lm, objective="bits", causal=True)
    assert verify(model, lm).ok


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 120), st.sampled_from([1, 16]), st.booleans())
def test_piecewise_runs_equal_the_blocks_one_by_one(seed, n_units, den, big):
    """Units reading one coordinate each: a key x (written only by shifts) or slots that earlier units
    wrote from it, relus of relus, big writes to registers read by nobody: the piecewise evaluation gives
    the numerators of the plain per-block path, and the run ends where a unit reads a second input."""
    from memcap.ir import piecewise
    from memcap.ir.ffnstep import _add, run_ffn
    from memcap.ir.layers import FFN, Block

    rng = np.random.default_rng(seed)
    size = 200
    x = rng.integers(-40, 40, size=size) * den
    units = []
    for i in range(n_units):
        read = 0 if i == 0 else int(rng.choice([0, 1, 2]))  # the key, or one of two slots
        units.append(Unit(reads=((read, int(rng.choice([-3, -1, 1, 2]))),), bias=int(rng.integers(-30, 30)),
                          writes=((int(rng.choice([1, 2])), int(rng.integers(-3, 4))),
                                  (3, int(rng.integers(-9, 9)) << (100 if big else 0)))))
    blocks = [Block(ffn=FFN(units=tuple(units[i : i + 6]), shift=((0, int(rng.integers(-5, 5))), (1, 1))))
              for i in range(0, n_units, 6)]
    blocks.append(Block(ffn=FFN(units=(Unit(reads=((0, 1), (1, 1)), bias=0, writes=((3, 1),)),))))  # two reads: not in a run
    stream = [x.astype(np.int64), None, np.zeros(size, dtype=np.int64), rng.integers(0, 5, size=size)]
    plain = stream
    for b in blocks:
        plain = run_ffn(plain, b.ffn, den, size)
    monkey = piecewise.MIN_UNITS
    piecewise.MIN_UNITS = 1
    try:
        done = piecewise.run(stream, blocks, 0, den, size, _add)
    finally:
        piecewise.MIN_UNITS = monkey
    assert done is not None and done[1] <= len(blocks) - 1
    merged, end = done
    for b in blocks[end:]:
        merged = run_ffn(merged, b.ffn, den, size)
    for p, m in zip(plain, merged, strict=True):
        p, m = (np.zeros(size, dtype=object) if z is None else np.asarray(memcap.ir.columns.dense(z), dtype=object) for z in (p, m))
        assert (p == m).all()


@pytest.mark.parametrize("shared", [False, True])
def test_the_cost_model_counts_the_built_bits_to_within_a_tenth(shared):
    from memcap.construct.hashplan import estimate_bits

    ds = data.random_ids(3000, 16, vocab=1000, C=10, seed=0)
    model, f2 = _built(ds, Plan(16, 2, shared))
    est = estimate_bits(model.record.data.contexts, 10, f2.group, f2.parts, f2.key_bits, shared=shared)
    measured = f2.stage_bits()
    assert abs(sum(est.values()) - sum(measured.values())) < 0.1 * sum(measured.values()), (est, measured)
    assert sum(measured.values()) < memcap.ir.stats.model_stats(model).total_bits  # F2 is part of the model
    assert est["table"] >= measured["table"]  # slots that no key fixes hold 0: a top digit 0 costs nothing


@pytest.mark.parametrize("shared", [False, True])
def test_the_cost_model_counts_the_built_blocks_and_dense_parameters_exactly(shared, monkeypatch):
    from memcap.construct.hashplan import estimate_blocks, estimate_params

    monkeypatch.setattr(retrieval, "draw", _widest_multipliers(retrieval.draw))
    ds = data.random_ids(3000, 16, vocab=1000, C=10, seed=0)
    model, f2 = _built(ds, Plan(16, 2, shared))
    assert f2.table.attempt < (8 if shared else 4)  # the first segment size: the one the model counts
    args = (model.record.data.contexts, 10, f2.group, f2.parts, f2.key_bits)
    blocks, q = estimate_blocks(*args, shared=shared)
    st = memcap.ir.stats.model_stats(model)
    assert sum(blocks.values()) == len(f2.blocks) == st.depth
    assert q == max(len(b.units) for b in f2.blocks) == st.q
    for stage, count in blocks.items():  # each stage's block count, as built
        assert count == sum(1 for name in f2.block_stage if name in stage.split("+")), stage
    m = st.m
    dense = sum(estimate_params(*args, m=m, shared=shared).values())
    assert dense == st.depth * (4 * m + 2 * (m + 1) * st.q) == st.params - len(model.input.table) * m - m


def _widest_multipliers(draw):
    """`retrieval.draw` with each multiplier's top bit set: as wide as the cost model takes them."""
    def widest(keys, key_bits, S, seed, attempt, spare=0, offset_group=0):
        w, a, _ = draw(keys, key_bits, S, seed, attempt, spare, offset_group)
        top = 1 << (retrieval.multiplier_bits(w, key_bits, spare, S) - 1)
        a = tuple(int(v) | top for v in a)
        return w, a, retrieval.hash_all(keys, a, w, S, offset_group)
    return widest


def test_the_plan_keeps_dense_parameters_within_the_budget_where_it_can():
    from memcap.construct.hashplan import choose_plan, estimate_bits, estimate_params

    def params(p):
        return sum(estimate_params(10**6, 10, p.group, p.parts, 31, m=13, shared=p.shared).values())

    free = choose_plan(10**6, 10, 31, m=13)
    plan = choose_plan(10**6, 10, 31, m=13, max_params=10**6)
    assert params(plan) <= 10**6
    assert params(free) > 10**6  # the budget changed the plan
    assert sum(estimate_bits(10**6, 10, plan.group, plan.parts, 31, shared=plan.shared).values()) <= 2 * 10**6 * np.log2(10)
    assert choose_plan(10**4, 10, 24, m=13, max_params=10**4) == choose_plan(10**4, 10, 24)  # out of reach: fewest bits


def test_the_balanced_plan_has_the_least_product_of_bits_and_parameters():
    from memcap.construct.hashplan import GROUP_CANDIDATES, choose_plan, estimate_bits, estimate_params

    def cost(G, parts, shared):
        return (sum(estimate_bits(10**5, 10, G, parts, 34, shared=shared).values())
                * sum(estimate_params(10**5, 10, G, parts, 34, m=13, shared=shared).values()))

    best = choose_plan(10**5, 10, 34, m=13, fewest="balanced")
    assert cost(best.group, best.parts, best.shared) == min(cost(G, p, s) for G in GROUP_CANDIDATES for p in (1, 2) for s in (False, True))
    assert best.shared  # one readout of the summed registers: the fewer parameters
