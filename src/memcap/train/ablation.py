"""What the trainer's settings do to strict memorization (docs/trained.md#ablation): one fixed task and model,
each row changing one setting of a baseline, trained until every label is exact (or out of epochs).

The point is to show that the trained numbers are not an artefact of too little optimisation: the
baseline is the setting the bits-per-parameter sweeps use, and every row names what it changed.
Invariant: a row depends only on its settings and the seed (one thread, full batch or a seeded sampler).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from . import tasks
from .trainer import TrainConfig, train

# exact memorization: fewer than 1e-9 x N wrong labels is none
EXACT = 1e-9
BASELINE = TrainConfig(lr=3e-2, warmup=50, schedule="cosine", epochs=3000, threshold=EXACT)
VARIATIONS: tuple[tuple[str, dict], ...] = (
    ("baseline", {}),
    ("lr 1e-3", {"lr": 1e-3}),
    ("lr 3e-3", {"lr": 3e-3}),
    ("lr 1e-2", {"lr": 1e-2}),
    ("lr 1e-1", {"lr": 1e-1}),
    ("1000 epochs", {"epochs": 1000}),
    ("10000 epochs", {"epochs": 10000}),
    ("no warm-up", {"warmup": 0}),
    ("constant lr", {"schedule": "constant"}),
    ("minibatch of N/4", {"batch_size": 0.25}),  # a float: that fraction of N
    ("gradient clip 1.0", {"clip": 1.0}),
    ("weight decay 0.01", {"weight_decay": 0.01}),
)


def trainer_ablation(N: int = 2400, width: int = 8, n: int = 8, d: int = 8, seed: int = 0,
                     variations: tuple[tuple[str, dict], ...] = VARIATIONS,
                     on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """The standard model (2 layers, 2 heads, `width`) on N random binary labels of Uniform[0,1)^d tokens:
    one row per variation of BASELINE, with the training error reached and whether every label is exact."""
    task = tasks.random_vectors(N, n, d, C=2, seed=seed)
    cfg = tasks.model_config({"arch": "standard", "width": width, "layers": 2, "heads": 2}, task)
    rows = []
    for name, change in variations:
        if isinstance(change.get("batch_size"), float):
            change = {**change, "batch_size": max(1, int(change["batch_size"] * N))}
        tc = replace(BASELINE, seed=seed, device="cpu", **change)
        _, res = train(cfg, task, tc)
        row = {"setting": name, "lr": tc.lr, "warmup": tc.warmup, "schedule": tc.schedule, "epochs_max": tc.epochs,
               "batch": tc.batch_size or "full", "clip": tc.clip or "-", "weight_decay": tc.weight_decay,
               "error": round(res.error, 5), "wrong": round(res.error * N), "exact": res.memorized, "epochs": res.epochs,
               "seconds": res.seconds, "params": res.params, "N": N}
        rows.append(row)
        if on_row:
            on_row(row)
    return rows
