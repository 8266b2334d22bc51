"""Deep Sets (sum pooling, one label per multiset) and sparse attention (a register, 3n + 1 connections):
built, verified exactly on every example, round-tripped, run in float64, and refused with one clear error."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from typer.testing import CliRunner

import memcap
from memcap.cli import app
from memcap.ir.stats import model_stats
from memcap.pipeline import build
from memcap.testing.strategies import _make_consistent, id_datasets, multiset_datasets
from memcap.verification import predict, verify_torch

runner = CliRunner()


def _multisets(N, n=8, vocab=100, seed=0):
    return memcap.Dataset.random_ids(N, n, vocab, 10, seed=seed, setting="multiset")


@pytest.mark.parametrize("N", [1, 10, 1000, 10_000])
def test_deep_sets_memorizes_every_multiset(N):
    ds = _multisets(N, vocab=1000)
    model = memcap.compile(ds, arch="deep-sets")
    res = memcap.verify(model, ds)
    assert res.ok and res.checked == N
    st = model_stats(model)
    assert model.setting == "multiset" and st.H == 0 and st.attention_connections == 0
    assert [b.pool for b in model.blocks].count(True) == 1 and not model.has_attention


def test_deep_sets_label_ignores_order_and_unpooled_model_fails():
    ds = _multisets(300, seed=3)
    model = memcap.compile(ds, arch="deep-sets")
    perm = np.random.default_rng(0).permuted(ds.tokens, axis=1)
    assert (predict(model, perm) == ds.labels).all()  # the multiset, not the order, decides
    # without the pooling, rho~ reads one token's phi instead of the multiset's SID: the verifier catches it
    broken = dataclasses.replace(model, blocks=tuple(dataclasses.replace(b, pool=False) for b in model.blocks))
    assert memcap.verify(broken, ds).wrong > 0


def test_deep_sets_params_grow_like_sqrt_N():
    Ns = [100, 1000, 10_000]
    params = [model_stats(memcap.compile(_multisets(N, vocab=1000), arch="deep-sets")).params for N in Ns]
    slope = np.polyfit(np.log(Ns), np.log(params), 1)[0]
    assert slope <= 0.6, (params, slope)


def test_deep_sets_refuses_permutations_with_different_labels():
    tokens = np.array([[1, 2, 3], [4, 5, 6], [3, 1, 2]])
    ds = memcap.Dataset.from_arrays(np.array([0, 1, 2]), tokens=tokens)
    with pytest.raises(memcap.DataError, match="examples 0 and 2 are permutations of each other but labels 0 and 2"):
        memcap.compile(ds, arch="deep-sets")
    memcap.verify(memcap.compile(ds), ds)  # the Transformer reads the current token too: fine


@settings(max_examples=25)
@given(multiset_datasets())
def test_any_multiset_dataset_compiles_and_verifies(ds):
    for budget in (None, 48):
        model = memcap.compile(ds, arch="deep-sets", bit_budget=budget)
        assert memcap.verify(model, ds).ok


def test_deep_sets_file_torch_and_vectors(tmp_path):
    vec = memcap.Dataset.random_vectors(400, 6, 3, 10, seed=2, setting="next-token")
    for d in (_multisets(400), vec):
        built = build(d, arch="deep-sets", bit_budget=48)  # compile, verify, and record the float64 verdict
        assert built.verification.ok and built.float64.exact
        model = built.model
        memcap.save(model, tmp_path / "m", overwrite=True)  # the second round replaces the first
        back = memcap.load(tmp_path / "m")
        assert back == model and memcap.verify(back, d).ok
        fv = verify_torch(back, d)
        assert fv.wrong == 0 and fv.exact_match
        net = memcap.load_torch(tmp_path / "m")
        import torch

        with torch.no_grad():
            out = net(torch.from_numpy(d.inputs), read=-1)[:, 0]
        assert (out.numpy() == d.labels).all()


@pytest.mark.parametrize("setting", ["next-token", "seq2seq"])
@pytest.mark.parametrize("n", [1, 2, 8, 64, 1024])
def test_sparse_attention_memorizes_with_3n_plus_1_connections(setting, n):
    N = 200 if n <= 64 else 20
    ds = _make_consistent(memcap.Dataset.random_ids(N, n, 50, 10, seed=n, setting=setting))
    sparse = memcap.compile(ds, attention="sparse")
    dense = memcap.compile(ds)
    assert memcap.verify(sparse, ds).ok
    s, d = model_stats(sparse), model_stats(dense)
    assert s.attention_connections == 3 * n + 1 <= 3 * n + 2
    assert d.attention_connections == n * n
    assert s.params <= 1.5 * d.params


def test_sparse_attention_is_what_the_model_runs():
    ds = memcap.Dataset.random_ids(300, 8, 50, 10, seed=4)
    model = memcap.compile(ds, attention="sparse")
    patterns = [b.attention.pattern for b in model.blocks if b.attention is not None]
    assert patterns == ["gather", "read"] and model.input.register
    # reading every key instead of the register alone changes sid: the verifier catches it
    wrong = tuple(dataclasses.replace(b, attention=dataclasses.replace(b.attention, pattern="all"))
                  if b.attention is not None and b.attention.pattern == "read" else b for b in model.blocks)
    assert memcap.verify(dataclasses.replace(model, blocks=wrong), ds).wrong > 0


@pytest.mark.parametrize("kind", ["ids", "vectors"])
@pytest.mark.parametrize("setting", ["next-token", "seq2seq"])
def test_sparse_attention_round_trips_and_runs_in_float64(tmp_path, kind, setting):
    ds = (memcap.Dataset.random_ids(300, 6, 40, 10, seed=5, setting=setting) if kind == "ids"
          else memcap.Dataset.random_vectors(300, 6, 3, 10, seed=5, setting=setting))
    model = memcap.compile(ds, attention="sparse", bit_budget=48)
    memcap.save(model, tmp_path / "m")
    back = memcap.load(tmp_path / "m")
    assert back == model and memcap.verify(back, ds).ok
    fv = verify_torch(back, ds)
    assert fv.wrong == 0 and fv.exact_match


@settings(max_examples=25)
@given(id_datasets())
def test_any_dataset_verifies_with_sparse_attention(ds):
    assert memcap.verify(memcap.compile(ds, attention="sparse"), ds).ok


def test_cli_variants(tmp_path):
    data, seq = tmp_path / "d.npz", tmp_path / "s.npz"
    assert runner.invoke(app, ["data", "random", str(data), "--N", "300", "--setting", "multiset"]).exit_code == 0
    assert runner.invoke(app, ["data", "random", str(seq), "--N", "100", "--setting", "seq2seq"]).exit_code == 0
    r = runner.invoke(app, ["compile", str(data), "-o", str(tmp_path / "ds"), "--arch", "deep-sets"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["inspect", str(tmp_path / "ds"), "--json"])
    info = json.loads(r.output)
    assert info["setting"] == "multiset" and info["attention_connections"] == 0
    assert runner.invoke(app, ["verify", str(tmp_path / "ds"), str(data)]).exit_code == 0
    r = runner.invoke(app, ["compile", str(data), "-o", str(tmp_path / "sp"), "--attention", "sparse"])
    assert r.exit_code == 0, r.output
    assert json.loads(runner.invoke(app, ["inspect", str(tmp_path / "sp"), "--json"]).output)["attention_connections"] == 25
    for args, msg in [
        (["compile", str(seq), "-o", str(tmp_path / "x"), "--arch", "deep-sets"], "one label per multiset"),
        (["compile", str(seq), "-o", str(tmp_path / "x"), "--attention", "sparse", "--causal"], "does not combine"),
        (["compile", str(data), "-o", str(tmp_path / "x"), "--arch", "deep-sets", "--causal"], "drop --causal"),
        (["compile", str(seq), "-o", str(tmp_path / "x"), "--arch", "rnn"], "next-token labels"),
        (["repro", "architectures", "--archs", "rnn,gru", "-o", str(tmp_path / "x")], "unknown rnn"),
        (["compile", str(data), "-o", str(tmp_path / "x"), "--arch", "sets"], "sets"),
        (["export", str(tmp_path / "ds"), "--to", "transformer-lens", "-o", str(tmp_path / "x")], "sum"),
        (["export", str(tmp_path / "sp"), "--to", "transformer-lens", "-o", str(tmp_path / "x")], "register"),
    ]:
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and r.output.count("error:") == 1 and msg in r.output, (args, r.output)
        assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kind", ["ids", "vectors"])
def test_rnn_memorizes_with_n_sequential_steps(tmp_path, kind):
    ds = (memcap.Dataset.random_ids(300, 8, 50, 10, seed=6) if kind == "ids"
          else memcap.Dataset.random_vectors(200, 8, 3, 10, seed=6))
    if kind == "vectors":  # 4 last tokens in all, so that the label needs the state, not the last token alone
        vec = ds.vectors.copy()
        vec[:, -1] = vec[np.arange(len(vec)) % 4, -1]
        ds = memcap.data.validate(ds.labels, vectors=vec)
    built = build(ds, arch="rnn", bit_budget=48)
    assert built.verification.ok and built.float64.exact
    st = built.stats
    assert st.sequential_steps == st.depth + ds.n - 1 and st.H == 0
    memcap.save(built.model, tmp_path / "r")
    back = memcap.load(tmp_path / "r")
    assert back == built.model and verify_torch(back, ds).wrong == 0
    # without the recurrence the state holds one token's phi: the verifier catches it
    broken = dataclasses.replace(back, blocks=tuple(dataclasses.replace(b, recur=()) for b in back.blocks))
    assert memcap.verify(broken, ds).wrong > 0


def test_float64_check_refuses_what_float64_rounds_differently():
    """A float-safe vector model whose F2 reads the rounded projection t (instead of the integer token id)
    gets float64 outputs wrong; the check must refuse it before anyone trusts the float run."""
    from memcap.ir.float64 import float64_check

    ds = memcap.Dataset.random_vectors(300, 6, 3, 10, seed=5, setting="seq2seq")
    model = memcap.compile(ds, bit_budget=48)
    assert float64_check(model, ds.inputs, "all").exact and verify_torch(model, ds).wrong == 0
    Fi, F = model.coord("Fi"), model.coord("F")
    i = next(i for i, b in enumerate(model.blocks) if b.attention is not None)
    b = model.blocks[i]
    u = dataclasses.replace(b.ffn.units[0], reads=tuple((F if c == Fi else c, w) for c, w in b.ffn.units[0].reads))
    blocks = list(model.blocks)
    blocks[i] = dataclasses.replace(b, ffn=dataclasses.replace(b.ffn, units=(u, *b.ffn.units[1:])))
    old = dataclasses.replace(model, blocks=tuple(blocks))
    assert verify_torch(old, ds, force=True).wrong > 0
    verdict = float64_check(old, ds.inputs, "all")
    assert not verdict.exact and "rounded" in verdict.reason


def test_variant_report_sections(tmp_path):
    from memcap.experiments.grid import sweep
    from memcap.reports.built import write_report

    ids = dict(vocab=1000, C=10, mode="tight", bit_budget=None, seed=0)
    configs = [dict(setting="multiset", N=N, n=8, **ids, **a) for N in (30, 300) for a in ({"arch": "deep-sets"}, {})]
    configs += [dict(setting="next-token", N=50, n=n, **ids, **a) for n in (4, 16, 64) for a in ({"attention": "sparse"}, {})]
    configs += [dict(setting="next-token", N=300, n=16, vocab=1000, C=10, mode="tight", bit_budget=B, float64=True, seed=0)
                for B in ("min", 8, 48, 128, None)]
    configs += [dict(setting="next-token", N=100, n=n, **ids, arch=a) for n in (4, 64, 512) for a in ("transformer", "ffn", "rnn")]
    rows = sweep(configs, tmp_path / "s.jsonl")
    assert sum("refused" in r for r in rows) == 1  # 8 bits cannot hold this data's range
    md = write_report(rows, tmp_path / "rep").read_text()
    for name in ("deep_sets_vs_transformer.csv", "sparse_attention_vs_n.png", "bit_budget_N300.png", "bit_budget_N300.csv",
                 "cost_vs_n_ids.png"):
        assert (tmp_path / "rep" / name).exists(), name
    assert "Connections vs n: log-log slope 0.9" in md or "Connections vs n: log-log slope 1.0" in md
    assert "2.00 (dense)" in md
    from memcap.reports.tables import read_csv

    budget = read_csv(tmp_path / "rep" / "bit_budget_N300.csv")
    assert list(budget[0])[:2] == ["budget B", "params"] and len(budget) == 4  # min, 48, 128 and none
    ffn = {int(r["n"]): int(r["FFN params"]) for r in read_csv(tmp_path / "rep" / "cost_vs_n_ids.csv")}
    assert ffn[512] > ffn[64] > ffn[4]  # the flat FFN's input layer grows with n


def test_trained_architectures_run_and_report(tmp_path, figure_layout):
    from memcap.reports.trained import architectures as report
    from memcap.train.experiments import architectures
    from memcap.train.storage import open_storage
    from memcap.train.sweep import BOUNDARY_SEARCH, answers

    exps = architectures((4,), N=12, archs=("gru", "mlp"), n_trials=1, epochs=60)
    st = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    runs = []
    for exp in exps:
        BOUNDARY_SEARCH.publish(st, exp)
        BOUNDARY_SEARCH.work(st, exp.name, poll=0.01)
        runs.append((exp, answers(st, exp)))
    assert all(r["done"] for _, rows in runs for r in rows)
    text = report(runs, tmp_path / "t").read_text()
    assert "| gru | 4 | width |" in text and "| mlp | 4 | width |" in text and (tmp_path / "t" / "architectures.png").exists()
    assert figure_layout == {"architectures": []} and (tmp_path / "t" / "architectures.pdf").exists()
    from memcap.reports.variants import trained_section

    (tmp_path / "rep").mkdir()
    md = "\n".join(trained_section(tmp_path / "t", tmp_path / "rep"))
    assert "| gru |" in md and "| mlp |" in md and "n: 4; size knob: width" in md and (tmp_path / "rep" / "architectures.png").exists()
    assert trained_section(tmp_path / "nothing", tmp_path / "rep") == []
