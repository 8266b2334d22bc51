"""The training half of memcap's command line: train, the reproductions, worker, compare. Thin like the
build commands: each command parses, calls the library, prints. The training extra (optuna, scikit-learn,
SQLAlchemy) is checked first, so a missing one is one `error:` line naming the pip command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    STORAGE_HELP,
    SWEEPS_DB,
    Arch,
    ArchOrBoth,
    CommaList,
    Criteria,
    Epochs,
    Fig3Data,
    Force,
    MaxBlocks,
    OutDir,
    Seed,
    Storage,
    TrainedArch,
    Trials,
    Workers,
    app,
    claim,
    comma_default,
    console,
    err,
    fail,
    float_pair,
    ints,
    names_of,
    need_train_extra,
    progress_bar,
    repro_app,
    results_dir,
    show,
)
from .common import load_dataset as _load_dataset


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Argument(help="dataset (.npz or .jsonl)")],
    arch: Annotated[Arch, typer.Option(help="paper: the Appendix H model; standard: LayerNorm, learned positions")] = Arch.paper,
    blocks: Annotated[int, typer.Option(min=1, help="paper: FFN blocks before and after the attention")] = 2,
    m: Annotated[int, typer.Option(min=1, help="paper: embedding width")] = 4,
    q: Annotated[int, typer.Option(min=1, help="paper: FFN hidden width")] = 8,
    width: Annotated[int, typer.Option(min=1, help="standard: model width")] = 16,
    layers: Annotated[int, typer.Option(min=1, help="standard: layers")] = 2,
    heads: Annotated[int, typer.Option(min=1, help="standard: attention heads (must divide --width)")] = 2,
    lr: Annotated[float, typer.Option(min=0, help="peak learning rate (AdamW)")] = 1e-2,
    warmup: Annotated[int, typer.Option(min=0, help="epochs of linear warm-up")] = 50,
    epochs: Annotated[int, typer.Option(min=1, help="most epochs to run")] = 1000,
    batch_size: Annotated[int | None, typer.Option(min=1, help="minibatch size (default: full batch)")] = None,
    threshold: Annotated[float, typer.Option(min=0, max=1, help="memorized when the training error is below this")] = 0.01,
    seed: Seed = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda or cuda:N")] = "auto",
    checkpoint: Annotated[Path | None, typer.Option(help="directory: saved every 100 epochs; an existing one of the same run resumes")] = None,
    save: Annotated[Path | None, typer.Option("--save", help="directory to write the trained model (model.safetensors + config.json)")] = None,
    force: Force = False,
):
    """Train one model on a dataset until its training error is below the threshold."""
    from ..train import tasks
    from ..train.trainer import Checkpoint, TrainConfig, pick_device, save_trained, train

    try:
        pick_device(device)
    except ValueError as e:
        fail(str(e))
    if arch is Arch.standard and width % heads:
        fail(f"--heads {heads} must divide --width {width}")
    if save is not None:
        claim(save, "trained", force)
    task = tasks.from_dataset(_load_dataset(data), name=data.name)
    sizes = {"blocks": blocks, "m": m, "q": q} if arch is Arch.paper else {"width": width, "layers": layers, "heads": heads}
    model_cfg = tasks.model_config({"arch": arch.value, **sizes}, task)
    prog, bar = progress_bar(epochs, "training")
    with prog:
        try:
            net, res = train(
                model_cfg,
                task,
                TrainConfig(lr=lr, warmup=warmup, epochs=epochs, batch_size=batch_size, threshold=threshold, seed=seed, device=device),
                callbacks=(lambda e, lo, er: prog.update(bar, completed=e + 1, description=f"loss {lo:.4f} error {er:.4f}"),),
                checkpoint=Checkpoint(checkpoint) if checkpoint else None,
            )
        except ValueError as e:
            fail(str(e))
    if save is not None:
        save_trained(net, model_cfg, save, overwrite=force)
        err.print(f"wrote {save}")
    console.print_json(json.dumps(res.__dict__))
    raise typer.Exit(0 if res.memorized else 1)


def _run_sweep(
    exp,
    storage: str,
    workers: int,
    out: Path,
    heartbeat: int = 10,
):
    from ..train.storage import open_storage
    from ..train.sweep import BOUNDARY_SEARCH, answers
    from ..train.workers import finished_trials

    results_dir(out)
    st = open_storage(storage, heartbeat)
    try:
        BOUNDARY_SEARCH.publish(st, exp)
    except ValueError as e:
        fail(str(e))
    t0 = time.perf_counter()
    err.print(
        f"experiment {exp.name} in {storage}; {workers} local worker(s); more can join with: "
        f"memcap worker --storage {storage} --experiment {exp.name}"
    )
    if workers:
        prog, bar = progress_bar(None, "trials finished")
        with prog:
            BOUNDARY_SEARCH.run_local(storage, exp.name, workers, heartbeat, on_poll=lambda k: prog.update(bar, completed=k))
    rows = answers(st, exp)
    err.print(f"{finished_trials(st, exp.name)} trials in the storage; this run {time.perf_counter() - t0:.0f} s")
    return rows


@repro_app.command("fig3")
def fig3_cmd(
    data: Annotated[Fig3Data, typer.Option(help="digits (scikit-learn, bundled, 10 classes), digits3 (the same in 3 classes: "
        "the digit mod 3), topics (8-word windows of CPython's help text, 3 topic groups) or random")] = Fig3Data.digits,
    m: Annotated[int, typer.Option(help="embedding width; the paper's is 2 (see `memcap.train.experiments.fig3` for why 8)")] = 8,
    trials: Annotated[int, typer.Option(help="Optuna trials per candidate (the paper used 10)")] = 4,
    epochs: Epochs = 1000,
    max_blocks: MaxBlocks = 16,
    storage: Storage = SWEEPS_DB,
    workers: Workers = 2,
    out: OutDir = Path("out/trained"),
    seed: Seed = 0,
    N: Annotated[CommaList | None, typer.Option("--N", parser=ints, metavar="N,N,...",
                                                help="comma-separated N (default: the paper's 600,700,...,1700)")] = None,
):
    """Fig 3: minimum #blocks that memorizes N = 600..1700 examples."""
    need_train_extra()
    from ..reports import trained as report_trained
    from ..train.experiments import PAPER_FIG3, fig3

    points = N or tuple(PAPER_FIG3)
    exp = fig3(data.value, m=m, n_trials=trials, epochs=epochs, max_blocks=max_blocks, seed=seed, points=points)
    rows = _run_sweep(exp, storage, workers, out)
    show(report_trained.min_size_table(exp, rows, out))


