"""`memcap data`: datasets to compile, generated (random ids or vectors) or cut from a text file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import data as data_mod
from ..errors import DataError
from .common import DataSetting, Force, Seed, Unit, claim, console, data_app, fail


@data_app.command("random")
def data_random(
    output: Annotated[Path, typer.Argument(help="the .npz file to write")],
    N: Annotated[int, typer.Option("--N", min=1, help="number of sequences")] = 1000,
    n: Annotated[int, typer.Option("--n", min=1, help="sequence length")] = 8,
    vocab: Annotated[int | None, typer.Option(min=1, help="token ids drawn from [0, vocab) (default 100)")] = None,
    d: Annotated[int | None, typer.Option("--d", min=1, help="token vectors in [0,1)^d instead of ids")] = None,
    C: Annotated[int, typer.Option("--C", min=1, help="number of classes; labels uniform in [0, C)")] = 10,
    setting: Annotated[DataSetting, typer.Option(help="next-token: one label per sequence; seq2seq: one "
                                                 "per token; multiset: one per sequence, shared by its permutations")] = DataSetting.next_token,
    seed: Seed = 0,
    force: Force = False,
):
    """Random dataset: ids (--vocab) or vectors (--d), uniform labels."""
    if vocab is not None and d is not None:
        fail("give --vocab (token ids) or --d (token vectors), not both")
    _npz_name(output)
    claim(output, "dataset", force)
    try:
        ds = (data_mod.random_vectors(N, n, d, C, seed, setting.value) if d
              else data_mod.random_ids(N, n, vocab or 100, C, seed, setting.value))
    except DataError as e:
        fail(str(e))
    data_mod.save(ds, output, setting=setting.value, overwrite=force)
    drawn = len(set(ds.labels.ravel().tolist()))
    classes = f"C={C}" if drawn == C else f"C={C} requested, {drawn} classes drawn (labels uniform in [0, {C}))"
    console.print(f"wrote {output}: N={ds.N} n={ds.n} {ds.kind} {setting.value} {classes}", highlight=False)


@data_app.command("text")
def data_text(
    text: Annotated[Path, typer.Argument(help="any text file (with --module: the .npz file to write)")],
    output: Annotated[Path | None, typer.Argument(help="the .npz file to write")] = None,
    module: Annotated[str | None, typer.Option(help="read the source file of this installed Python module instead of "
                                               "FILE (e.g. this, or pydoc_data.topics): a text found wherever Python is")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="window length")] = 8,
    unit: Annotated[Unit, typer.Option(help="byte: raw bytes (ids 0..255); char: the file's distinct characters")] = Unit.byte,
    stride: Annotated[int, typer.Option(min=1, help="step between window starts")] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="keep at most this many windows")] = None,
    force: Force = False,
):
    """Next-token windows of length n from a text file (each labelled with the token after it):
    memcap data text FILE OUT.npz, or memcap data text --module NAME OUT.npz."""
    text, output = _text_source(text, output, module)
    _npz_name(output)
    claim(output, "dataset", force)
    try:
        ds, counts = data_mod.text_windows_counted(text, n, unit.value, stride, limit)
    except (DataError, OSError) as e:
        fail(str(e))
    data_mod.save(ds, output, overwrite=force)
    console.print(f"read {counts.read} windows of n={n} {unit.value}s from {text}: dropped {counts.repeats} repeats and "
                  f"{counts.conflicts} windows whose next token differs from an earlier occurrence's (the first kept; "
                  f"{counts.conflicting} distinct windows had two next tokens)",
                  highlight=False)
    if counts.first_conflict:
        console.print(f"first conflict: {counts.first_conflict}", highlight=False, markup=False)
    console.print(f"wrote {output}: N={ds.N} windows of n={ds.n} {unit.value}s")


def _text_source(first: Path, second: Path | None, module: str | None) -> tuple[Path, Path]:
    """(text file, output): FILE OUT, or OUT alone with --module (the module's source file)."""
    if module is None:
        if second is None:
            fail("give the text FILE and the OUT.npz to write (or --module NAME and OUT.npz)")
        return first, second
    if second is not None:
        fail(f"--module {module} reads that module's source: give only OUT.npz, not a FILE too")
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)  # finds the file without running the module
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        fail(f"--module {module}: no installed Python module of that name with a .py source file")
    return Path(spec.origin), first


def _npz_name(output: Path) -> None:
    """A dataset is written as an .npz archive: another suffix would hide what the file is."""
    if output.suffix != ".npz":
        fail(f"{output}: a dataset is written as an .npz archive; give a name ending in .npz")
