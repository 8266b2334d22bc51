"""Capacity sweeps over an Optuna storage, shared by any number of workers.

An Experiment is a list of points (e.g. N = 600..1700); at each point a gallop-and-bisect search (search.py)
looks for the smallest model that memorizes (or the largest N a fixed model memorizes). Testing one
candidate is one Optuna study whose trials are `n_trials` (learning rate, warm-up) settings of a scrambled
Sobol design; the candidate memorizes when one of its trials reaches training error < threshold.

Invariants:
- Every decision is read from the storage under one lock (a file lock beside an SQLite file, an advisory
  lock on PostgreSQL): creating a study, enqueuing its plan and taking a trial. So two workers never train
  the same trial, and a trial is never planned twice.
- The design points and the seeds depend only on the trial's index k, not on which worker asks or when, so
  a sweep gives the same table however many workers share it and however often it is killed and resumed:
  a killed worker's trial stops sending heartbeats, is failed after the grace period, and is queued again
  with the same parameters (Optuna's RetryFailedTrialCallback).
- Adaptive samplers (TPE) would make the table depend on the order in which trials finish; the fixed design
  is what buys reproducibility, at the price of some tuning efficiency.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import optuna
import torch
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.trial import TrialState

from ..interrupts import exit_if_orphaned, run_quietly, sigint_ignored
from .experiment import Experiment
from .search import next_step
from .storage import open_storage, sweep_lock
from .trainer import Callback, TrainConfig, train

optuna.logging.set_verbosity(optuna.logging.WARNING)
# heartbeats with ask/tell are what lets a worker die without losing its trial; Optuna flags them experimental
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


# ---------------------------------------------------------------- storage, lock


def publish(storage: RDBStorage, exp: Experiment) -> None:
    """Record the experiment under its name, so `memcap worker --experiment NAME` can join it; refuses to
    overwrite a different experiment of the same name."""
    with sweep_lock(storage, exp.name):
        study = optuna.create_study(storage=storage, study_name=exp.name, load_if_exists=True)
        old = study.user_attrs.get("experiment")
        if old is not None and old != exp.to_json():
            raise ValueError(f"storage already holds a different experiment named {exp.name!r}; pick another name or storage")
        study.set_user_attr("experiment", exp.to_json())


def load_experiment(storage: RDBStorage, name: str) -> Experiment:
    try:
        study = optuna.load_study(storage=storage, study_name=name)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage) if "/" not in s.study_name]
        raise ValueError(f"no experiment {name!r} in this storage; it has: {', '.join(names) or 'none'}") from None
    return Experiment.from_json(study.user_attrs["experiment"])


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


def _adopt_orphans(storage: RDBStorage, study: optuna.Study) -> None:
    """A running trial not marked claimed by its own number was taken by a worker that died inside the lock,
    between ask() and its first heartbeat; Optuna never fails a trial without a heartbeat, so give it one:
    it then goes stale after the grace period and is retried like any other. (Retries copy user attributes,
    hence the number rather than a flag.) Only valid under the lock, where no claim is half done."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("claimed") != t.number:
            storage.record_heartbeat(t._trial_id)
            storage.set_trial_user_attr(t._trial_id, "claimed", t.number)


def recover(storage: RDBStorage, study: optuna.Study) -> None:
    """Under the lock: give orphans a heartbeat, then queue again every trial whose heartbeat went stale."""
    _adopt_orphans(storage, study)
    fail_stale_trials(study)


def take(storage: RDBStorage, study: optuna.Study) -> optuna.Trial:
    """Under the lock: the next waiting trial, with its first heartbeat and marked claimed by its number."""
    trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    trial.set_user_attr("claimed", trial.number)
    return trial


def heartbeat(storage: RDBStorage, trial_id: int) -> Callback:
    """A trainer callback that records the trial's heartbeat at most twice per heartbeat interval."""
    last = [0.0]
    interval = storage.heartbeat_interval
    assert interval is not None, "open_storage always sets a heartbeat interval"

    def beat(epoch: int, loss: float, error: float) -> None:
        exit_if_orphaned()
        now = time.monotonic()
        if now - last[0] >= interval / 2:
            storage.record_heartbeat(trial_id)
            last[0] = now

    return beat


