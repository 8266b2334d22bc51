"""Scaling sweeps: compile and verify generated datasets, one JSONL row per model, resumable.

Invariant: a row is appended only after its model verified exactly on every example (or, for a bit budget
below what the data allows, with `refused` and the reason, and no model); a rerun skips every
configuration already in the file, and a torn last line (a killed run) is dropped and redone, so a resumed
sweep ends with the same rows (timings aside) as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .. import data, outputs
from ..bounds import check_lower_bounds
from ..budget import smallest_bit_budget
from ..construct.memorizer import BudgetError
from ..errors import DataError
from ..ir.stats import model_stats
from ..pipeline import Built, build
from ..point_memorizer import memorize
from ..verification import verify_arrays


def config_key(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True)


# {}: the depth objective, the sweep's own series
OBJECTIVES: tuple[dict[str, str], ...] = ({}, {"objective": "bits"}, {"objective": "balanced"})


def default_sweep(quick: bool = False) -> list[dict]:
    """The report's sweep: next-token N = 10..1e6 (tight, every objective), paper and 48-bit to 1e4, n = 4..1024,
    token vectors (d = 6) to 3000, seq2seq nN to 1e5. `quick` stops every axis ~30x earlier (for tests and CI)."""
    top = 3000 if quick else 100_000
    Ns = [N for N in (10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000) if N <= top]
    rows = [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode="tight", bit_budget=None, **objective)
            for N in Ns for objective in OBJECTIVES]
    # every objective on to a million sequences (the depth objective's dense parameters fall below N there)
    rows += [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode="tight", bit_budget=None, **objective)
             for N in (300_000, 1_000_000) if not quick for objective in OBJECTIVES]
    for mode, budget in (("paper", None), ("tight", 48)):
        rows += [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode=mode, bit_budget=budget)
                 for N in Ns if N <= min(top, 10_000)]
    rows += [dict(setting="next-token", N=1000 if not quick else 300, n=n, vocab=1000, C=10, mode="tight", bit_budget=None)
             for n in (4, 16, 64, 256, 1024) if not quick or n <= 256]
    # token vectors need a phi~ memorizer over every distinct token, the slowest model to verify: to 3000
    rows += [dict(setting="next-token", N=N, n=8, d=6, C=10, mode="tight", bit_budget=None)
             for N in (10, 100, 1000, 3000) if N <= min(top, 3000)]
    # seq2seq on ids from a vocabulary of 1000 (embedding 1000 x m, as for next-token)
    rows += [dict(setting="seq2seq", N=N, n=10, vocab=1000, C=10, mode="tight", bit_budget=None)
             for N in (1, 3, 10, 30, 100, 300, 1000, 3000, 10_000) if N * 10 <= top]
    rows += variant_sweep(quick)
    rows = [{**r, "seed": 0} for r in rows]
    return list({config_key(r): r for r in rows}.values())  # the n sweep meets the N sweep at n = 16


BUDGETS = ("min", 16, 24, 32, 48, 64, 96, 128, None)


def variant_sweep(quick: bool = False) -> list[dict]:
    """The paper's other models and the cost-vs-n comparison: Deep Sets beside the Transformer on the same
    multiset data; sparse vs dense attention as n grows; the bit-budget curve at fixed N; Transformer,
    plain FFN and RNN as n grows."""
    ids = dict(vocab=1000, C=10, mode="tight", bit_budget=None)
    rows = [dict(setting="multiset", N=N, n=8, **ids, **arch) for N in ((100, 1000) if quick else (100, 1000, 10_000))
            for arch in ({"arch": "deep-sets"}, {})]
    rows += [dict(setting="next-token", N=100, n=n, **ids, **att) for n in (4, 16, 64, 256, 1024, 4096)
             if not quick or n <= 256 for att in ({"attention": "sparse"}, {})]
    rows += [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode="tight", bit_budget=B, float64=True)
             for N in ((1000,) if quick else (1000, 10_000)) for B in BUDGETS]
    rows += [dict(setting="next-token", N=300 if quick else 1000, n=n, **ids, arch=a)
             for n in (4, 16, 64, 256, 1024) if not quick or n <= 256 for a in ("transformer", "ffn", "rnn")]
    rows += [dict(setting="next-token", N=100, n=n, d=6, C=10, mode="tight", bit_budget=None, arch=a)
             for n in (4, 16, 64, 256, 1024, 4096) if not quick or n <= 64 for a in ("transformer", "ffn", "rnn")]
    return rows


def make_dataset(cfg: dict) -> data.Dataset:
    """The data a configuration names: a subset of the user's file (source "data"), or random ids or vectors."""
    if cfg.get("source") == "data":
        from .userdata import subset

        return subset(cfg)
    if "d" in cfg:
        return data.random_vectors(cfg["N"], cfg["n"], cfg["d"], cfg["C"], cfg["seed"], cfg["setting"])
    return data.random_ids(cfg["N"], cfg["n"], cfg["vocab"], cfg["C"], cfg["seed"], cfg["setting"])