@repro_app.command("n-independence")
def nindep_cmd(
    ns: Annotated[CommaList | None, typer.Option("--n", parser=ints, metavar="n,n,...",
                                                 help="comma-separated sequence lengths (default 10,100,1000,10000 on a GPU; "
                                                 "10,100,1000 on a CPU, where n = 10^4 takes about 7 s an epoch)")] = None,
    trials: Trials = 2,
    epochs: Epochs = 1000,
    max_blocks: MaxBlocks = 8,
    m: Annotated[int, typer.Option(help="embedding width (the paper's: 2)")] = 2,
    storage: Storage = SWEEPS_DB,
    workers: Workers = 2,
    out: OutDir = Path("out/trained"),
    seed: Seed = 0,
):
    """N = 500 random sequences, labels +-1, MSE: minimum #blocks as n grows (paper: 4 for every n)."""
    need_train_extra()
    import torch

    from ..reports import trained as report_trained
    from ..train.experiments import n_independence

    if ns is None:
        ns = CommaList((10, 100, 1000, 10000) if torch.cuda.is_available() else (10, 100, 1000))
        shown = ",".join(map(str, ns))
        err.print(f"n = {shown}" + ("" if torch.cuda.is_available() else " (no GPU: pass --n 10,100,1000,10000 to include 10^4)"))
    exp = n_independence(ns, n_trials=trials, epochs=epochs, max_blocks=max_blocks, seed=seed, m=m)
    rows = _run_sweep(exp, storage, workers, out)
    show(report_trained.min_size_table(exp, rows, out))


@repro_app.command("curves")
def curves_cmd(
    N: Annotated[int, typer.Option("--N", min=1, help="digits examples to train on")] = 1000,
    blocks: Annotated[CommaList, typer.Option(parser=ints, metavar="B,B,...",
                                              help="comma-separated #blocks, one curve each")] = comma_default("1,2,4,8"),
    m: Annotated[int, typer.Option(min=1, help="embedding width")] = 4,
    epochs: Epochs = 1000,
    seed: Seed = 0,
    out: OutDir = Path("out/trained"),
):
    """Figs 1–2: loss and accuracy curves vs #blocks at a fixed N (digits)."""
    need_train_extra()
    from ..reports import trained as report_trained
    from ..train import tasks
    from ..train.experiments import curves
    from ..train.workers import set_threads

    set_threads(1)
    results_dir(out)
    task = tasks.digits(seed).subset(N)
    items = curves(
        task,
        blocks,
        m=m,
        epochs=epochs,
        seed=seed,
        on_done=lambda c: err.print(f"{c.blocks} blocks: accuracy {c.accuracy[-1]:.4f} (lr {c.lr:g})"),
    )
    show(report_trained.curves(items, N, task.name, out, m))


