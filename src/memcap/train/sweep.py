"""Search sweeps (`BOUNDARY_SEARCH`): where memorization starts, searched over an Optuna storage shared by
any number of workers (the worker framework, workers.py, claims, heartbeats and spawns; this module says
what a trial is and how the searches read their outcomes).

An Experiment is a list of points (e.g. N = 600..1700); at each point a gallop-and-bisect search (search.py)
looks for the smallest model that memorizes (or the largest N a fixed model memorizes). Testing one
candidate is one Optuna study whose trials are `n_trials` (learning rate, warm-up) settings of a scrambled
Sobol design; the candidate memorizes when one of its trials reaches training error < threshold.

Invariants:
- Every decision is read from the storage under the experiment's lock (a file lock beside an SQLite file,
  an advisory lock on PostgreSQL): creating a study, enqueuing its plan and taking a trial. So two workers never train
  the same trial, and a trial is never planned twice.
- The design points and the seeds depend only on the trial's index k, not on which worker asks or when, so
  a sweep gives the same table however many workers share it and however often it is killed and resumed:
  a killed worker's trial stops sending heartbeats, is failed after the grace period, and is queued again
  with the same parameters (Optuna's RetryFailedTrialCallback).
- Adaptive samplers (TPE) would make the table depend on the order in which trials finish; the fixed design
  is what buys reproducibility, at the price of some tuning efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from .experiment import Experiment
from .search import next_step
from .trainer import Callback, TrainConfig, train
from .workers import BUSY, Busy, Claim, Sweep, recover, take

# ---------------------------------------------------------------- reading outcomes


def _outcome(trials: list, n_trials: int) -> bool | None:
    """True: some trial memorized; False: every planned trial finished without; None: still open."""
    # decided in the order of k, as one worker running k = 0, 1, ... would decide it: a memorizing trial
    # counts only once every smaller k has finished without, so a kill (whose retried trial queues behind
    # the others) or a second worker cannot change which trial wins
    done = {t.user_attrs["k"]: t for t in trials if t.state == TrialState.COMPLETE}
    for k in range(n_trials):
        if k not in done:
            return None
        if done[k].user_attrs.get("memorized"):
            return True
    return False


def _trials(storage: RDBStorage, exp: Experiment, point: int) -> dict[int, list]:
    """Every trial of every candidate tested at `point`, by candidate."""
    prefix = f"{exp.name}/{exp.axis}={point}/{exp.size}="
    return {int(s.study_name[len(prefix):]): storage.get_all_trials(s._study_id, deepcopy=False)
            for s in storage.get_all_studies() if s.study_name.startswith(prefix)}


def _outcomes(storage: RDBStorage, exp: Experiment, point: int, trials: dict[int, list] | None = None) -> dict[int, bool | None]:
    trials = _trials(storage, exp, point) if trials is None else trials
    return {cand: _outcome(ts, exp.n_trials) for cand, ts in trials.items()}


def _prune_beyond_winner(storage: RDBStorage, study: optuna.Study) -> None:
    """Waiting trials with a k above one that memorized can no longer win: take them off the queue."""
    trials = study.get_trials(deepcopy=False)
    won = [t.user_attrs["k"] for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("memorized")]
    if not won:
        return
    for t in trials:
        if t.state == TrialState.WAITING and t.user_attrs["k"] > min(won) and storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
            study.tell(t.number, state=TrialState.PRUNED)


class Candidate(NamedTuple):
    """What one trial of a search sweep tests: a candidate (a model size or a dataset size) at a point."""

    point: int
    candidate: int


def _claim(storage: RDBStorage, exp: Experiment) -> Claim[Candidate] | Busy | None:
    """Under the lock: find the next trial any point needs and take it. Returns None when every point's
    search is done, BUSY when the open trials are all running elsewhere."""
    busy = False
    for point in exp.points:
        outcomes = _outcomes(storage, exp, point)
        step = next_step(exp.candidates, {k: v for k, v in outcomes.items() if v is not None}, exp.direction)
        if step.done:
            continue
        assert step.test is not None, "a search that is not done names the candidate to test next"
        name = exp.study_name(point, step.test)
        study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True, direction="minimize")
        planned = {t.user_attrs.get("k") for t in study.get_trials(deepcopy=False)}
        for k, params in enumerate(exp.plan()):
            if k not in planned:  # idempotent: a worker killed while planning leaves the rest to the next
                study.enqueue_trial(params, user_attrs={"k": k})
        recover(storage, study)
        _prune_beyond_winner(storage, study)
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            busy = True
            continue
        return Claim(study, take(storage, study), Candidate(point, step.test))
    return BUSY if busy else None


@dataclass(frozen=True)
class TrialReport:
    point: int
    candidate: int
    k: int
    lr: float
    warmup: int
    memorized: bool
    error: float
    epochs: int
    seconds: float
    params: int


def _train(storage: RDBStorage, exp: Experiment, claim: Claim[Candidate], beat: Callback) -> TrialReport:
    """Train the claimed trial with its design point's learning rate and warm-up, and record the outcome."""
    study, trial, (point, candidate) = claim
    task, model_cfg = exp.setup(point, candidate)
    k = trial.user_attrs["k"]
    lr, warmup = trial.suggest_float("lr", *exp.lr, log=True), trial.suggest_int("warmup", *exp.warmup)

    cfg = TrainConfig(lr=lr, warmup=warmup, epochs=exp.epochs, threshold=exp.threshold, seed=exp.seed + k)
    _, res = train(model_cfg, task, cfg, callbacks=(beat,))
    for key, val in (("memorized", res.memorized), ("epochs", res.epochs), ("seconds", res.seconds), ("params", res.params)):
        trial.set_user_attr(key, val)
    study.tell(trial, res.error)
    return TrialReport(point, candidate, k, lr, warmup, res.memorized, res.error, res.epochs, res.seconds, res.params)


