"""`memcap data`: datasets to compile, generated (random ids or vectors) or cut from a text file."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import data as data_mod
from ..errors import DataError
from .common import DataSetting, Force, Unit, claim, console, data_app, fail


@data_app.command("random")
def data_random(output: Path = typer.Argument(..., help="the .npz file to write"),
                N: int = typer.Option(1000, "--N", min=1, help="number of sequences"),
                n: int = typer.Option(8, "--n", min=1, help="sequence length"),
                vocab: int = typer.Option(None, min=1, help="token ids drawn from [0, vocab) (default 100)"),
                d: int = typer.Option(None, "--d", min=1, help="token vectors in [0,1)^d instead of ids"),
                C: int = typer.Option(10, "--C", min=1, help="number of classes; labels uniform in [0, C)"),
                setting: DataSetting = typer.Option(DataSetting.next_token, help="next-token: one label per sequence; seq2seq: one "
                                                    "per token; multiset: one per sequence, shared by its permutations"),
                seed: int = typer.Option(0, help="random seed"), force: Force = False):
    """Random dataset: ids (--vocab) or vectors (--d), uniform labels."""
    if vocab is not None and d is not None:
        fail("give --vocab (token ids) or --d (token vectors), not both")
    claim(output, "dataset", force)
    try:
        ds = (data_mod.random_vectors(N, n, d, C, seed, setting.value) if d
              else data_mod.random_ids(N, n, vocab or 100, C, seed, setting.value))
    except DataError as e:
        fail(str(e))
    data_mod.save(ds, output, overwrite=force)
    console.print(f"wrote {output}: N={ds.N} n={ds.n} {ds.kind} {ds.setting} C={ds.C}")


@data_app.command("text")
def data_text(text: Path = typer.Argument(..., help="any text file"), output: Path = typer.Argument(..., help="the .npz file to write"),
              n: int = typer.Option(8, "--n", min=1, help="window length"),
              unit: Unit = typer.Option(Unit.byte, help="byte: raw bytes (ids 0..255); char: the file's distinct characters"),
              stride: int = typer.Option(1, min=1, help="step between window starts"),
              limit: int = typer.Option(None, min=1, help="keep at most this many windows"), force: Force = False):
    """Next-token windows of length n from a text file (each labelled with the token after it)."""
    claim(output, "dataset", force)
    try:
        ds = data_mod.text_windows(text, n, unit.value, stride, limit)
    except (DataError, OSError) as e:
        fail(str(e))
    data_mod.save(ds, output, overwrite=force)
    console.print(f"wrote {output}: N={ds.N} windows of n={ds.n} {unit.value}s")
