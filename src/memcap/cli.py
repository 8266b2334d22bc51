"""memcap's command line: a thin typer layer over the library; every command calls library functions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from . import data as data_mod
from .bounds import all_bounds, check_lower_bounds
from .memorize import DataError
from .model import fileio
from .model.stats import model_stats

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Compile labelled sequences into Transformers that provably memorize them; verify; measure.")
data_app = typer.Typer(no_args_is_help=True, help="Make datasets (.npz).")
app.add_typer(data_app, name="data")
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


def fail(msg: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(code)


def _load_dataset(path: Path) -> data_mod.Dataset:
    try:
        return data_mod.load(path)
    except DataError as e:
        fail(str(e))


def _load_model(path: Path):
    try:
        return fileio.load(path)
    except fileio.ModelFileError as e:
        fail(str(e))


def _progress():
    """A rich status line on a terminal, nothing otherwise (logs and tests stay clean)."""
    if not sys.stderr.isatty():
        return None
    status = err.status("working")
    status.start()
    return status


@app.command("memorize-points")
def memorize_points(points: Path, output: Path = typer.Option(..., "-o", "--output"),
                    mode: str = "tight", bit_budget: int = typer.Option(None), seed: int = 0):
    """Build the ReLU memorizer (SPEC §4) for POINTS.npz (`points` [V, d], `labels` [V], -1 = extra point)."""
    from .memorize import memorize

    try:
        with np.load(points, allow_pickle=False) as z:
            x, y = z["points"], z["labels"]
        model = memorize(x, y, mode=mode, bit_budget=bit_budget, seed=seed)
    except (DataError, KeyError, OSError, ValueError) as e:
        fail(f"{points}: {e}")
    fileio.save(model, output)
    st = model_stats(model)
    console.print(f"wrote {output}: depth {st.depth}, width {st.width}, params {st.params}, max bits {st.max_bits}")


@app.command("verify-points")
def verify_points(model_path: Path, points: Path):
    """Run MODEL exactly on every point of POINTS.npz; exit 1 on any miss."""
    from .verify import verify_arrays

    model = _load_model(model_path)
    with np.load(points, allow_pickle=False) as z:
        x, y = z["points"], z["labels"]
    res = verify_arrays(model, x, y)
    console.print(f"checked {res.checked} points exactly: {res.checked - res.wrong} correct, {res.wrong} wrong")
    if not res.ok:
        console.print(f"first misses (point, position): {list(res.misses)}")
        raise typer.Exit(1)


@data_app.command("random")
def data_random(output: Path, N: int = typer.Option(1000, "--N"), n: int = typer.Option(8, "--n"),
                vocab: int = typer.Option(None, help="token ids from [vocab]"),
                d: int = typer.Option(None, "--d", help="token vectors in [0,1)^d instead of ids"),
                C: int = typer.Option(10, "--C"), setting: str = "next-token", seed: int = 0):
    """Random dataset: ids (--vocab, default 100) or vectors (--d), uniform labels in [C]."""
    try:
        ds = (data_mod.random_vectors(N, n, d, C, seed, setting) if d
              else data_mod.random_ids(N, n, vocab or 100, C, seed, setting))
    except DataError as e:
        fail(str(e))
    data_mod.save(ds, output)
    console.print(f"wrote {output}: N={ds.N} n={ds.n} {ds.kind} {ds.setting} C={ds.C}")


@data_app.command("text")
def data_text(text: Path, output: Path, n: int = typer.Option(8, "--n"), unit: str = "byte",
              stride: int = 1, limit: int = typer.Option(None)):
    """Next-token windows of length n from any text file (byte or char tokens)."""
    try:
        ds = data_mod.text_windows(text, n, unit, stride, limit)
    except (DataError, OSError) as e:
        fail(str(e))
    data_mod.save(ds, output)
    console.print(f"wrote {output}: N={ds.N} windows of n={ds.n} {unit}s")


def _compile(ds, **kw):
    from .compile import compile as compile_ds

    try:
        return compile_ds(ds, **kw)
    except DataError as e:
        fail(str(e))


@app.command("compile")
def compile_cmd(data: Path, output: Path = typer.Option(..., "-o", "--output"),
                setting: str = typer.Option(None, help="next-token | seq2seq (default: from the labels)"),
                attention: str = "softmax", positions: bool = False, causal: bool = False, mode: str = "tight",
                bit_budget: int = typer.Option(None), seed: int = 0,
                verify: bool = typer.Option(True, help="verify every example before writing")):
    """Compile DATA into a Transformer that memorizes it; verified exactly before it is written."""
    from .verify import verify as verify_ds

    ds = _load_dataset(data)
    t0 = time.perf_counter()
    model = _compile(ds, setting=setting, attention=attention, positions=positions, causal=causal, mode=mode,
                     bit_budget=bit_budget, seed=seed)
    t1 = time.perf_counter()
    console.print(f"compiled {ds.N} examples in {t1 - t0:.2f} s")
    if verify:
        res = verify_ds(model, ds)
        console.print(f"verified exactly: {res.positions - res.wrong}/{res.positions} positions "
                      f"of {res.checked} examples ({time.perf_counter() - t1:.2f} s)")
        if not res.ok:
            fail(f"model does not memorize the data (first misses {list(res.misses)}); nothing written", 1)
    fileio.save(model, output)
    _print_stats(model)
    console.print(f"wrote {output}")


@app.command("verify")
def verify_cmd(model_path: Path, data: Path, torch: bool = typer.Option(False, help="also run float64 torch")):
    """Run MODEL exactly on every example of DATA; exit 1 on any miss."""
    from .verify import verify as verify_ds
    from .verify import verify_torch

    model, ds = _load_model(model_path), _load_dataset(data)
    try:
        res = verify_ds(model, ds)
    except ValueError as e:
        fail(str(e))
    console.print(f"checked {res.checked} examples ({res.positions} positions) exactly: {res.wrong} wrong")
    if torch:
        try:
            fv = verify_torch(model, ds)
            console.print(f"float64 torch: {fv.wrong} wrong of {fv.positions}, max |output - label| = {fv.max_deviation:g}")
        except ValueError as e:
            console.print(f"float64 torch: refused: {e}")
    if not res.ok:
        console.print(f"first misses (example, position): {list(res.misses)}")
        raise typer.Exit(1)


@app.command("predict")
def predict_cmd(model_path: Path, data: Path, output: Path = typer.Option(None, "-o")):
    """Exact outputs of MODEL on DATA (-1 = no label); prints them or writes an .npy."""
    from .model.executor import run
    from .verify import read_positions

    model, ds = _load_model(model_path), _load_dataset(data)
    out = run(model, ds.inputs, read=read_positions(model)).values()
    if output:
        np.save(output, out.astype(np.int64) if all(isinstance(v, int) for v in out.ravel()) else out.astype(str))
        console.print(f"wrote {output}")
    else:
        for row in out:
            console.print(" ".join(str(v) for v in row))


def _print_stats(model) -> None:
    st = model_stats(model)
    t = Table(title="model")
    for k in ("setting",):
        t.add_column(k)
    cols = ["m", "q", "H", "s", "depth", "width", "params", "nonzero_params", "max_bits", "total_bits"]
    for c in cols:
        t.add_column(c, justify="right")
    t.add_row(model.setting, *(str(getattr(st, c)) for c in cols))
    console.print(t)


@app.command("inspect")
def inspect_cmd(model_path: Path, as_json: bool = typer.Option(False, "--json")):
    """Sizes of MODEL: params (paper convention), nonzero params, depth, width, bits."""
    model = _load_model(model_path)
    st = model_stats(model).as_dict()
    st["setting"] = model.setting
    st["meta"] = model.meta
    if as_json:
        print(json.dumps(st, sort_keys=True))
    else:
        _print_stats(model)
        console.print_json(json.dumps(model.meta))


@app.command("bounds")
def bounds_cmd(N: int = typer.Option(..., "--N"), n: int = typer.Option(1, "--n"), d: int = typer.Option(1, "--d"),
               C: int = typer.Option(2, "--C"), r: float = 1.0, delta: float = 1.0,
               vocab: int = typer.Option(None), setting: str = "next-token",
               model_path: Path = typer.Option(None, "--model", help="a built model to show beside the bounds")):
    """Every bound of SPEC §7 and the paper's Table 1 for (N, n, d, C)."""
    t = Table(title=f"bounds for N={N} n={n} d={d} C={C} ({setting})")
    for c in ("kind", "bound", "quantity", "value", "formula", "source"):
        t.add_column(c)
    for b in all_bounds(N, n, d, C, r, delta, vocab, setting):
        t.add_row(b.kind, b.name, b.quantity, f"{b.value:.4g}", b.formula, b.source)
    console.print(t)
    if model_path:
        model = _load_model(model_path)
        st = model_stats(model).as_dict()
        console.print(f"built model: params {st['params']}, depth {st['depth']}, width {st['width']}, "
                      f"max bits {st['max_bits']}, total bits {st['total_bits']}")
        for name, need, have, ok in check_lower_bounds(st, N, n, C, setting):
            console.print(f"  {name}: needs >= {need:.4g}, built {have} -> {'holds' if ok else 'VIOLATED'}")


