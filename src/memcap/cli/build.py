"""The construction's commands: compile, verify, predict, inspect, explain, export, bounds, demo,
and the plain point memorizer (the sweeps, scale and report, are in cli/sweeps.py). Each parses, calls the library, prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from .. import outputs
from ..bounds import all_bounds
from ..construct.memorizer import BudgetError
from ..errors import DataError
from ..ir import fileformat
from ..ir.stats import model_stats
from .common import (
    AttentionKind,
    BitBudget,
    BuiltArch,
    Force,
    ItsDataset,
    Mode,
    ModelDir,
    ModelOutput,
    Objective,
    Seed,
    Setting,
    Target,
    app,
    check_fits,
    claim,
    console,
    fail,
    load_dataset,
    load_model,
    results_dir,
    value,
)
from .summary import LEGEND, budget_refusal, lower_bound_ratios, model_sizes, print_summary, stage_progress, stats_table
from .wording import as_flags


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
def memorize_points(
    points: Annotated[Path, typer.Argument(help="an .npz with `points` [V, d] and `labels` [V] (-1 = extra point)")],
    output: ModelOutput,
    mode: Annotated[Mode, typer.Option(help="tight: measured constants; paper: the paper's group count")] = Mode.tight,
    bit_budget: BitBudget = None,
    seed: Seed = 0,
    force: Force = False,
):
    """Build the plain ReLU memorizer for a point set: every labelled point maps to its label, every extra point to -1."""
    from ..point_memorizer import memorize

    claim(output, "model", force)
    try:
        model = memorize(*_load_points(points), mode=mode.value, bit_budget=bit_budget, seed=seed)
    except DataError as e:
        fail(str(e))
    fileformat.save(model, output, overwrite=force)
    st = model_stats(model)
    console.print(f"wrote {output}: depth {st.depth}, width {st.width}, params {st.params}, max bits {st.max_bits}")


@app.command("verify-points")
def verify_points(
    model_path: Annotated[Path, typer.Argument(help="a model written by memorize-points")],
    points: Annotated[Path, typer.Argument(help="the .npz point set (`points`, `labels`)")],
):
    """Run MODEL exactly on every point; exit 1 on any miss."""
    from ..verification import verify_arrays

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
def compile_cmd(
    data: Annotated[Path, typer.Argument(help="dataset: .npz (tokens or vectors, labels) or .jsonl")],
    output: ModelOutput,
    setting: Annotated[Setting | None, typer.Option(help="default: from the labels' shape ([N]: next-token, [N, n]: seq2seq)")] = None,
    attention: Annotated[AttentionKind, typer.Option(help=ATTENTION_HELP)] = AttentionKind.softmax,
    arch: Annotated[BuiltArch, typer.Option(help=ARCH_HELP)] = BuiltArch.transformer,
    positions: Annotated[bool, typer.Option(help="join each token's position to it: any distinct sequences can be memorized")] = False,
    causal: Annotated[bool, typer.Option(help="position k averages its prefix (seq2seq language-model data)")] = False,
    mode: Annotated[Mode, typer.Option(help="tight: measured constants; paper: the paper's constants")] = Mode.tight,
    bit_budget: BitBudget = None,
    objective: Annotated[Objective | None, typer.Option(
        help="tight mode's plan. balanced (the default; depth under --bit-budget or --mode paper): F2 a retrieval "
             "table, the plan of the least parameters x bits (2.7-4x the information floor N log2 C from N = 10^4 on, "
             "0.7-1.2x the parameters of depth). depth: F2 the address memorizer, fewest blocks (17-24x the floor; "
             "the one `memcap localize` reads). bits: the retrieval table's plan of the fewest bits "
             "(1.7-3x the floor, more parameters below N = 10^6)", show_default=False)] = None,
    seed: Annotated[int, typer.Option(min=0, help="random seed (same inputs and seed: the same model, bit for bit)")] = 0,
    verify: Annotated[bool, typer.Option(help="verify every example (and check float64) before writing")] = True,
    force: Force = False,
):
    """Compile DATA into a Transformer that memorizes it; verified exactly before it is written."""
    from ..pipeline import build

    claim(output, "model", force)
    ds = load_dataset(data)
    options: dict[str, Any] = dict(setting=value(setting), attention=attention.value, arch=arch.value, positions=positions, causal=causal,
                   mode=mode.value, bit_budget=bit_budget, objective=value(objective), seed=seed)
    try:
        with stage_progress("compile") as done:
            built = build(ds, verify=verify, progress=done, **options)
    except BudgetError as e:
        fail(budget_refusal(e, ds, options))
    except DataError as e:
        fail(str(e))
    res = built.verification
    if res is not None and not res.ok:
        fail(f"model does not memorize the data (first misses {list(res.misses)}); nothing written", 1)
    # written before anything is printed: a reader that closes the pipe early (| head) cannot lose the model
    fileformat.save(built.model, output, overwrite=force)
    console.print(f"compiled {ds.N} examples in {built.compile_s:.2f} s")
    if res is not None:
        console.print(f"verified exactly: {res.positions - res.wrong}/{res.positions} positions "
                      f"of {res.checked} examples ({built.verify_s:.2f} s)")
        fc = built.float64
        assert fc is not None  # build runs the float64 check whenever it verifies (check_float's default)
        console.print(f"float64: {'exact' if fc.exact else 'not exact'} ({as_flags(fc.reason)})", highlight=False, markup=False)
    print_summary(built.model, ds)
    console.print(f"wrote {output}")


@app.command("predict")
def predict_cmd(
    model_path: ModelDir,
    data: Annotated[Path, typer.Argument(help="sequences (.npz or .jsonl; labels are not needed but may be present)")],
    output: Annotated[Path | None, typer.Option("-o", help="write the outputs: .npy, or .txt/.csv (one example a line)")] = None,
    force: Force = False,
):
    """Exact outputs of MODEL on DATA: [N] for next-token, [N, n] for seq2seq. -1 = no label (an extra point, or
    an example with a token id the model never saw)."""
    from ..verification import predict

    model, ds = load_model(model_path), load_dataset(data)
    check_fits(model, ds, model_path, data)
    if output is not None and output.suffix not in (".npy", ".txt", ".csv"):
        fail(f"-o {output}: give a file ending in .npy, .txt or .csv")
    if output is not None:
        claim(output, "array" if output.suffix == ".npy" else "table", force)
    out = predict(model, ds.inputs)
    if output is None:
        for row in out.reshape(len(out), -1):
            console.print(" ".join(str(v) for v in row))
        return
    if output.suffix == ".npy":
        if out.dtype == object:
            fail("some outputs are not integers (the model was not built for this data): write them with -o out.txt")
        with outputs.writing_file(output, "array", force) as tmp, tmp.open("wb") as f:
            np.save(f, out, allow_pickle=False)
    else:
        sep = "," if output.suffix == ".csv" else " "
        outputs.write_text(output, "".join(sep.join(str(v) for v in row) + "\n" for row in out.reshape(len(out), -1)),
                           "table", force)
    console.print(f"wrote {output}: shape {list(out.shape)}")


def _print_stats(model) -> None:
    console.print(stats_table(model))
    console.print(LEGEND, style="dim", highlight=False)


@app.command("inspect")
def inspect_cmd(
    model_path: ModelDir,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object (sizes, setting, construction details)")] = False,
):
    """Sizes of MODEL: params (paper convention), nonzero params, depth, width, bits; float64 verdict."""
    model = load_model(model_path)
    st = model_stats(model).as_dict()
    st["setting"] = model.setting
    st["meta"] = model.record.as_dict()
    if as_json:
        print(json.dumps(st, sort_keys=True))
    else:
        _print_stats(model)
        console.print_json(json.dumps(_brief(st["meta"])))
        console.print("(long lists shortened; --json prints everything)", highlight=False)


def _brief(value, longest: int = 8):
    """The record with every list longer than `longest` replaced by its length: the per-unit roles of a big
    model run to thousands of lines, which a terminal reader does not want."""
    if isinstance(value, dict):
        return {k: _brief(v, longest) for k, v in value.items()}
    if isinstance(value, list) and len(value) > longest:
        return f"({len(value)} values)"
    return [_brief(v, longest) for v in value] if isinstance(value, list) else value


@app.command("explain")
def explain_cmd(
    model_path: ModelDir,
    data: ItsDataset,
    example: Annotated[int, typer.Option("--example", min=0, help="which example to follow")] = 0,
    position: Annotated[int | None, typer.Option("--position", min=0, help="seq2seq: which position to follow (default 0)")] = None,
    plot: Annotated[Path | None, typer.Option(help="also draw the stream's coordinates over depth to this PNG")] = None,
    force: Force = False,
):
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
    if plot is not None:
        claim(plot, "png", force)
    trace = explain(model, ds, example, position)
    for line in trace.lines:
        console.print(line, highlight=False)
    if plot is not None:
        trace.plot(plot)
        console.print(f"wrote {plot}")


@app.command("export")
def export_cmd(
    model_path: ModelDir,
    *,
    to: Annotated[Target, typer.Option("--to", help="transformer-lens: a TransformerBridge folder")] = Target.transformer_lens,
    output: Annotated[Path, typer.Option("-o", help="folder to write")],
    data: Annotated[Path | None, typer.Option(help="dataset to check float64 exactness on (default: the verdict recorded at compile)")] = None,
    force: Force = False,
):
    """Write MODEL for another tool: TransformerLens 4 (config.json, model.safetensors, vocab.json)."""
    from ..nn.export import NotFloatExact

    model = load_model(model_path)
    if model.setting == "points":
        fail(f"{model_path} is a plain point memorizer, not a Transformer: nothing to export")
    ds = load_dataset(data) if data else None
    if ds is not None:
        assert data is not None  # ds was loaded from it
        check_fits(model, ds, model_path, data)
    claim(output, "lens" if to is Target.transformer_lens else "model", force)
    try:
        if to is Target.transformer_lens:
            from ..nn.export import save_transformer_lens

            save_transformer_lens(model, output, ds.inputs if ds else None, overwrite=force)
        else:
            from ..nn.export import to_torch

            to_torch(model, ds.inputs if ds else None)
            fileformat.save(model, output, overwrite=force)
    except NotFloatExact as e:
        fail(str(e))
    except ImportError as e:
        fail(f"{e}; install it with: pip install 'memcap[lens]' (from a checkout: pip install -e '.[lens]')")
    console.print(f"wrote {output}")


@app.command("bounds")
def bounds_cmd(
    N: Annotated[int | None, typer.Option("--N", min=1, help="number of sequences (default: the --model's)")] = None,
    n: Annotated[int | None, typer.Option("--n", min=1, help="sequence length (default: the --model's, else 1)")] = None,
    d: Annotated[int | None, typer.Option("--d", min=1, help="token dimension (default: the --model's, else 1)")] = None,
    C: Annotated[int | None, typer.Option("--C", min=1, help="classes (default: the --model's, else 2)")] = None,
    r: Annotated[float, typer.Option(min=0, help="largest token norm")] = 1.0,
    delta: Annotated[float, typer.Option(min=0, help="token separation")] = 1.0,
    vocab: Annotated[int | None, typer.Option(min=1, help="vocabulary size (for token-id bounds)")] = None,
    setting: Annotated[Setting | None, typer.Option(help="next-token or seq2seq (default: the --model's, else next-token)")] = None,
    model_path: Annotated[Path | None, typer.Option("--model", help="a built model to show beside the bounds; N, n, d, C "
                                                    "and the setting default to those it was built for")] = None,
):
    """The theorem's upper bounds, the lower bounds and the paper's Table 1 for (N, n, d, C)."""
    model = load_model(model_path) if model_path else None
    sizes = model_sizes(model, model_path, N=N, n=n, d=d, C=C, setting=value(setting))
    N, n, d, C, kind = sizes["N"], sizes["n"], sizes["d"], sizes["C"], sizes["setting"]
    t = Table(title=f"bounds for N={N} n={n} d={d} C={C} ({kind})")
    for c in ("kind", "bound", "quantity", "value", "formula", "source"):
        t.add_column(c)
    for b in all_bounds(N, n, d, C, r, delta, vocab, kind):
        t.add_row(b.kind, b.name, b.quantity, f"{b.value:.4g}", b.formula, b.source)
    console.print(t)
    if model is not None:
        st = model_stats(model)
        console.print(f"built model: params {st.params}, depth {st.depth}, width {st.width}, "
                      f"max bits {st.max_bits}, total bits {st.total_bits}")
        for line in lower_bound_ratios(st, N, n, C, kind):
            console.print(f"  {line}", highlight=False)


@app.command("demo")
def demo_cmd(
    N: Annotated[int, typer.Option("--N", min=1, help="number of random sequences")] = 2000,
    n: Annotated[int, typer.Option("--n", min=1, help="sequence length")] = 16,
    seed: Seed = 0,
    out: Annotated[Path, typer.Option(help="where the demo's models go")] = Path("out/demo"),
):
    """The main job: generate data, compile it five ways, verify every example exactly, report."""
    from .demo import run_demo

    results_dir(out, "demo", earlier=lambda folder: all(outputs.holds(p, "model") for p in folder.iterdir()))
    if not run_demo(N=N, n=n, seed=seed, out=out, console=console):
        raise typer.Exit(1)
