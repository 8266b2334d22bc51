import json

import numpy as np
from typer.testing import CliRunner

from memcap.cli import app

runner = CliRunner()


def test_compile_verify_inspect_predict(tmp_path):
    ds, model = tmp_path / "ds.npz", tmp_path / "m.mc"
    assert runner.invoke(app, ["data", "random", str(ds), "--N", "200", "--n", "6", "--vocab", "30"]).exit_code == 0
    r = runner.invoke(app, ["compile", str(ds), "-o", str(model), "--bit-budget", "48"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["verify", str(model), str(ds), "--torch"])
    assert r.exit_code == 0 and "checked 200 examples" in r.output and "0 wrong of 200" in r.output
    r = runner.invoke(app, ["inspect", str(model), "--json"])
    info = json.loads(r.output)
    for key in ("params", "nonzero_params", "depth", "width", "max_bits", "total_bits", "setting"):
        assert key in info
    r = runner.invoke(app, ["predict", str(model), str(ds), "-o", str(tmp_path / "p.npy")])
    with np.load(ds) as z:
        assert np.load(tmp_path / "p.npy").shape == z["labels"].shape
        assert (np.load(tmp_path / "p.npy") == z["labels"]).all()


def test_verify_exits_nonzero_on_a_miss(tmp_path):
    a, b, model = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "m.mc"
    runner.invoke(app, ["data", "random", str(a), "--N", "100", "--seed", "1"])
    runner.invoke(app, ["data", "random", str(b), "--N", "100", "--seed", "2"])
    assert runner.invoke(app, ["compile", str(a), "-o", str(model)]).exit_code == 0
    r = runner.invoke(app, ["verify", str(model), str(b)])
    assert r.exit_code == 1 and "checked 100 examples" in r.output


def test_refused_dataset_writes_nothing(tmp_path):
    ds, model = tmp_path / "c.npz", tmp_path / "m.mc"
    np.savez(ds, tokens=np.array([[1, 2, 3], [2, 1, 3]]), labels=np.array([0, 1]))
    r = runner.invoke(app, ["compile", str(ds), "-o", str(model)])
    assert r.exit_code == 2 and "permutations" in r.output and not model.exists()


def test_points_commands(tmp_path):
    pts, model = tmp_path / "p.npz", tmp_path / "r.mc"
    rng = np.random.default_rng(0)
    np.savez(pts, points=rng.random((300, 3)), labels=np.r_[rng.integers(0, 5, 200), -np.ones(100, int)])
    assert runner.invoke(app, ["memorize-points", str(pts), "-o", str(model)]).exit_code == 0
    r = runner.invoke(app, ["verify-points", str(model), str(pts)])
    assert r.exit_code == 0 and "checked 300 points" in r.output


def test_bounds_beside_a_model(tmp_path):
    ds, model = tmp_path / "ds.npz", tmp_path / "m.mc"
    runner.invoke(app, ["data", "random", str(ds), "--N", "100"])
    runner.invoke(app, ["compile", str(ds), "-o", str(model)])
    r = runner.invoke(app, ["bounds", "--N", "100", "--n", "8", "--C", "10", "--model", str(model)])
    assert r.exit_code == 0 and "BELOW" not in r.output and "params / sqrt(N) = " in r.output and "Table 1" in r.output
