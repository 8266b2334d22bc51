"""The capacity experiment (docs/trained.md#capacity): a grid of (model, N) runs over one Optuna storage,
shared by any number of workers, each run training one model on the first N sequences of one seed and
recording its memorized bits.

Invariants: a run's data, model and training depend only on the spec and the run's index, not on which
worker takes it or when, so the table is the same however many workers share the storage and however often
they are killed (a killed run stops sending heartbeats and is queued again, as in `sweep.py`). Runs are
claimed under the experiment's lock with the search sweeps' claim, orphan and heartbeat rules (`sweep.take`,
`sweep.recover`, `sweep.heartbeat`), one Optuna trial each, enqueued once.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from ..nn.model import GPTConfig, paper_config
from . import capacity
from .storage import open_storage, sweep_lock
from .sweep import finished_trials, heartbeat, recover, run_processes, set_threads, take
from .trainer import TrainConfig, save_trained, train

optuna.logging.set_verbosity(optuna.logging.WARNING)

# arch "gpt": (layers, width) of the GPT-style model; arch "paper": (blocks, m) of the paper's model, causal
Model = tuple[str, int, int]


@dataclass(frozen=True)
class CapacitySpec:
    name: str
    V: int
    S: int
    models: tuple[Model, ...]
    Ns: tuple[tuple[int, ...], ...]  # dataset sizes per model, around its expected capacity
    steps: int = 4000
    lr: float = 0.05
    warmup: int = 100
    clip: float = 1.0
    seed: int = 0
    mlp: int = 4  # the GPT models' feed-forward width, in multiples of the model width

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> CapacitySpec:
        d = json.loads(text)
        d.setdefault("mlp", 4)  # experiments stored before the MLP width was a setting
        return CapacitySpec(**{**d, "models": tuple(tuple(m) for m in d["models"]), "Ns": tuple(tuple(n) for n in d["Ns"])})

    @property
    def study(self) -> str:
        return f"{self.name}/runs"

    def runs(self) -> list[tuple[int, Model, int]]:
        """(index, model, N) of every run, the costliest first: two workers taking them in this order finish
        together (a run's result does not depend on the order)."""
        grid = [(model, N) for model, Ns in zip(self.models, self.Ns, strict=True) for N in Ns]
        return [(i, model, N) for i, (model, N) in enumerate(sorted(grid, key=lambda r: (-_cost(*r), r)))]

    def model_config(self, model: Model):
        arch, depth, width = model
        if arch == "gpt":
            return GPTConfig(vocab=self.V, seq_len=self.S - 1, width=width, layers=depth, mlp=self.mlp)
        if arch == "paper":
            return replace(paper_config(depth, self.S - 1, self.V, vocab=self.V, m=width, q=4 * width), causal=True)
        raise ValueError(f"unknown capacity arch {arch!r}: gpt or paper")

    def train_config(self, device: str = "auto") -> TrainConfig:
        # threshold 0 never stops early: the code length keeps falling after every argmax is right
        return TrainConfig(lr=self.lr, warmup=self.warmup, epochs=self.steps, threshold=0.0, clip=self.clip,
                           seed=self.seed, device=device)


def _cost(model: Model, N: int) -> int:
    """Relative time of a run: the V-wide logits of every position dominate, N x width x (depth + 1)."""
    return N * model[2] * (model[1] + 1)


def named(spec: CapacitySpec) -> CapacitySpec:
    """The name carries a hash of every setting: rerunning resumes, changing a setting starts a new one."""
    digest = hashlib.sha256(replace(spec, name="").to_json().encode()).hexdigest()[:6]
    return replace(spec, name=f"{spec.name}-{digest}")


def publish(storage: RDBStorage, spec: CapacitySpec) -> None:
    with sweep_lock(storage, spec.name):
        study = optuna.create_study(storage=storage, study_name=spec.study, load_if_exists=True, direction="maximize")
        old = study.user_attrs.get("capacity")
        if old is not None and old != spec.to_json():
            raise ValueError(f"storage already holds a different capacity experiment named {spec.name!r}")
        study.set_user_attr("capacity", spec.to_json())
        planned = {t.user_attrs.get("run") for t in study.get_trials(deepcopy=False)}
        for i, _, _ in spec.runs():
            if i not in planned:
                study.enqueue_trial({}, user_attrs={"run": i})


def load_spec(storage: RDBStorage, name: str) -> CapacitySpec | None:
    """The capacity experiment of this name, or None when the storage has none (e.g. a search sweep)."""
    try:
        study = optuna.load_study(storage=storage, study_name=f"{name}/runs")
    except KeyError:
        return None
    text = study.user_attrs.get("capacity")
    return CapacitySpec.from_json(text) if text else None


def run_name(model: Model, N: int) -> str:
    return f"{model[0]}-L{model[1]}-d{model[2]}-N{N}"


def measure(spec: CapacitySpec, model: Model, N: int, device: str = "auto", save: Path | None = None,
            on_step: Callable[[int, float, float], None] | None = None) -> dict:
    """Train one run and measure it: memorized bits, the data's ceiling, the strict criterion."""
    tokens = capacity.random_tokens(N, spec.S, spec.V, spec.seed)
    cfg = spec.model_config(model)
    net, res = train(cfg, capacity.lm_task(tokens, spec.V, f"uniform(V={spec.V},S={spec.S},seed={spec.seed})[:{N}]"),
                     spec.train_config(device), callbacks=(on_step,) if on_step else ())
    net = net.cpu()
    bits = capacity.memorized_bits(net, tokens, spec.V)
    misses = capacity.argmax_misses(net, tokens)
    if save is not None:
        data = io.BytesIO()
        np.savez(data, tokens=tokens.numpy(), V=spec.V)
        save_trained(net, cfg, Path(save) / run_name(model, N), overwrite=True, extra={"data.npz": data.getvalue()})
    return {"arch": model[0], "depth": model[1], "width": model[2], "mlp": spec.mlp if model[0] == "gpt" else None, "N": N, "params": res.params,
            "H_bits": round(N * spec.S * math.log2(spec.V), 1), "memorized_bits": round(bits, 1),
            "ceiling_bits": round(capacity.ceiling_bits(tokens, spec.V), 1),
            "strict_bits": round(capacity.strict_bits(tokens, spec.V), 1), "strict_misses": misses,
            "loss": round(res.loss, 5), "steps": res.epochs, "seconds": res.seconds, "device": res.device}


def work(storage: RDBStorage, name: str, save: Path | None = None, device: str = "auto", poll: float = 1.0,
         on_run: Callable[[dict], None] | None = None) -> int:
    """Take runs of capacity experiment `name` until none is left; returns how many this worker ran."""
    spec = load_spec(storage, name)
    if spec is None:
        raise ValueError(f"no capacity experiment {name!r} in this storage")
    runs = dict((i, (model, N)) for i, model, N in spec.runs())
    ran = 0
    while True:
        with sweep_lock(storage, spec.name):
            study = optuna.load_study(storage=storage, study_name=spec.study)
            recover(storage, study)
            waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            trial = take(storage, study) if waiting else None
        if trial is None:
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return ran
            time.sleep(poll)
            continue
        model, N = runs[trial.user_attrs["run"]]
        row = measure(spec, model, N, device=device, save=save, on_step=heartbeat(storage, trial._trial_id))
        trial.set_user_attr("row", row)
        study.tell(trial, row["memorized_bits"])
        ran += 1
        if on_run:
            on_run(row)


def table(storage: RDBStorage, spec: CapacitySpec) -> list[dict]:
    """One row per finished run, in run order (timings aside, the same for any number of workers)."""
    study = optuna.load_study(storage=storage, study_name=spec.study)
    done = {(r["arch"], r["depth"], r["width"], r["N"]): r
            for r in (t.user_attrs["row"] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))}
    return [done[(*model, N)] for _, model, N in spec.runs() if (*model, N) in done]


