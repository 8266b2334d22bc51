"""Scaling sweeps: compile and verify generated datasets, one JSONL row per model, resumable.

Invariant: a row is appended only after its model verified exactly on every example; a rerun skips every
configuration already in the file, and a torn last line (a killed run) is dropped and redone, so a resumed
sweep ends with the same rows (timings aside) as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import data
from ..bounds import check_lower_bounds
from ..pipeline import build

TIMING_KEYS = ("compile_s", "verify_s")


def config_key(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True)


def default_sweep(quick: bool = False) -> list[dict]:
    """The report's sweep: next-token N = 10..1e5 (tight), paper and 48-bit to 1e4, n = 4..1024,
    token vectors (d = 6) to 3000, seq2seq nN to 1e5. `quick` stops every axis ~30x earlier (for tests and CI)."""
    top = 3000 if quick else 100_000
    Ns = [N for N in (10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000) if N <= top]
    rows = [dict(setting="next-token", N=N, n=16, vocab=1000, C=10, mode="tight", bit_budget=None) for N in Ns]
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
    rows = [{**r, "seed": 0} for r in rows]
    return list({config_key(r): r for r in rows}.values())  # the n sweep meets the N sweep at n = 16


def make_dataset(cfg: dict) -> data.Dataset:
    if "d" in cfg:
        return data.random_vectors(cfg["N"], cfg["n"], cfg["d"], cfg["C"], cfg["seed"], cfg["setting"])
    return data.random_ids(cfg["N"], cfg["n"], cfg["vocab"], cfg["C"], cfg["seed"], cfg["setting"])


def measure(cfg: dict) -> dict:
    b = build(make_dataset(cfg), mode=cfg["mode"], bit_budget=cfg["bit_budget"], seed=cfg["seed"], check_float=False)
    if not b.verification.ok:
        raise RuntimeError(f"model for {cfg} failed verification at {b.verification.misses}")
    st = b.stats.as_dict()
    lower = check_lower_bounds(st, cfg["N"], cfg["n"], cfg["C"], cfg["setting"])
    return {
        "config": cfg, **st, "verified_positions": b.verification.positions, "stages": b.model.meta["stages"],
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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = read_rows(out)
    out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))  # rewrite without a torn tail
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
