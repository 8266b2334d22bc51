"""The capacity experiment (docs/trained.md#capacity): a grid of (model, N) runs over one Optuna storage,
shared by any number of workers, each run training one model on the first N sequences of one seed and
recording its memorized bits.

Invariants: a run's data, model and training depend only on the spec and the run's number, not on which
worker takes it or when, so the table is the same however many workers share the storage and however often
they are killed (a killed run stops sending heartbeats and is queued again). The grid is a kind of sweep of
the worker framework (workers.py, `CAPACITY_GRID`): its runs are one Optuna trial each, enqueued once when
the spec is published, and claimed under the experiment's lock like the search sweeps' trials.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from ..jsonrecord import Named, named, tuples
from ..nn.model import GPTConfig, paper_config
from . import capacity
from .trainer import Callback, TrainConfig, save_trained, train
from .workers import Busy, Claim, Sweep, take_queued


class ModelShape(NamedTuple):
    """A model of the grid: arch "gpt" with `depth` layers of `width`, or arch "paper" with `depth` blocks
    of embedding width m = `width` (causal)."""

    arch: str
    depth: int
    width: int


class Run(NamedTuple):
    """One run of the grid: its number (in the order of the costliest first), its model and its dataset size."""

    number: int
    model: ModelShape
    N: int


@dataclass(frozen=True)
class CapacitySpec(Named):
    """A capacity experiment: the data (V tokens, sequences of S), the models with the dataset sizes N of
    each, and the training every run shares."""

    name: str
    V: int
    S: int
    models: tuple[ModelShape, ...]
    Ns: tuple[tuple[int, ...], ...]  # dataset sizes per model, around its expected capacity
    steps: int = 4000
    lr: float = 0.05
    warmup: int = 100
    clip: float = 1.0
    seed: int = 0
    mlp: int = 4  # the GPT models' feed-forward width, in multiples of the model width

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> CapacitySpec:
        fields = {"mlp": 4, **fields}  # experiments stored before the MLP width was a setting
        return cls(**{**{k: tuples(v) for k, v in fields.items()}, "models": tuple(ModelShape(*m) for m in fields["models"])})

    def runs(self) -> list[Run]:
        """Every run, the costliest first: two workers taking them in this order finish together (a run's
        result does not depend on the order)."""
        grid = [(ModelShape(*model), N) for model, Ns in zip(self.models, self.Ns, strict=True) for N in Ns]
        return [Run(i, model, N) for i, (model, N) in enumerate(sorted(grid, key=lambda r: (-_cost(*r), r)))]

    def model_config(self, model: ModelShape):
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


def _cost(model: ModelShape, N: int) -> int:
    """Relative time of a run: the V-wide logits of every position dominate, N x width x (depth + 1)."""
    return N * model.width * (model.depth + 1)


def run_name(model: ModelShape | tuple[str, int, int], N: int) -> str:
    """The run's folder under --save, and its name in tables and logs."""
    arch, depth, width = model
    return f"{arch}-L{depth}-d{width}-N{N}"


