"""Report (issue #4): tables and figures of a sweep's rows, as Markdown and HTML, each figure's data as a
CSV beside it. Figures: params vs N (log-log, with sqrt N, N and the lower bound), params vs n, bits vs N
(with the information floor N log2 C), depth split by stage."""

from __future__ import annotations

import csv
import html
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .bounds import thm43_min_params  # noqa: E402
from .scale import checks, fit_slope, fits, select  # noqa: E402


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, legend: int | None) -> None:
    """Label, lay out, save and close one figure (legend: its font size, or None for no legend)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend is not None:  # beside the axes: log-log lines fill every corner of them
        ax.legend(fontsize=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _series(rows, **where):
    rs = select(rows, **where)
    return [r["config"]["N"] for r in rs], rs


def figures(rows: list[dict], out: Path) -> list[tuple[str, str]]:
    out.mkdir(parents=True, exist_ok=True)
    figs = []
    # 1. params vs N
    fig, ax = plt.subplots(figsize=(10, 5))
    data_rows = []
    for label, where in [
        ("next-token tight", dict(setting="next-token", mode="tight", bit_budget=None, n=16, vocab=1000)),
        ("next-token paper constants", dict(setting="next-token", mode="paper", n=16)),
        ("next-token 48-bit budget", dict(setting="next-token", bit_budget=48, n=16)),
        ("next-token vectors d=6", dict(setting="next-token", d=6)),
        ("seq2seq (x = nN)", dict(setting="seq2seq")),
    ]:
        Ns, rs = _series(rows, **where)
        if not rs:
            continue
        xs = [r["config"]["N"] * (r["config"]["n"] if where.get("setting") == "seq2seq" else 1) for r in rs]
        ax.loglog(xs, [r["params"] for r in rs], "o-", label=label)
        data_rows += [[label, x, r["params"], r["nonzero_params"]] for x, r in zip(xs, rs, strict=True)]
    if data_rows:
        xs = sorted({r[1] for r in data_rows})
        ax.loglog(xs, [x for x in xs], "k--", label="N (one parameter per example)")
        ax.loglog(xs, [math.sqrt(x) for x in xs], "k:", label="sqrt(N) (= lower bound, Thm 4.2, constant 1)")
        ax.loglog(xs, [thm43_min_params(x) for x in xs], "k-.", lw=0.8, label="seq2seq lower bound: nN <= 9W^2 log2(48e nN) (Thm 4.3)")
    _finish(
        fig,
        ax,
        out / "params_vs_N.png",
        "N (seq2seq: nN)",
        "parameters (paper convention)",
        "Built models: parameters grow like sqrt(N)",
        legend=8,
    )
    write_csv(out / "params_vs_N.csv", ["series", "N_or_nN", "params", "nonzero_params"], data_rows)
    figs.append(("params_vs_N.png", "Parameters of built models vs N, log-log, with N and sqrt(N) lines."))
    # 2. params vs n
    rs = select(rows, setting="next-token", mode="tight", bit_budget=None, vocab=1000, N=lambda N: N in (300, 1000))
    Ns = [r["config"]["N"] for r in rs]
    rs = [r for r in rs if Ns and r["config"]["N"] == max(set(Ns), key=Ns.count)]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogx([r["config"]["n"] for r in rs], [r["params"] for r in rs], "o-")
    ax.set_ylim(0, max([r["params"] for r in rs] or [1]) * 1.3)
    _finish(
        fig,
        ax,
        out / "params_vs_n.png",
        "sequence length n",
        "parameters",
        f"Next-token, N={rs[0]['config']['N'] if rs else '?'}: parameters do not grow with n",
        legend=None,
    )
    write_csv(out / "params_vs_n.csv", ["n", "params"], [[r["config"]["n"], r["params"]] for r in rs])
    figs.append(("params_vs_n.png", "Parameters vs sequence length at fixed N."))
    # 3. bits vs N
    Ns, rs = _series(rows, setting="next-token", mode="tight", bit_budget=None, n=16, vocab=1000)
    fig, ax = plt.subplots(figsize=(7, 5))
    if rs:
        ax.loglog(Ns, [r["total_bits"] for r in rs], "o-", label="total bits (sum over parameters)")
        ax.loglog(Ns, [r["max_bits"] for r in rs], "s-", label="max bits of one parameter")
        ax.loglog(Ns, [N * math.log2(r["config"]["C"]) for N, r in zip(Ns, rs, strict=True)], "k--", label="information floor N log2 C")
    _finish(fig, ax, out / "bits_vs_N.png", "N", "bits", "Bits of the tight next-token models", legend=8)
    write_csv(
        out / "bits_vs_N.csv",
        ["N", "total_bits", "max_bits", "floor"],
        [[N, r["total_bits"], r["max_bits"], N * math.log2(r["config"]["C"])] for N, r in zip(Ns, rs, strict=True)],
    )
    figs.append(("bits_vs_N.png", "Total and max bits vs the N log2 C floor."))
    # 4. depth by stage
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [str(N) for N in Ns]
    bottoms = [0] * len(rs)
    for stage in ("phi", "attention", "F2"):
        vals = [r["stages"].get(stage, 0) for r in rs]
        ax.bar(labels, vals, bottom=bottoms, label=stage)
        bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
    _finish(
        fig,
        ax,
        out / "depth_by_stage.png",
        "N (next-token, tight, token ids: phi~ is the embedding, 0 blocks)",
        "blocks",
        "Depth split by stage",
        legend=10,
    )
    write_csv(
        out / "depth_by_stage.csv",
        ["N", "phi", "attention", "F2"],
        [[N, r["stages"].get("phi", 0), r["stages"].get("attention", 0), r["stages"].get("F2", 0)] for N, r in zip(Ns, rs, strict=True)],
    )
    figs.append(("depth_by_stage.png", "Blocks per stage: phi~, the attention block, F2."))
    return figs


def write_report(rows: list[dict], out: Path) -> Path:
    out = Path(out)
    figs = figures(rows, out)
    fs = fits(rows)
    md = [
        "# memcap: measured capacity of built Transformers",
        "",
        f"{len(rows)} models, each verified exactly on every example before its row was written.",
        "",
        "## Fitted log-log slopes (95% CI)",
        "",
        "| series | slope | 95% CI | points | params < N at |",
        "|---|---|---|---|---|",
    ]
    for name, f in fs.items():
        at = f.get("params_below_N_at")
        md.append(
            f"| {name} | {f['slope']:.3f} | [{f['ci95'][0]:.3f}, {f['ci95'][1]:.3f}] | {f['points']} | {format(at, '.3g') if at else '-'} |"
        )
    md += ["", "## Checks against the theorems", "", "| expectation | measured slope | agrees | why not |", "|---|---|---|---|"]
    for c in checks(fs):
        slope = "-" if c["slope"] is None else format(c["slope"], ".3f")
        md.append(f"| {c['check']} | {slope} | {'yes' if c['ok'] else 'NO'} | {c['why'] or '-'} |")
    md += [
        "",
        "Expectations (issue #4): next-token slope vs N in [0.4, 0.6], vs n <= 0.1; "
        "seq2seq vs nN in [0.4, 0.6]. The token-id models carry a constant embedding table "
        "(vocabulary x m entries), which flattens their slope at small N. "
        "The 48-bit series is expected to be steeper: Theorem F.1 gives O~(N/B) parameters for B-bit weights, "
        "so at fixed B the slope tends to 1. Logs hidden by O~ bend every curve up a little at small N.",
        "",
    ]
    floor_rows = select(rows, setting="next-token", mode="tight", bit_budget=None, n=16, vocab=1000)
    if floor_rows:
        md += ["## Total bits against the information floor N log2 C", "",
               "| N | total bits | N log2 C | total / floor | max bits | params |", "|---|---|---|---|---|---|"]
        floors = [r["config"]["N"] * math.log2(r["config"]["C"]) for r in floor_rows]
        for r, floor in zip(floor_rows, floors, strict=True):
            cells = (r["config"]["N"], r["total_bits"], f"{floor:.0f}", f"{r['total_bits'] / floor:.1f}", r["max_bits"], r["params"])
            md.append("| " + " | ".join(map(str, cells)) + " |")
        if len(floor_rows) >= 3:
            s, lo, hi = fit_slope([r["config"]["N"] for r in floor_rows], [r["total_bits"] for r in floor_rows])
            big = [r["total_bits"] / floor for r, floor in zip(floor_rows, floors, strict=True) if r["config"]["N"] >= 1000]
            md += ["", f"Total bits grow like N^{s:.2f} [{lo:.2f}, {hi:.2f}] against the floor's N^1. "
                   + (f"From N = 1000 on, the total is {min(big):.0f}-{max(big):.0f} times the floor: "
                      "no counting bound is violated, and the construction pays a roughly constant factor for its stream "
                      "width and bit extraction. " if big else "")
                   + "At small N the constant embedding table makes the ratio much larger."]
        md.append("")
    md += [
        "## Models",
        "",
        "| setting | N | n | mode | budget | params | nonzero | depth | width | max bits | total bits | lower bounds | compile s | verify s |",
        "|" + "---|" * 14,
    ]
    for r in sorted(
        rows, key=lambda r: (r["config"]["setting"], r["config"]["mode"], str(r["config"]["bit_budget"]), r["config"]["N"], r["config"]["n"])
    ):
        c = r["config"]
        md.append(
            f"| {c['setting']}{' d=' + str(c['d']) if 'd' in c else ''} | {c['N']} | {c['n']} | {c['mode']} | "
            f"{c['bit_budget'] or '-'} | {r['params']} | {r['nonzero_params']} | {r['depth']} | {r['width']} | "
            f"{r['max_bits']} | {r['total_bits']} | {'hold' if r['lower_bounds_hold'] else 'VIOLATED'} | "
            f"{r['compile_s']} | {r['verify_s']} |"
        )
    md += ["", "## Figures", ""]
    for f, cap in figs:
        md += [f"![{cap}]({f})", "", f"*{cap}* Data: `{f.replace('.png', '.csv')}`.", ""]
    text = "\n".join(md) + "\n"
    (out / "report.md").write_text(text)
    body = []
    for line in md:
        if line.startswith("!["):
            cap, src = line[2:].split("](")
            body.append(f'<figure><img src="{html.escape(src[:-1])}"><figcaption>{html.escape(cap)}</figcaption></figure>')
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    page, in_table = [], False
    for b in body:
        if b.startswith("<tr>") and not in_table:
            page.append("<table border=1 cellspacing=0 cellpadding=3>")
            in_table = True
        if not b.startswith("<tr>") and in_table:
            page.append("</table>")
            in_table = False
        page.append(b)
    if in_table:
        page.append("</table>")
    (out / "report.html").write_text("<!doctype html><meta charset=utf-8><title>memcap report</title>\n" + "\n".join(page) + "\n")
    return out / "report.md"
