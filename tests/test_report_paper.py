"""The report as a paper's material: every figure inside its canvas in PNG, SVG and PDF; tables in Markdown,
CSV and LaTeX without repeated rows or constant columns; provenance in the report, in provenance.json and
at the top of every CSV; verdicts that need more points say so."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from memcap.reports import figures, provenance  # noqa: E402
from memcap.reports.tables import latex_table, read_csv, tidy, write_csv  # noqa: E402

IDS = dict(vocab=1000, C=10, mode="tight", bit_budget=None, seed=0)
# one or two rows for every figure and table of the random-data report, small enough for the default suite
CONFIGS = (
    [dict(setting="next-token", N=N, n=16, **IDS, **o) for N in (10, 30, 100) for o in ({}, {"objective": "bits"})]
    + [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode=m, bit_budget=b, seed=0) for N in (10, 30)
       for m, b in (("paper", None), ("tight", 48))]
    + [dict(setting="next-token", N=300, n=n, **IDS) for n in (4, 16, 64)]
    + [dict(setting="next-token", N=N, n=8, d=6, C=10, mode="tight", bit_budget=None, seed=0) for N in (10, 30)]
    + [dict(setting="seq2seq", N=N, n=10, **IDS) for N in (1, 3, 10)]
    + [dict(setting="multiset", N=30, n=8, **IDS, **a) for a in ({"arch": "deep-sets"}, {})]
    + [dict(setting="next-token", N=30, n=n, **IDS, **a) for n in (4, 16) for a in ({"attention": "sparse"}, {})]
    + [dict(setting="next-token", N=100, n=16, vocab=1000, C=10, mode="tight", bit_budget=B, float64=True, seed=0)
       for B in ("min", 48, None)]
    + [dict(setting="next-token", N=30, n=n, **IDS, arch=a) for n in (4, 16) for a in ("transformer", "ffn", "rnn")]
)
FIGURES = ("params_vs_N", "params_vs_n", "bits_vs_N", "depth_by_stage", "sparse_attention_vs_n", "bit_budget_N100", "cost_vs_n_ids")
TABLES = ("slopes", "checks", "bits_floor", "bits_objective", "models", "deep_sets_vs_transformer", "bit_budget_N100")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The random-data report of CONFIGS, with the layout problems of every figure measured as it is saved."""
    from memcap.experiments.grid import sweep
    from memcap.reports.built import write_report

    tmp = tmp_path_factory.mktemp("rep")
    rows = sweep(CONFIGS, tmp / "s.jsonl")
    problems, real_save = {}, figures.save

    def save(fig, stem):
        paths = real_save(fig, stem)
        problems[stem.name] = figures.layout_problems(fig)
        return paths

    figures.save = save
    try:
        md = write_report(rows, tmp / "rep", prov=provenance.collect(seeds=[0], argv=["memcap", "report", "-o", "rep"]))
    finally:
        figures.save = real_save
    return tmp / "rep", md.read_text(), problems


def test_every_figure_is_written_three_ways_with_nothing_outside_its_canvas(report):
    out, _, problems = report
    assert set(FIGURES) <= set(problems), sorted(problems)
    for stem, found in problems.items():
        assert found == [], (stem, found)
        for ext in ("png", "svg", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 2000, (stem, ext)
    assert (out / "bits_vs_N.svg").read_text().lstrip().startswith("<?xml")
    assert (out / "bits_vs_N.pdf").read_bytes()[:5] == b"%PDF-"


def test_the_layout_check_finds_a_clipped_title_and_a_legend_off_the_canvas():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2], [1, 2], label="a line with a long label")
    ax.set_title("a title far too long for a figure three inches wide, as the bits figure once had")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    found = figures.layout_problems(fig)
    plt.close(fig)
    assert any("title" in p for p in found) and any("legend" in p for p in found), found


def test_log_tick_labels_never_overlap_on_a_short_range(tmp_path):
    # the cost figure's n axis once labelled 3x10^1 and 4x10^1 on top of each other
    fig, ax = plt.subplots(figsize=(3.4, 2.5), layout="constrained")
    ax.loglog([4, 16, 64], [5025, 5913, 8505], "o-")
    assert any("tick labels overlap" in p for p in figures.layout_problems(fig))  # matplotlib's own ticks
    assert [p.suffix for p in figures.save(fig, tmp_path / "f")] == [".png", ".svg", ".pdf"]
    assert figures.layout_problems(fig) == []
    plt.close(fig)


