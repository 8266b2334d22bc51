from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from memcap.construct.grouping import Group, choose_for_depth
from memcap.construct.memorizer import Scratch, build_blocks
from memcap.ir import fileformat
from memcap.ir.executor import run
from memcap.ir.layers import Block, ExactModel
from memcap.ir.stats import model_stats
from memcap.point_memorizer import DataError, memorize
from memcap.testing.strategies import point_sets


def data(N, d, C, extra, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((N + extra, d))
    y = np.concatenate([rng.integers(0, C, N), -np.ones(extra, dtype=np.int64)])
    return x, y


def assert_memorizes(model, x, y):
    out = run(model, x)
    assert out.equals(y).all(), np.flatnonzero(~out.equals(y).ravel())[:10]


@pytest.mark.parametrize("N", [1, 2, 3, 10, 100, 1000])
@pytest.mark.parametrize("d", [1, 3, 16])
@pytest.mark.parametrize("C", [2, 10, 1000])
def test_memorizes_labelled_and_extra_points(N, d, C):
    x, y = data(N, d, C, extra=min(10 * N, 2000), seed=N * 7 + d)
    model = memorize(x, y)
    assert_memorizes(model, x, y)
    assert model_stats(model).width <= 12


@pytest.mark.slow
def test_memorizes_ten_thousand_points():
    x, y = data(10_000, 16, 10, extra=0)
    assert_memorizes(memorize(x, y), x, y)


def test_tight_is_no_deeper_and_no_wider_in_bits_than_paper():
    for seed, (N, d, C) in enumerate([(50, 3, 10), (500, 16, 2), (300, 1, 1000)]):
        x, y = data(N, d, C, extra=N, seed=seed)
        tight, paper = model_stats(memorize(x, y)), model_stats(memorize(x, y, mode="paper"))
        assert tight.depth <= paper.depth and tight.max_bits <= paper.max_bits
        assert_memorizes(memorize(x, y, mode="paper"), x, y)


@pytest.mark.parametrize("B", [16, 32, 48])
def test_bit_budget_bounds_every_weight(B):
    rng = np.random.default_rng(B)
    x = rng.integers(0, 300, size=(400, 1 if B == 16 else 2)).astype(float)
    x = np.unique(x, axis=0)
    y = rng.integers(0, 10, len(x))
    model = memorize(x, y, bit_budget=B)
    st = model_stats(model)
    assert st.max_bits <= B + 3, st.max_bits
    assert st.width <= 13
    assert_memorizes(model, x, y)


def test_bit_budget_too_small_names_the_closest_pair():
    x = np.array([[0.0], [1e-6], [5.0]])
    with pytest.raises(DataError, match="keep rows 0 and 1"):
        memorize(x, np.array([0, 1, 0]), bit_budget=8)


def _model_from_plan(plan, form_model):
    c = {n: i for i, n in enumerate(form_model.coords)}
    scratch = Scratch(**{n: c[n] for n in form_model.coords if n != "x"})
    ffns = build_blocks(((c["x"], 1),), plan, scratch, -1, form_model.record.plan.snap)
    return ExactModel(coords=form_model.coords, input=form_model.input, blocks=tuple(Block(ffn=f) for f in ffns),
                      output=form_model.output, setting="points")


def test_changing_any_chunk_of_any_crafted_integer_breaks_verification():
    from memcap.construct.projection import project
    from memcap.ir.numbers import exact_dyadic

    x, y = data(60, 3, 10, extra=0, seed=3)
    model = memorize(x, y)
    num, den = exact_dyadic(x)
    proj = project(num, den, seed=0, directions=4)
    fl = [int(v) for v in proj.floors()[proj.order]]
    stored = [int(y[i]) + 1 for i in proj.order]
    summary = model.group_plan
    k, ab, lb = summary.k, summary.addr_bits, summary.label_bits
    plan = choose_for_depth(fl, stored, lb, digit=2)
    assert (plan.k, plan.addr_bits, plan.label_bits, len(plan.groups)) == (k, ab, lb, summary.groups)
    assert_memorizes(_model_from_plan(plan, model), x, y)  # the rebuilt plan is the model's plan
    checked = 0
    for gi, g in enumerate(plan.groups):
        size = sum(1 for f in fl if g.lo <= f < g.hi)  # a short group's padding chunks address no point
        for chunk in range(k):
            for field, width, value in (("addresses", ab, g.addresses), ("labels", lb, g.labels)):
                if field == "addresses" and (chunk == 0 or width == 0 or chunk >= size):
                    continue
                shift = width * (k - 1 - chunk)
                part = (value >> shift) & ((1 << width) - 1)
                # an address moved by 1 can still open the gate, whose window is [-1/4, 5/4] around the
                # point's floor (points are 2 apart); by 2 it points at no point of the data
                step = 2 if field == "addresses" else 1
                new_part = part + step if part + step < (1 << width) else part - step
                if new_part < 0:
                    continue
                tampered = value - (part << shift) + (new_part << shift)
                groups = list(plan.groups)
                groups[gi] = Group(**{**g.__dict__, field: tampered})
                bad = _model_from_plan(replace(plan, groups=tuple(groups)), model)
                assert not run(bad, x).equals(y).all(), (gi, chunk, field)
                checked += 1
    assert checked >= len(fl)


def test_same_seed_same_bytes_and_exact_round_trip(tmp_path):
    x, y = data(200, 4, 10, extra=50)
    a, b = fileformat.save(memorize(x, y, seed=5), tmp_path / "a"), fileformat.save(memorize(x, y, seed=5), tmp_path / "b")
    for f in ("model.json", "weights.safetensors"):
        assert (a / f).read_bytes() == (b / f).read_bytes()
    loaded = fileformat.load(a)
    assert loaded == memorize(x, y, seed=5)
    assert_memorizes(loaded, x, y)


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.array([[0.0], [np.nan]]), np.array([0, 1]), "NaN or inf at rows 1"),
        (np.zeros((3, 2)), np.array([0, 1]), "labels must have shape"),
        (np.array([[1.0], [1.0], [2.0]]), np.array([0, 1, 0]), "rows 0 and 1 are the same point"),
        (np.zeros((0, 2)), np.zeros(0), "no points"),
        (np.array([[0.0], [1.0]]), np.array([0, -2]), "labels below -1 at rows 1"),
        (np.array([[0.0], [1.0]]), np.array([-1, -1]), "no labelled point"),
    ],
)
def test_bad_input_gets_a_clear_error(x, y, match):
    with pytest.raises(DataError, match=match):
        memorize(x, y)