def _prune_beyond_winner(storage: RDBStorage, study: optuna.Study) -> None:
    """Waiting trials with a k above one that memorized can no longer win: take them off the queue."""
    trials = study.get_trials(deepcopy=False)
    won = [t.user_attrs["k"] for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("memorized")]
    if not won:
        return
    for t in trials:
        if t.state == TrialState.WAITING and t.user_attrs["k"] > min(won) and storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
            study.tell(t.number, state=TrialState.PRUNED)


class Claim(NamedTuple):
    """A trial taken under the lock: its study, the trial, the point and the candidate that it tests."""

    study: optuna.Study
    trial: optuna.Trial
    point: int
    candidate: int


def _claim(storage: RDBStorage, exp: Experiment) -> Claim | None | str:
    """Under the lock: find the next trial any point needs and take it. Returns None when every point's
    search is done, "busy" when the open trials are all running elsewhere."""
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
        return Claim(study, take(storage, study), point, step.test)
    return "busy" if busy else None


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


def work(storage: RDBStorage, name: str, poll: float = 1.0, max_trials: int | None = None,
         on_trial: Callable[[TrialReport], None] | None = None) -> int:
    """Run trials of experiment `name` until its every search is done (or `max_trials`); returns how many
    this worker ran."""
    exp = load_experiment(storage, name)
    ran = 0
    while max_trials is None or ran < max_trials:
        with sweep_lock(storage, exp.name):
            got = _claim(storage, exp)
        if got is None:
            return ran
        if isinstance(got, str):  # "busy"
            time.sleep(poll)
            continue
        study, trial, point, candidate = got
        task, model_cfg = exp.setup(point, candidate)
        k = trial.user_attrs["k"]
        lr, warmup = trial.suggest_float("lr", *exp.lr, log=True), trial.suggest_int("warmup", *exp.warmup)

        cfg = TrainConfig(lr=lr, warmup=warmup, epochs=exp.epochs, threshold=exp.threshold, seed=exp.seed + k)
        _, res = train(model_cfg, task, cfg, callbacks=(heartbeat(storage, trial._trial_id),))
        for key, val in (("memorized", res.memorized), ("epochs", res.epochs), ("seconds", res.seconds), ("params", res.params)):
            trial.set_user_attr(key, val)
        study.tell(trial, res.error)
        ran += 1
        if on_trial:
            on_trial(TrialReport(point, candidate, k, lr, warmup, res.memorized, res.error, res.epochs, res.seconds, res.params))
    return ran


# ---------------------------------------------------------------- the table


def table(storage: RDBStorage, exp: Experiment) -> list[dict]:
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


def set_threads(n: int = 1) -> None:
    """Tiny models train fastest on one thread, and one thread keeps float sums in one order."""
    torch.set_num_threads(n)


def _worker_main(url: str, name: str, heartbeat: int, grace: int | None) -> None:
    set_threads(1)
    work(open_storage(url, heartbeat, grace), name)


def run_local(url: str, name: str, workers: int = 2, heartbeat: int = 10, grace: int | None = None,
              on_poll: Callable[[int], None] | None = None, poll: float = 2.0) -> None:
    """Start `workers` worker processes on this machine and wait for them; `on_poll(trials_finished)` is
    called every `poll` seconds. More workers elsewhere may join through `memcap worker`."""
    storage = open_storage(url, heartbeat, grace)
    run_processes(_worker_main, (url, name, heartbeat, grace), workers, lambda: finished_trials(storage, name), on_poll, poll)


def run_processes(target: Callable, args: tuple, workers: int, count: Callable[[], int],
                  on_poll: Callable[[int], None] | None = None, poll: float = 2.0) -> None:
    """`workers` processes of target(*args), waited for; on_poll(count()) every `poll` seconds. A worker
    that fails is an error naming the rerun that resumes."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # a fresh interpreter: no torch thread pools or open connections inherited
    procs = [ctx.Process(target=run_quietly, args=(target, os.getpid(), *args)) for _ in range(workers)]
    with sigint_ignored():  # Ctrl-C is the parent's to answer; the workers end when it terminates them or dies
        for p in procs:
            p.start()
    try:
        while any(p.is_alive() for p in procs):
            if on_poll:
                on_poll(count())
            time.sleep(poll)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise RuntimeError(f"{len(bad)} worker(s) exited with codes {bad}; rerun the same command to resume")


def finished_trials(storage: RDBStorage, name: str) -> int:
    n = 0
    for s in storage.get_all_studies():
        if s.study_name.startswith(name + "/"):
            n += sum(t.state == TrialState.COMPLETE for t in storage.get_all_trials(s._study_id, deepcopy=False))
    return n
