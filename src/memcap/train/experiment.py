"""An experiment: what a search sweep (sweep.py) searches, as a frozen, JSON-round-tripping spec, and the task and
model config of each (point, candidate). Invariant: the same spec gives the same tasks, model configs and
trial plan on every worker (the plan is a fixed scrambled Sobol design seeded by the spec)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from scipy.stats import qmc

from ..jsonrecord import Named
from . import tasks


@dataclass(frozen=True)
class Experiment(Named):
    """A sweep. `spec` holds the task and model fields; each point sets spec[axis], each tested candidate
    sets spec[size]. size "blocks"/"layers"/"width" searches the smallest model ("min"); size "N" searches
    the largest dataset a fixed model memorizes ("max")."""

    name: str
    spec: dict  # task: kind (digits|topics|random|file), seed, N, n, d, C, signs; model: arch, m, q, blocks, width, layers, heads
    axis: str
    points: tuple[int, ...]
    size: str
    candidates: tuple[int, ...]
    n_trials: int = 4
    epochs: int = 1000
    threshold: float = 0.01
    lr: tuple[float, float] = (1e-3, 1e-1)
    warmup: tuple[int, int] = (0, 200)
    seed: int = 0
    extra: dict = field(default_factory=dict)  # free-form notes carried into the table (e.g. paper numbers)

    @property
    def direction(self) -> str:
        return "max" if self.size == "N" else "min"

    def study_name(self, point: int, candidate: int) -> str:
        return f"{self.name}/{self.axis}={point}/{self.size}={candidate}"

    def plan(self) -> list[dict]:
        """The n_trials (lr, warm-up) settings: a scrambled Sobol design over log lr x warm-up."""
        u = qmc.Sobol(d=2, scramble=True, seed=self.seed).random(max(2, 1 << math.ceil(math.log2(max(self.n_trials, 1)))))
        lo, hi = math.log(self.lr[0]), math.log(self.lr[1])
        return [{"lr": float(math.exp(lo + a * (hi - lo))), "warmup": int(round(self.warmup[0] + b * (self.warmup[1] - self.warmup[0])))}
                for a, b in u[: self.n_trials]]

    def setup(self, point: int, candidate: int) -> tuple[tasks.Task, tasks.ModelConfig]:
        """The task and the model config (any of nn.model's configs) of one candidate at one point."""
        s = {**self.spec, self.axis: point, self.size: candidate}
        task = _task(s)
        return task, tasks.model_config(s, task)


_TASK_FIELDS = ("kind", "seed", "N", "n", "d", "C", "signs", "path")
_LAST_TASK: list = [None, None]  # (key, task): one task at a time, since n-independence's reach 10^4 x 500 x 6 floats


def _task(s: dict) -> tasks.Task:
    key = json.dumps({k: s.get(k) for k in _TASK_FIELDS}, sort_keys=True)
    if _LAST_TASK[0] != key:
        _LAST_TASK[:] = [key, _build_task(s)]
    return _LAST_TASK[1]


def _build_task(s: dict) -> tasks.Task:
    if s["kind"] == "digits":
        return tasks.digits(s.get("seed", 0), s.get("C", 10)).subset(s["N"])
    if s["kind"] == "topics":
        return tasks.topics(s.get("seed", 0), s.get("n", 8)).subset(s["N"])
    if s["kind"] == "random":
        return tasks.random_vectors(s["N"], s["n"], s["d"], s.get("C", 2), s.get("seed", 0), s.get("signs", False))
    if s["kind"] == "file":
        from ..data import load

        task = tasks.from_dataset(load(s["path"]), name=Path(s["path"]).name)
        if task.fingerprint != s["fingerprint"]:
            raise ValueError(f"{s['path']} changed since the experiment was made (fingerprint {task.fingerprint}, "
                             f"expected {s['fingerprint']}); start a new experiment")
        return task.subset(s["N"])
    raise ValueError(f"unknown task kind {s['kind']!r}: use digits, topics, random or file")
