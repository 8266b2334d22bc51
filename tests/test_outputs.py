"""No output is clobbered: an existing one is refused (one `error:` line, exit 2, naming it and --force;
Python: OutputExists naming overwrite=True); --force replaces only memcap's own output of the same kind;
writes go through a temporary name, so a failed write leaves the old output; files follow the umask."""

import os
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

import memcap
from memcap import outputs
from memcap.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _refused(r, path, force_helps=True):
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2, r.output
    assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0], r.output
    assert ("pass --force to replace it" in lines[0]) == force_helps, lines[0]
    assert "Traceback" not in r.output


def _tree(folder):
    return sorted((p.relative_to(folder).as_posix(), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


@pytest.fixture()
def made(tmp_path):
    """A dataset and its model, written by the CLI."""
    ds, model = tmp_path / "ds.npz", tmp_path / "m.mc"
    assert _run("data", "random", ds, "--N", "60", "--n", "4", "--vocab", "20").exit_code == 0
    assert _run("compile", ds, "-o", model).exit_code == 0
    return ds, model


def test_cli_refuses_every_existing_output_and_force_replaces_its_own_kind(tmp_path, made):
    ds, model = made
    ds2 = tmp_path / "ds2.npz"
    _run("data", "random", ds2, "--N", "60", "--n", "4", "--vocab", "20", "--seed", "1")
    before = _tree(model)
    _refused(_run("compile", ds2, "-o", model), model)
    assert _tree(model) == before
    assert _run("compile", ds2, "-o", model, "--force").exit_code == 0
    assert _tree(model) != before and memcap.verify(memcap.load(model), memcap.load_dataset(ds2)).ok
    old = ds.read_bytes()
    _refused(_run("data", "random", ds, "--N", "5"), ds)
    text = tmp_path / "t.txt"
    text.write_text("some words to cut into windows " * 4)
    _refused(_run("data", "text", text, ds, "--n", "3"), ds)
    assert ds.read_bytes() == old
    pred = tmp_path / "p.npy"
    assert _run("predict", model, ds2, "-o", pred).exit_code == 0
    _refused(_run("predict", model, ds2, "-o", pred), pred)
    assert _run("predict", model, ds2, "-o", pred, "--force").exit_code == 0
    pts = tmp_path / "pts.npz"
    np.savez(pts, points=np.arange(12.0).reshape(6, 2), labels=np.array([0, 1, 0, 1, -1, 2]))
    _refused(_run("memorize-points", pts, "-o", model), model)
    part = tmp_path / "part.json"
    assert _run("verify", model, ds2, "--shard", "0/2", "-o", part).exit_code == 0
    _refused(_run("verify", model, ds2, "--shard", "0/2", "-o", part), part)
    plot = tmp_path / "s.png"
    assert _run("explain", model, ds2, "--plot", plot).exit_code == 0
    _refused(_run("explain", model, ds2, "--plot", plot), plot)
    _refused(_run("export", model, "--to", "torch", "-o", model), model)


def test_force_never_replaces_a_foreign_folder_or_another_kind(tmp_path, made):
    ds, model = made
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for args, target in [(("compile", ds, "-o", foreign, "--force"), foreign),
                         (("compile", ds, "-o", ds, "--force"), ds),          # a plain file is no model folder
                         (("data", "random", model, "--force"), model),        # a model folder is no dataset
                         (("predict", model, ds, "-o", tmp_path / "x.txt", "--force"), None)]:
        if target is None:  # a text file that is not a table of outputs
            target = tmp_path / "x.txt"
            target.write_text("my thesis draft\n")
        before = target.read_bytes() if target.is_file() else _tree(target)
        _refused(_run(*args), target, force_helps=False)
        assert (target.read_bytes() if target.is_file() else _tree(target)) == before
    assert (foreign / "notes.txt").read_text() == "keep me" and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    extra = model / "my-notes.txt"  # a model folder holding a user's file is not replaced either
    extra.write_text("x")
    _refused(_run("compile", ds, "-o", model, "--force"), model, force_helps=False)


def test_an_empty_folder_is_free(tmp_path, made):
    ds, _ = made
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run("compile", ds, "-o", empty).exit_code == 0 and (empty / "model.json").exists()


def test_python_api_needs_overwrite(tmp_path):
    ds = memcap.Dataset.random_ids(N=30, n=4, vocab=10, C=3)
    model = memcap.compile(ds)
    memcap.save(model, tmp_path / "m.mc")
    memcap.save_dataset(ds, tmp_path / "d.npz")
    with pytest.raises(memcap.OutputExists, match="overwrite=True"):
        memcap.save(model, tmp_path / "m.mc")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        memcap.save_dataset(ds, tmp_path / "d.npz")
    memcap.save(model, tmp_path / "m.mc", overwrite=True)
    memcap.save_dataset(ds, tmp_path / "d.npz", overwrite=True)
    with pytest.raises(memcap.OutputExists, match="not a memcap model folder"):
        memcap.save(model, tmp_path / "d.npz", overwrite=True)


def test_a_failed_write_leaves_the_old_output_and_no_temporary(tmp_path, monkeypatch):
    ds = memcap.Dataset.random_ids(N=30, n=4, vocab=10, C=3)
    model = memcap.compile(ds)
    memcap.save(model, tmp_path / "m.mc")
    memcap.save_dataset(ds, tmp_path / "d.npz")
    before, data = _tree(tmp_path / "m.mc"), (tmp_path / "d.npz").read_bytes()

    def torn(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("memcap.ir.fileformat.state_dict", torn)  # after model.json is written in the temporary folder
    with pytest.raises(OSError, match="disk full"):
        memcap.save(model, tmp_path / "m.mc", overwrite=True)
    with pytest.raises(OSError, match="disk full"):
        memcap.save(model, tmp_path / "new.mc")
    monkeypatch.setattr("numpy.savez_compressed", lambda f, **a: (f.write(b"PK half"), torn()))
    with pytest.raises(OSError, match="disk full"):
        memcap.save_dataset(ds, tmp_path / "d.npz", overwrite=True)
    assert _tree(tmp_path / "m.mc") == before and (tmp_path / "d.npz").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "m.mc"]  # no temporary left, nothing new


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        ds = memcap.Dataset.random_ids(N=30, n=4, vocab=10, C=3)
        memcap.save(memcap.compile(ds), tmp_path / "m.mc")
        memcap.save_dataset(ds, tmp_path / "d.npz")
    finally:
        os.umask(old)
    for p in [tmp_path / "m.mc" / "weights.safetensors", tmp_path / "m.mc" / "model.json", tmp_path / "d.npz"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, (p, oct(p.stat().st_mode))
    assert stat.S_IMODE((tmp_path / "m.mc").stat().st_mode) == 0o750


def test_trained_model_files_follow_the_umask(tmp_path):
    torch = pytest.importorskip("torch")
    from memcap.nn.model import StandardConfig, build
    from memcap.train.trainer import save_trained

    cfg = StandardConfig(width=4, layers=1, heads=1, seq_len=3, out_dim=2, vocab=5)
    torch.manual_seed(0)
    save_trained(build(cfg), cfg, tmp_path / "t")
    assert stat.S_IMODE((tmp_path / "t" / "model.safetensors").stat().st_mode) == 0o666 & ~_umask()
    with pytest.raises(outputs.OutputExists):
        save_trained(build(cfg), cfg, tmp_path / "t")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_report_folder_resumes_its_own_and_refuses_a_foreign_one(tmp_path):
    foreign = tmp_path / "papers"
    foreign.mkdir()
    (foreign / "draft.tex").write_text("x")
    _refused(_run("report", "-o", foreign, "--quick"), foreign, force_helps=False)
    assert [p.name for p in foreign.iterdir()] == ["draft.tex"]
    own = outputs.results_folder(tmp_path / "r", "report")
    (own / "sweep.jsonl").write_text("")
    assert outputs.results_folder(own, "report") == own  # its own marker: reused as it is
    with pytest.raises(outputs.OutputExists):
        outputs.results_folder(own, "results")  # another kind of memcap folder
    not_sweep = tmp_path / "rows.jsonl"
    not_sweep.write_text("my data\n")
    _refused(_run("scale", "-o", not_sweep, "--N", "10"), not_sweep, force_helps=False)
    assert not_sweep.read_text() == "my data\n"


def test_the_demo_reruns_in_its_own_folder(tmp_path):
    out = tmp_path / "demo"
    for _ in range(2):
        r = _run("demo", "--N", "40", "--n", "4", "--out", out)
        assert r.exit_code == 0, r.output
    assert outputs.holds(out / "tight", "model")


def test_results_folders_of_an_older_memcap_are_taken_and_notes_are_not(tmp_path):
    from memcap.cli.common import _trained_results, built_report

    old_report, old_trained, notes = tmp_path / "report", tmp_path / "trained", tmp_path / "notes"
    for folder, files in ((old_report, {"report.md": "# memcap: measured capacity of built Transformers\n"}),
                          (old_trained, {"curves.md": "x", "sweeps.db": "", "fig3-digits-m8-abc123.png": ""}),
                          (notes, {"curves.md": "my notes", "todo.txt": "x"})):
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
    assert outputs.results_folder(old_report, "report", earlier=built_report) == old_report
    assert outputs.results_folder(old_trained, "results", earlier=_trained_results) == old_trained
    assert (old_trained / outputs.MARKER).exists()  # marked now: reused without guessing next time
    for kind, earlier in (("results", _trained_results), ("report", built_report)):
        with pytest.raises(outputs.OutputExists, match="did not create"):
            outputs.results_folder(notes, kind, earlier=earlier)
    assert sorted(p.name for p in notes.iterdir()) == ["curves.md", "todo.txt"]
