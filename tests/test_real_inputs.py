"""Real inputs and real clients: sparse ids of any size, float64 decided by measurement, loadable weights,
the public API, explain, and one `error:` line (exit 2, nothing written) for each user mistake."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from typer.testing import CliRunner

import memcap
from memcap import data
from memcap.cli import app
from memcap.ir import fileformat
from memcap.ir.float64 import float64_check
from memcap.nn.export import NotFloatExact, to_torch
from memcap.testing.strategies import sparse_id_datasets
from memcap.verification import verify_torch

runner = CliRunner()


def _ids(tmp_path, top, N=300, n=5, name="big.npz", C=10**6, dtype=np.int64):
    rng = np.random.default_rng(0)
    path = tmp_path / name
    np.savez(path, tokens=rng.integers(0, top, size=(N, n), dtype=dtype), labels=rng.integers(0, C, size=N))
    return path


@pytest.mark.parametrize("top", [10**9, 2**63 - 1])
@pytest.mark.parametrize("positions", [[], ["--positions"]])
def test_ids_of_any_size_compile_small(tmp_path, top, positions):
    ds_path, model = _ids(tmp_path, top), tmp_path / "m"
    r = runner.invoke(app, ["compile", str(ds_path), "-o", str(model), *positions])
    assert r.exit_code == 0, r.output
    assert "300/300 positions" in r.output
    size = sum(f.stat().st_size for f in model.iterdir())
    assert size < 1_000_000, size
    m = fileformat.load(model)
    distinct = len(np.unique(np.load(ds_path)["tokens"])) if not positions else 300 * 5
    assert len(m.input.table) <= distinct + 1  # one row per token (or pair) present, plus the unseen row
    assert runner.invoke(app, ["verify", str(model), str(ds_path)]).exit_code == 0


@settings(max_examples=25)
@given(sparse_id_datasets())
def test_any_sparse_id_dataset_compiles_and_verifies(ds):
    for opts in ({}, {"positions": True}):
        model = memcap.compile(ds, **opts)
        assert memcap.verify(model, ds).ok


def test_unseen_ids_predict_no_label_and_count_as_misses(tmp_path):
    ds = data.random_ids(100, 4, 50, 10, seed=1)
    model = memcap.compile(ds)
    other = data.validate(ds.labels, tokens=ds.tokens + 1000)  # every id unseen
    assert (memcap.predict(model, other.tokens) == -1).all()
    memcap.save(model, tmp_path / "m")
    data.save(other, tmp_path / "o.npz")
    r = runner.invoke(app, ["verify", str(tmp_path / "m"), str(tmp_path / "o.npz")])
    assert r.exit_code == 1 and "never saw" in r.output


def test_predict_shapes_and_text_output(tmp_path):
    for setting in ("next-token", "seq2seq"):
        ds = data.random_ids(60, 4, 20, 10, seed=2, setting=setting)
        data.save(ds, tmp_path / "d.npz", overwrite=True)  # each round replaces the last round's outputs
        memcap.save(memcap.compile(ds, positions=True), tmp_path / "m", overwrite=True)
        r = runner.invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "d.npz"), "-o", str(tmp_path / "p.npy"), "--force"])
        assert r.exit_code == 0, r.output
        pred = np.load(tmp_path / "p.npy")
        assert pred.shape == ds.labels.shape and (pred == ds.labels).mean() == 1.0
        r = runner.invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "d.npz"), "-o", str(tmp_path / "p.txt"), "--force"])
        assert r.exit_code == 0 and (tmp_path / "p.txt").exists() and not (tmp_path / "p.txt.npy").exists()
        rows = [list(map(int, line.split())) for line in (tmp_path / "p.txt").read_text().splitlines()]
        assert np.array(rows).reshape(ds.labels.shape).tolist() == ds.labels.tolist()


def test_float64_is_decided_by_activations_not_weight_bits(tmp_path):
    # weights of at most 53 bits, yet float64 gets hundreds of examples wrong: the check must refuse it
    # (seed 0: a dataset whose model's widest weight has 48 bits; 347 examples wrong in float64)
    ds = data.random_ids(1000, 5, 50, 10, seed=0)
    model = memcap.compile(ds, objective="depth")
    assert memcap.stats(model).max_bits <= 53
    forced = verify_torch(model, ds, force=True)
    assert forced.wrong > 0
    fc = float64_check(model, ds.inputs)
    assert not fc.exact and "rounds" in fc.reason
    with pytest.raises(NotFloatExact):
        to_torch(model, ds.inputs)
    memcap.save(model, tmp_path / "m")
    data.save(ds, tmp_path / "d.npz")
    r = runner.invoke(app, ["verify", str(tmp_path / "m"), str(tmp_path / "d.npz"), "--torch"])
    assert r.exit_code == 2 and "error:" in r.output and "float64 not run" in r.output
    # a bit-budget model is judged exact, and the float64 run agrees on every example
    budget = memcap.compile(ds, bit_budget=48)
    assert float64_check(budget, ds.inputs).exact
    fv = verify_torch(budget, ds)
    assert fv.wrong == 0 and fv.exact_match


def test_verify_torch_exits_1_on_a_float_miss(tmp_path, monkeypatch):
    # if the check ever judged a model exact that float64 gets wrong, verify --torch must still fail
    import memcap.nn.export as export
    import memcap.verification as verification
    from memcap.ir.float64 import FloatCheck

    ds = data.random_ids(1000, 5, 50, 10, seed=1)
    memcap.save(memcap.compile(ds, objective="depth"), tmp_path / "m")
    data.save(ds, tmp_path / "d.npz")
    pretend = FloatCheck(True, "pretend", 0, 0)
    monkeypatch.setattr(export, "float64_check", lambda *a, **k: pretend)
    # verify --torch measures the check inside its exact pass: pretend there too
    monkeypatch.setattr(verification, "weight_check", lambda *a, **k: None)
    monkeypatch.setattr(verification, "verdict", lambda *a, **k: pretend)
    r = runner.invoke(app, ["verify", str(tmp_path / "m"), str(tmp_path / "d.npz"), "--torch"])
    assert r.exit_code == 1 and "float64 torch:" in r.output and " 0 wrong of" not in r.output


README_LOAD = """
import json
from safetensors import safe_open
from safetensors.torch import load_file
from memcap.nn.model import MemTransformer, TransformerConfig
with safe_open(f"{path}/weights.safetensors", "pt") as f:
    config = json.loads(f.metadata()["memcap"])["config"]