@settings(max_examples=40)
@given(point_sets())
def test_any_valid_point_set_is_memorized(ps):
    x, y = ps
    assert_memorizes(memorize(x, y), x, y)


@given(hst.lists(hst.integers(-(1 << 70), 1 << 70), min_size=1, max_size=40),
       hst.lists(hst.tuples(hst.integers(-(1 << 66), 1 << 66), hst.integers(-(1 << 66), 1 << 66)), min_size=1, max_size=6))
@settings(max_examples=200)
def test_ffn_step_is_exact_across_the_int64_boundary(values, units):
    """The executor keeps small coordinates in int64 and big ones in Python ints; whatever mix, one FFN
    step equals the same step done in Python ints."""
    from memcap.ir.columns import fit as _fit
    from memcap.ir.ffnstep import run_ffn
    from memcap.ir.layers import FFN, Unit

    x = np.array(values, dtype=object)
    small = np.array([v % 1000 for v in values], dtype=object)
    stream = [_fit(x.copy()), _fit(small.copy()), None]
    ffn = FFN(tuple(Unit(((0, w), (1, 3)), b, ((2, w), (1, -1))) for w, b in units), shift=((0, 1 << 63),))
    got = run_ffn(stream, ffn, 1, len(values))
    for i, v in enumerate(values):
        s = values[i] % 1000
        hs = [max(w * v + 3 * s + b, 0) for w, b in units]
        assert got[0][i] == v + (1 << 63)
        assert got[1][i] == s - sum(hs)
        assert got[2][i] == sum(w * h for (w, _), h in zip(units, hs, strict=True))


@settings(max_examples=100, deadline=None)
@given(hst.lists(hst.integers(2, 1 << 40), min_size=1, max_size=300), hst.integers(1, 12))
def test_depth_plan_keeps_every_gap_inside_a_group_within_its_field(gaps, label_bits):
    """Groups of at most k points, every gap inside a group fits addr_bits, the points in order, and the
    chosen plan is no deeper than groups of exactly k with a field as wide as the widest gap."""
    from memcap.construct.grouping import stage_depth

    floors = np.cumsum([0, *gaps]).tolist()
    stored = [1] * len(floors)
    plan = choose_for_depth(floors, stored, label_bits, digit=2)
    seen = []
    for g in plan.groups:
        inside = [f for f in floors if g.lo <= f < g.hi]
        assert 1 <= len(inside) <= plan.k
        assert all((b - a).bit_length() <= plan.addr_bits for a, b in zip(inside, inside[1:], strict=False))
        seen += inside
    assert seen == floors
    widest = max(((b - a).bit_length() for a, b in zip(floors, floors[1:], strict=False)), default=0)
    mine = stage_depth(len(plan.groups), plan.k, plan.addr_bits, label_bits, "telescoped", 2)
    for k in {1, 2, 3, min(len(floors), 8)}:  # groups of exactly k with the widest gap's field are candidates
        assert mine <= stage_depth(-(-len(floors) // k), k, widest if k > 1 else 0, label_bits, "telescoped", 2)