def test_every_table_is_written_three_ways_without_repeats_or_constant_columns(report):
    out, md, _ = report
    for stem in TABLES:
        for ext in ("md", "csv", "tex"):
            assert (out / f"{stem}.{ext}").exists(), (stem, ext)
    tex = (out / "models.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    models = read_csv(out / "models.csv")
    assert "objective" in models[0] and {"depth", "bits"} <= {m["objective"] for m in models}
    keys = [tuple(v for k, v in m.items() if k not in ("compile s", "verify s")) for m in models]
    assert len(keys) == len(set(keys))  # "next-token" and "next-token transformer" were one model twice
    shown = (out / "models.md").read_text().splitlines()[2]  # the caption, a blank line, the header
    assert "objective" in shown and "lower bounds" not in shown and "lower bounds: hold" in md  # constant: said once
    assert {m["lower bounds"] for m in models} == {"hold"}  # the CSV keeps every column
    tight = [m for m in models if m["setting"] == "next-token" and m["objective"] == "depth" and m["input"] == "ids, vocab 1000"
             and m.get("arch", "transformer") == "transformer" and m.get("attention", "softmax") == "softmax"]
    order = [(m["mode"], float("inf") if m["budget"] == "none" else int(m["budget"]), int(m["N"]), int(m["n"])) for m in tight]
    assert order == sorted(order)
    slopes = read_csv(out / "slopes.csv")
    crossing = [s["params < N at (extrapolated)"] for s in slopes if s["params < N at (extrapolated)"] != "-"]
    assert crossing and all("(extrapolated)" in c or "(in range)" in c for c in crossing)
    assert all(s["measured x"] for s in slopes)


def test_tidy_and_latex():
    header, body, notes = tidy(["a", "b", "c"], [[1, "x", 5], [2, "x", 6], [1, "x", 5]])
    assert header == ["a", "c"] and body == [[1, 5], [2, 6]] and notes == ["b: x"]
    tex = latex_table(["N", "slope_1 & %"], [[10, "0.5"], [100, "-"]], caption="a_b")
    assert "\\begin{tabular}{rr}" in tex and "slope\\_1 \\& \\%" in tex and "\\caption{a\\_b}" in tex


def test_provenance_is_in_the_report_its_json_and_every_csv(report):
    out, md, _ = report
    prov = json.loads((out / "provenance.json").read_text())
    for key in ("memcap", "command", "seeds", "date", "cpus", "python", "numpy", "torch", "matplotlib"):
        assert key in prov, key
    assert prov["command"] == "memcap report -o rep" and prov["seeds"] == [0]
    assert "## Provenance" in md and "memcap report -o rep" in md
    for csv_path in out.glob("*.csv"):
        head = csv_path.read_text().splitlines()[:6]
        assert head[0].startswith("# memcap: ") and any(line.startswith("# command: ") for line in head), csv_path
    html = (out / "report.html").read_text()
    assert "Provenance" in html and "http://" not in html and "https://" not in html


def test_csv_comment_lines_are_skipped_on_read_and_the_date_follows_source_date_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    prov = provenance.collect(seeds=[2, 1], argv=["memcap", "scale"])
    assert prov["date"] == "2023-11-14T22:13:20+00:00" and prov["seeds"] == [1, 2]
    with provenance.active(prov):
        write_csv(tmp_path / "t.csv", ["x", "y"], [[1, 2]])
    assert read_csv(tmp_path / "t.csv") == [{"x": "1", "y": "2"}]
    assert "# command: memcap scale" in (tmp_path / "t.csv").read_text()


def test_a_grid_too_small_for_a_verdict_says_so():
    from memcap.reports.fits import TOO_FEW, checks

    fs = {"next-token tight, params vs N": {"slope": 0.399, "ci95": [0.33, 0.47], "points": 6},
          "next-token tight, params vs N (N >= 1000)": {"slope": 0.43, "ci95": [float("nan")] * 2, "points": 2},
          "next-token, params vs n": {"slope": 0.05, "ci95": [-0.03, 0.13], "points": 2}}
    by = {c["check"]: c for c in checks(fs)}
    assert by["next-token slope vs N in [0.4, 0.6]"]["verdict"] == TOO_FEW
    assert by["next-token slope vs n <= 0.1"]["verdict"] == TOO_FEW
    fs["next-token tight, params vs N (N >= 1000)"]["points"] = 3
    assert {c["check"]: c for c in checks(fs)}["next-token slope vs N in [0.4, 0.6]"]["verdict"] == "NO"


def test_the_same_figure_gives_the_same_bytes_in_every_format(tmp_path):
    for stem in ("a", "b"):
        with figures.plot(tmp_path / stem) as (fig, ax):
            ax.loglog([10, 100, 1000], [30, 95, 310], "o-", label="params")
            figures.labels(ax, "N", "parameters", "The same figure twice")
            figures.legend(fig, ax)
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes(), ext


def test_the_models_table_keeps_the_float64_verdict_of_whichever_row_measured_it(tmp_path):
    from memcap.reports.built_tables import models_table

    base = {"config": {"setting": "next-token", "vocab": 1000, "mode": "tight", "bit_budget": 48, "N": 1000, "n": 16},
            "params": 10, "nonzero_params": 5, "depth": 3, "width": 12, "max_bits": 48, "total_bits": 100,
            "lower_bounds_hold": True, "compile_s": 0.1, "verify_s": 0.1}
    plain, checked = dict(base), {**base, "float64_exact": True}  # the float64-check sweep repeats a plain row
    for rows in ([plain, checked], [checked, plain]):
        models_table(rows, tmp_path)
        body = [line for line in (tmp_path / "models.csv").read_text().splitlines() if not line.startswith("#")]
        assert len(body) == 2 and ",yes," in body[1], body  # one model, its verdict kept whatever the order
