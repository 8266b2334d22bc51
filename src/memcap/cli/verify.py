"""`memcap verify` (exact, float64, sharded or on Dask) and `memcap verify-combine`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..outputs import write_text
from .common import Force, ItsDataset, ModelDir, app, check_fits, check_labels, claim, console, err, fail, load_dataset, load_model


@app.command("verify")
def verify_cmd(
    model_path: ModelDir,
    data: ItsDataset,
    torch: Annotated[bool, typer.Option(help="also run the float64 PyTorch module (where the float64 check allows)")] = False,
    shard: Annotated[str | None, typer.Option(help="I/K: check only the I-th of K slices (0-based) and write the part "
                                              "for memcap verify-combine")] = None,
    output: Annotated[Path | None, typer.Option("-o", help="with --shard: the part's JSON file (default: print it)")] = None,
    dask: Annotated[bool, typer.Option(help="spread the examples over a Dask LocalCluster (needs memcap\\[dask])")] = False,
    scheduler: Annotated[str | None, typer.Option(help="spread them over the Dask scheduler at this address instead")] = None,
    force: Force = False,
):
    """Run MODEL exactly on every example of DATA; exit 1 on any miss (exact, or float64 with --torch)."""
    from ..nn.export import NotFloatExact
    from ..verification import unseen_examples, verify_torch
    from ..verification import verify as verify_ds

    if output is not None:
        if shard is None:
            fail("-o writes the part of a sharded verification: give it with --shard I/K")
        claim(output, "part", force)
    model, ds = load_model(model_path), load_dataset(data)
    check_fits(model, ds, model_path, data)
    check_labels(model, ds, model_path, data)
    if shard is not None:
        _verify_shard(model, ds, shard, output, torch or dask or scheduler is not None, force)
        return
    if dask or scheduler:
        from ..shards import verify_dask

        try:
            res = verify_dask(model, ds, scheduler)
        except ImportError as e:
            fail(str(e))
        except OSError as e:
            fail(f"--scheduler {scheduler}: {e}")
    else:
        res = verify_ds(model, ds, float_check=torch)  # with --torch, the float64 check rides along: one exact pass
    console.print(f"checked {res.checked} examples ({res.positions} positions) exactly: {res.wrong} wrong")
    unseen = unseen_examples(model, ds.inputs)
    if unseen.size:
        console.print(f"{unseen.size} example(s) hold token ids this model never saw (first: {unseen[:5].tolist()})")
    if not res.ok:
        console.print(f"first misses (example, position): {list(res.misses)}")
    if torch:
        try:
            fv = verify_torch(model, ds, check=res.float64)
        except NotFloatExact as e:
            fail(f"float64 not run: {e}")
        console.print(f"float64 torch: {fv.wrong} wrong of {fv.positions}, max |output - label| = {fv.max_deviation:g}")
        if fv.wrong:
            raise typer.Exit(1)
    if not res.ok:
        raise typer.Exit(1)


def _verify_shard(model, ds, shard: str, output: Path | None, other: bool, force: bool) -> None:
    from ..shards import verify_shard

    if other:
        fail("--shard checks one slice exactly: give it without --torch, --dask or --scheduler")
    try:
        i, k = (int(p) for p in shard.split("/"))
        part = verify_shard(model, ds, i, k)
    except ValueError:
        fail(f"--shard {shard}: give I/K with 0 <= I < K, e.g. 0/4")
    text = part.to_json()
    if output is None:
        print(text)
    else:
        write_text(output, text + "\n", "part", force)
        err.print(f"examples [{part.start}, {part.stop}) of {part.N}: {part.wrong} wrong; wrote {output}")
    raise typer.Exit(0 if part.wrong == 0 else 1)


@app.command("verify-combine")
def verify_combine_cmd(
    parts: Annotated[list[Path], typer.Argument(help="the parts written by memcap verify --shard")],
):
    """Add the parts of a sharded verification; exit 1 on any miss, 2 if the parts do not cover the data once."""
    from ..shards import Shard, combine

    shards = []
    for p in parts:
        try:
            shards.append(Shard.from_json(p.read_text()))
        except (OSError, ValueError, TypeError, KeyError) as e:
            fail(f"{p}: not a part written by memcap verify --shard ({type(e).__name__}: {e})")
    try:
        res = combine(shards)
    except ValueError as e:
        fail(str(e))
    console.print(f"combined {len(shards)} parts: checked {res.checked} examples ({res.positions} positions) exactly: {res.wrong} wrong")
    if not res.ok:
        console.print(f"first misses (example, position): {list(res.misses)}")
        raise typer.Exit(1)
