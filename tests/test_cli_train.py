"""The training commands end to end, at toy sizes."""

import json

from typer.testing import CliRunner

from memcap.cli import app

runner = CliRunner()


def test_train_command_memorizes_and_resumes(tmp_path):
    ds = tmp_path / "ds.npz"
    assert runner.invoke(app, ["data", "random", str(ds), "--N", "20", "--n", "4", "--vocab", "50", "--C", "2"]).exit_code == 0
    args = ["train", str(ds), "--blocks", "2", "--lr", "0.03", "--warmup", "10", "--epochs", "800", "--checkpoint", str(tmp_path / "ck")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["memorized"] and res["error"] < 0.01
    assert (tmp_path / "ck" / "state.safetensors").exists()
    r = runner.invoke(app, args)  # resumes from the final checkpoint: nothing left to train
    assert r.exit_code == 0 and json.loads(r.output)["epochs"] == res["epochs"]
    r = runner.invoke(app, ["train", str(ds), "--arch", "nope"])
    assert r.exit_code == 2 and "'nope' is not one of" in r.output


def test_fig3_command_writes_table_and_figure_beside_the_paper(tmp_path, figure_layout):
    r = runner.invoke(app, ["repro", "fig3", "--N", "20,40", "--trials", "1", "--epochs", "200", "--max-blocks", "2",
                            "--workers", "1", "--storage", str(tmp_path / "s.db"), "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    (md_path,) = tmp_path.glob("fig3-digits-m8-*.md")
    name = md_path.stem
    assert name in r.output.replace("\n", "")  # the command printed to join the sweep names it
    for ext in ("md", "png", "svg", "pdf", "csv"):
        assert (tmp_path / f"{name}.{ext}").exists()
    assert figure_layout == {name: []}  # title, legend, labels inside the canvas
    md = (tmp_path / f"{name}.md").read_text()
    assert "| 20 |" in md and "Sobol" in md and "MultiNLI" in md
    # the same command again reads the finished sweep: no new trials
    r2 = runner.invoke(app, ["repro", "fig3", "--N", "20,40", "--trials", "1", "--epochs", "200", "--max-blocks", "2",
                             "--workers", "1", "--storage", str(tmp_path / "s.db"), "-o", str(tmp_path)])
    assert r2.exit_code == 0 and (tmp_path / f"{name}.md").read_text() == md


def test_fig3_on_the_bundled_help_text_at_the_papers_width(tmp_path):
    r = runner.invoke(app, ["repro", "fig3", "--data", "topics", "--m", "2", "--N", "30,60", "--trials", "1", "--epochs", "300",
                            "--max-blocks", "2", "--workers", "1", "--storage", str(tmp_path / "s.db"), "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    (md_path,) = tmp_path.glob("fig3-topics-m2-*.md")
    md = md_path.read_text()
    assert '"kind": "topics"' in md and "pydoc_data.topics" in md and "| 30 |" in md
    assert f"![{md_path.stem}]({md_path.stem}.png)" in r.output.replace("\n", "")  # printed as written, not as rich markup


def test_worker_for_a_missing_experiment_names_what_is_there(tmp_path):
    r = runner.invoke(app, ["worker", "--storage", str(tmp_path / "s.db"), "--experiment", "nothing"])
    assert r.exit_code == 2 and "no such SQLite file" in r.output and not (tmp_path / "s.db").exists()
    from memcap.train.storage import open_storage

    open_storage(str(tmp_path / "s.db"))
    r = runner.invoke(app, ["worker", "--storage", str(tmp_path / "s.db"), "--experiment", "nothing"])
    assert r.exit_code == 2 and "no experiment 'nothing'" in r.output


def test_curves_and_bits_per_param_commands(tmp_path, figure_layout):
    r = runner.invoke(app, ["repro", "curves", "--N", "30", "--blocks", "1,2", "--epochs", "30", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "curves.png").exists() and "| 2 |" in (tmp_path / "curves.md").read_text()
    r = runner.invoke(app, ["repro", "bits-per-param", "--arch", "paper", "--sizes", "1", "--max-N", "40", "--step", "10", "--trials", "1",
                            "--epochs", "300", "--workers", "1", "--storage", str(tmp_path / "s.db"), "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "bits_per_param.md").read_text()
    assert "bits/param" in md and "Morris" in md and "seed 0" in md and (tmp_path / "bits_per_param.png").exists()
    assert "| error < 0.01 |" in md and "| exact |" in md  # both criteria, the strict one searched as its own sweep
    r = runner.invoke(app, ["repro", "bits-per-param", "--arch", "paper", "--sizes", "1", "--max-N", "40", "--step", "10", "--trials", "1",
                            "--epochs", "300", "--workers", "1", "--storage", str(tmp_path / "s.db"), "-o", str(tmp_path / "strict"),
                            "--criteria", "exact"])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "strict" / "bits_per_param.md").read_text()
    assert "| exact |" in md and "| error < 0.01 |" not in md  # the strict sweep alone, read back from the same storage
    assert set(figure_layout) == {"curves", "bits_per_param"} and all(p == [] for p in figure_layout.values()), figure_layout


def test_compare_command_puts_built_beside_trained(tmp_path):
    ds = tmp_path / "ds.npz"
    runner.invoke(app, ["data", "random", str(ds), "--N", "16", "--n", "4", "--vocab", "40", "--C", "2"])
    r = runner.invoke(app, ["compare", str(ds), "--trials", "1", "--epochs", "600", "--max-blocks", "4", "--workers", "1",
                            "--storage", str(tmp_path / "s.db"), "--capacity", str(tmp_path / "none.csv")])
    assert r.exit_code == 0, r.output
    assert "built (construction)" in r.output and "16/16 exact" in r.output and "information floor" in r.output
    assert "capacity estimate" in r.output and "Morris" in r.output  # no capacity table in tmp_path: the anchor, named
    assert "trial(s) finished in all" in r.output  # progress, also off a terminal


def test_bits_per_param_learning_rate_range_is_checked(tmp_path):
    for bad, why in (("0.1", "two numbers"), ("0.1,0.01", "low <= high"), ("x,1", "two numbers")):
        r = runner.invoke(app, ["repro", "bits-per-param", "--lr", bad, "--storage", str(tmp_path / "s.db")])
        assert r.exit_code == 2 and why in r.output and r.output.count("error:") == 1
    assert not (tmp_path / "s.db").exists()


def test_comma_lists_are_parsed_by_their_options(tmp_path):
    """Every comma-list option refuses a bad item with one error line naming the option, before any work."""
    cases = [
        (["repro", "fig3", "--N", "600,x"], "'--N'", "'x' is not an integer"),
        (["repro", "curves", "--blocks", "1,0"], "'--blocks'", "0 must be >= 1"),
        (["repro", "n-independence", "--n", "10,,100"], "'--n'", "'' is not an integer"),
        (["repro", "bits-per-param", "--arch", "paper", "--sizes", "1,two"], "'--sizes'", "'two'"),
        (["repro", "architectures", "--archs", ","], "'--archs'", "the list is empty"),
        (["scale", "--N", "10,1e3"], "'--N'", "'1e3'"),
    ]
    for args, option, why in cases:
        r = runner.invoke(app, [*args, "-o", str(tmp_path / "x")])
        assert r.exit_code == 2 and option in r.output and why in r.output and r.output.count("error:") == 1, (args, r.output)
    assert not list(tmp_path.iterdir())


def test_trained_arch_choices_are_the_registry():
    from memcap.cli.common import TrainedArch
    from memcap.train.experiments import ARCHITECTURES

    assert tuple(TrainedArch) == tuple(ARCHITECTURES)
