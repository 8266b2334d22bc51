"""The construction's report on random data: report.md and report.html from a sweep's rows, each figure
(PNG, SVG, PDF) beside the table it belongs to and its data as a CSV. Figures: parameters against N
(log-log, with a sqrt N line fitted through the data, N, and the lower bounds), parameters against n, bits
against N (with the information floor N log2 C), depth split by stage. Titles state what was measured.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from ..bounds import thm43_min_params
from . import figures as fg
from . import page
from .built_tables import bits_objective, checks_table, floor_table, models_table, slopes_table
from .fits import SERIES, fit_slope, series_rows, x_of
from .tables import write_csv
from .variants import VARIANT_SECTIONS, trained_section
from .weightbits import section as weight_bits_section

PARAM_SERIES = (
    ("next-token tight", "next-token tight, params vs N"),
    ("next-token paper constants", "next-token paper, params vs N"),
    ("next-token 48-bit budget", "next-token 48-bit, params vs N"),
    ("next-token vectors d=6", "next-token vectors d=6, params vs N"),
    ("seq2seq (x = nN)", "seq2seq, params vs nN"),
)


def measured(rows: list[dict]) -> list[dict]:
    """The rows with a model (a budget below what the data allows is recorded as refused, with no model)."""
    return [r for r in rows if "refused" not in r]


def fitted_constant(xs, ys, power: float = 0.5) -> float:
    """a of the line a x^power fitted through (xs, ys) in log-log (least squares): the reference drawn
    through the data instead of a constant of 1 decades below it."""
    return math.exp(sum(math.log(y) - power * math.log(x) for x, y in zip(xs, ys, strict=True)) / len(xs))


def slope_text(xs, ys) -> str:
    if len(xs) < 2:
        return "too few points for a slope"
    s, lo, hi = fit_slope(xs, ys)
    return f"slope {s:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if len(xs) >= 3 else "")


def params_vs_N(rows: list[dict], out: Path) -> list[str]:
    data_rows = []
    with fg.plot(out / "params_vs_N", cols=2, height=3.0) as (fig, ax):
        for label, name in PARAM_SERIES:
            rs = series_rows(rows, name)
            if rs:
                xs = [x_of(r, SERIES[name][1]) for r in rs]
                ax.loglog(xs, [r["params"] for r in rs], "o-", label=label)
                data_rows += [[label, x, r["params"], r["nonzero_params"]] for x, r in zip(xs, rs, strict=True)]
        tight = [(r[1], r[2]) for r in data_rows if r[0] == "next-token tight"]
        title = "Built models: parameters vs N"
        if data_rows:
            xs = sorted({r[1] for r in data_rows})
            ax.loglog(xs, xs, "k--", label="N (one parameter per example)")
            if tight:
                tight_n, tight_params = zip(*tight, strict=True)
                a = fitted_constant(tight_n, tight_params)
                ax.loglog(xs, [a * math.sqrt(x) for x in xs], color="0.5", lw=3, alpha=0.35, label=f"{a:.3g} sqrt(N), fitted to tight")
                title += f" (next-token tight: {slope_text(*zip(*tight, strict=True))})"
            ax.loglog(xs, [math.sqrt(x) for x in xs], "k:", label="sqrt(N): lower bound, Thm 4.2, constant 1")
            ax.loglog(xs, [thm43_min_params(x) for x in xs], "k-.", lw=0.8, label="seq2seq lower bound (Thm 4.3)")
        fg.labels(ax, "N (seq2seq: nN)", "parameters (paper convention)", title)
        fg.legend(fig, ax)
    write_csv(out / "params_vs_N.csv", ["series", "N_or_nN", "params", "nonzero_params"], data_rows)
    return page.figure("params_vs_N", "Parameters of built models vs N, log-log, with the N and sqrt(N) lines.")


def params_vs_n(rows: list[dict], out: Path) -> list[str]:
    rs = series_rows(rows, "next-token, params vs n")
    ns, ps = [r["config"]["n"] for r in rs], [r["params"] for r in rs]
    with fg.plot(out / "params_vs_n") as (fig, ax):
        ax.semilogx(ns, ps, "o-")
        fg.ticks_at(ax.xaxis, ns)
        ax.set_ylim(0, max(ps or [1]) * 1.15)
        fg.labels(ax, "sequence length n", "parameters",
                  f"Next-token, N = {rs[0]['config']['N'] if rs else '?'}: parameters vs n ({slope_text(ns, ps)})")
    write_csv(out / "params_vs_n.csv", ["n", "params"], [[n, p] for n, p in zip(ns, ps, strict=True)])
    return page.figure("params_vs_n", "Parameters vs sequence length at fixed N.")


def bits_vs_N(rows: list[dict], out: Path) -> list[str]:
    rs = series_rows(rows, "next-token tight, params vs N")
    Ns = [r["config"]["N"] for r in rs]
    by_bits = {r["config"]["N"]: r for r in series_rows(rows, "next-token tight bits objective, params vs N")}
    balanced = {r["config"]["N"]: r for r in series_rows(rows, "next-token tight balanced objective, params vs N")}
    floors = [N * math.log2(r["config"]["C"]) for N, r in zip(Ns, rs, strict=True)]
    with fg.plot(out / "bits_vs_N", height=2.6) as (fig, ax):
        if rs:
            ax.loglog(Ns, [r["total_bits"] for r in rs], "o-", label="total bits, depth objective")
            ax.loglog(Ns, [r["max_bits"] for r in rs], "s-", label="max bits of one parameter")
            ax.loglog(Ns, floors, "k--", label="information floor N log2 C")
        if by_bits:
            ax.loglog(list(by_bits), [r["total_bits"] for r in by_bits.values()], "^-", label="total bits, bits objective")
        if balanced:
            ax.loglog(list(balanced), [r["total_bits"] for r in balanced.values()], "v-",
                      label="total bits, balanced objective (default)")
        ratio = f": total / floor at N = {Ns[-1]}, depth objective {rs[-1]['total_bits'] / floors[-1]:.0f}x" if rs else ""
        if rs and Ns[-1] in balanced:
            ratio += f", balanced {balanced[Ns[-1]]['total_bits'] / floors[-1]:.1f}x"
        fg.labels(ax, "N", "bits", f"Bits of the tight next-token models{ratio}")
        fg.legend(fig, ax)
    write_csv(out / "bits_vs_N.csv", ["N", "total_bits", "max_bits", "floor", "total_bits_bits_objective",
                                      "total_bits_balanced_objective"],
              [[N, r["total_bits"], r["max_bits"], f, by_bits[N]["total_bits"] if N in by_bits else "",
                balanced[N]["total_bits"] if N in balanced else ""] for N, r, f in zip(Ns, rs, floors, strict=True)])
    return page.figure("bits_vs_N", "Total and max bits vs the N log2 C floor.")


def depth_by_stage(rows: list[dict], out: Path) -> list[str]:
    """Blocks per stage as bars side by side on a log axis, each bar's count written on it: F2 holds nearly
    every block, so stacked bars would hide phi~ and the attention block."""
    rs = series_rows(measured(rows), "next-token tight, params vs N")
    if not rs:
        return []
    Ns = [r["config"]["N"] for r in rs]
    stages = ("phi", "attention", "F2")
    with fg.plot(out / "depth_by_stage", height=2.5) as (fig, ax):
        width = 0.27
        for k, stage in enumerate(stages):
            vals = [r["stages"].get(stage, 0) for r in rs]
            xs = [i + (k - 1) * width for i in range(len(rs))]
            ax.bar(xs, [max(v, 0.6) if v else 0 for v in vals], width, label=stage, log=True)
            for x, v in zip(xs, vals, strict=True):
                ax.annotate(str(v), (x, max(v, 0.6)), ha="center", va="bottom", fontsize=5.5, xytext=(0, 1), textcoords="offset points")
        ax.set_xticks(range(len(rs)), [str(N) for N in Ns])
        ax.set_ylim(0.5, max(sum(r["stages"].values()) for r in rs) * 3)
        last = rs[-1]["stages"]
        fg.labels(ax, "N (next-token, tight, token ids: phi~ is the embedding, 0 blocks)", "blocks",
                  f"Depth by stage: F2 holds {last.get('F2', 0)} of {sum(last.values())} blocks at N = {Ns[-1]}")
        fg.legend(fig, ax)
    write_csv(out / "depth_by_stage.csv", ["N", *stages], [[N, *(r["stages"].get(s, 0) for s in stages)] for N, r in zip(Ns, rs, strict=True)])
    return ["## Depth by stage", "", *page.figure("depth_by_stage", "Blocks per stage: phi~, the attention block, F2.")]


def _slopes(rows, out):
    rows = measured(rows)
    return slopes_table(rows, out) + params_vs_N(rows, out) + params_vs_n(rows, out)


def _floor(rows, out):
    rows = measured(rows)
    floor = floor_table(rows, out)
    return floor + (bits_vs_N(rows, out) if floor else []) + bits_objective(rows, out)


def _models(rows, out):
    return models_table(measured(rows), out)


def _checks(rows, out):
    return checks_table(measured(rows), out)


SECTIONS: list[page.Section] = [_slopes, _checks, _floor, _models, depth_by_stage, *VARIANT_SECTIONS]


def write_report(rows: list[dict], out: Path, trained: Path | None = None, prov: dict | None = None) -> Path:
    """report.md, report.html and provenance.json in `out` from the sweep's rows; with `trained`, the trained
    cost-vs-n results that `memcap repro architectures` wrote there, when present."""
    from . import provenance

    prov = prov or provenance.collect(seeds=[r["config"].get("seed", 0) for r in rows])
    intro = [f"{len(measured(rows))} models, each verified exactly on every example before its row was written.", ""]
    sections: list[page.Section] = [*SECTIONS, functools.partial(_weight_bits, trained), functools.partial(_trained, trained), _localization]
    return page.write(out, "memcap: measured capacity of built Transformers", intro, sections, rows, prov)


def _trained(trained: Path | None, rows: list[dict], out: Path) -> list[str]:
    return trained_section(trained, out)


def _localization(rows: list[dict], out: Path) -> list[str]:
    """The tables that `memcap localize -o OUT/localization/LABEL` wrote under this report, when present."""
    from ..localize.report import report_hook

    return report_hook(out)


def _weight_bits(trained: Path | None, rows: list[dict], out: Path) -> list[str]:
    """Bits per weight bit of the built models beside trained ones (repro capacity's table when present)."""
    return weight_bits_section(rows, Path(trained) / "capacity_models.csv" if trained else None)
