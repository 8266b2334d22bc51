import json

from memcap.bounds import all_bounds, check_lower_bounds, thm43_min_params
from memcap.experiments.grid import sweep
from memcap.reports.built import write_report
from memcap.reports.fits import fits

CONFIGS = [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode="tight", bit_budget=None, seed=0)
           for N in (10, 30, 100, 300)] + [
    dict(setting="seq2seq", N=N, n=4, d=3, C=10, mode="tight", bit_budget=None, seed=0) for N in (5, 20, 60)]


def strip(rows):
    return [{k: v for k, v in r.items() if k not in ("compile_s", "verify_s")} for r in rows]


def test_every_lower_bound_holds_for_every_built_model(tmp_path):
    rows = sweep(CONFIGS, tmp_path / "s.jsonl")
    assert len(rows) == len(CONFIGS)
    for r in rows:
        c = r["config"]
        checks = check_lower_bounds(r, c["N"], c["n"], c["C"], c["setting"])
        assert checks and all(ok for *_, ok in checks), checks
        assert r["lower_bounds_hold"]


def test_resumed_sweep_equals_uninterrupted(tmp_path):
    full = sweep(CONFIGS, tmp_path / "full.jsonl")
    part = tmp_path / "part.jsonl"
    sweep(CONFIGS[:3], part)
    with part.open("a") as f:  # a run killed mid-write leaves a torn line
        f.write(json.dumps(full[3])[:40])
    resumed = sweep(CONFIGS, part)
    assert strip(resumed) == strip(full)
    assert strip([json.loads(x) for x in part.read_text().splitlines()]) == strip(full)


def test_report_and_fits(tmp_path):
    rows = sweep(CONFIGS, tmp_path / "s.jsonl")
    md = write_report(rows, tmp_path / "rep")
    text = md.read_text()
    assert "Fitted log-log slopes" in text and (tmp_path / "rep" / "report.html").exists()
    for f in ("params_vs_N", "params_vs_n", "bits_vs_N", "depth_by_stage"):
        assert (tmp_path / "rep" / f"{f}.png").stat().st_size > 1000
        assert (tmp_path / "rep" / f"{f}.csv").read_text().count("\n") >= 2 or f == "params_vs_n"
    fs = fits(rows)
    assert 0 < fs["next-token tight, params vs N"]["slope"] < 1


def test_thm43_bound_solves_its_inequality():
    import math

    for nN in (10, 1000, 10**6):
        W = thm43_min_params(nN)
        assert abs(nN - 9 * W * W * math.log2(48 * math.e * nN)) < 1e-6 * nN
    names = {b.name for b in all_bounds(1000, 8, 6, 10, setting="seq2seq")}
    assert "seq2seq hardmax lower bound" in names and "Madden et al. 2024 (next-token, positions)" in names


def test_checks_say_which_expectation_disagrees_and_why():
    from memcap.reports.fits import checks

    fs = {"next-token tight, params vs N": {"slope": 0.30, "ci95": [0.2, 0.4]},
          "next-token tight, params vs N (N >= 1000)": {"slope": 0.51, "ci95": [0.45, 0.55]},
          "next-token, params vs n": {"slope": 0.01, "ci95": [0.0, 0.02]}}
    by = {c["check"]: c for c in checks(fs)}
    nt = by["next-token slope vs N in [0.4, 0.6]"]
    assert not nt["ok"] and "embedding table" in nt["why"] and "0.510 [0.450, 0.550]" in nt["why"]
    assert by["next-token slope vs n <= 0.1"]["ok"] and by["next-token slope vs n <= 0.1"]["why"] == ""
    s2s = by["seq2seq slope vs nN in [0.4, 0.6]"]
    assert not s2s["ok"] and s2s["slope"] is None and "not measured" in s2s["why"]


def test_bits_per_weight_bit_section_puts_built_beside_trained(tmp_path):
    from memcap.reports.weightbits import section

    cfgs = [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode="tight", bit_budget=None, seed=0, **obj)
            for N in (100, 300) for obj in ({}, {"objective": "bits"})]
    rows = sweep(cfgs, tmp_path / "s.jsonl")
    cap = tmp_path / "capacity_models.csv"
    cap.write_text("arch,depth,width,params,bits_per_param\ngpt,1,32,20000,2.56\n")
    md = "\n".join(section(rows, cap))
    assert md.startswith("## Bits per weight bit: built against trained")
    for r in rows:
        c = r["config"]
        what = "bits objective" if c.get("objective") == "bits" else "depth objective"
        assert f"built, {what}, N = {c['N']} | {r['total_bits']} bits" in md
        assert f"{c['N'] * 3.321928094887362 / r['total_bits']:.3f}" in md
    assert "| 0.22 |" in md and "| 0.12 |" in md and "| 0.080 |" in md  # bf16 3.5 / 16, float32 3.8 / 32, 2.56 / 32
    assert section([]) == []
