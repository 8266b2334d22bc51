"""The worker framework of every sweep over a shared Optuna storage (storage.py): publishing a spec under
its name, claiming work under the spec's lock, heartbeats, local worker processes, progress counts.

A kind of sweep (`Sweep`) says where its spec lives, how a worker claims the next piece of work (a trial
of some study) and how it runs one; the framework does the rest the same way for every kind: the search
sweeps (sweep.py, one study per candidate) and the capacity grid (capacity_sweep.py, one study of runs).

Invariants:
- Every claim is made under the spec's lock (`sweep_lock`), so two workers never take the same trial.
- A claimed trial sends heartbeats while it trains; a worker killed mid-trial stops sending them, and
  the next claim fails the stale trial, which Optuna queues again with the same parameters.
- A worker never answers Ctrl-C itself and ends when the process that started it dies (interrupts.py):
  the command that started the workers ends them, or the kernel does, or their next heartbeat does.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

import optuna
import torch
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.trial import TrialState

from ..interrupts import exit_if_orphaned, run_quietly, sigint_ignored
from .storage import open_storage, sweep_lock
from .trainer import Callback

optuna.logging.set_verbosity(optuna.logging.WARNING)
# heartbeats with ask/tell are what lets a worker die without losing its trial; Optuna flags them experimental
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


class Spec(Protocol):
    """What a sweep publishes: a named record with one canonical JSON text (see jsonrecord.py)."""

    @property
    def name(self) -> str: ...

    def to_json(self) -> str: ...


S = TypeVar("S", bound=Spec)
J = TypeVar("J")  # what one claimed trial is to do: a candidate at a point, a run of a grid
T = TypeVar("T")  # what running it reports


class Claim(NamedTuple, Generic[J]):
    """A trial taken under the lock, with its study and what it is to do."""

    study: optuna.Study
    trial: optuna.Trial
    job: J


Busy = Literal["busy"]
BUSY: Busy = "busy"  # a claim that found work left, all of it running on other workers


# ---------------------------------------------------------------- claims and heartbeats


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


def take_queued(storage: RDBStorage, study: optuna.Study) -> optuna.Trial | Busy | None:
    """Under the lock, from a study whose every trial was enqueued when it was published: the next waiting
    trial; BUSY when none waits but some still run (one may fail and wait again); None when all finished."""
    recover(storage, study)
    if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return take(storage, study)
    return BUSY if study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) else None


def heartbeat(storage: RDBStorage, trial_id: int) -> Callback:
    """A trainer callback that records the trial's heartbeat at most twice per heartbeat interval, and ends
    the worker when the process that started it is gone."""
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


# ---------------------------------------------------------------- a kind of sweep


@dataclass(frozen=True)
class Sweep(Generic[S, J, T]):
    """One kind of sweep. Its spec is kept as JSON in the user attribute `key` of its home study, named
    `spec.name + home`; every other study it makes is named `spec.name + "/..."`, which is how trials
    are counted. `claim` runs under the lock; `run(storage, spec, claim, beat, **options)` trains the
    claimed trial (calling `beat` as it goes), tells Optuna its result and returns a report of it."""

    label: str  # how messages name one: "experiment", "capacity experiment"
    key: str
    home: str
    direction: Literal["minimize", "maximize"]  # of the home study
    unit: str  # what one claimed trial is called in messages: "trials", "runs"
    decode: Callable[[str], S]
    claim: Callable[[RDBStorage, S], Claim[J] | Busy | None]
    run: Callable[..., T]
    describe: Callable[[T], str]  # one line per finished trial, for a worker's log
    plan: Callable[[optuna.Study, S], None] | None = None  # under the lock, when published: enqueue its trials

    def publish(self, storage: RDBStorage, spec: S) -> None:
        """Record the spec under its name, so `memcap worker --experiment NAME` can join it; refuses to
        overwrite a different spec of the same name. Publishing the same spec again changes nothing."""
        with sweep_lock(storage, spec.name):
            study = optuna.create_study(storage=storage, study_name=spec.name + self.home, load_if_exists=True,
                                        direction=self.direction)
            old = study.user_attrs.get(self.key)
            if old is not None and old != spec.to_json():
                raise ValueError(f"storage already holds a different {self.label} named {spec.name!r}; pick another name or storage")
            study.set_user_attr(self.key, spec.to_json())
            if self.plan is not None:
                self.plan(study, spec)

    def find(self, storage: RDBStorage, name: str) -> S | None:
        """The spec of this kind published under `name`, or None."""
        try:
            study = optuna.load_study(storage=storage, study_name=name + self.home)
        except KeyError:
            return None
        text = study.user_attrs.get(self.key)
        return self.decode(text) if text else None

    def load(self, storage: RDBStorage, name: str) -> S:
        spec = self.find(storage, name)
        if spec is None:
            raise ValueError(f"no {self.label} {name!r} in this storage; it has: {', '.join(published(storage, (self,))) or 'none'}")
        return spec

    def work(self, storage: RDBStorage, name: str, poll: float = 1.0, max_trials: int | None = None,
             on_trial: Callable[[T], None] | None = None, **options: Any) -> int:
        """Claim and run trials of the spec `name` until none is left (or `max_trials`); returns how many this
        worker ran. `options` go to `run`."""
        spec = self.load(storage, name)
        ran = 0
        while max_trials is None or ran < max_trials:
            with sweep_lock(storage, spec.name):
                got = self.claim(storage, spec)
            if got is None:
                break
            if isinstance(got, str):  # BUSY
                time.sleep(poll)
                continue
            report = self.run(storage, spec, got, heartbeat(storage, got.trial._trial_id), **options)
            ran += 1
            if on_trial:
                on_trial(report)
        return ran

    def run_local(self, url: str, name: str, workers: int = 2, heartbeat: int = 10, grace: int | None = None,
                  on_poll: Callable[[int], None] | None = None, poll: float = 2.0, **options: Any) -> None:
        """Start `workers` worker processes on this machine and wait for them; `on_poll(trials_finished)` is
        called every `poll` seconds. More workers elsewhere may join through `memcap worker`."""
        storage = open_storage(url, heartbeat, grace)
        run_processes(_worker_main, (self, url, name, heartbeat, grace, options), workers,
                      lambda: finished_trials(storage, name), on_poll, poll)


def published(storage: RDBStorage, sweeps: Sequence[Sweep]) -> list[str]:
    """The names of the specs of these kinds in the storage, oldest first."""
    out = []
    for s in optuna.get_all_study_summaries(storage):
        for sweep in sweeps:
            name = s.study_name[: len(s.study_name) - len(sweep.home)]
            if s.study_name.endswith(sweep.home) and "/" not in name and sweep.key in s.user_attrs:
                out.append(name)
    return out


def find_sweep(storage: RDBStorage, name: str, sweeps: Sequence[Sweep]) -> Sweep:
    """The kind of sweep, among `sweeps`, that published a spec named `name`."""
    for sweep in sweeps:
        if sweep.find(storage, name) is not None:
            return sweep
    raise ValueError(f"no experiment {name!r} in this storage; it has: {', '.join(published(storage, sweeps)) or 'none'}")


# ---------------------------------------------------------------- processes


def set_threads(n: int = 1) -> None:
    """Tiny models train fastest on one thread, and one thread keeps float sums in one order."""
    torch.set_num_threads(n)


def finished_trials(storage: RDBStorage, name: str) -> int:
    """Finished trials in every study of the spec `name`."""
    n = 0
    for s in storage.get_all_studies():
        if s.study_name.startswith(name + "/"):
            n += sum(t.state == TrialState.COMPLETE for t in storage.get_all_trials(s._study_id, deepcopy=False))
    return n


def _worker_main(sweep: Sweep, url: str, name: str, heartbeat: int, grace: int | None, options: dict) -> None:
    set_threads(1)
    sweep.work(open_storage(url, heartbeat, grace), name, **options)


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
