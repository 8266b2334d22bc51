"""`memcap localize`: score localization methods (or a user's ranking) against a compiled model's exact
ground truth of where each example is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .. import outputs
from ..errors import DataError
from ..localize.bench import CHOICES
from ..outputs import OutputExists
from .common import CommaList, Force, ItsDataset, app, check_fits, claim, console, err, fail, load_dataset, load_model, names_of


@app.command("localize")
def localize_cmd(
    model_path: Annotated[Path, typer.Argument(help="a compiled next-token model of token ids (--bit-budget 48 for the methods)")],
    data: ItsDataset,
    output: Annotated[Path, typer.Option("-o", "--output", help="directory for ground_truth.json, rankings_*.json, scores.csv/.md")],
    method: Annotated[CommaList, typer.Option("--method", parser=names_of(CHOICES), metavar="M,M,...",
                                              help=f"methods to score: {', '.join(CHOICES)}")] = CommaList(("random",)),
    score_file: Annotated[Path | None, typer.Option("--score", help="score this ranking JSON too: {\"rankings\": {\"<example>\": "
                                             "\\[\\[block, unit] or \"blocks.L.mlp.hook_post\\[..., I]\", ...]}}")] = None,
    examples: Annotated[int, typer.Option(min=1, help="target examples (drawn with --seed; with --score, the ranked ones)")] = 20,
    k: Annotated[int, typer.Option(min=1, help="top-k units per example that the metrics read")] = 5,
    others: Annotated[int, typer.Option(min=1, help="other examples on which DEL measures collateral damage")] = 200,
    del_targets: Annotated[int, typer.Option("--del-targets", min=1, help="targets DEL zeroes each method's top k on (a seeded "
                                             "sample when there are more targets: each is an exact run of 1 + --others examples)")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="random seed (examples, random ranking, hard concrete)")] = 0,
    force: Force = False,
):
    """Exact ground truth (construction record + causal map by exact ablation) and method scores."""
    from ..localize.bench import bench, save
    from ..localize.truth import NoRecord
    from ..nn.export import NotFloatExact

    claim(output, "localization", force)
    model, ds = load_model(model_path), load_dataset(data)
    check_fits(model, ds, model_path, data)
    user = None
    if score_file is not None:
        try:
            user = json.loads(score_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            fail(f"--score {score_file}: {e}")
    if ds.kind != "ids":
        fail("localize takes models of token ids")
    if examples > ds.N and score_file is None:
        err.print(f"--examples {examples}: the data hold {ds.N} examples; every one is a target", highlight=False)
    try:
        b = bench(model, ds, list(method), examples, k, others, seed, user, log=lambda s: err.print(s, highlight=False),
                  del_targets=del_targets)
        with outputs.writing_folder(output, "localization", force) as tmp:
            paths = [output / p.name for p in save(tmp, model, b)]
    except (NoRecord, NotFloatExact, DataError) as e:
        fail(str(e))
    except OutputExists as e:
        fail(e.advice("--force"))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    for p in paths:
        console.print(f"wrote {p}")
    console.print(open(output / "scores.md").read(), markup=False, highlight=False)