def measure(spec: CapacitySpec, model: ModelShape, N: int, device: str = "auto", save: Path | None = None,
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


# the study holding a capacity experiment's spec and its runs, named after the experiment
HOME = "/runs"


def _plan(study: optuna.Study, spec: CapacitySpec) -> None:
    """Under the lock: enqueue every run not yet enqueued (a worker killed while planning leaves the rest)."""
    planned = {t.user_attrs.get("run") for t in study.get_trials(deepcopy=False)}
    for run in spec.runs():
        if run.number not in planned:
            study.enqueue_trial({}, user_attrs={"run": run.number})


def _claim(storage: RDBStorage, spec: CapacitySpec) -> Claim[Run] | Busy | None:
    study = optuna.load_study(storage=storage, study_name=spec.name + HOME)
    trial = take_queued(storage, study)
    if trial is None or isinstance(trial, str):
        return trial
    return Claim(study, trial, spec.runs()[trial.user_attrs["run"]])


def _measure(storage: RDBStorage, spec: CapacitySpec, claim: Claim[Run], beat: Callback, save: Path | None = None,
             device: str = "auto") -> dict:
    """Train and measure the claimed run, and record its row."""
    row = measure(spec, claim.job.model, claim.job.N, device=device, save=save, on_step=beat)
    claim.trial.set_user_attr("row", row)
    claim.study.tell(claim.trial, row["memorized_bits"])
    return row


def _describe(row: dict) -> str:
    return f"{run_name(ModelShape(row['arch'], row['depth'], row['width']), row['N'])}: {row['memorized_bits']:.0f} bits {row['seconds']:.1f}s"


# every (model, N) of the grid trained once and measured
CAPACITY_GRID: Sweep[CapacitySpec, Run, dict] = Sweep(
    label="capacity experiment", key="capacity", home=HOME, direction="maximize", unit="runs", decode=CapacitySpec.from_json,
    claim=_claim, run=_measure, describe=_describe, plan=_plan)


def run_rows(storage: RDBStorage, spec: CapacitySpec) -> list[dict]:
    """One row per finished run, in run order (timings aside, the same for any number of workers)."""
    study = optuna.load_study(storage=storage, study_name=spec.name + HOME)
    done = {(r["arch"], r["depth"], r["width"], r["N"]): r
            for r in (t.user_attrs["row"] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))}
    return [done[(*run.model, run.N)] for run in spec.runs() if (*run.model, run.N) in done]


def unsaved(storage: RDBStorage, spec: CapacitySpec, save: Path) -> list[str]:
    """The finished runs in the storage whose folder under `save` is missing: a sweep saves only the runs
    it trains, so these would never be saved there."""
    names = [run_name(ModelShape(r["arch"], r["depth"], r["width"]), r["N"]) for r in run_rows(storage, spec)]
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


def _around(params: int, S: int, V: int, factors: tuple[float, ...]) -> tuple[int, ...]:
    """Dataset sizes at `factors` times the N whose H equals 2.5 bits per parameter: below it a model
    memorizes nearly all, above it the total flattens at the model's capacity."""
    per_seq = (S - 1) * math.log2(V)
    return tuple(sorted({max(8, int(round(f * 2.5 * params / per_seq / 8)) * 8) for f in factors}))


# (models, N factors, steps, GPT MLP width) per profile. The CPU profiles are the largest that fit their time on
# two cores (--quick a few minutes, the default half an hour): a model of the shape that stored the most bits per
# parameter in the trials, the paper's beside it, two N each, one below the plateau and one on it. The trials that
# chose the shapes, learning rates and steps are in docs/trained.md (how the profiles were chosen).
PROFILES = {
    "quick": ((ModelShape("gpt", 1, 8), ModelShape("paper", 1, 4)), (1.0, 2.0), 3500, 4),
    "cpu": ((ModelShape("gpt", 2, 8), ModelShape("paper", 1, 4)), (1.0, 3.0), 12_000, 8),
    "gpu": ((*(ModelShape("gpt", depth, width) for depth, width in ((1, 8), (2, 8), (2, 16), (2, 32), (4, 32))), ModelShape("paper", 1, 8)),
            (0.5, 1.0, 2.0, 3.0), 100_000, 4),
}


def profile(quick: bool = False, gpu: bool = False, steps: int | None = None, lr: float | None = None, seed: int = 0) -> CapacitySpec:
    """The models, N grid and training of `repro capacity`: --quick (a few minutes on 2 cores), the CPU
    default (under half an hour: one GPT model and the paper's, two N each), or larger models and many more steps when a GPU is present."""
    from ..nn.model import build, trainable_params

    V, S = 512, 16
    kind = "quick" if quick else "gpu" if gpu else "cpu"
    models, factors, n_steps, mlp = PROFILES[kind]
    base = CapacitySpec(name=f"capacity-{kind}", V=V, S=S, models=models, Ns=(), steps=steps or n_steps,
                        lr=lr if lr is not None else 0.3, seed=seed, mlp=mlp)
    Ns = tuple(_around(trainable_params(build(base.model_config(m))), S, V, factors) for m in models)
    return named(replace(base, Ns=Ns))
