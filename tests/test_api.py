"""The Python API a researcher reaches for: `memcap.predict`, the `Dataset` constructor, a model's size at
a glance, and errors that name Python arguments (the CLI names its flags)."""

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

import memcap
from memcap.cli import app
from memcap.cli.wording import as_flags
from memcap.errors import DataError

runner = CliRunner()


def test_predict_is_exported_and_takes_lists_or_arrays():
    ds = memcap.Dataset.random_ids(N=40, n=4, vocab=20, C=5, seed=3)
    model = memcap.compile(ds)
    from_array = memcap.predict(model, ds.tokens)
    from_list = memcap.predict(model, ds.tokens.tolist())
    assert from_array.dtype == np.int64 and from_array.tolist() == ds.labels.tolist()
    assert from_list.tolist() == ds.labels.tolist()
    unseen = ds.tokens[:3].copy()
    unseen[:, 0] = 10**6  # an id the model never saw: no label
    assert memcap.predict(model, unseen).tolist() == [-1, -1, -1]


@pytest.mark.parametrize("inputs", [[[1, 2, 3]], [[1, 2, 3, 4, 5]], [1, 2, 3, 4], [[[1, 2, 3, 4]]]])
def test_predict_refuses_a_length_the_model_was_not_built_for(inputs):
    model = memcap.compile(memcap.Dataset.random_ids(N=20, n=4, vocab=9, C=3))
    with pytest.raises(ValueError, match=r"shape \[N, 4\]"):
        memcap.predict(model, inputs)


def test_predict_of_points_and_vectors_checks_their_shapes():
    rng = np.random.default_rng(0)
    points = rng.random((30, 3))
    relu = memcap.memorize(points, np.arange(30) % 4)
    assert memcap.predict(relu, points.tolist()).tolist() == (np.arange(30) % 4).tolist()
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        memcap.predict(relu, points[:, :2])
    vec = memcap.Dataset.random_vectors(N=20, n=3, d=2, C=3)
    model = memcap.compile(vec)
    assert memcap.predict(model, vec.vectors).tolist() == vec.labels.tolist()
    with pytest.raises(ValueError, match=r"\[N, 3, 2\]"):
        memcap.predict(model, vec.vectors[:, :, :1])


def test_dataset_constructor_validates_and_converts_like_from_arrays():
    ds = memcap.Dataset(tokens=[[1, 2, 3], [3, 2, 1], [5, 5, 5]], labels=[0, 1, 2])
    ref = memcap.Dataset.from_arrays([0, 1, 2], tokens=[[1, 2, 3], [3, 2, 1], [5, 5, 5]])
    assert isinstance(ds.tokens, np.ndarray) and ds.tokens.dtype == np.int64 and ds.labels.dtype == np.int64
    assert ds.tokens.tolist() == ref.tokens.tolist() and ds.labels.tolist() == ref.labels.tolist()
    assert memcap.verify(memcap.compile(ds), ds).ok
    floats = memcap.Dataset(vectors=[[[0.5], [0.25]]], labels=[1.0])
    assert floats.vectors.dtype == np.float64 and floats.labels.dtype == np.int64
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.labels = np.zeros(3)
    for bad in ({"tokens": [[1, 2], [3]], "labels": [0, 1]}, {"tokens": [[1, -2]], "labels": [0]},
                {"labels": [0]}, {"tokens": [[1, 2]], "labels": [0, 1]}):
        with pytest.raises(DataError):
            memcap.Dataset(**bad)


def test_model_params_and_a_short_repr():
    ds = memcap.Dataset.random_ids(N=5, n=4, vocab=10, C=3)
    model = memcap.compile(ds)
    assert model.params == memcap.stats(model).params > 0
    text = repr(model)
    assert len(text) < 200, text
    assert f"{model.params:,} params" in text and "next-token Transformer" in text and "n=4" in text
    relu = memcap.memorize(np.eye(3), [0, 1, 2])
    assert "ReLU network" in repr(relu) and relu.params == memcap.stats(relu).params


def test_python_errors_name_python_arguments_and_the_cli_its_flags(tmp_path):
    ds = memcap.Dataset.random_ids(N=1000, n=5, vocab=50, C=10, seed=0)  # tight: not float64-exact
    model = memcap.compile(ds)
    with pytest.raises(memcap.NotFloatExact) as err:
        memcap.to_torch(model, ds.inputs)
    assert "bit_budget=48" in str(err.value) and "--bit-budget" not in str(err.value)
    memcap.save(model, tmp_path / "m")
    memcap.save_dataset(ds, tmp_path / "d.npz")
    r = runner.invoke(app, ["verify", str(tmp_path / "m"), str(tmp_path / "d.npz"), "--torch"])
    assert r.exit_code == 2 and "--bit-budget 48" in r.output and "bit_budget" not in r.output


@pytest.mark.parametrize("python, flags", [
    ("compile with bit_budget=48", "compile with --bit-budget 48"),
    ("raise bit_budget or spread", "raise --bit-budget or spread"),
    ("Use positions (positions=True)", "Use positions (--positions)"),
    ('drop attention="sparse"', "drop --attention sparse"),
    ("nor causal=True", "nor --causal"),
    ("export it with memcap.to_torch", "export it with --to torch"),
    ('device="cuda:3": only 1', "--device cuda:3: only 1"),
])
def test_cli_wording_turns_python_arguments_into_flags(python, flags):
    assert as_flags(python) == flags


def test_option_errors_from_python_name_arguments():
    ms = memcap.Dataset.random_ids(N=20, n=4, vocab=9, C=3, setting="multiset")
    with pytest.raises(DataError, match='attention="sparse"'):
        memcap.compile(ms, arch="deep-sets", attention="sparse")
    r = runner.invoke(app, ["compile", "--help"])  # the flag the CLI message names exists
    assert "--attention" in r.output


@pytest.mark.parametrize("make, options", [
    (lambda: memcap.Dataset.random_ids(N=150, n=6, vocab=60, C=10, seed=1), {}),
    (lambda: memcap.Dataset.random_ids(N=80, n=4, vocab=30, C=5, seed=2), {"positions": True}),
    (lambda: memcap.Dataset.random_vectors(N=60, n=3, d=2, C=4, seed=0), {}),
])
def test_smallest_bit_budget_is_the_first_that_compiles(make, options):
    from memcap.budget import smallest_bit_budget
    from memcap.construct.memorizer import BudgetError

    ds = make()
    least = smallest_bit_budget(ds, **options)
    memcap.compile(ds, bit_budget=least, **options)
    for below in range(2, least):  # every smaller budget is refused
        with pytest.raises(BudgetError):
            memcap.compile(ds, bit_budget=below, **options)