@repro_app.command("bits-per-param")
def bpp_cmd(
    arch: Annotated[ArchOrBoth, typer.Option(help="paper, standard or both")] = ArchOrBoth.both,
    sizes: Annotated[CommaList | None, typer.Option(parser=ints, metavar="S,S,...",
        help="one architecture: its sizes (paper: #blocks, default 1,2,4; standard: widths, default 4,8)")] = None,
    C: Annotated[int, typer.Option("--C", min=2, help="classes of the random labels")] = 2,
    max_N: Annotated[int, typer.Option("--max-N", min=1, help="largest N the search tries")] = 4000,
    step: Annotated[int, typer.Option(min=1, help="spacing of the N grid")] = 25,
    trials: Trials = 2,
    epochs: Epochs = 1000,
    storage: Storage = SWEEPS_DB,
    workers: Workers = 2,
    out: OutDir = Path("out/trained"),
    seed: Seed = 0,
    criteria: Annotated[Criteria, typer.Option(help="error (training error < 1%), exact (every label right: the strict "
                                               "criterion) or both, each its own sweep in one table")] = Criteria.both,
    lr: Annotated[CommaList, typer.Option(parser=float_pair, metavar="LOW,HIGH",
                                          help="learning-rate range of the trial design, low,high (the trainer ablation: "
                                          "0.01 and 0.03 reach exact, 0.003 and 0.1 do not)")] = comma_default("0.01,0.04"),
):
    """Bits per parameter on random labels: largest N memorized x log2 C / parameters, beside the anchors;
    memorized is training error < 1%, or every label exact, or (the default) each in its own column."""
    need_train_extra()
    from ..reports import trained as report_trained
    from ..train.experiments import bits_per_param, bpp_rows

    archs = ("paper", "standard") if arch is ArchOrBoth.both else (arch.value,)
    if sizes and len(archs) > 1:
        fail("--sizes needs one --arch (paper: #blocks, standard: widths)")
    runs = []
    for a in archs:
        size_list = sizes or ((1, 2, 4) if a == "paper" else (4, 8))
        for strict in {"both": (False, True), "error": (False,), "exact": (True,)}[criteria.value]:
            exp = bits_per_param(a, size_list, C=C, max_N=max_N, step=step, n_trials=trials, epochs=epochs, seed=seed,
                                 exact=strict, lr=lr)
            runs.append((exp, bpp_rows(exp, _run_sweep(exp, storage, workers, out))))
    show(report_trained.bits_per_param(runs, out))


@repro_app.command("architectures")
def architectures_cmd(
    ns: Annotated[CommaList | None, typer.Option("--n", parser=ints, metavar="n,n,...",
                                                 help="comma-separated sequence lengths (default 10,100,1000; 10^4 added on a GPU)")] = None,
    N: Annotated[int, typer.Option("--N", min=1, help="random sequences to memorize")] = 500,
    archs: Annotated[CommaList, typer.Option("--archs", parser=names_of(tuple(TrainedArch)), metavar="A,A,...",
                                             help=f"comma-separated: {', '.join(TrainedArch)}")] = comma_default(",".join(TrainedArch)),
    trials: Trials = 2,
    epochs: Epochs = 500,
    storage: Storage = SWEEPS_DB,
    workers: Workers = 2,
    out: OutDir = Path("out/trained"),
    seed: Seed = 0,
):
    """Trained cost vs n: the smallest model of each architecture that memorizes the same N random sequences."""
    need_train_extra()
    import torch

    from ..reports import trained as report_trained
    from ..train.experiments import architectures

    if ns is None:
        ns = CommaList((10, 100, 1000, 10000) if torch.cuda.is_available() else (10, 100, 1000))
    runs = [(exp, _run_sweep(exp, storage, workers, out))
            for exp in architectures(ns, N=N, archs=tuple(archs), n_trials=trials, epochs=epochs, seed=seed)]
    show(report_trained.architectures(runs, out))


