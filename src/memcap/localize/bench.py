"""The localization benchmark end to end: ground truth on K examples, each method's rankings (or a user's),
their scores, and the files: ground_truth.json, rankings_<method>.json, scores.csv, scores.md.

Stages: examples drawn (seeded) -> exact ground truth on them (construction record + causal map) ->
float64 module refused unless float64-exact -> methods -> scores (DEL in the exact executor) -> files.
Same inputs and seed give the same files, except the measured seconds.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import Dataset
from ..ir.layers import ExactModel
from .methods import METHODS, Net, run_method
from .scores import Score, parse_rankings, random_ranking, ranking, score, tl_offset, unit_names
from .truth import GroundTruth, check, ground_truth

CHOICES = (*METHODS, "random")


@dataclass(frozen=True)
class Bench:
    truth: GroundTruth
    problems: tuple[str, ...]  # where the causal map breaks the record's promises (empty: none)
    truth_seconds: float
    others: np.ndarray
    scores: tuple[Score, ...]
    rankings: dict[str, list[np.ndarray]]


def draw(N: int, K: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(N, size=min(K, N), replace=False))


def truth_for(model: ExactModel, ds: Dataset, examples: int, others: int, seed: int, progress=None):
    ex = draw(ds.N, examples, seed)
    t0 = time.perf_counter()
    gt = ground_truth(model, ds, ex, progress)
    secs = time.perf_counter() - t0
    return gt, tuple(check(gt)), secs, draw(ds.N, others, seed + 1)


def bench(model: ExactModel, ds: Dataset, methods: list[str], examples: int = 20, k: int = 5, others: int = 200,
          seed: int = 0, user: dict | None = None, progress=None) -> Bench:
    """Score `methods` (of CHOICES) and, when given, a user's ranking document (`user`, name "user")."""
    gt, problems, secs, oth = truth_for(model, ds, examples, others, seed, progress)
    ranks: dict[str, list[np.ndarray]] = {}
    results = []
    labels = np.asarray(ds.labels)
    if user is not None:
        ranks["user"] = parse_rankings(user, gt, tl_offset(model))
        results.append(score(model, ds.inputs, labels, gt, ranks["user"], k, oth, "user"))
    learned = [m for m in methods if m in METHODS]
    if learned:
        import torch

        from ..nn.export import to_torch

        net = Net(to_torch(model), [(u.block, u.unit) for u in gt.units])
        x = torch.tensor(np.asarray(ds.inputs)[gt.examples], dtype=torch.int64)
        y = torch.tensor(gt.labels, dtype=torch.float64)
    for m in methods:
        if m == "random":
            t0 = time.perf_counter()
            ranks[m] = random_ranking(len(gt.units), len(gt.examples), seed)
            results.append(score(model, ds.inputs, labels, gt, ranks[m], k, oth, m, time.perf_counter() - t0))
            continue
        r = run_method(m, net, x, y, seed)
        ranks[m] = ranking(r.scores)
        results.append(score(model, ds.inputs, labels, gt, ranks[m], k, oth, m, r.seconds, r.nonfinite))
    return Bench(gt, problems, secs, oth, tuple(results), ranks)


def truth_document(model: ExactModel, gt: GroundTruth, problems, seconds: float) -> dict:
    names = unit_names(gt, tl_offset(model))
    return {
        "about": "exact ground truth of a compiled memcap model: units are F2 memorizer FFN units, named as memcap "
                 "(block, unit) and as TransformerLens neurons of the exported model",
        "stage2": gt.stage2, "units": names, "record_agrees": not problems, "problems": list(problems)[:20],
        "seconds": round(seconds, 2),
        "examples": [{"example": int(e), "label": int(gt.labels[j]), "group": int(gt.group[j]), "chunk": int(gt.chunk[j]),
                      "store": gt.store(j).tolist(), "read": gt.read(j).tolist(), "causal": gt.causal(j).tolist()}
                     for j, e in enumerate(gt.examples)],
    }


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def save(out: Path, model: ExactModel, b: Bench) -> list[Path]:
    """Write every file of the benchmark to directory `out` (each written atomically)."""
    from .report import scores_csv, scores_markdown

    out.mkdir(parents=True, exist_ok=True)
    files = {"ground_truth.json": json.dumps(truth_document(model, b.truth, b.problems, b.truth_seconds), sort_keys=True) + "\n",
             "scores.csv": scores_csv(b.scores), "scores.md": scores_markdown(b.scores, b.truth, b.problems)}
    for m, rk in b.rankings.items():
        doc = {"method": m, "rankings": {str(int(e)): [[b.truth.units[i].block, b.truth.units[i].unit] for i in r[:100].tolist()]
                                         for e, r in zip(b.truth.examples, rk, strict=True)}}
        files[f"rankings_{m}.json"] = json.dumps(doc, sort_keys=True) + "\n"
    paths = []
    for name, text in files.items():
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths
