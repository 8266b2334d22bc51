"""Tables and figures for trained capacity: Fig 3 and n-independence tables beside the paper's
numbers, the Figs 1–2 curves, bits per parameter beside the anchors. Every figure has its data beside it
as CSV, and every table states its method, sizes and seeds, so a reader needs no code to judge it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .. import outputs
from ..train.ablation import BASELINE
from ..train.experiment import Experiment
from ..train.experiments import ANCHORS, Curve
from . import figures as fg
from .tables import write_csv


def _csv(path: Path, rows: list[dict]) -> None:
    """Dict rows through the report's CSV writer: the union of keys as header, dicts as JSON cells."""
    keys = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v):
        return json.dumps(v) if isinstance(v, dict) else ("" if v is None else v)

    write_csv(path, keys, [[cell(r.get(k)) for k in keys] for r in rows])


def _method(exp: Experiment) -> str:
    lr, wu = exp.lr, exp.warmup
    return (f"Method: {exp.n_trials} (learning rate, warm-up) settings per candidate from a scrambled Sobol design "
            f"(lr {lr[0]:g}..{lr[1]:g} log-uniform, warm-up {wu[0]}..{wu[1]} epochs), AdamW, full batch, at most {exp.epochs} "
            f"epochs, memorized = training error < {exp.threshold}; trial k uses seed {exp.seed}+k; gallop then bisect over "
            f"{exp.size} in {exp.candidates[0]}..{exp.candidates[-1]}. Model/task: {json.dumps(exp.spec, sort_keys=True)}.")


def min_size_table(exp: Experiment, rows: list[dict], out: Path) -> Path:
    """Minimum model size per point (Fig 3, n-independence), with the paper's numbers where it has them."""
    out.mkdir(parents=True, exist_ok=True)
    paper = dict(sorted((int(k), v) for k, v in exp.extra.get("paper_min_blocks", {}).items()))  # JSON keys sort as strings
    table = [{exp.axis: r[exp.axis], f"min_{exp.size}": r["answer"] if r["done"] else None,
              f"paper_min_{exp.size}": paper.get(r[exp.axis]), "params": r.get("params"), "lr": r.get("lr"),
              "warmup": r.get("warmup"), "epochs": r.get("epochs"), "trials": r["trials"], "train_seconds": r["train_seconds"],
              "tested": r["tested"], "done": r["done"]} for r in rows]
    _csv(out / f"{exp.name}.csv", table)
    cap = exp.candidates[-1]
    xs = [t[exp.axis] for t in table]
    ys = [t[f"min_{exp.size}"] for t in table]
    with fg.plot(out / exp.name, height=2.8) as (fig, ax):
        label = f"memcap, {exp.spec['kind']}, m = {exp.spec.get('m')} (this run)"
        ax.plot(xs, [y if y else math.nan for y in ys], "o-", label=label)  # NaN: a gap where nothing memorized
        none_x = [x for x, t in zip(xs, table, strict=True) if t["done"] and t[f"min_{exp.size}"] is None]
        if none_x:
            ax.plot(none_x, [cap + 1] * len(none_x), "x", color="C0", ms=9, label=f"none up to {cap} {exp.size}")
        if any(ys):
            x0, y0 = next((x, y) for x, y in zip(xs, ys, strict=True) if y)
            ax.plot(xs, [y0 * math.sqrt(x / x0) for x in xs], ":", color="gray", label="~ sqrt growth from the first point")
        if paper:
            ax.plot(list(paper), list(paper.values()), "s--", label=f"paper ({exp.extra.get('paper_data', '')})")
        ax.set_xscale("log" if exp.axis == "n" else "linear")
        fg.labels(ax, f"{exp.axis} (number of {'examples' if exp.axis == 'N' else 'tokens per sequence'})",
                  f"minimum #{exp.size} that memorizes (error < {exp.threshold})", f"Smallest model that memorizes: {exp.name}")
        fg.legend(fig, ax)
    lines = [f"# {exp.name}", "", _method(exp), "",
             f"| {exp.axis} | min #{exp.size} (memcap) | paper | params | lr | warm-up | epochs | trials run |", "|" + "---|" * 8]
    for t in table:
        got = t[f"min_{exp.size}"] if t["done"] else "running"
        got = f"none <= {cap}" if t["done"] and got is None else got
        cells = [t[exp.axis], got, t[f"paper_min_{exp.size}"], t["params"], t["lr"] and round(t["lr"], 5), t["warmup"], t["epochs"], t["trials"]]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    lines += ["", f"![{exp.name}]({exp.name}.png)", ""]
    if exp.extra.get("comparison"):
        lines += [exp.extra["comparison"].format(m=exp.spec.get("m")), ""]
    path = out / f"{exp.name}.md"
    outputs.replace_text(path, "\n".join(lines))
    return path


