"""The localization benchmark end to end: ground truth on K examples, each method's rankings (or a user's),
their scores, and the files: ground_truth.json, rankings_<method>.json, scores.csv, scores.md, and the
table as a figure, scores.png / .svg / .pdf.

Stages: examples drawn (seeded) -> exact ground truth on them (construction record + causal map) ->
float64 module refused unless float64-exact -> methods -> scores (DEL in the exact executor) -> files.
Same inputs and seed give the same files, except the measured seconds in scores.csv and scores.md
(ground_truth.json and the rankings carry none).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import Dataset
from ..errors import DataError
from ..ir.layers import ExactModel
from ..outputs import replace_text, replacing
from .methods import METHODS, Net, run_method
from .scores import Score, parse_rankings, random_ranking, ranking, score, tl_offset, unit_names
from .truth import GroundTruth, check, ground_truth

CHOICES = (*METHODS, "random", "record")  # record: the storing units first (the ceiling of recall)


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


def user_examples(doc, N: int) -> np.ndarray:
    """The examples a user's ranking document ranks (its keys), checked against the dataset's size."""
    ranks = doc.get("rankings", doc) if isinstance(doc, dict) else None
    if not isinstance(ranks, dict) or not ranks:
        raise DataError("a ranking file is a JSON object: {\"rankings\": {\"<example>\": [unit, ...]}} with at least one example")
    try:
        ex = sorted({int(e) for e in ranks})
    except ValueError:
        raise DataError("the ranking file's keys must be example indices (\"0\", \"17\", ...)") from None
    if ex[0] < 0 or ex[-1] >= N:
        raise DataError(f"the ranking file names example {ex[0] if ex[0] < 0 else ex[-1]}; the dataset has 0..{N - 1}")
    return np.array(ex, dtype=np.int64)


def truth_for(model: ExactModel, ds: Dataset, examples: int | np.ndarray, others: int, seed: int, progress=None):
    """Ground truth on `examples` (a count to draw, or the indices), the record check, its seconds, and
    the DEL sample."""
    ex = draw(ds.N, examples, seed) if isinstance(examples, int) else examples
    t0 = time.perf_counter()
    gt = ground_truth(model, ds, ex, progress)
    secs = time.perf_counter() - t0
    return gt, tuple(check(gt)), secs, draw(ds.N, others, seed + 1)


def bench(model: ExactModel, ds: Dataset, methods: list[str], examples: int = 20, k: int = 5, others: int = 200,
          seed: int = 0, user: dict | None = None, log=None, del_targets: int = 100) -> Bench:
    """Score `methods` (of CHOICES) and, when given, a user's ranking document (`user`, name "user", whose
    examples are then the targets); DEL runs on `del_targets` of the targets (a seeded sample when there
    are more: it costs an exact run per target, where the other metrics read the ground truth);
    `log` gets a line after each stage."""
    log = log or (lambda _: None)
    targets = examples if user is None else user_examples(user, ds.N)  # a user's ranking names its targets

    def progress(done: int, total: int) -> None:
        if done < total:  # the last chunk is the ground truth line below
            log(f"causal map: {done} of {total} examples")

    gt, problems, secs, oth = truth_for(model, ds, targets, others, seed, progress)
    log(f"ground truth: {len(gt.units)} units x {len(gt.examples)} examples in {secs:.1f} s")
    del_on = None if len(gt.examples) <= del_targets else draw(len(gt.examples), del_targets, seed + 2)
    ranks: dict[str, list[np.ndarray]] = {}
    results = []
    labels = np.asarray(ds.labels)
    if user is not None:
        ranks["user"] = parse_rankings(user, gt, tl_offset(model))
        results.append(score(model, ds.inputs, labels, gt, ranks["user"], k, oth, "user", del_on=del_on))
    net = _module(model, gt) if any(m in METHODS for m in methods) else None
    restore = _one_thread()
    try:
        for m in methods:
            t0 = time.perf_counter()
            if m == "random":
                ranks[m], secs_m, bad = random_ranking(len(gt.units), len(gt.examples), seed), None, 0
            elif m == "record":
                ranks[m], secs_m, bad = planted(gt, seed), None, 0
            else:
                x = torch_ids(ds, gt)
                assert net is not None  # built above whenever a method needs it
                r = run_method(m, net, x, _labels(gt), seed)
                ranks[m], secs_m, bad = ranking(r.scores), r.seconds, r.nonfinite
                log(f"{m}: {r.seconds:.1f} s")
            secs_m = time.perf_counter() - t0 if secs_m is None else secs_m
            results.append(score(model, ds.inputs, labels, gt, ranks[m], k, oth, m, secs_m, bad, del_on))
    finally:
        restore()
    return Bench(gt, problems, secs, oth, tuple(results), ranks)


def planted(gt: GroundTruth, seed: int = 0) -> list[np.ndarray]:
    """Each example's storing units first (in unit order), then every other unit in random order (the
    random baseline's filler, so that a k above the storing set adds no choice of its own)."""
    out = []
    for j, rank in enumerate(random_ranking(len(gt.units), len(gt.examples), seed)):
        store = gt.store(j)
        out.append(np.r_[store, rank[~np.isin(rank, store)]])
    return out