def unsaved(storage: RDBStorage, spec: CapacitySpec, save: Path) -> list[str]:
    """The finished runs in the storage whose folder under `save` is missing: a sweep saves only the runs
    it trains, so these would never be saved there."""
    names = [run_name((r["arch"], r["depth"], r["width"]), r["N"]) for r in table(storage, spec)]
    return [name for name in names if not (Path(save) / name).is_dir()]


def summary(spec: CapacitySpec, rows: list[dict]) -> list[dict]:
    """Per model: capacity = the plateau (maximum) of memorized bits over N, bits/param, and the strict
    criterion: the largest N whose every determined token is recalled by argmax, with its bits/param."""
    out = []
    for model in spec.models:
        mine = [r for r in rows if (r["arch"], r["depth"], r["width"]) == tuple(model)]
        if not mine:
            continue
        best = max(mine, key=lambda r: r["memorized_bits"])
        exact = [r for r in mine if r["strict_misses"] == 0]
        strict = max(exact, key=lambda r: r["N"]) if exact else None
        params = best["params"]
        out.append({"arch": model[0], "depth": model[1], "width": model[2], "mlp": best.get("mlp"), "params": params, "runs": len(mine),
                    "of": len(spec.Ns[spec.models.index(model)]), "capacity_bits": best["memorized_bits"],
                    "at_N": best["N"], "bits_per_param": round(best["memorized_bits"] / params, 3),
                    "plateau": _plateau(mine),
                    "strict_N": strict["N"] if strict else None,
                    "strict_bits_per_param": round(strict["strict_bits"] / params, 3) if strict else None})
    return out


def _plateau(runs: list[dict]) -> bool:
    """The total has flattened: the largest N tried added less than 5% over the best smaller N."""
    by_n = sorted(runs, key=lambda r: r["N"])
    if len(by_n) < 2:
        return False
    return by_n[-1]["memorized_bits"] <= 1.05 * max(r["memorized_bits"] for r in by_n[:-1])


