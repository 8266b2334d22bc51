"""`memcap scale --data` and `memcap report --data`: a user's dataset (scikit-learn's digits as 64 pixel
tokens; a text through `memcap data text`; seq2seq vectors; multisets; data that need positions) in nested
random subsets, every model verified, beside random data of the same shape; and the report in a browser."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from memcap import data
from memcap.cli import app
from memcap.experiments import userdata

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    sk = pytest.importorskip("sklearn.datasets")
    d = sk.load_digits()
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, tokens=d.images.reshape(len(d.target), -1).astype(np.int64), labels=d.target)
    return path


@pytest.fixture(scope="module")
def digits_report(digits):
    out = digits.parent / "rep"
    r = runner.invoke(app, ["report", "--data", str(digits), "--quick", "--seeds", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scale_on_digits_verifies_every_model_and_fits_slopes(digits):
    out = digits.parent / "s.jsonl"
    r = runner.invoke(app, ["scale", "--data", str(digits), "--N", "30,100,300", "--seeds", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = _rows(out)
    assert len(rows) == 12 and {r["config"]["source"] for r in rows} == {"data", "random"}
    for row in rows:
        c = row["config"]
        assert row["verified_positions"] == c["N"] and row["lower_bounds_hold"]
        assert (c["n"], c["C"], c["vocab"]) == (64, 10, 17)
    assert "your data: params slope 0." in r.output and "random data (same n, vocabulary, C): params slope 0." in r.output
    cfg = rows[0]["config"]
    small, big = (userdata.subset({**cfg, "N": N}) for N in (30, 100))
    assert (big.tokens[:30] == small.tokens).all()  # nested: the first 30 of one permutation
    again = runner.invoke(app, ["scale", "--data", str(digits), "--N", "30,100,300", "--seeds", "2", "-o", str(out)])
    assert again.exit_code == 0 and "every model was in the file" in again.output and len(_rows(out)) == 12
    assert "12/12" in again.output and "None" not in again.output  # a rerun's bar once read 0/None


def test_report_on_digits_writes_figures_tables_and_provenance(digits_report):
    out = digits_report
    for name in ("report.md", "report.html", "provenance.json"):
        assert (out / name).exists(), name
    for stem in ("data_params_bits_vs_N", "data_bits_per_weight_bit"):
        for ext in ("png", "svg", "pdf", "csv"):
            assert (out / f"{stem}.{ext}").stat().st_size > 100, (stem, ext)
    for stem in ("data_slopes", "data_vs_random", "data_models"):
        for ext in ("md", "csv", "tex"):
            assert (out / f"{stem}.{ext}").exists(), (stem, ext)
    md = (out / "report.md").read_text()
    assert "n = 64, token ids (17 distinct), 10 distinct labels" in md and "## Provenance" in md
    from memcap.reports.tables import read_csv

    slopes = read_csv(out / "data_slopes.csv")
    assert {s["series"] for s in slopes} == {"your data", "random data (same n, vocabulary, C)"}
    assert all(0 < float(s["slope vs N"]) < 1.5 and s["95% CI"].startswith("[") for s in slopes)


def test_a_text_through_memcap_data_text(tmp_path):
    r = runner.invoke(app, ["data", "text", str(ROOT / "README.md"), str(tmp_path / "t.npz"), "--n", "8", "--limit", "400"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["report", "--data", str(tmp_path / "t.npz"), "--quick", "--seeds", "1", "-o", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    rows = _rows(tmp_path / "rep" / "sweep.jsonl")
    assert sorted(r["config"]["N"] for r in rows if r["config"]["source"] == "data") == [30, 100, 300]
    assert "your data" in (tmp_path / "rep" / "report.md").read_text()


def test_seq2seq_vectors_multisets_and_data_that_need_positions(tmp_path):
    data.save(data.random_vectors(40, 4, 3, 5, seed=1, setting="seq2seq"), tmp_path / "s2s.npz")
    data.save(data.random_ids(40, 6, 30, 4, seed=2, setting="multiset"), tmp_path / "ms.npz")
    ds = data.random_ids(40, 5, 50, 3, seed=3)
    tokens = ds.tokens.copy()
    tokens[1] = tokens[0][[1, 0, 2, 3, 4]]  # a permutation of example 0, the same last token
    labels = ds.labels.copy()
    labels[1] = (labels[0] + 1) % 3
    np.savez(tmp_path / "pos.npz", tokens=tokens, labels=labels)
    for name, extra in (("s2s", []), ("ms", ["--arch", "deep-sets"]), ("pos", [])):
        out = tmp_path / f"{name}.jsonl"
        r = runner.invoke(app, ["scale", "--data", str(tmp_path / f"{name}.npz"), "--N", "10,20,40", "--seeds", "1", "-o", str(out), *extra])
        assert r.exit_code == 0, (name, r.output)
        rows = _rows(out)
        assert len(rows) == 6 and all("refused" not in r for r in rows), name
        assert all(r["config"]["positions"] == (name == "pos") for r in rows)
    assert _rows(tmp_path / "ms.jsonl")[1]["config"]["setting"] == "multiset"  # the random match of a Deep Sets series


def test_mistyped_data_options_end_in_one_error_line(digits, tmp_path):
    out = tmp_path / "never"
    for args in (["scale", "--data", str(digits), "--N", "30,5000", "-o", str(out / "s.jsonl")],
                 ["scale", "--data", str(tmp_path / "missing.npz"), "-o", str(out / "s.jsonl")],
                 ["report", "--N", "30", "-o", str(out)]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and r.output.count("error:") == 1 and "Traceback" not in r.output, (args, r.output)
        assert not out.exists(), args


PROBE = ("<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
         "document.body.setAttribute('data-images', imgs.length);"
         "document.body.setAttribute('data-broken', imgs.filter(i=>!i.complete||i.naturalWidth===0)"
         ".map(i=>i.getAttribute('src')).join(' '));});</script>")


def _browser_images(html: Path) -> tuple[int, list[str]]:
    """(images, the ones that did not load) of a page rendered by headless Chromium from the file."""
    probe = html.with_name(".probe.html")
    probe.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                              "--disable-background-networking", "--disable-component-update", "--disable-sync",
                              f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    probe.unlink()
    body = dom[dom.index("<body"):dom.index(">", dom.index("<body"))]
    count = int(body.split('data-images="')[1].split('"')[0])
    broken = body.split('data-broken="')[1].split('"')[0].split()
    return count, broken


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium here (apt-get install chromium)")
def test_the_html_report_loads_every_image_in_chromium_without_the_network(digits_report):
    html = digits_report / "report.html"
    text = html.read_text()
    assert "http://" not in text and "https://" not in text and "<link" not in text and "<script" not in text
    count, broken = _browser_images(html)
    assert count == 2 and broken == []
    bad = digits_report / "bad.html"  # the check itself: a missing image is reported
    bad.write_text(text.replace("data_bits_per_weight_bit.png", "missing.png"))
    assert _browser_images(bad)[1] == ["missing.png"]


def test_the_default_grid_ends_at_a_small_files_size():
    from memcap.experiments.userdata import grid

    assert grid(200, quick=True) == [30, 100, 200]  # 300 does not fit: the whole file takes its place
    assert grid(10**6, quick=True) == [30, 100, 300]  # the quick grid stays quick on a big file
    assert grid(5000, quick=False) == [100, 300, 1000, 3000, 5000]
    assert grid(20, quick=True) == [20]
