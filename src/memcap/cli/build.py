"""The construction's commands: compile, verify, predict, inspect, explain, export, bounds, demo,
scale, report, and the plain point memorizer. Each parses, calls the library, prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from ..bounds import all_bounds, check_lower_bounds
from ..errors import DataError
from ..ir import fileformat
from ..ir.stats import model_stats
from .common import (
    AttentionKind,
    BuiltArch,
    CommaList,
    Mode,
    Objective,
    Setting,
    Target,
    app,
    check_fits,
    console,
    err,
    fail,
    ints,
    load_dataset,
    load_model,
    value,
)

BUDGET_HELP = "every crafted integer fits this many bits (48 gives models that run exactly in float64, as the check measures); default: none"


def _load_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "points" not in z.files or "labels" not in z.files:
                raise DataError(f"{path}: a point set needs arrays `points` [V, d] and `labels` [V] (found {sorted(z.files)}); "
                                "for a sequence dataset use memcap compile / memcap verify")
            return z["points"], z["labels"]
    except (OSError, ValueError, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None


@app.command("memorize-points")
def memorize_points(points: Path = typer.Argument(..., help="an .npz with `points` [V, d] and `labels` [V] (-1 = extra point)"),
                    output: Path = typer.Option(..., "-o", "--output", help="model directory to write"),
                    mode: Mode = typer.Option(Mode.tight, help="tight: measured constants; paper: the paper's group count"),
                    bit_budget: int = typer.Option(None, min=2, help=BUDGET_HELP), seed: int = typer.Option(0, help="random seed")):
    """Build the plain ReLU memorizer for a point set: every labelled point maps to its label, every extra point to -1."""
    from ..memorize import memorize

    try:
        model = memorize(*_load_points(points), mode=mode.value, bit_budget=bit_budget, seed=seed)
    except DataError as e:
        fail(str(e))
    fileformat.save(model, output)
    st = model_stats(model)
    console.print(f"wrote {output}: depth {st.depth}, width {st.width}, params {st.params}, max bits {st.max_bits}")


@app.command("verify-points")
def verify_points(model_path: Path = typer.Argument(..., help="a model written by memorize-points"),
                  points: Path = typer.Argument(..., help="the .npz point set (`points`, `labels`)")):
    """Run MODEL exactly on every point; exit 1 on any miss."""
    from ..verify import verify_arrays

    model = load_model(model_path)
    if model.setting != "points":
        fail(f"{model_path} is a {model.setting} Transformer; verify it with: memcap verify {model_path} DATA")
    try:
        x, y = _load_points(points)
    except DataError as e:
        fail(str(e))
    if x.ndim != 2 or x.shape[1] != model.input.dim:
        fail(f"{points}: points have shape {x.shape}; this model takes [V, {model.input.dim}]")
    res = verify_arrays(model, x, y)
    console.print(f"checked {res.checked} points exactly: {res.checked - res.wrong} correct, {res.wrong} wrong")
    if not res.ok:
        console.print(f"first misses (point, position): {list(res.misses)}")
        raise typer.Exit(1)


ATTENTION_HELP = ("softmax or hardmax: the normalisation (uniform attention makes them agree); sparse: a register token "
                  "and two attention layers with 3n + 1 connections instead of n^2")
ARCH_HELP = ("deep-sets: rho(sum phi(x)), no attention, the label depends on the multiset only; rnn: h_k = h_{k-1} + "
             "phi(x_k), then F2 on (F(x_n), h_n): n sequential steps")


@app.command("compile")
def compile_cmd(data: Path = typer.Argument(..., help="dataset: .npz (tokens or vectors, labels) or .jsonl"),
                output: Path = typer.Option(..., "-o", "--output", help="model directory to write"),
                setting: Setting = typer.Option(None, help="default: from the labels' shape ([N]: next-token, [N, n]: seq2seq)"),
                attention: AttentionKind = typer.Option(AttentionKind.softmax, help=ATTENTION_HELP),
                arch: BuiltArch = typer.Option(BuiltArch.transformer, help=ARCH_HELP),
                positions: bool = typer.Option(False, help="join each token's position to it: any distinct sequences can be memorized"),
                causal: bool = typer.Option(False, help="position k averages its prefix (seq2seq language-model data)"),
                mode: Mode = typer.Option(Mode.tight, help="tight: measured constants; paper: the paper's constants"),
                bit_budget: int = typer.Option(None, min=2, help=BUDGET_HELP),
                objective: Objective = typer.Option(Objective.depth, help="tight mode's plan: depth (fewest blocks) or bits "
                                                    "(fewest parameter bits: F2 a retrieval table, 1.7-3x the information "
                                                    "floor N log2 C, at 2-2.3x the parameters, about N at N = 10^6)"),
                seed: int = typer.Option(0, help="random seed (same inputs and seed: the same model, bit for bit)"),
                verify: bool = typer.Option(True, help="verify every example (and check float64) before writing")):
    """Compile DATA into a Transformer that memorizes it; verified exactly before it is written."""
    from ..pipeline import build

    ds = load_dataset(data)
    try:
        built = build(ds, verify=verify, setting=value(setting), attention=attention.value, arch=arch.value,
                      positions=positions, causal=causal,
                      mode=mode.value, bit_budget=bit_budget, objective=objective.value, seed=seed)
    except DataError as e:
        fail(str(e))
    console.print(f"compiled {ds.N} examples in {built.compile_s:.2f} s")
    if built.verification is not None:
        res = built.verification
        console.print(f"verified exactly: {res.positions - res.wrong}/{res.positions} positions "
                      f"of {res.checked} examples ({built.verify_s:.2f} s)")
        if not res.ok:
            fail(f"model does not memorize the data (first misses {list(res.misses)}); nothing written", 1)
        fc = built.float64
        console.print(f"float64: {'exact' if fc.exact else 'not exact'} ({fc.reason})")
    fileformat.save(built.model, output)
    _print_stats(built.model)
    console.print(f"wrote {output}")


@app.command("predict")
def predict_cmd(model_path: Path = typer.Argument(..., help="a model directory"),
                data: Path = typer.Argument(..., help="sequences (.npz or .jsonl; labels are not needed but may be present)"),
                output: Path = typer.Option(None, "-o", help="write the outputs: .npy, or .txt/.csv (one example a line)")):
    """Exact outputs of MODEL on DATA: [N] for next-token, [N, n] for seq2seq. -1 = no label (an extra point, or
    an example with a token id the model never saw)."""
    from ..verify import predict

    model, ds = load_model(model_path), load_dataset(data)
    check_fits(model, ds, model_path, data)
    if output is not None and output.suffix not in (".npy", ".txt", ".csv"):
        fail(f"-o {output}: give a file ending in .npy, .txt or .csv")
    out = predict(model, ds.inputs)
    if output is None:
        for row in out.reshape(len(out), -1):
            console.print(" ".join(str(v) for v in row))
        return
    if output.suffix == ".npy":
        if out.dtype == object:
            fail("some outputs are not integers (the model was not built for this data): write them with -o out.txt")
        np.save(output, out, allow_pickle=False)
    else:
        sep = "," if output.suffix == ".csv" else " "
        output.write_text("".join(sep.join(str(v) for v in row) + "\n" for row in out.reshape(len(out), -1)))
    console.print(f"wrote {output}: shape {list(out.shape)}")


def _print_stats(model) -> None:
    st = model_stats(model)
    t = Table(title="model")
    t.add_column("setting")
    cols = ["m", "q", "H", "s", "depth", "width", "params", "nonzero_params", "max_bits", "total_bits"]
    for c in cols:
        t.add_column(c, justify="right")
    t.add_row(model.setting, *(str(getattr(st, c)) for c in cols))
    console.print(t)


@app.command("inspect")
def inspect_cmd(model_path: Path = typer.Argument(..., help="a model directory"),
                as_json: bool = typer.Option(False, "--json", help="one JSON object (sizes, setting, construction details)")):
    """Sizes of MODEL: params (paper convention), nonzero params, depth, width, bits; float64 verdict."""
    model = load_model(model_path)
    st = model_stats(model).as_dict()
    st["setting"] = model.setting
    st["meta"] = model.meta
    if as_json:
        print(json.dumps(st, sort_keys=True))
    else:
        _print_stats(model)
        console.print_json(json.dumps(model.meta))


@app.command("explain")
def explain_cmd(model_path: Path = typer.Argument(..., help="a model directory"), data: Path = typer.Argument(..., help="its dataset"),
                example: int = typer.Option(0, "--example", min=0, help="which example to follow"),
                position: int = typer.Option(None, "--position", min=0, help="seq2seq: which position to follow (default 0)"),
                plot: Path = typer.Option(None, help="also draw the stream's coordinates over depth to this PNG")):
    """Follow one example through the construction: token values, sequence id, projected value, group, chunk, label."""
    from ..explain import explain

    model, ds = load_model(model_path), load_dataset(data)
    check_fits(model, ds, model_path, data)
    if example >= ds.N:
        fail(f"--example {example}: {data} has examples 0..{ds.N - 1}")
    if position is not None and (model.setting != "seq2seq" or position >= ds.n):
        fail(f"--position {position}: only a seq2seq model reads more than the last position, at 0..{ds.n - 1}")
    if plot is not None and plot.suffix != ".png":
        fail(f"--plot {plot}: give a file ending in .png")
    trace = explain(model, ds, example, position)
    for line in trace.lines:
        console.print(line, highlight=False)
    if plot is not None:
        trace.plot(plot)
        console.print(f"wrote {plot}")


@app.command("export")
def export_cmd(model_path: Path = typer.Argument(..., help="a model directory"),
               to: Target = typer.Option(Target.transformer_lens, "--to", help="transformer-lens: a TransformerBridge folder"),
               output: Path = typer.Option(..., "-o", help="folder to write"),
               data: Path = typer.Option(None, help="dataset to check float64 exactness on (default: the verdict recorded at compile)")):
    """Write MODEL for another tool: TransformerLens 4 (config.json, model.safetensors, vocab.json)."""
    from ..nn.export import NotFloatExact

    model = load_model(model_path)
    if model.setting == "points":
        fail(f"{model_path} is a plain point memorizer, not a Transformer: nothing to export")
    ds = load_dataset(data) if data else None
    if ds is not None:
        check_fits(model, ds, model_path, data)
    try:
        if to is Target.transformer_lens:
            from ..nn.export import save_transformer_lens

            save_transformer_lens(model, output, ds.inputs if ds else None)
        else:
            from ..nn.export import to_torch

            to_torch(model, ds.inputs if ds else None)
            fileformat.save(model, output)
    except NotFloatExact as e:
        fail(str(e))
    except ImportError as e:
        fail(f"{e}; install it with: pip install 'memcap[lens]' (from a checkout: pip install -e '.[lens]')")
    console.print(f"wrote {output}")


@app.command("bounds")
def bounds_cmd(N: int = typer.Option(..., "--N", min=1, help="number of sequences"),
               n: int = typer.Option(1, "--n", min=1, help="sequence length"),
               d: int = typer.Option(1, "--d", min=1, help="token dimension"), C: int = typer.Option(2, "--C", min=1, help="classes"),
               r: float = typer.Option(1.0, min=0, help="largest token norm"), delta: float = typer.Option(1.0, min=0, help="token separation"),
               vocab: int = typer.Option(None, min=1, help="vocabulary size (for token-id bounds)"),
               setting: Setting = typer.Option(Setting.next_token, help="next-token or seq2seq"),
               model_path: Path = typer.Option(None, "--model", help="a built model to show beside the bounds")):
    """The theorem's upper bounds, the lower bounds and the paper's Table 1 for (N, n, d, C)."""
    t = Table(title=f"bounds for N={N} n={n} d={d} C={C} ({setting.value})")
    for c in ("kind", "bound", "quantity", "value", "formula", "source"):
        t.add_column(c)
    for b in all_bounds(N, n, d, C, r, delta, vocab, setting.value):
        t.add_row(b.kind, b.name, b.quantity, f"{b.value:.4g}", b.formula, b.source)
    console.print(t)
    if model_path:
        model = load_model(model_path)
        st = model_stats(model).as_dict()
        console.print(f"built model: params {st['params']}, depth {st['depth']}, width {st['width']}, "
                      f"max bits {st['max_bits']}, total bits {st['total_bits']}")
        for name, need, have, ok in check_lower_bounds(st, N, n, C, setting.value):
            console.print(f"  {name}: needs >= {need:.4g}, built {have} -> {'holds' if ok else 'VIOLATED'}")


@app.command("demo")
def demo_cmd(N: int = typer.Option(2000, "--N", min=1, help="number of random sequences"),
             n: int = typer.Option(16, "--n", min=1, help="sequence length"), seed: int = typer.Option(0, help="random seed"),
             out: Path = typer.Option(Path("out/demo"), help="where the demo's models go")):
    """The main job: generate data, compile it five ways, verify every example exactly, report."""
    from .demo import run_demo

    if not run_demo(N=N, n=n, seed=seed, out=out, console=console):
        raise typer.Exit(1)


def _sweep_progress():
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err, transient=False)
    return prog


def _describe(cfg: dict) -> str:
    what = f"d={cfg['d']} vectors" if "d" in cfg else f"ids (vocab {cfg['vocab']})"
    budget = f", {cfg['bit_budget']}-bit budget" if cfg.get("bit_budget") else ""
    return f"{cfg['setting']} {cfg['mode']}{budget}: N={cfg['N']}, n={cfg['n']}, {what}"


def _run_sweep(configs, path: Path):
    from ..reports.sweep import sweep

    with _sweep_progress() as prog:
        task = prog.add_task("sweep", total=None)

        def step(i, k, cfg):
            prog.update(task, total=k, completed=i, description=f"[{i + 1}/{k}] {_describe(cfg)}")

        rows = sweep(configs, path, progress=step)
        prog.update(task, completed=prog.tasks[0].total or 0, description="sweep done")
    return rows


@app.command("scale")
def scale_cmd(out: Path = typer.Option(Path("out/sweep.jsonl"), "-o", help="JSONL file (a rerun resumes it)"),
              quick: bool = typer.Option(False, help="the small sweep (about 1 minute)"),
              N: CommaList = typer.Option(None, "--N", parser=ints, metavar="N,N,...",
                                          help="comma-separated N for a custom next-token sweep, e.g. 100,1000,10000"),
              n: int = typer.Option(16, "--n", min=1, help="sequence length of a custom sweep"),
              vocab: int = typer.Option(1000, min=1, help="vocabulary of a custom sweep"),
              C: int = typer.Option(10, "--C", min=1, help="classes of a custom sweep"),
              setting: Setting = typer.Option(Setting.next_token, help="setting of a custom sweep"),
              mode: Mode = typer.Option(Mode.tight, help="mode of a custom sweep"),
              bit_budget: int = typer.Option(None, min=2, help=BUDGET_HELP)):
    """Compile and verify a sweep; one JSONL row per verified model; a rerun resumes."""
    from ..reports.sweep import default_sweep

    configs = ([dict(setting=setting.value, N=x, n=n, vocab=vocab, C=C, mode=mode.value, bit_budget=bit_budget, seed=0) for x in N]
               if N else default_sweep(quick))
    rows = _run_sweep(configs, out)
    console.print(f"{len(rows)} rows in {out}")


@app.command("report")
def report_cmd(out: Path = typer.Option(Path("out/report"), "-o", help="folder for report.md, report.html, figures, CSVs"),
               sweep_file: Path = typer.Option(None, "--sweep", help="sweep JSONL to use (default: OUT/sweep.jsonl; resumed)"),
               quick: bool = typer.Option(False, help="the small sweep (about 1 minute instead of about 10)"),
               trained: Path = typer.Option(Path("out/trained"), help="where memcap repro architectures wrote its results "
                                            "(its table and figure join the report when present)")):
    """Run (or resume) the default sweep and write report.md / report.html with figures and CSVs."""
    from ..reports.built import write_report
    from ..reports.sweep import default_sweep

    rows = _run_sweep(default_sweep(quick), sweep_file or out / "sweep.jsonl")
    md = write_report(rows, out, trained)
    console.print(f"wrote {md} and {md.with_suffix('.html')}")
