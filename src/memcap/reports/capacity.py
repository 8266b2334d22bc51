"""The capacity report: memorized bits by code length (the plateau curves), capacity against parameters
beside the 3.6 bits/param line of Morris et al., and the strict criterion in the same table. CSVs beside
every figure; the text states the method, so a reader needs no code to judge the numbers."""

from __future__ import annotations

from pathlib import Path

from .. import outputs
from ..train.capacity_sweep import CapacitySpec, run_name, slope, summary
from ..train.experiments import ANCHORS
from . import figures as fg
from .tables import md_table, write_csv

MORRIS = ANCHORS["GPT-style, Morris et al. 2025"]


def _label(s: dict) -> str:
    if s["arch"] != "gpt":
        return f"paper {s['depth']} blocks, m {s['width']}"
    mlp = s.get("mlp") or 4
    return f"GPT {s['depth']} layer(s), d {s['width']}" + (f", MLP {mlp} d" if mlp != 4 else "")


def method(spec: CapacitySpec) -> str:
    return (f"Method: N sequences of S = {spec.S} tokens uniform over V = {spec.V} (H = N S log2 V bits; seed {spec.seed}, "
            f"the first N of one stream). Each (model, N) is trained from scratch with next-token cross-entropy, full batch, "
            f"AdamW, lr {spec.lr:g} after {spec.warmup} steps of linear warm-up, cosine decay to 0 at {spec.steps} steps, "
            f"gradient norm clipped to {spec.clip:g}, float32. Code length of a sequence = log2 V for the first token (there "
            "is no BOS token, so no model can predict it) + sum of -log2 p(x_t | x_<t); memorized bits = sum over sequences "
            "of max(0, S log2 V - code length). Capacity = the maximum over N; the plateau "
            "is reached when the largest N tried adds less than 5% over the best smaller N. Ceiling = the memorized bits "
            "of the best possible predictor (the data's empirical conditionals: sequences sharing a prefix cannot be told "
            "apart). Strict: the largest N whose every token that its prefix determines is recalled by argmax, its bits = "
            "log2 V per determined (prefix, token); it is a lower bound set by the grid of N (the next N tried had a miss). "
            f"The GPT models are pre-LayerNorm, one head, feed-forward width {spec.mlp} times the model width. "
            "Parameters: every trainable float32 weight, embeddings included (the GPT models' output reuses the token "
            "embedding; the paper's model has its own output matrix).")


def write(spec: CapacitySpec, rows: list[dict], out: Path) -> Path:
    """capacity.md, capacity_runs.csv, capacity_models.csv, capacity_curves.png, capacity_vs_params.png."""
    out.mkdir(parents=True, exist_ok=True)
    summ = summary(spec, rows)
    run_keys = list(rows[0]) if rows else []
    write_csv(out / "capacity_runs.csv", run_keys, [[r[k] for k in run_keys] for r in rows])
    sum_keys = list(summ[0]) if summ else []
    write_csv(out / "capacity_models.csv", sum_keys, [[s[k] for k in sum_keys] for s in summ])

    with fg.plot(out / "capacity_curves", height=2.8) as (fig, ax):
        for i, s in enumerate(summ):
            mine = sorted((r for r in rows if (r["arch"], r["depth"], r["width"]) == (s["arch"], s["depth"], s["width"])), key=lambda r: r["N"])
            ax.plot([r["N"] for r in mine], [r["memorized_bits"] for r in mine], "o-", color=f"C{i}",
                    label=f"{_label(s)} ({s['params']} params)")
            ax.axhline(MORRIS * s["params"], color=f"C{i}", ls=":", lw=0.8)
        ax.set_xscale("log")
        fg.labels(ax, "N (sequences)", "memorized bits (code length)",
                  f"Memorized bits vs N (V = {spec.V}, S = {spec.S}); dotted: 3.6 bits/param")
        fg.legend(fig, ax)

    with fg.plot(out / "capacity_vs_params", height=2.8) as (fig, ax):
        for arch, mark in (("gpt", "o"), ("paper", "s")):
            pts = [s for s in summ if s["arch"] == arch]
            if pts:
                ax.plot([s["params"] for s in pts], [s["capacity_bits"] for s in pts], mark, label=f"{arch} (capacity)")
                strict = [s for s in pts if s["strict_bits_per_param"]]
                ax.plot([s["params"] for s in strict], [s["strict_bits_per_param"] * s["params"] for s in strict], mark,
                        mfc="none", label=f"{arch} (strict)")
        xs = [s["params"] for s in summ] or [1]
        span = [min(xs) * 0.8, max(xs) * 1.25]
        ax.plot(span, [MORRIS * x for x in span], "--", color="gray", label="3.6 bits/param (Morris et al.)")
        ax.plot(span, [2.0 * x for x in span], ":", color="gray", label="2 bits/param")
        ax.set_xscale("log")
        ax.set_yscale("log")
        fg.labels(ax, "parameters", "bits", "Capacity vs parameters")
        fg.legend(fig, ax)

    body = [[_label(s), s["params"], f"{s['runs']}/{s['of']}", s["at_N"], s["capacity_bits"], s["bits_per_param"],
             "yes" if s["plateau"] else "no (still rising)", s["strict_N"] or "-", s["strict_bits_per_param"] or "-"] for s in summ]
    lines = [f"# Trained capacity by code length ({spec.name})", "", method(spec), "",
             *md_table(["model", "params", "runs", "best N", "capacity (bits)", "bits/param", "plateau reached",
                        "strict N", "strict bits/param"], body)]
    for arch in ("gpt", "paper"):
        k = slope(summ, arch)
        if k is not None:
            lines.append(f"Slope of capacity against parameters ({arch}): {k} bits/param.")
    lines += ["", "Runs:", "", *md_table(["run", "params", "H", "ceiling", "memorized", "strict misses", "loss", "s"],
                                        [[run_name((r["arch"], r["depth"], r["width"]), r["N"]), r["params"], r["H_bits"],
                                          r["ceiling_bits"], r["memorized_bits"], r["strict_misses"], r["loss"], r["seconds"]]
                                         for r in rows]),
              "![memorized bits vs N](capacity_curves.png)", "", "![capacity vs parameters](capacity_vs_params.png)", ""]
    path = out / "capacity.md"
    outputs.replace_text(path, "\n".join(lines))
    return path
