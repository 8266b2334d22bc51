"""What `compile` (and the demo) say about a built model: its sizes with the columns spelled out, the
ratios that place it between the bounds, progress by stage on long runs, and a refused bit budget
answered with the smallest one that compiles."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.table import Table

from ..bounds import thm43_min_params
from ..construct.memorizer import BudgetError
from ..data import Dataset
from ..ir.stats import ModelStats, model_stats
from .common import console, err, fail

COLUMNS = ("m", "q", "H", "s", "depth", "width", "params", "nonzero_params", "max_bits", "total_bits")
LEGEND = ("m: residual stream width (coordinates); q: hidden ReLU units per FFN block (the widest); H: attention "
          "heads; s: head size; depth: blocks; width: max(m, q, s H); params: every matrix entry, zeros too (the "
          "paper's count); nonzero_params: entries stored nonzero; max_bits: bits of the widest weight; total_bits: "
          "bits of all nonzero weights")
QUIET_S = 3.0  # runs shorter than this print no progress


def stats_table(model, title: str = "model") -> Table:
    st = model_stats(model)
    t = Table(title=title)
    t.add_column("setting")
    for c in COLUMNS:
        t.add_column(c, justify="right")
    t.add_row(model.setting, *(str(getattr(st, c)) for c in COLUMNS))
    return t


def labels_stored(N: int, n: int, setting: str) -> int:
    """How many labels the model holds: one per sequence (next-token), one per token (seq2seq)."""
    return n * N if setting == "seq2seq" else N


def ratio_line(st: ModelStats, N: int, n: int, C: int, setting: str) -> str:
    """params / N, params / sqrt(N) and total bits over the information floor (labels x log2 C)."""
    M = labels_stored(N, n, setting)
    floor = M * math.log2(max(C, 2))
    what = "N log2 C" if M == N else "nN log2 C"
    return (f"params / N = {_num(st.params / N)}; params / sqrt(N) = {_num(st.params / math.sqrt(N))}; "
            f"total bits / ({what}) = {_num(st.total_bits / floor)}")


def _num(x: float) -> str:
    """A ratio for a sentence: three significant digits, no exponent."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def print_summary(model, ds: Dataset) -> None:
    """The sizes table, the legend of its columns and the ratios."""
    console.print(stats_table(model))
    console.print(LEGEND, style="dim", highlight=False)
    console.print(ratio_line(model_stats(model), ds.N, ds.n, ds.C, ds.setting), highlight=False)


@contextmanager
def stage_progress(what: str) -> Iterator[Callable[[str], None]]:
    """A callback for each finished stage. On a terminal, a transient status names the stage running; off a
    terminal, runs longer than a few seconds print one line per finished stage on stderr, so short runs
    (and tests) stay quiet."""
    start = last = time.perf_counter()
    status = err.status(f"{what}: starting") if err.is_terminal else None

    def done(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        if status is not None:
            status.update(f"{what}: {stage} done after {now - start:.1f} s")
        elif now - start > QUIET_S:
            err.print(f"{what}: {stage} ({now - last:.1f} s, {now - start:.1f} s in all)", highlight=False)
        last = now

    if status is None:
        yield done
        return
    with status:
        yield done


def budget_refusal(e: BudgetError, ds: Dataset, options: dict) -> str:
    """The refusal, and the smallest budget with which this dataset compiles (found by compiling)."""
    from ..budget import smallest_bit_budget

    try:
        least = smallest_bit_budget(ds, start=options.get("bit_budget") or 2,
                                    **{k: v for k, v in options.items() if k != "bit_budget"})
    except BudgetError:
        return str(e)
    return f"{e}; the smallest budget that compiles this dataset is bit_budget={least}"


def lower_bound_ratios(st: ModelStats, N: int, n: int, C: int, setting: str) -> list[str]:
    """How far a built model sits above each lower bound. Every memorizer meets them, so a ratio says more
    than 'holds': the distance from the floor is what the construction costs."""
    M = labels_stored(N, n, setting)
    rows = [f"params / sqrt(N) = {_num(st.params / math.sqrt(N))} (Theorem 4.2: every next-token memorizer "
            "needs at least a constant times sqrt(N) parameters)",
            f"total bits / ({'N' if M == N else 'nN'} log2 C) = {_num(st.total_bits / (M * math.log2(max(C, 2))))} "
            "(counting: the bits of any memorizer are at least 1 times this floor)"]
    if st.total_bits < M * math.log2(max(C, 2)):
        rows.append("BELOW the counting floor: impossible for a model that memorizes these labels (a bug)")
    if setting == "seq2seq":
        rows.append(f"params / Theorem 4.3's least W = {_num(st.params / thm43_min_params(M))} (hardmax seq2seq)")
    return rows


def model_sizes(model, model_path, **given) -> dict:
    """N, n, d, C and the setting: as given, else as the model was built (its recorded sizes), else the
    defaults; a missing N with no model is one `error:` line."""
    data = model.record.data if model is not None else None
    built = {k: v for k in ("N", "n", "d", "C") if (v := getattr(data, k, None)) is not None}
    if model is not None and model.setting in ("next-token", "seq2seq"):
        built["setting"] = model.setting
    defaults = {"n": 1, "d": 1, "C": 2, "setting": "next-token"}
    out = {k: v if v is not None else built.get(k, defaults.get(k)) for k, v in given.items()}
    if out["N"] is None:
        fail(f"give --N, or --model with a model that records its N ({model_path} does not)" if model is not None
             else "give --N (the number of sequences), or --model MODEL to take N, n, d and C from a built model")
    return {k: int(v) if k != "setting" else str(v) for k, v in out.items()}