net = MemTransformer(TransformerConfig(**config)).double()
net.load_state_dict(load_file(f"{path}/weights.safetensors"), strict=True)
"""


@pytest.mark.parametrize("positions", [False, True])
@pytest.mark.parametrize("setting", ["next-token", "seq2seq"])
def test_weights_file_loads_strict_into_memtransformer(tmp_path, positions, setting):
    ds = data.random_ids(300, 6, 10**9, 10, seed=3, setting=setting)
    r = runner.invoke(app, ["data", "random", str(tmp_path / "unused.npz"), "--N", "2"])
    assert r.exit_code == 0
    data.save(ds, tmp_path / "d.npz")
    args = ["compile", str(tmp_path / "d.npz"), "-o", str(tmp_path / "m"), "--bit-budget", "48"] + (["--positions"] if positions else [])
    assert runner.invoke(app, args).exit_code == 0
    scope = {"path": str(tmp_path / "m")}
    exec(README_LOAD, scope)
    net = scope["net"]
    with torch.no_grad():
        out = net(torch.from_numpy(ds.tokens))[..., 0]
    out = out[:, -1] if setting == "next-token" else out
    assert torch.equal(out, torch.from_numpy(ds.labels).double())
    assert torch.equal(memcap.load_torch(tmp_path / "m")(torch.from_numpy(ds.tokens))[..., 0].detach(), net(torch.from_numpy(ds.tokens))[..., 0])


def test_checksum_catches_a_flipped_digit(tmp_path):
    ds = data.random_ids(50, 4, 20, 10)
    memcap.save(memcap.compile(ds), tmp_path / "m")
    data.save(ds, tmp_path / "d.npz")
    f = tmp_path / "m" / "model.json"
    doc = json.loads(f.read_text())
    unit = doc["blocks"][-1]["units"][0]
    unit[1] = str(int(unit[1]) + 1)
    f.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
    for cmd in (["predict", str(tmp_path / "m"), str(tmp_path / "d.npz")], ["inspect", str(tmp_path / "m")],
                ["verify", str(tmp_path / "m"), str(tmp_path / "d.npz")]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2 and "SHA-256" in r.output, cmd


def test_public_api_readme_example(tmp_path):
    ds = memcap.Dataset.random_ids(N=300, n=8, vocab=100, C=10)
    model = memcap.compile(ds, bit_budget=48)
    assert memcap.verify(model, ds).ok
    memcap.save(model, tmp_path / "model.mc")
    again = memcap.load(tmp_path / "model.mc")
    assert memcap.verify(again, ds).ok
    net = memcap.to_torch(model, ds.inputs)
    assert torch.equal(net(torch.from_numpy(ds.tokens))[:, -1, 0].detach(), torch.from_numpy(ds.labels).double())


def test_explain_follows_an_example(tmp_path):
    for ds, opts in ((data.random_ids(200, 6, 50, 10), []), (data.random_vectors(60, 4, 3, 10), []),
                     (data.random_ids(80, 5, 30, 10, setting="seq2seq"), ["--bit-budget", "48"])):
        data.save(ds, tmp_path / "d.npz", overwrite=True)  # each round replaces the last round's outputs
        assert runner.invoke(app, ["compile", str(tmp_path / "d.npz"), "-o", str(tmp_path / "m"), *opts, "--force"]).exit_code == 0
        r = runner.invoke(app, ["explain", str(tmp_path / "m"), str(tmp_path / "d.npz"), "--example", "7", "--plot", str(tmp_path / "e.png"),
                                "--force"])
        assert r.exit_code == 0, r.output
        assert "the label, exactly" in r.output and "matched t" in r.output and "chunk" in r.output
        assert (tmp_path / "e.png").stat().st_size > 1000


def _one_error_line(r):
    lines = [line for line in r.output.splitlines() if line.strip()]
    return r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:")


def test_user_mistakes_are_one_error_line_and_write_nothing(tmp_path, monkeypatch):
    (tmp_path / "text.npz").write_text("not a numpy file\n")
    np.savez(tmp_path / "obj.npz", tokens=np.array([[1, 2], [3]], dtype=object), labels=np.array([0, 1]))
    seq = data.random_ids(50, 4, 20, 10)
    data.save(seq, tmp_path / "seq.npz")
    data.save(data.random_ids(50, 4, 20, 10, setting="seq2seq"), tmp_path / "s2s.npz")
    memcap.save(memcap.compile(seq), tmp_path / "m")
    out = tmp_path / "never"
    cases = [
        ["compile", str(tmp_path / "text.npz"), "-o", str(out)],
        ["compile", str(tmp_path / "obj.npz"), "-o", str(out)],
        ["compile", str(tmp_path / "missing.npz"), "-o", str(out)],
        ["verify-points", str(tmp_path / "m"), str(tmp_path / "seq.npz")],
        ["data", "random", str(out), "--C", "0"],
        ["data", "random", str(out), "--N", "0"],
        ["data", "random", str(out), "--setting", "nope"],
        ["verify", str(tmp_path / "m"), str(tmp_path / "s2s.npz")],
        ["compile", str(tmp_path / "seq.npz"), "-o", str(out), "--mode", "fast"],
        ["predict", str(tmp_path / "m"), str(tmp_path / "seq.npz"), "-o", str(tmp_path / "never.bin")],
        ["scale", "-o", str(out), "--N", "10,x"],
        ["train", str(tmp_path / "seq.npz"), "--device", "cuda"] if not torch.cuda.is_available() else ["train", "--arch", "x"],
        ["bogus-command"],
        ["export", str(tmp_path / "m"), "-o", str(out)],  # a tight model is not float64-exact
    ]
    for args in cases:
        r = runner.invoke(app, args)
        assert _one_error_line(r), (args, r.exit_code, r.output)
        assert not out.exists(), args
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    for args in (["repro", "fig3"], ["compare", str(tmp_path / "seq.npz")], ["worker", "--storage", str(out), "--experiment", "e"]):
        r = runner.invoke(app, args)
        assert _one_error_line(r) and "pip install" in r.output, (args, r.output)


def test_python_m_memcap_lists_every_command_and_has_a_version():
    r = subprocess.run([sys.executable, "-m", "memcap", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for cmd in ("compile", "verify", "predict", "explain", "export", "scale", "report", "train", "worker", "compare", "repro"):
        assert cmd in r.stdout, cmd
    r = subprocess.run([sys.executable, "-m", "memcap.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("memcap ")


def test_train_checkpoint_of_other_settings_names_them_and_save_writes_a_model(tmp_path):
    pytest.importorskip("optuna")
    ds = data.random_vectors(40, 4, 3, 2, seed=0)
    data.save(ds, tmp_path / "d.npz")
    base = ["train", str(tmp_path / "d.npz"), "--checkpoint", str(tmp_path / "ck"), "--save", str(tmp_path / "trained")]
    r = runner.invoke(app, base + ["--epochs", "20"])
    assert r.exit_code in (0, 1), r.output
    assert (tmp_path / "trained" / "model.safetensors").exists() and json.loads((tmp_path / "trained" / "config.json").read_text())["kind"]
    r = runner.invoke(app, base + ["--epochs", "30", "--lr", "0.02"])
    assert _one_error_line(r) and "trained already exists" in r.output and "--force" in r.output, r.output
    r = runner.invoke(app, base + ["--epochs", "30", "--lr", "0.02", "--force"])  # --force: on to the checkpoint's settings
    assert _one_error_line(r), r.output
    assert "epochs: checkpoint 20, this run 30" in r.output and "lr: checkpoint 0.01, this run 0.02" in r.output


def test_training_tasks_renumber_sparse_ids():
    from memcap.train import tasks

    ds = data.random_ids(50, 4, 10**12, 2, seed=4)
    task = tasks.from_dataset(ds)
    assert task.vocab == len(np.unique(ds.tokens))  # one embedding row per token present, not 10^12
    small = data.random_ids(50, 4, 30, 2, seed=4)
    assert torch.equal(tasks.from_dataset(small).x, torch.from_numpy(small.tokens))  # small ids kept as they are
