"""memorize(points, labels): the plain ReLU memorizer of docs/construction.md#the-memorizer as an exact model (the compile driver
for point sets). Stages: validate -> Stage I (projection) -> Stage II plan -> blocks -> ExactModel.

Labels >= 0 are classes; -1 marks an extra point that must come out as "no label" (-1).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .construct.memorizer import BudgetError, Scratch, memorize_on_line
from .construct.projection import paper_range, project_for, separation
from .errors import DataError, rows_text
from .ir.layers import Block, ExactModel, InputLayer
from .ir.numbers import exact_dyadic
from .ir.record import CompileChoices, DataSummary, ModelRecord, StageDepths
from .vocab import InputKind, Mode, ModelSetting, choices_text, is_member

NO_LABEL = -1
POINT_COORDS = ("x", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")


_rows = rows_text


def check_points(points, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate a point set; returns float64 points [V, d] and int64 labels [V]."""
    try:
        x = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"points must be a numeric [V, d] array: {e}") from None
    y = np.asarray(labels)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise DataError(f"points must have shape [V, d], got {x.shape}")
    if x.shape[0] == 0:
        raise DataError("no points: give at least one labelled point")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DataError(f"labels must have shape [{x.shape[0]}] to match points, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError("labels must be integers (a class >= 0, or -1 for an extra point)")
    y = y.astype(np.int64)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise DataError(f"points contain NaN or inf at rows {_rows(bad)}; remove or fix those rows")
    bad = np.flatnonzero(y < NO_LABEL)
    if bad.size:
        raise DataError(f"labels below -1 at rows {_rows(bad)}; use a class >= 0 or -1 for an extra point")
    if not (y >= 0).any():
        raise DataError("no labelled point (every label is -1): nothing to memorize")
    return x, y


def dedupe(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge identical points; identical points with different labels are refused, naming the rows.
    Returns the distinct points, their labels and the input row of each."""
    uniq, first, inverse = np.unique(x, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(uniq) == len(x):
        return x, y, np.arange(len(x))
    lab = np.full(len(uniq), np.iinfo(np.int64).min)
    order = np.argsort(inverse, kind="stable")
    for i in order:
        u = inverse[i]
        if lab[u] == np.iinfo(np.int64).min:
            lab[u] = y[i]
        elif lab[u] != y[i]:
            j = int(first[u])
            raise DataError(
                f"rows {j} and {int(i)} are the same point with different labels ({lab[u]} and {y[i]}); "
                "a function cannot memorize both: drop or relabel one"
            )
    return uniq, lab, first


def memorize(points, labels, *, mode: str = Mode.tight, bit_budget: int | None = None, seed: int = 0) -> ExactModel:
    """Build a width-12 ReLU network (residual FFN blocks) mapping every labelled point to its label and
    every extra point (label -1) to -1. Exact integer weights; same inputs and seed give the same model."""
    if not is_member(Mode, mode):
        raise DataError(f"mode must be {choices_text(Mode)}, got {mode!r}")
    x, y, rows = dedupe(*check_points(points, labels))
    num, den = exact_dyadic(x)
    proj = project_for(num, den, seed, mode)
    stats = separation(x)
    names = POINT_COORDS if bit_budget is not None else POINT_COORDS[:-2]
    c = {name: i for i, name in enumerate(names)}
    scratch = Scratch(**{name: c[name] for name in names if name != "x"})
    labelled = np.flatnonzero(y >= 0)
    paper_bits = math.ceil(math.log2(paper_range(len(x), stats.r, stats.delta, x.shape[1])))
    try:
        line = memorize_on_line(proj, ((c["x"], 1),), labelled=labelled, stored=[int(y[i]) - NO_LABEL for i in labelled],
                                scratch=scratch, no_match=NO_LABEL, mode=mode, bit_budget=bit_budget,
                                paper_bits=paper_bits, what="points", float_snap=False)
    except BudgetError as e:
        i, j = proj.closest
        raise DataError(
            f"{e}, to keep rows {rows[i]} and {rows[j]} (distance {float(np.linalg.norm(x[i] - x[j])):.3g}, the closest "
            "pair on the line) 2 apart: raise bit_budget or spread those points"
        ) from None
    ffns = line.blocks
    weights = tuple(tuple(proj.direction) if name == "x" else (0,) * x.shape[1] for name in names)
    record = ModelRecord(
        options=CompileChoices(Mode(mode), seed, bit_budget),
        data=DataSummary(N=len(labelled), d=x.shape[1], C=int(y.max()) + 1, r=stats.r,
                         delta=stats.delta if math.isfinite(stats.delta) else None, V=len(x)),
        stages=StageDepths.of(projection=1, groups=line.stage2, extraction=len(ffns) - 1 - line.stage2),
        plan=dataclasses.replace(line.plan_summary(), snap=line.snap), points=True)
    return ExactModel(
        coords=names,
        input=InputLayer(kind=InputKind.vectors, dim=x.shape[1], weights=weights),
        blocks=tuple(Block(ffn=f) for f in ffns),
        output=c["y"],
        setting=ModelSetting.points,
        record=record,
    )