def _module(model: ExactModel, gt: GroundTruth) -> Net:
    from ..nn.export import to_torch

    return Net(to_torch(model), [(u.block, u.unit) for u in gt.units])


def torch_ids(ds: Dataset, gt: GroundTruth):
    import torch

    return torch.tensor(np.asarray(ds.inputs)[gt.examples], dtype=torch.int64)


def _labels(gt: GroundTruth):
    import torch

    return torch.tensor(gt.labels, dtype=torch.float64)


def _one_thread():
    """torch on one thread, undone by the returned function: the memorizer's matrices are a dozen rows by a
    dozen columns, too small for threads to pay for their synchronisation."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    return lambda: torch.set_num_threads(old)


def _truth_head(model: ExactModel, gt: GroundTruth, problems) -> dict:
    return {
        "about": "exact ground truth of a compiled memcap model: units are F2 memorizer FFN units, named as memcap "
                 "(block, unit) and as TransformerLens neurons of the exported model",
        "stage2": gt.stage2, "units": unit_names(gt, tl_offset(model)), "record_agrees": not problems,
        "problems": list(problems)[:20],
    }


def _truth_examples(gt: GroundTruth) -> Iterator[dict]:
    for j, e in enumerate(gt.examples):
        yield {"example": int(e), "label": int(gt.labels[j]), "group": int(gt.group[j]), "chunk": int(gt.chunk[j]),
               "store": gt.store(j).tolist(), "store_sum": gt.store_sum(j).tolist(), "read": gt.read(j).tolist(),
               "causal": gt.causal(j).tolist()}


def truth_document(model: ExactModel, gt: GroundTruth, problems) -> dict:
    return {**_truth_head(model, gt, problems), "examples": list(_truth_examples(gt))}


def write_truth(path: Path, model: ExactModel, gt: GroundTruth, problems) -> None:
    """ground_truth.json, written example by example (the full causal map of 10^4 examples is tens of
    millions of unit ids: held as one Python structure it would take gigabytes), then renamed into place."""
    with replacing(path) as tmp, open(tmp, "w") as f:
        f.write(json.dumps(_truth_head(model, gt, problems), sort_keys=True)[:-1] + ', "examples": [')
        for i, doc in enumerate(_truth_examples(gt)):
            f.write((", " if i else "") + json.dumps(doc, sort_keys=True))
        f.write("]}\n")


def save(out: Path, model: ExactModel, b: Bench) -> list[Path]:
    """Write every file of the benchmark to directory `out` (each written atomically)."""
    from .report import scores_csv, scores_figure, scores_markdown

    out.mkdir(parents=True, exist_ok=True)
    write_truth(out / "ground_truth.json", model, b.truth, b.problems)
    files = {"scores.csv": scores_csv(b.scores), "scores.md": scores_markdown(b.scores, b.truth, b.problems)}
    for m, rk in b.rankings.items():
        doc = {"method": m, "rankings": {str(int(e)): [[b.truth.units[i].block, b.truth.units[i].unit] for i in r[:100].tolist()]
                                         for e, r in zip(b.truth.examples, rk, strict=True)}}
        files[f"rankings_{m}.json"] = json.dumps(doc, sort_keys=True) + "\n"
    paths = [out / "ground_truth.json"]
    for name, text in files.items():
        replace_text(out / name, text)
        paths.append(out / name)
    scores_figure(b.scores, out / "scores")
    return paths + [out / f"scores.{ext}" for ext in ("png", "svg", "pdf")]
