"""The localization table as Markdown and CSV: what `memcap localize` writes and what a report section
embeds (`section`)."""

from __future__ import annotations

import csv
import io

import numpy as np

from .scores import COLUMNS, Score, rows
from .truth import GroundTruth


def scores_csv(scores: tuple[Score, ...] | list[Score]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(rows(list(scores)))
    return buf.getvalue()


def _table(scores) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows(list(scores))]
    return lines


def scores_markdown(scores, gt: GroundTruth, problems=()) -> str:
    """The table with a line on the ground truth it is scored against."""
    causal = [len(gt.causal(j)) for j in range(len(gt.examples))]
    store = [len(gt.store(j)) for j in range(len(gt.examples))]
    head = [f"Ground truth: {len(gt.units)} memorizer units (Stage II shape {gt.stage2}), {len(gt.examples)} target "
            f"examples; storing units per example {np.mean(store):.1f}, units whose zeroing alone changes the example "
            f"{np.mean(causal):.1f} on average (min {min(causal)}, max {max(causal)}); the record and the causal map "
            + ("agree." if not problems else f"disagree in {len(problems)} places.")]
    sampled = {s.del_targets for s in scores if s.del_targets < len(gt.examples)}
    if sampled:
        head[0] += f" DEL ran on a seeded sample of {min(sampled)} of the targets (--del-targets)."
    head.append("")
    return "\n".join(head + _table(scores)) + "\n"


FIGURE_METRICS = (("recall_store", "recall@k, storing units"), ("recall_read", "recall@k, read units"),
                  ("precision", "precision@k, causal units"), ("target_destroyed", "target destroyed (DEL)"),
                  ("others_destroyed", "others destroyed (DEL)"), ("specificity", "specificity"))


def scores_figure(scores, stem) -> None:
    """The table as a figure: one group of bars per method, one bar per metric (all in [0, 1], specificity
    in [-1, 1]), written as stem.png, stem.svg and stem.pdf."""
    from ..reports import figures as fg

    scores = list(scores)
    width = 0.8 / len(FIGURE_METRICS)
    with fg.plot(stem, cols=2, height=2.8) as (fig, ax):
        for i, (field, label) in enumerate(FIGURE_METRICS):
            xs = [j + (i - (len(FIGURE_METRICS) - 1) / 2) * width for j in range(len(scores))]
            ax.bar(xs, [getattr(s, field) for s in scores], width, label=label)
        ax.set_xticks(range(len(scores)), [s.method for s in scores])
        ax.set_ylim(min(-0.05, min((s.specificity for s in scores), default=0) - 0.05), 1.05)
        ax.axhline(0, color="k", linewidth=0.5)
        k = scores[0].k if scores else 0
        fg.labels(ax, "method", "score", f"Localization methods against exact ground truth (k = {k})")
        fg.legend(fig, ax, cols=3)


def section(results: list[tuple[str, list[Score], GroundTruth]]) -> tuple[str, str]:
    """A report section (Markdown) and its CSV for one or more models: (model label, scores, ground truth)."""
    md = ["## Localization against exact ground truth", ""]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("model", *COLUMNS))
    for label, scores, gt in results:
        md += [f"### {label}", "", scores_markdown(scores, gt)]
        w.writerows((label, *r) for r in rows(scores))
    return "\n".join(md), buf.getvalue()


def report_hook(out) -> list[str]:
    """The report's localization section from the benchmarks `memcap localize -o OUT/localization/LABEL`
    wrote (each LABEL a model); also writes OUT/localization.csv. Nothing when there are none."""
    from pathlib import Path

    root = Path(out) / "localization"
    found = sorted(p for p in root.glob("*/scores.md")) if root.is_dir() else []
    if not found:
        return []
    md = ["## Localization against exact ground truth", "",
          "Methods that claim to localize memorized examples, scored against the construction's record and exact "
          "ablation (docs/localization.md).", ""]
    lines: list[str] = []
    for p in found:
        md += [f"### {p.parent.name}", "", p.read_text(), ""]
        body = (p.parent / "scores.csv").read_text().splitlines()
        lines += [f"model,{body[0]}"] * (not lines) + [f"{p.parent.name},{r}" for r in body[1:]]
    (Path(out) / "localization.csv").write_text("\n".join(lines) + "\n")
    return md
