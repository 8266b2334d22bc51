"""The report on a user's dataset: its parameters and bits against N beside random data of the same n,
vocabulary and C, with log-log slopes fitted over every (N, seed) model and their 95% intervals, and the
label bits each weight bit carries. Every model was verified exactly on every example before its row was
written (the sweep's invariant)."""

from __future__ import annotations

import math
from pathlib import Path

from . import figures as fg
from . import page
from .fits import fit_slope
from .tables import table, write_csv

SOURCES = (("data", "your data"), ("random", "random data (same n, vocabulary, C)"))
QUANTITIES = (("params", "parameters"), ("total_bits", "total bits"))


def _rows(rows: list[dict], source: str) -> list[dict]:
    return sorted((r for r in rows if r["config"].get("source") == source and "refused" not in r),
                  key=lambda r: (r["config"]["N"], r["config"]["seed"]))


def floor_bits(cfg: dict) -> float:
    """The label bits of N examples of C classes: N log2 C, times n for seq2seq (a label per token)."""
    return cfg["N"] * (cfg["n"] if cfg["setting"] == "seq2seq" else 1) * math.log2(max(cfg["C"], 2))


def by_N(rs: list[dict], key) -> dict[int, tuple[float, float, float]]:
    """N -> (mean, min, max) of key(row) over the seeds."""
    out: dict[int, list[float]] = {}
    for r in rs:
        out.setdefault(r["config"]["N"], []).append(key(r))
    return {N: (sum(v) / len(v), min(v), max(v)) for N, v in sorted(out.items())}


def fit(rs: list[dict], key: str) -> dict | None:
    """The log-log slope of `key` against N over every model (each seed a point), with its 95% interval."""
    if len({r["config"]["N"] for r in rs}) < 2:
        return None
    s, lo, hi = fit_slope([r["config"]["N"] for r in rs], [r[key] for r in rs])
    return {"slope": s, "lo": lo, "hi": hi, "points": len(rs), "N": (rs[0]["config"]["N"], rs[-1]["config"]["N"])}


def _fit_text(f: dict | None) -> str:
    if f is None:
        return "too few N for a slope"
    ci = "" if math.isnan(f["lo"]) else f" [{f['lo']:.2f}, {f['hi']:.2f}]"
    return f"{f['slope']:.2f}{ci}"


def intro(rows: list[dict]) -> list[str]:
    rs = _rows(rows, "data")
    if not rs:
        return ["No rows of a user's dataset in this sweep.", ""]
    c = rs[0]["config"]
    what = f"token ids ({c['vocab']} distinct)" if "vocab" in c else f"token vectors (d = {c['d']})"
    refused = [r for r in rows if r["config"].get("source") == "random" and "refused" in r]
    seeds = sorted({r["config"]["seed"] for r in rs})
    positions = " with positions joined to the tokens (the data hold permuted sequences with different labels)" if c["positions"] else ""
    return [f"Data: `{c['data']}` (SHA-256 {c['sha256']}…), {c['setting']}, n = {c['n']}, {what}, {c['C']} distinct labels. "
            f"Each N is a random subset (seeds {', '.join(map(str, seeds))}; for one seed every subset holds the smaller ones), "
            f"compiled in tight mode{positions}"
            f"{', architecture ' + c['arch'] if 'arch' in c else ''}, and verified exactly on every example. The random data "
            f"beside it have the same n, vocabulary, number of classes and options, uniform tokens and labels."
            + (f" {len(refused)} random model(s) could not be built: {refused[0]['refused']}" if refused else ""), ""]


def slopes(rows: list[dict], out: Path) -> list[str]:
    header = ["series", "quantity", "slope vs N", "95% CI", "models", "N measured"]
    body = []
    for source, label in SOURCES:
        rs = _rows(rows, source)
        for key, name in QUANTITIES:
            f = fit(rs, key)
            if f:
                ci = "-" if math.isnan(f["lo"]) else f"[{f['lo']:.3f}, {f['hi']:.3f}]"
                body.append([label, name, f"{f['slope']:.3f}", ci, f["points"], f"{f['N'][0]}–{f['N'][1]}"])
    if not body:
        return []
    return ["## Fitted log-log slopes against N", "",
            *table(out, "data_slopes", header, body, "Log-log slopes against N, your data beside random data", keep=("95% CI",)),
            "Each (N, seed) model is one point of the fit; the interval is the t interval of the least-squares slope.", ""]


