"""What the command line tells a new user: sizes with their columns spelled out and the ratios, progress on
long runs, counts of what `data` dropped, the model's own sizes for `bounds`, and messages that say what
can help."""

import numpy as np
import pytest
from typer.testing import CliRunner

import memcap
from memcap.cli import app, summary
from memcap.cli.common import console
from memcap.cli.demo import run_demo

runner = CliRunner()


def _data(tmp_path, name="ds.npz", *args):
    path = tmp_path / name
    r = runner.invoke(app, ["data", "random", str(path), "--N", "40", "--n", "4", "--vocab", "30", "--C", "5", *args])
    assert r.exit_code == 0, r.output
    return path


def test_compile_prints_the_ratios_and_a_legend_of_its_columns(tmp_path):
    r = runner.invoke(app, ["compile", str(_data(tmp_path)), "-o", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    st = memcap.stats(memcap.load(tmp_path / "m"))
    assert f"params / N = {st.params / 40:.3g}" in r.output
    assert "params / sqrt(N) = " in r.output and "total bits / (N log2 C) = " in r.output
    for spelled in ("m: residual stream width", "q: hidden ReLU units", "H: attention heads", "s: head size"):
        assert spelled in r.output
    assert "compile: F2" not in r.output  # a short run prints no progress


def test_compile_reports_each_stage_on_a_long_run(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "QUIET_S", -1.0)  # every run counts as long
    r = runner.invoke(app, ["compile", str(_data(tmp_path)), "-o", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    for stage in ("contexts", "F1", "F2", "assemble", "exact verification", "float64 check"):
        assert f"compile: {stage} (" in r.output


def test_bounds_reads_the_sizes_from_the_model(tmp_path):
    runner.invoke(app, ["compile", str(_data(tmp_path)), "-o", str(tmp_path / "m")])
    C = memcap.load(tmp_path / "m").record.data.C
    r = runner.invoke(app, ["bounds", "--model", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    assert f"bounds for N=40 n=4 d=1 C={C} (next-token)" in r.output
    assert "params / sqrt(N) = " in r.output and "-> holds" not in r.output
    r = runner.invoke(app, ["bounds"])
    assert r.exit_code == 2 and r.output.count("error:") == 1 and "--N" in r.output


def test_data_text_counts_repeats_and_conflicts_and_shows_the_first(tmp_path):
    (tmp_path / "t.txt").write_text("abcabcabx")  # windows of 2: ab bc ca ab bc ca ab; the last ab is followed by x
    r = runner.invoke(app, ["data", "text", str(tmp_path / "t.txt"), str(tmp_path / "t.npz"), "--n", "2"])
    assert r.exit_code == 0, r.output
    assert "read 7 windows" in r.output and "dropped 3 repeats and 1 windows" in r.output
    assert "1 distinct windows had two next tokens" in r.output
    assert "window 'ab' is followed by 'c' at token 0 and by 'x' at token 6" in r.output
    assert len(np.load(tmp_path / "t.npz")["labels"]) == 3
    r = runner.invoke(app, ["data", "text", str(tmp_path / "none.txt"), str(tmp_path / "o.npz")])
    assert r.exit_code == 2 and f"error: no such file: {tmp_path / 'none.txt'}" in r.output.replace("\n", "")
    assert not (tmp_path / "o.npz").exists()


def test_data_text_reads_a_python_module_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["data", "text", "--module", "this", "t.npz", "--n", "8", "--limit", "200"])
    assert r.exit_code == 0 and "this.py" in r.output and (tmp_path / "t.npz").exists()
    r = runner.invoke(app, ["data", "text", "--module", "no_such_module_here", "u.npz"])
    assert r.exit_code == 2 and r.output.count("error:") == 1 and not (tmp_path / "u.npz").exists()


def test_data_random_says_the_setting_and_the_classes_drawn(tmp_path):
    r = runner.invoke(app, ["data", "random", str(tmp_path / "s.npz"), "--N", "30", "--n", "4", "--setting", "multiset"])
    assert r.exit_code == 0 and " multiset " in r.output and "next-token" not in r.output
    assert str(np.load(tmp_path / "s.npz")["setting"]) == "multiset"
    r = runner.invoke(app, ["data", "random", str(tmp_path / "c.npz"), "--N", "10", "--C", "10"])
    drawn = len(set(np.load(tmp_path / "c.npz")["labels"].tolist()))
    assert drawn < 10 and f"C=10 requested, {drawn} classes drawn" in r.output


def test_messages_say_what_can_help(tmp_path):
    np.savez(tmp_path / "same.npz", tokens=np.array([[1, 2, 3], [1, 2, 3]]), labels=np.array([0, 1]))
    r = runner.invoke(app, ["compile", str(tmp_path / "same.npz"), "-o", str(tmp_path / "m")])
    assert r.exit_code == 2 and "identical sequences" in r.output and "--positions" not in r.output
    (tmp_path / "text.npz").write_text("not an archive\n")
    r = runner.invoke(app, ["compile", str(tmp_path / "text.npz"), "-o", str(tmp_path / "m")])
    assert r.exit_code == 2 and "not an npz archive" in r.output and "object arrays" not in r.output
    ds = memcap.Dataset.random_ids(N=1000, n=5, vocab=50, C=10, seed=0)  # its tight model is not float64-exact
    memcap.save(memcap.pipeline.build(ds).model, tmp_path / "tight")
    r = runner.invoke(app, ["export", str(tmp_path / "tight"), "-o", str(tmp_path / "tl")])
    assert r.exit_code == 2 and "--bit-budget 48" in r.output and "pass the dataset" not in r.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "tl").exists()


def test_a_small_bit_budget_names_the_smallest_that_compiles(tmp_path):
    path = _data(tmp_path)
    r = runner.invoke(app, ["compile", str(path), "-o", str(tmp_path / "m"), "--bit-budget", "3"])
    assert r.exit_code == 2 and "smallest budget that compiles this dataset is --bit-budget" in r.output
    least = int(r.output.split("--bit-budget ")[-1].split()[0])
    assert runner.invoke(app, ["compile", str(path), "-o", str(tmp_path / "ok"), "--bit-budget", str(least)]).exit_code == 0
    below = runner.invoke(app, ["compile", str(path), "-o", str(tmp_path / "no"), "--bit-budget", str(least - 1)])
    assert below.exit_code == 2 and not (tmp_path / "no").exists()


def test_compare_names_the_closest_trial_where_none_memorized():
    from memcap.compare import _trained_row

    row = _trained_row({"answer": None}, {"error": 0.25, "blocks": 3, "params": 640}, m=4, max_blocks=4)
    assert row["memorized"] == "no; best error 0.2500 (3 blocks, 640 params)" and row["params"] == 640
    assert _trained_row({"answer": None}, None, m=4, max_blocks=4)["memorized"] == "no trial finished"


@pytest.mark.slow
def test_compare_reports_progress_and_the_best_error_end_to_end(tmp_path):
    ds = _data(tmp_path)
    r = runner.invoke(app, ["compare", str(ds), "--trials", "1", "--epochs", "3", "--max-blocks", "1", "--workers", "1",
                            "--storage", str(tmp_path / "s.db"), "--capacity", str(tmp_path / "none.csv")])
    assert r.exit_code == 0, r.output
    assert "trial(s) finished in all" in r.output and "best error" in r.output


def test_demo_explains_its_numbers_and_saves_its_dataset(tmp_path, capsys):
    assert run_demo(N=60, n=6, seed=0, out=tmp_path / "demo", console=console)
    out = capsys.readouterr().out.replace("\n", " ")
    assert "M = N = 60" in out and "every constant set to 1" in out and "hardmax equals tight" in out
    assert "-> holds" not in out and "params / N = " in out
    table = out.split("compiled Transformers")[1].split("params: every matrix entry")[0]
    assert " - " not in table.replace("─", "")  # no float64 cell left ambiguous
    r = runner.invoke(app, ["verify", str(tmp_path / "demo" / "tight"), str(tmp_path / "demo" / "data.npz")])
    assert r.exit_code == 0 and "0 wrong" in r.output


def test_predict_and_verify_refuse_another_sequence_length(tmp_path):
    runner.invoke(app, ["compile", str(_data(tmp_path)), "-o", str(tmp_path / "m")])
    other = tmp_path / "n5.npz"
    runner.invoke(app, ["data", "random", str(other), "--N", "10", "--n", "5"])
    for cmd in (["predict", str(tmp_path / "m"), str(other)], ["verify", str(tmp_path / "m"), str(other)]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2 and r.output.count("error:") == 1 and "length n = 4" in r.output, r.output