@app.command("worker")
def worker_cmd(
    storage: Annotated[str, typer.Option(help=STORAGE_HELP)],
    experiment: Annotated[str, typer.Option(help="the experiment's name")],
    heartbeat: Annotated[int, typer.Option(min=1, help="seconds between a trial's heartbeats; a silent trial is retried")] = 10,
    max_trials: Annotated[int | None, typer.Option(help="stop after this many trials")] = None,
    save: Annotated[Path | None, typer.Option("--save", help="capacity experiments: keep each run's data and model in DIR/<run>/")] = None,
):
    """Join a sweep: take trials from the shared storage until every search is done."""
    need_train_extra()
    if "://" not in storage and not Path(storage).exists():
        fail(f"--storage {storage}: no such SQLite file; start the sweep first (it prints the worker command to run)")
    from ..train.capacity_sweep import CAPACITY_GRID
    from ..train.storage import open_storage
    from ..train.sweep import BOUNDARY_SEARCH
    from ..train.workers import find_sweep, set_threads

    set_threads(1)
    st = open_storage(storage, heartbeat)
    try:
        kind = find_sweep(st, experiment, (CAPACITY_GRID, BOUNDARY_SEARCH))
        options: dict[str, Any] = {"save": save} if kind is CAPACITY_GRID else {}
        ran = kind.work(st, experiment, max_trials=max_trials, on_trial=lambda r: err.print(kind.describe(r)), **options)
    except ValueError as e:
        fail(str(e))
    console.print(f"this worker ran {ran} {kind.unit}")


@app.command("compare")
def compare_cmd(
    data: Annotated[Path, typer.Argument(help="dataset (.npz or .jsonl)")],
    m: Annotated[int, typer.Option(min=1, help="embedding width of the trained model")] = 4,
    trials: Trials = 4,
    epochs: Epochs = 1000,
    max_blocks: MaxBlocks = 32,
    storage: Storage = SWEEPS_DB,
    workers: Workers = 2,
    seed: Seed = 0,
    capacity: Annotated[Path, typer.Option(help="bits/param from `memcap repro capacity` "
        "(its capacity_models.csv); Morris et al.'s 3.6 when the file is absent")] = Path("out/trained/capacity_models.csv"),
):
    """Built vs trained on one dataset, three ways: the construction's parameters and bits, the smallest
    trained model of the paper's architecture that memorizes it, and the capacity estimate (label bits /
    measured bits per parameter)."""
    need_train_extra()
    from ..compare import compare

    ds = _load_dataset(data)
    try:
        res = compare(
            ds,
            data.name,
            storage=storage,
            workers=workers,
            m=m,
            n_trials=trials,
            epochs=epochs,
            max_blocks=max_blocks,
            seed=seed,
            progress=lambda msg: err.print(msg),
            capacity_csv=capacity,
        )
    except ValueError as e:
        fail(str(e))
    from rich.table import Table

    t = Table(
        title=f"built vs trained on {data.name} (N = {ds.N}, n = {ds.n}, C = {ds.C})",
        caption="parameters: built = every matrix entry, zeros too; trained = trainable float32 weights (the frozen W_Q = 0 not counted)",
    )
    for col in ("model", "parameters", "nonzero", "max bits", "total bits", "memorized", "wall s"):
        t.add_column(col)
    for r in res:
        t.add_row(*(str(r[k]) for k in ("model", "params", "nonzero", "max_bits", "total_bits", "memorized", "seconds")))
    console.print(t)


@repro_app.command("trainer-ablation")
def ablation_cmd(
    N: Annotated[int, typer.Option("--N", min=2, help="random sequences (binary labels) to memorize exactly")] = 2400,
    width: Annotated[int, typer.Option(min=2, help="standard model width (2 layers, 2 heads)")] = 8,
    seed: Seed = 0,
    out: OutDir = Path("out/trained"),
):
    """One fixed task and model, one trainer setting changed per row: what matters for exact memorization."""
    need_train_extra()
    from ..reports import trained as report_trained
    from ..train.ablation import trainer_ablation
    from ..train.workers import set_threads

    if width % 2:
        fail(f"--width {width}: the model has 2 heads, so the width must be even")
    results_dir(out)
    set_threads(1)
    rows = trainer_ablation(N=N, width=width, seed=seed, on_row=lambda r: err.print(
        f"{r['setting']}: {r['wrong']} wrong after {r['epochs']} epochs, {r['seconds']:.1f}s"))
    show(report_trained.ablation(rows, out))