def growth(rows: list[dict], out: Path) -> list[str]:
    """Parameters and total bits against N, your data beside random data, with the information floor."""
    series = {s: _rows(rows, s) for s, _ in SOURCES}
    if not series["data"]:
        return []
    csv_rows = []
    with fg.plot(out / "data_params_bits_vs_N", cols=2, panels=2) as (fig, axes):
        for ax, (key, _) in zip(axes, QUANTITIES, strict=True):
            for i, (source, label) in enumerate(SOURCES):
                stats = by_N(series[source], lambda r, k=key: r[k])
                if not stats:
                    continue
                Ns = list(stats)
                mean = [m for m, _, _ in stats.values()]
                err = [[m - lo for m, lo, _ in stats.values()], [hi - m for m, _, hi in stats.values()]]
                ax.errorbar(Ns, mean, yerr=err, fmt="o-" if source == "data" else "s--", color=f"C{i}", capsize=2, label=label)
                csv_rows += [[source, key, N, m, lo, hi] for N, (m, lo, hi) in stats.items()]
            ax.set_xscale("log")
            ax.set_yscale("log")
            fg.ticks_at(ax.xaxis, [r["config"]["N"] for r in series["data"]])
        floor = by_N(series["data"], lambda r: floor_bits(r["config"]))
        axes[1].plot(list(floor), [m for m, _, _ in floor.values()], "k:", label="label bits (N log2 C)")
        for ax, (key, name) in zip(axes, QUANTITIES, strict=True):
            fits = "; ".join(f"{who} {_fit_text(fit(series[s], key))}" for s, who in (("data", "yours"), ("random", "random")) if series[s])
            fg.labels(ax, "N (examples)", "parameters (paper convention)" if key == "params" else "bits",
                      f"{name.capitalize()} vs N (slopes: {fits})")
        fg.legend(fig, list(axes))
    write_csv(out / "data_params_bits_vs_N.csv", ["series", "quantity", "N", "mean", "min", "max"], csv_rows)
    return ["## Parameters and bits against N", "",
            *page.figure("data_params_bits_vs_N", "Your data beside random data: parameters and total bits vs N "
                         "(mean over seeds, bars from the smallest to the largest).")]


def bits_per_weight_bit(rows: list[dict], out: Path) -> list[str]:
    """Label bits (N log2 C) carried per bit of weight, against N: the construction's efficiency on each data."""
    with fg.plot(out / "data_bits_per_weight_bit") as (fig, ax):
        csv_rows, any_rows = [], False
        for i, (source, label) in enumerate(SOURCES):
            stats = by_N(_rows(rows, source), lambda r: floor_bits(r["config"]) / r["total_bits"])
            if stats:
                any_rows = True
                ax.plot(list(stats), [m for m, _, _ in stats.values()], "o-" if source == "data" else "s--", color=f"C{i}", label=label)
                csv_rows += [[source, N, f"{m:.5f}", f"{lo:.5f}", f"{hi:.5f}"] for N, (m, lo, hi) in stats.items()]
        ax.set_xscale("log")
        fg.ticks_at(ax.xaxis, [r["config"]["N"] for r in _rows(rows, "data")])
        ax.set_ylim(bottom=0)
        fg.labels(ax, "N (examples)", "label bits per weight bit", "Label bits (N log2 C) per bit of the weights")
        fg.legend(fig, ax)
    if not any_rows:
        return []
    write_csv(out / "data_bits_per_weight_bit.csv", ["series", "N", "mean", "min", "max"], csv_rows)
    return page.figure("data_bits_per_weight_bit", "Label bits per weight bit: N log2 C over the model's total bits "
                       "(for random labels a counting argument keeps it below 1).")


def comparison(rows: list[dict], out: Path) -> list[str]:
    """Per N: mean parameters and bits of your data and of random data, their ratio, the label bits."""
    data, rand = (by_N(_rows(rows, s), lambda r: r["params"]) for s in ("data", "random"))
    dbits, rbits = (by_N(_rows(rows, s), lambda r: r["total_bits"]) for s in ("data", "random"))
    if not data:
        return []
    cfgs = {r["config"]["N"]: r["config"] for r in _rows(rows, "data")}
    header = ["N", "params (your data)", "params (random)", "your / random", "total bits (your data)", "total bits (random)",
              "label bits"]
    body = [[N, f"{m:.0f}", f"{rand[N][0]:.0f}" if N in rand else "-", f"{m / rand[N][0]:.2f}" if N in rand else "-",
             f"{dbits[N][0]:.0f}", f"{rbits[N][0]:.0f}" if N in rbits else "-", f"{floor_bits(cfgs[N]):.0f}"] for N, (m, _, _) in data.items()]
    last = body[-1]
    return ["## Your data beside random data", "",
            *table(out, "data_vs_random", header, body, "Mean over seeds per N: your data beside random data"),
            f"At N = {last[0]} your data need {last[1]} parameters"
            + (f", {last[3]} times what random data of the same shape need." if last[3] != "-" else "."), ""]


def models(rows: list[dict], out: Path) -> list[str]:
    header = ["series", "N", "seed", "params", "nonzero", "depth", "width", "max bits", "total bits", "lower bounds", "compile s", "verify s"]
    body = [[source, r["config"]["N"], r["config"]["seed"], r["params"], r["nonzero_params"], r["depth"], r["width"], r["max_bits"],
             r["total_bits"], "hold" if r["lower_bounds_hold"] else "VIOLATED", r["compile_s"], r["verify_s"]]
            for source, _ in SOURCES for r in _rows(rows, source)]
    return ["## Models", "", *table(out, "data_models", header, body, "Every model, verified exactly on every example")]


SECTIONS: list[page.Section] = [slopes, growth, bits_per_weight_bit, comparison, models]


def write_report(rows: list[dict], out: Path, prov: dict | None = None) -> Path:
    """report.md, report.html and provenance.json for a sweep on a user's dataset."""
    from . import provenance

    prov = prov or provenance.collect(seeds=[r["config"]["seed"] for r in rows])
    return page.write(out, "memcap: your data beside random data", intro(rows), SECTIONS, rows, prov)


def summary(rows: list[dict]) -> list[str]:
    """One line per series for the terminal: the slopes of parameters and bits against N."""
    return [f"{label}: params slope {_fit_text(fit(_rows(rows, s), 'params'))}, total bits slope "
            f"{_fit_text(fit(_rows(rows, s), 'total_bits'))} ({len(_rows(rows, s))} models)" for s, label in SOURCES if _rows(rows, s)]