def _describe(r: TrialReport) -> str:
    return f"{r.point}/{r.candidate} k={r.k}: memorized={r.memorized} error={r.error:.4f} {r.seconds:.1f}s"


# each experiment's searches: the smallest model that memorizes, or the largest dataset a model memorizes,
# at every point; the experiment lives in the study named after it
BOUNDARY_SEARCH: Sweep[Experiment, Candidate, TrialReport] = Sweep(
    label="experiment", key="experiment", home="", direction="minimize", unit="trials", decode=Experiment.from_json,
    claim=_claim, run=_train, describe=_describe)


# ---------------------------------------------------------------- the table


def answers(storage: RDBStorage, exp: Experiment) -> list[dict]:
    """One row per point: the search's answer and the trial that memorized there; the same rows whatever
    the number of workers, kills and resumes (timings aside)."""
    rows = []
    for point in exp.points:
        trials = _trials(storage, exp, point)
        outcomes = _outcomes(storage, exp, point, trials)
        step = next_step(exp.candidates, {k: v for k, v in outcomes.items() if v is not None}, exp.direction)
        row: dict[str, Any] = {exp.axis: point, "done": step.done, "answer": step.answer, "tested": dict(sorted(outcomes.items())),
               "trials": 0, "train_seconds": 0.0}
        for cand, ts in trials.items():
            done = [t for t in ts if t.state == TrialState.COMPLETE]
            row["trials"] += len(done)
            row["train_seconds"] += sum(t.user_attrs.get("seconds", 0.0) for t in done)
            if step.done and cand == step.answer:
                win = min((t for t in done if t.user_attrs.get("memorized")), key=lambda t: t.user_attrs["k"])
                row.update(k=win.user_attrs["k"], lr=win.params["lr"], warmup=win.params["warmup"], epochs=win.user_attrs["epochs"],
                           params=win.user_attrs["params"], error=win.value)
        row["train_seconds"] = round(row["train_seconds"], 2)
        rows.append(row)
    return rows


def best_trial(storage: RDBStorage, exp: Experiment, point: int) -> dict | None:
    """The finished trial with the least training error at `point` (ties: the smaller candidate): how
    close the search came where nothing memorized. None before any trial finished."""
    best: tuple | None = None
    for cand, ts in _trials(storage, exp, point).items():
        for t in ts:
            if t.state == TrialState.COMPLETE and t.value is not None and (best is None or (t.value, cand) < best[:2]):
                best = (t.value, cand, t.user_attrs.get("params"))
    return None if best is None else {"error": best[0], exp.size: best[1], "params": best[2]}


def deterministic_part(rows: list[dict]) -> list[dict]:
    """The rows without what depends on timing: seconds, and how many extra trials concurrent workers ran."""
    return [{k: v for k, v in r.items() if k not in ("train_seconds", "trials")} for r in rows]