def curves(items: list[Curve], N: int, task_name: str, out: Path, m: int) -> Path:
    """Figs 1–2: training loss and accuracy per epoch, one line per #blocks; final accuracy vs #blocks."""
    out.mkdir(parents=True, exist_ok=True)
    _csv(out / "curves.csv", [{"blocks": c.blocks, "lr": c.lr, "epoch": e, "loss": lo, "accuracy": a}
                               for c in items for e, (lo, a) in enumerate(zip(c.loss, c.accuracy, strict=True))])
    with fg.plot(out / "curves", cols=2, panels=3, height=2.6) as (fig, axes):
        for c in items:
            axes[0].plot(c.loss, label=f"{c.blocks} blocks")
            axes[1].plot(c.accuracy, label=f"{c.blocks} blocks")
        axes[0].set_yscale("log")
        fg.labels(axes[0], "epoch", "training loss", "Training loss")
        fg.labels(axes[1], "epoch", "training accuracy", "Training accuracy")
        axes[2].plot([c.blocks for c in items], [c.accuracy[-1] for c in items], "o-")
        fg.ticks_at(axes[2].xaxis, [c.blocks for c in items])  # whole blocks only
        fg.labels(axes[2], "#blocks", "final training accuracy", f"Accuracy vs #blocks, N = {N}")
        fig.suptitle(f"{task_name}: the paper's model, m = {m}, q = 8 (Figs 1-2 protocol; best of 3 learning rates per size)",
                     fontsize=8.5, wrap=True)
        fg.legend(fig, list(axes[:2]))
    lines = [f"# Loss and accuracy vs #blocks, N = {N} ({task_name}, m = {m}, q = 8)", "",
             "| #blocks | params | best lr | final loss | final accuracy | memorized |", "|---|---|---|---|---|---|"]
    lines += [f"| {c.blocks} | {c.params} | {c.lr:g} | {c.loss[-1]:.4g} | {c.accuracy[-1]:.4f} | {c.memorized} |" for c in items]
    lines += ["", "![curves](curves.png)", ""]
    path = out / "curves.md"
    outputs.replace_text(path, "\n".join(lines))
    return path


def bits_per_param(runs: list[tuple[Experiment, list[dict]]], out: Path) -> Path:
    """One figure and one table for every architecture measured, beside the anchors."""
    out.mkdir(parents=True, exist_ok=True)
    _csv(out / "bits_per_param.csv", [r for _, rows in runs for r in rows])
    with fg.plot(out / "bits_per_param", height=2.8) as (fig, ax):
        for exp, rows in runs:
            ok = [r for r in rows if r["bits_per_param"]]
            crit = rows[0]["criterion"] if rows else ""
            ax.plot([r["params"] for r in ok], [r["bits_per_param"] for r in ok], "o-" if crit == "exact" else "o--",
                    label=f"trained, {exp.spec['arch']}, {crit} ({exp.axis} = " + ", ".join(str(r[exp.axis]) for r in ok) + ")")
        for i, (name, v) in enumerate(ANCHORS.items()):
            ax.axhline(v, ls="--", color=f"C{i + 3}", lw=1, label=f"{name}: {v}")
        ax.set_xscale("log")
        fg.labels(ax, "trainable parameters", "bits per parameter (largest N x log2 C / params)",
                  "Memorized bits per parameter, random labels")
        fg.legend(fig, ax)
    lines = ["# Bits per parameter of trained models", "",
             "| arch | size | params | criterion | largest N | bits/param |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['arch']} | {exp.axis} {r[exp.axis]} | {r['params'] or '-'} | {r['criterion']} | {r['largest_N'] or '-'} | "
              f"{r['bits_per_param'] or '-'} |" for exp, rows in runs for r in rows]
    lines.append("")
    for exp, rows in runs:
        crit = rows[0]["criterion"] if rows else ""
        lines += [f"## {exp.name} ({crit})", "", _method(exp), "",
                  f"| {exp.axis} | params | largest N memorized ({crit}) | bits | bits/param |", "|---|---|---|---|---|"]
        lines += [f"| {r[exp.axis]} | {r['params'] or '-'} | {r['largest_N'] or '-'} | {r['bits']:.0f} | {r['bits_per_param'] or '-'} |"
                  for r in rows]
        lines.append("")
    lines += ["Anchors: " + "; ".join(f"{k} {v}" for k, v in ANCHORS.items()) + ". Largest N is the boundary the search found "
              f"on a grid of step {runs[0][0].candidates[0]}; a model that memorizes N fails at the next grid point.", "",
              "![bits per parameter](bits_per_param.png)", ""]
    path = out / "bits_per_param.md"
    outputs.replace_text(path, "\n".join(lines))
    return path