@app.command("demo")
def demo_cmd(N: int = typer.Option(2000, "--N"), n: int = typer.Option(16, "--n"), seed: int = 0,
             out: Path = typer.Option(Path("out/demo"), help="where the demo's models go")):
    """The main job: generate data, compile it five ways, verify every example exactly, report."""
    from .demo import run_demo

    ok = run_demo(N=N, n=n, seed=seed, out=out, console=console)
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()


@app.command("scale")
def scale_cmd(out: Path = typer.Option(Path("out/sweep.jsonl"), "-o"), quick: bool = False,
              N: str = typer.Option(None, "--N", help="comma-separated N for a custom next-token sweep"),
              n: int = typer.Option(16, "--n"), vocab: int = 1000, C: int = typer.Option(10, "--C"),
              setting: str = "next-token", mode: str = "tight", bit_budget: int = typer.Option(None)):
    """Compile and verify a sweep; one JSONL row per model; a rerun resumes."""
    from .scale import default_sweep, sweep

    if N:
        configs = [dict(setting=setting, N=int(x), n=n, vocab=vocab, C=C, mode=mode, bit_budget=bit_budget, seed=0)
                   for x in N.split(",")]
    else:
        configs = default_sweep(quick)
    rows = sweep(configs, out, progress=lambda i, k, c: err.print(f"[{i + 1}/{k}] {c}"))
    console.print(f"{len(rows)} rows in {out}")


@app.command("report")
def report_cmd(out: Path = typer.Option(Path("out/report"), "-o"), sweep_file: Path = typer.Option(None, "--sweep"),
               quick: bool = False):
    """Run (or resume) the default sweep and write report.md / report.html with figures and CSVs."""
    from .report import write_report
    from .scale import default_sweep, sweep

    path = sweep_file or out / "sweep.jsonl"
    rows = sweep(default_sweep(quick), path, progress=lambda i, k, c: err.print(f"[{i + 1}/{k}] {c}"))
    md = write_report(rows, out)
    console.print(f"wrote {md} and {md.with_suffix('.html')}")

from . import cli_train  # noqa: E402,F401  (registers train, worker, repro, compare)