def slope(summ: list[dict], arch: str) -> float | None:
    """Least-squares slope of capacity (bits) against parameters over one arch's models, through 0 not forced."""
    pts = [(s["params"], s["capacity_bits"]) for s in summ if s["arch"] == arch]
    if len(pts) < 2:
        return None
    x, y = np.array(pts, dtype=float).T
    return round(float(np.polyfit(x, y, 1)[0]), 3)


def _worker_main(url: str, name: str, heartbeat: int, save: str | None, device: str) -> None:
    set_threads(1)
    work(open_storage(url, heartbeat), name, save=Path(save) if save else None, device=device)


def run_local(url: str, name: str, workers: int = 2, heartbeat: int = 10, save: Path | None = None, device: str = "auto",
              on_poll: Callable[[int], None] | None = None, poll: float = 2.0) -> None:
    """`workers` local processes taking runs until none is left; more may join through `memcap worker`."""
    storage = open_storage(url, heartbeat)
    run_processes(_worker_main, (url, name, heartbeat, str(save) if save else None, device), workers,
                  lambda: finished_trials(storage, name), on_poll, poll)


def _around(params: int, S: int, V: int, factors: tuple[float, ...]) -> tuple[int, ...]:
    """Dataset sizes at `factors` times the N whose H equals 2.5 bits per parameter: below it a model
    memorizes nearly all, above it the total flattens at the model's capacity."""
    per_seq = (S - 1) * math.log2(V)
    return tuple(sorted({max(8, int(round(f * 2.5 * params / per_seq / 8)) * 8) for f in factors}))


# (models, N factors, steps, GPT MLP width) per profile. Measured here (V = 512, S = 16, GPT 1 layer d 8, N = 192, 4000 steps):
# lr 0.05 -> 2.50 bits/param, 0.1 -> 2.56, 0.2 -> 2.60, 0.4 -> 2.65, 1.0 -> 1.03 (diverged); 8000 steps at 0.05 -> 2.57;
# d 4 -> 2.15, d 16 (lr 0.2, N = 384) -> 2.61; V = 128 (d 16, lr 0.05) -> 2.22; V = 32 -> 1.70. At lr 0.3, 8000 steps:
# 1 layer d 8 -> 2.73, 2 layers d 8 -> 2.93, 3 layers d 8 -> 2.84, 1 layer d 12 -> 2.71; 2 layers d 8 at 12000 steps -> 3.00.
# 2 layers d 8 at 14000 steps, N = 448: lr 0.3 -> 2.99, beta2 0.95 -> 2.98, lr 0.2 -> 2.96 (a plateau at this shape);
# MLP width 8 d instead of 4 d (7,064 params) -> 3.13; at 12,000 steps, two workers: N = 264 -> 3.016 (966 s),
# N = 456 -> 3.045 (1755 s). The CPU default keeps that model and the paper's at two N each, to fit 30 minutes: factors
# (1.0, 3.0) ran in 26.7 min end to end (GPT N = 128, 392: 2.44, 3.03; paper N = 80, 248: 2.41, 2.47); (1.5, 3.0) took 31.2.
# --quick: 4000 steps at factors (1, 2, 3) took 10.2 min (GPT 2.70); 3500 steps at (1, 2) took 5.2 min (GPT 2.54, paper 2.58).
PROFILES = {
    "quick": ((("gpt", 1, 8), ("paper", 1, 4)), (1.0, 2.0), 3500, 4),
    "cpu": ((("gpt", 2, 8), ("paper", 1, 4)), (1.0, 3.0), 12_000, 8),
    "gpu": ((("gpt", 1, 8), ("gpt", 2, 8), ("gpt", 2, 16), ("gpt", 2, 32), ("gpt", 4, 32), ("paper", 1, 8)), (0.5, 1.0, 2.0, 3.0), 100_000, 4),
}


def profile(quick: bool = False, gpu: bool = False, steps: int | None = None, lr: float | None = None, seed: int = 0) -> CapacitySpec:
    """The models, N grid and training of `repro capacity`: --quick (a few minutes on 2 cores), the CPU
    default (about 27 minutes: one GPT model and the paper's, two N each), or larger models and many more steps when a GPU is present."""
    from ..nn.model import build, trainable_params

    V, S = 512, 16
    kind = "quick" if quick else "gpu" if gpu else "cpu"
    models, factors, n_steps, mlp = PROFILES[kind]
    base = CapacitySpec(name=f"capacity-{kind}", V=V, S=S, models=models, Ns=(), steps=steps or n_steps,
                        lr=lr if lr is not None else 0.3, seed=seed, mlp=mlp)
    Ns = tuple(_around(trainable_params(build(base.model_config(m))), S, V, factors) for m in models)
    return named(replace(base, Ns=Ns))
