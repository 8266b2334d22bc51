"""`memcap repro capacity`: trained capacity by code length (Morris et al.), beside the strict criterion.
Thin: the profile, the sweep and the report are library functions; this file parses, runs and prints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .common import SWEEPS_DB, OutDir, Seed, Storage, Workers, err, fail, need_train_extra, progress_bar, repro_app, results_dir, show


@repro_app.command("capacity")
def capacity_cmd(
    quick: Annotated[bool, typer.Option("--quick", help="one small model family, fewer steps (about 5 minutes on 2 cores)")] = False,
    storage: Storage = SWEEPS_DB,
    workers: Workers = 2,
    out: OutDir = Path("out/trained"),
    save: Annotated[Path | None, typer.Option("--save", help="folder: keep each run's data.npz and trained model in DIR/<run>/")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when present: larger models, more steps), cpu, cuda or cuda:N")] = "auto",
    steps: Annotated[int | None, typer.Option(min=1, help="training steps per run (default: the profile's)")] = None,
    lr: Annotated[float | None, typer.Option(min=0, help="peak learning rate (default: the profile's)")] = None,
    seed: Seed = 0,
):
    """Capacity of GPT-style (and the paper's) models in bits per parameter, measured by code length."""
    need_train_extra()
    from ..reports import capacity as report
    from ..train import capacity_sweep as cs
    from ..train.storage import open_storage
    from ..train.trainer import pick_device

    try:
        dev = pick_device(device)
    except ValueError as e:
        fail(str(e))
    results_dir(out)
    spec = cs.profile(quick=quick, gpu=dev.type == "cuda", steps=steps, lr=lr, seed=seed)
    st = open_storage(storage)
    try:
        cs.CAPACITY_GRID.publish(st, spec)
    except ValueError as e:
        fail(str(e))
    if save is not None and (missing := cs.unsaved(st, spec, save)):
        fail(f"--save {save}: the storage {storage} already holds {len(missing)} finished run(s) of {spec.name} that are not "
             f"saved there (first: {missing[0]}), and a sweep saves only the runs it trains; to train and save every run, "
             "start a fresh sweep with --storage NEW.db")
    n_runs = len(spec.runs())
    err.print(f"capacity experiment {spec.name} in {storage}: {n_runs} runs on {dev}; more workers can join with: "
              f"memcap worker --storage {storage} --experiment {spec.name}")
    t0 = time.perf_counter()
    if workers:
        prog, bar = progress_bar(n_runs, "runs finished")
        with prog:
            cs.CAPACITY_GRID.run_local(storage, spec.name, workers, on_poll=lambda k: prog.update(bar, completed=k),
                                       save=save, device=str(dev))
    rows = cs.run_rows(st, spec)
    err.print(f"{len(rows)}/{n_runs} runs in the storage; this run {time.perf_counter() - t0:.0f} s"
              + (f"; models and data in {save}" if save else ""))
    show(report.write(spec, rows, out))
