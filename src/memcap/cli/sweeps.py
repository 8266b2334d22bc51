"""The sweeps' commands: scale (compile and verify a grid, or nested subsets of your data) and report
(a sweep's figures and tables). Each parses, calls the library, prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import DataError
from .common import BitBudget, BuiltArch, CommaList, Mode, Setting, app, built_report, console, err, fail, ints, results_dir, resumes


def _sweep_progress():
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err, transient=False)
    return prog


def _describe(cfg: dict) -> str:
    if cfg.get("source"):
        return f"{'your data' if cfg['source'] == 'data' else 'random match'}: N={cfg['N']}, seed {cfg['seed']}"
    what = f"d={cfg['d']} vectors" if "d" in cfg else f"ids (vocab {cfg['vocab']})"
    budget = f", {cfg['bit_budget']}-bit budget" if cfg.get("bit_budget") else ""
    return f"{cfg['setting']} {cfg['mode']}{budget}: N={cfg['N']}, n={cfg['n']}, {what}"


def _run_sweep(configs, path: Path):
    """Run (or resume) the sweep under a progress bar that counts the models still to build; a rerun that
    finds them all in the file shows them all done."""
    from ..experiments.grid import sweep

    resumes(path, "sweep")
    configs = list(configs)
    with _sweep_progress() as prog:
        task = prog.add_task("sweep", total=len(configs))
        built = []

        def step(i, k, cfg):
            built.append(cfg)
            prog.update(task, total=k, completed=i, description=f"[{i + 1}/{k}] {_describe(cfg)}")

        rows = sweep(configs, path, progress=step)
        total = prog.tasks[0].total
        prog.update(task, completed=total, description="sweep done" if built else "sweep done: every model was in the file")
    return rows


DATA_HELP = ("your dataset (.npz or .jsonl): sweep nested random subsets of it (the sizes --N, each --seeds times) beside "
             "random data of the same n, vocabulary and C")


def _data_configs(data: Path, N, seeds: int, arch, quick: bool, baseline: bool = True) -> list[dict]:
    from ..experiments.userdata import configs

    try:
        return configs(data, list(N) if N else None, seeds=seeds, arch=arch.value, quick=quick, baseline=baseline)
    except DataError as e:
        fail(str(e))


@app.command("scale")
def scale_cmd(
    out: Annotated[Path, typer.Option("-o", help="JSONL file (a rerun resumes it)")] = Path("out/sweep.jsonl"),
    quick: Annotated[bool, typer.Option(help="the small sweep (about 1 minute)")] = False,
    N: Annotated[CommaList | None, typer.Option("--N", parser=ints, metavar="N,N,...",
                                                help="comma-separated N for a custom next-token sweep, e.g. 100,1000,10000")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="sequence length of a custom sweep")] = 16,
    vocab: Annotated[int, typer.Option(min=1, help="vocabulary of a custom sweep")] = 1000,
    C: Annotated[int, typer.Option("--C", min=1, help="classes of a custom sweep")] = 10,
    setting: Annotated[Setting, typer.Option(help="setting of a custom sweep")] = Setting.next_token,
    mode: Annotated[Mode, typer.Option(help="mode of a custom sweep")] = Mode.tight,
    bit_budget: BitBudget = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    seeds: Annotated[int, typer.Option(min=1, help="with --data: random subsets per N")] = 3,
    arch: Annotated[BuiltArch, typer.Option(help="with --data: the architecture (deep-sets for multiset data)")] = BuiltArch.transformer,
    baseline: Annotated[bool, typer.Option(help="with --data: also sweep random data of the same shape")] = True,
):
    """Compile and verify a sweep; one JSONL row per verified model; a rerun resumes."""
    from ..experiments.grid import default_sweep

    if data is not None:
        configs = _data_configs(data, N, seeds, arch, quick, baseline)
    elif N:
        if quick:
            fail("--quick chooses the built-in small sweep; --N gives your own sizes: pass one of them")
        configs = [dict(setting=setting.value, N=x, n=n, vocab=vocab, C=C, mode=mode.value, bit_budget=bit_budget, seed=0) for x in N]
    else:
        configs = default_sweep(quick)
    rows = _run_sweep(configs, out)
    console.print(f"{len(rows)} rows in {out}")
    if data is not None:
        from ..reports.datareport import summary

        keys = {json.dumps(c, sort_keys=True) for c in configs}
        for line in summary([r for r in rows if json.dumps(r["config"], sort_keys=True) in keys]):
            console.print(line, highlight=False)


@app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Option("-o", help="folder for report.md, report.html, figures, CSVs")] = Path("out/report"),
    sweep_file: Annotated[Path | None, typer.Option("--sweep", help="sweep JSONL to use (default: OUT/sweep.jsonl; resumed)")] = None,
    quick: Annotated[bool, typer.Option(help="the small sweep (about 1 minute instead of about 10)")] = False,
    trained: Annotated[Path, typer.Option(help="where memcap repro architectures wrote its results "
                                          "(its table and figure join the report when present)")] = Path("out/trained"),
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP + "; the report is then about your data")] = None,
    N: Annotated[CommaList | None, typer.Option("--N", parser=ints, metavar="N,N,...", help="with --data: the subset sizes "
                                                "(default 100, 300, 1000, ... up to the data's size; --quick: 30, 100, 300; "
                                                "the data's own size ends a grid it cuts short)")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="with --data: random subsets per N")] = 3,
    arch: Annotated[BuiltArch, typer.Option(help="with --data: the architecture (deep-sets for multiset data)")] = BuiltArch.transformer,
):
    """Run (or resume) the default sweep, or one on your --data, and write report.md / report.html with
    figures (PNG, SVG, PDF), tables (Markdown, CSV, LaTeX) and provenance.json."""
    from ..experiments.grid import default_sweep

    if N and data is None:
        fail("--N chooses the subset sizes of --data; for a custom random sweep use memcap scale --N")
    configs = _data_configs(data, N, seeds, arch, quick) if data is not None else default_sweep(quick)
    results_dir(out, "report", earlier=built_report)  # after the data are checked: a refused run writes nothing
    keys = {json.dumps(c, sort_keys=True) for c in configs}
    rows = _run_sweep(configs, sweep_file or out / "sweep.jsonl")
    # a data report reads its own rows; the random report every row but a data sweep's (a shared file)
    rows = [r for r in rows if (json.dumps(r["config"], sort_keys=True) in keys if data else "source" not in r["config"])]
    if data is not None:
        from ..reports.datareport import write_report as write_data_report

        md = write_data_report(rows, out)
    else:
        from ..reports.built import write_report as write_built_report

        md = write_built_report(rows, out, trained)
    console.print(f"wrote {md} and {md.with_suffix('.html')}")