def architectures(runs: list[tuple[Experiment, list[dict]]], out: Path) -> Path:
    """Trained cost vs n: the smallest model (trainable parameters) that memorized, per architecture."""
    out.mkdir(parents=True, exist_ok=True)
    table = [{"arch": exp.spec["arch"], "n": r["n"], "size": exp.size, "min_size": r["answer"] if r["done"] else None,
              "params": r.get("params") if r["done"] else None, "done": r["done"], "trials": r["trials"],
              "train_seconds": r["train_seconds"]} for exp, rows in runs for r in rows]
    _csv(out / "architectures.csv", table)
    with fg.plot(out / "architectures", height=2.8) as (fig, ax):
        for exp, _ in runs:
            pts = [(t["n"], t["params"]) for t in table if t["arch"] == exp.spec["arch"] and t["params"]]
            if pts:
                ax.loglog(*zip(*pts, strict=True), "o-", label=f"{exp.spec['arch']} ({exp.size})")
        fg.labels(ax, "sequence length n", "trainable parameters of the smallest model that memorized",
                  f"Trained: smallest model that memorizes N = {runs[0][0].spec['N']} random sequences" if runs else "")
        fg.legend(fig, ax)
    lines = ["# Trained cost against sequence length", "", *(f"- {exp.spec['arch']}: {_method(exp)}" for exp, _ in runs), "",
             "| arch | n | size knob | smallest size | params | trials |", "|---|---|---|---|---|---|"]
    for t in table:
        got = t["min_size"] if t["done"] else "running"
        got = "none in the range" if t["done"] and got is None else got
        lines.append(f"| {t['arch']} | {t['n']} | {t['size']} | {got} | {t['params'] or '-'} | {t['trials']} |")
    lines += ["", "![trained cost vs n](architectures.png)", "", "Data: `architectures.csv`.", ""]
    path = out / "architectures.md"
    outputs.replace_text(path, "\n".join(lines))
    return path


def ablation(rows: list[dict], out: Path) -> Path:
    """The trainer ablation: one row per changed setting, what it reached, and how long it took."""
    out.mkdir(parents=True, exist_ok=True)
    _csv(out / "ablation.csv", rows)
    r0 = rows[0]
    lines = [f"# What the trainer's settings do (standard model, {r0['params']} params, N = {r0['N']} random binary labels)", "",
             f"Each row changes one setting of the baseline (AdamW, full batch, lr {BASELINE.lr:g}, {BASELINE.warmup} epochs of "
             f"warm-up, {BASELINE.schedule} schedule, {BASELINE.epochs} epochs, stop when every label is exact); one seed, one thread.", "",
             "| setting | lr | warm-up | schedule | max epochs | batch | clip | wd | wrong labels | exact | epochs run | s |",
             "|" + "---|" * 12]
    lines += [f"| {r['setting']} | {r['lr']:g} | {r['warmup']} | {r['schedule']} | {r['epochs_max']} | {r['batch']} | {r['clip']} | "
              f"{r['weight_decay']:g} | {r['wrong']} | {'yes' if r['exact'] else 'no'} | {r['epochs']} | {r['seconds']:.1f} |" for r in rows]
    lines += ["", "Data: `ablation.csv`.", ""]
    path = out / "ablation.md"
    outputs.replace_text(path, "\n".join(lines))
    return path