def _flat_ffn(ds: data.Dataset) -> Built:
    """The plain ReLU memorizer on the flattened d * n input (ids as numbers), verified on every example."""
    t0 = time.perf_counter()
    x = ds.inputs.reshape(ds.N, -1).astype(np.float64)
    model = memorize(x, ds.labels)
    t1 = time.perf_counter()
    res = verify_arrays(model, x, ds.labels)
    return Built(model, model_stats(model), res, None, round(t1 - t0, 4), round(time.perf_counter() - t1, 4))


def _smallest_budget(ds: data.Dataset, cfg: dict) -> int:
    """The smallest bit budget from 8 on that this data allows (a BudgetError below it)."""
    return smallest_bit_budget(ds, start=8, seed=cfg["seed"])


def measure(cfg: dict) -> dict:
    ds = make_dataset(cfg)
    arch = cfg.get("arch", "transformer")
    budget = _smallest_budget(ds, cfg) if cfg["bit_budget"] == "min" else cfg["bit_budget"]
    if arch == "ffn":
        b = _flat_ffn(ds)
    else:
        try:
            b = build(ds, mode=cfg["mode"], bit_budget=budget, seed=cfg["seed"], check_float=bool(cfg.get("float64")),
                      arch=arch, attention=cfg.get("attention", "softmax"), objective=cfg.get("objective", "depth"),
                      positions=bool(cfg.get("positions")))
        except BudgetError as e:  # a budget below what this data allows: recorded, so that a rerun skips it
            return {"config": cfg, "refused": str(e)}
        except DataError as e:
            if cfg.get("source") != "random":
                raise
            # random data drawn to match a user's (a small vocabulary, short sequences) can hold two permuted
            # sequences with different labels: recorded as refused, the user's own series goes on
            return {"config": cfg, "refused": str(e)}
    assert b.verification is not None  # build verifies by default, and _flat_ffn verifies too
    if not b.verification.ok:
        raise RuntimeError(f"model for {cfg} failed verification at {b.verification.misses}")
    st = b.stats.as_dict()
    setting = "next-token" if cfg["setting"] == "multiset" else cfg["setting"]
    lower = check_lower_bounds(st, cfg["N"], cfg["n"], cfg["C"], setting)
    plan = b.model.group_plan
    extra = {"F2_k": plan.k} if plan is not None and b.model.is_transformer else {}
    if b.float64 is not None:
        extra["float64_exact"] = b.float64.exact
    if cfg["bit_budget"] == "min":
        extra["budget"] = budget
    return {
        "config": cfg, **st, "verified_positions": b.verification.positions, "stages": b.model.stages.as_dict(), **extra,
        "lower_bounds_hold": all(ok for *_, ok in lower), "compile_s": round(b.compile_s, 3), "verify_s": round(b.verify_s, 3),
    }


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a torn last line from a killed run: dropped, and redone
    return rows


def sweep(configs: Iterable[dict], out: Path, progress: Callable[[int, int, dict], None] | None = None) -> list[dict]:
    out = outputs.resumable(out, "sweep")  # a file that is not a sweep is refused, not emptied
    rows = read_rows(out)
    outputs.replace_text(out, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))  # rewrite without a torn tail
    done = {config_key(r["config"]) for r in rows}
    todo = [c for c in configs if config_key(c) not in done]
    for i, cfg in enumerate(todo):
        if progress:
            progress(i, len(todo), cfg)
        row = measure(cfg)
        with out.open("a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        rows.append(row)
    return rows
