"""What a new user's walk through the README found: each refusal is one `error:` line, exit 2, nothing
written; messages print brackets as text; `inspect` fits a terminal."""

import importlib.util

from typer.testing import CliRunner

from memcap.cli import app

runner = CliRunner()


def _one_error_line(r) -> str:
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]


def test_a_missing_extra_is_named_with_its_brackets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    line = _one_error_line(runner.invoke(app, ["repro", "fig3"]))
    assert "pip install 'memcap[train]'" in line and "'.[train]'" in line


def test_a_negative_seed_and_a_dataset_name_without_npz_are_refused(tmp_path):
    assert "--seed" in _one_error_line(runner.invoke(app, ["data", "random", str(tmp_path / "d.npz"), "--seed", "-1"]))
    assert ".npz" in _one_error_line(runner.invoke(app, ["data", "random", str(tmp_path / "d.csv")]))
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_given_for_a_model_and_a_refused_report_write_nothing(tmp_path):
    ds = tmp_path / "d.npz"
    assert runner.invoke(app, ["data", "random", str(ds), "--N", "20"]).exit_code == 0
    assert "is not a memcap model" in _one_error_line(runner.invoke(app, ["inspect", str(ds)]))
    _one_error_line(runner.invoke(app, ["report", "--data", str(tmp_path / "none.npz"), "-o", str(tmp_path / "rep")]))
    assert not (tmp_path / "rep").exists()


def test_inspect_shortens_the_per_unit_record_and_json_keeps_it(tmp_path):
    ds, model = tmp_path / "d.npz", tmp_path / "m.mc"
    assert runner.invoke(app, ["data", "random", str(ds), "--N", "2000", "--n", "8"]).exit_code == 0
    assert runner.invoke(app, ["compile", str(ds), "-o", str(model), "--objective", "depth"]).exit_code == 0
    text = runner.invoke(app, ["inspect", str(model)])
    full = runner.invoke(app, ["inspect", str(model), "--json"])
    assert text.exit_code == 0 and full.exit_code == 0
    assert len(text.output.splitlines()) < 150 and "values)" in text.output
    assert len(full.output) > 2 * len(text.output)  # the roles' lists are all there


def test_compile_writes_its_model_before_it_prints(tmp_path):
    """A reader that closes the pipe after the first line (`| head -1`) must not cost the model."""
    import subprocess
    import sys

    ds = tmp_path / "d.npz"
    assert runner.invoke(app, ["data", "random", str(ds), "--N", "300"]).exit_code == 0
    cmd = f"{sys.executable} -m memcap compile {ds} -o {tmp_path / 'm.mc'} | head -1"
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    assert r.stdout.startswith("compiled 300 examples")
    assert (tmp_path / "m.mc" / "model.json").exists() and (tmp_path / "m.mc" / "weights.safetensors").exists()


def test_scale_refuses_quick_beside_its_own_sizes(tmp_path):
    out = tmp_path / "s.jsonl"
    assert "--quick" in _one_error_line(runner.invoke(app, ["scale", "--N", "100,200", "--quick", "-o", str(out)]))
    assert not out.exists()
