"""compile(dataset) -> an exact Transformer that memorizes it: the driver, one stage after another.

    distinct tokens -> contexts (consistency) -> key tokens and values f -> F1 (embedding, or Stage I +
    phi~ memorizer) -> F2 (the memorizer on the contexts) -> assembly (attention sid <- mean phi, E_out)

Under the balanced objective (the default) F2 is the retrieval table, and up to BALANCED_COMPARE_MAX
stored labels the address memorizer's model is built too: the one of the smaller dense parameters times
parameter bits is returned.

Each stage is a function of the previous stages' frozen results; nothing is mutated.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from .construct.assembly import assemble
from .construct.context import analyze
from .construct.f1 import token_layer
from .construct.f2 import f2_memorizer
from .construct.layout import coords_for
from .construct.options import CompileOptions
from .construct.tokens import choose_values, distinct_tokens
from .data import Dataset
from .ir.layers import ExactModel
from .ir.record import DataSummary
from .ir.stats import model_stats
from .vocab import InputKind, Objective

Progress = Callable[[str], None]
__all__ = ["compile", "CompileOptions", "Progress"]


def compile(ds: Dataset, options: CompileOptions | None = None, progress: Progress | None = None,
            timings: dict[str, float] | None = None, **choices) -> ExactModel:
    """Compile `ds` into an ExactModel that memorizes every example (see `verify`). `options` (or the
    same fields as keywords: setting, attention ("sparse": a register), arch ("deep-sets", "rnn"),
    positions, causal, mode, bit_budget, objective, seed) choose the variant. `progress` is called with each
    finished stage's name; `timings`, when given, receives
    seconds per stage (kept out of the model, so that the same inputs and seed give the same bytes; where the
    balanced objective builds F1, F2 and the assembly twice, each stage's seconds are the two builds' sum)."""
    opts = dataclasses.replace(options or CompileOptions(), **choices).checked(ds)
    timings = {} if timings is None else timings
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage], clock[0] = round(timings.get(stage, 0) + now - clock[0], 4), now
        if progress is not None:
            progress(stage)

    toks = distinct_tokens(ds, opts.positions)
    lap("tokens")
    ctx = analyze(toks.token_ids, ds.labels, causal=opts.causal, positions=opts.positions, multiset=opts.multiset)
    lap("contexts")
    tv = choose_values(ctx, len(toks), ds.kind == InputKind.vectors and not opts.causal, opts.mode, opts.seed)
    lap("key tokens and values")

    def model_with(built: CompileOptions) -> ExactModel:
        """F1, F2 and the assembled model as `built` makes them, recorded under `opts`."""
        coords = coords_for(ds.kind, built.float_safe, built.sparse, built.multiset, built.slots, hashed=built.hashed)
        f1 = token_layer(ds.d, ds.n, toks, tv, coords, built, read_tokens=ctx.ctx_token)
        lap("F1")
        f2 = f2_memorizer(ctx, f1, tv, ds, coords, built)
        lap("F2")
        sizes = DataSummary(N=ds.N, d=ds.d, C=ds.C, r=f1.r, delta=f1.delta, input=ds.kind, n=ds.n, distinct_tokens=len(toks),
                            key_tokens=int(len(tv.key_tokens)), windows=len(ctx.windows), contexts=len(ctx.ctx_label),
                            max_token_value=max(tv.values), value_tries=tv.tries)
        model = assemble(f1, f2, coords, ds.setting, sizes, opts)
        lap("assemble")
        return model

    model = model_with(opts)
    if opts.objective == Objective.balanced and len(ctx.ctx_label) <= BALANCED_COMPARE_MAX:
        line = model_with(dataclasses.replace(opts, objective=Objective.depth))
        model = min((line, model), key=_params_times_bits)
    return model


BALANCED_COMPARE_MAX = 20_000  # stored labels up to which the balanced objective builds both models and compares


def _params_times_bits(model: ExactModel) -> int:
    """The balanced objective's cost: dense parameters times total parameter bits. Up to a few thousand
    stored labels the address memorizer can win it (the table's hash stages are a fixed cost); above,
    the table's product is several times the smaller, so only the table is built."""
    st = model_stats(model)
    return st.params * st.total_bits
