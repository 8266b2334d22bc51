"""The TransformerLens form of a built model: the same function, with an input that TransformerLens can
express (token rows plus an additive position table).

A model built with positions joins each token to its position in one embedding row, which an additive
embed + pos_embed cannot express. Its form instead embeds F = (id row - 1) * n + 1 and adds k by
position, so F = key + 1 (the coordinate the built model already uses), and phi~ blocks in front memorize
each (token, position)'s value f from F, as the token-vector models do. Invariant: on every input of the
data the form's stream after those blocks equals the built model's after its input layer, so its outputs
are the model's; the exact executor checks that on the data before export.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import NotFloatExact
from ..ir.layers import Block, ExactModel
from ..ir.record import CompileChoices
from ..vocab import InputKind
from .layout import shared_scratch
from .memorizer import Scratch, memorize_on_line
from .projection import project_for

EXTRA = ("T1", "D1")  # the phi~ memorizer's own line and distance coordinates (F2 keeps t and D)


def lens_form(model: ExactModel) -> ExactModel:
    """An equivalent model whose input is token rows plus an additive position table (the form the
    TransformerLens export writes). Refused (NotFloatExact) for what TransformerLens has no layer for."""
    layer = model.input
    if layer.kind != InputKind.ids:
        raise NotFloatExact("the TransformerLens export takes models of token ids (token vectors have no vocabulary)")
    if any(b.recur for b in model.blocks):
        raise NotFloatExact("a recurrent model is not a Transformer: export it with memcap.to_torch")
    if any(b.pool for b in model.blocks):
        raise NotFloatExact("a Deep Sets model pools by a sum, which a TransformerLens model has no layer for: "
                            "export it with memcap.to_torch")
    if layer.register:
        raise NotFloatExact("sparse attention masks every query to a register, and TransformerLens attention is only "
                            "causal or bidirectional: export it with memcap.to_torch")
    n = layer.seq_len
    if not layer.positions:
        return dataclasses.replace(model, input=dataclasses.replace(layer, pos_table=tuple((0,) * len(model.coords) for _ in range(n))))
    coords = (*model.coords, *EXTRA)
    m = len(coords)
    c = {name: i for i, name in enumerate(coords)}
    F, phi = c["F"], c["phi"]
    table = [[0] * m for _ in range(len(layer.vocab) + 1)]
    for r in range(1, len(layer.vocab) + 1):
        table[r][F] = (r - 1) * n + 1
    pos = [[0] * m for _ in range(n)]
    for k in range(n):
        pos[k][F] = k
    keys = np.array([[layer.table[j + 1][F]] for j in range(len(layer.pairs))], dtype=object)
    values = [layer.table[j + 1][phi] for j in range(len(layer.pairs))]
    labelled = np.array([j for j, v in enumerate(values) if v > 0], dtype=np.int64)
    opts = model.record.options or CompileChoices()
    seed, mode, budget = opts.seed, opts.mode, opts.bit_budget
    proj = project_for(keys, 1, seed, mode)
    scratch = Scratch(t=c["T1"], D=c["D1"], y=phi, **shared_scratch(c))
    mem = memorize_on_line(proj, ((F, int(proj.direction[0])),), labelled=labelled, stored=[values[j] for j in labelled],
                           scratch=scratch, no_match=0, mode=mode, bit_budget=budget,
                           paper_bits=math.ceil(math.log2(max(2, int(keys.max())) * 4)), what="phi~ (token, position)",
                           objective=opts.objective)
    inp = dataclasses.replace(layer, table=tuple(map(tuple, table)), pos_table=tuple(map(tuple, pos)), positions=False,
                              pairs=(), dim=len(table))
    return ExactModel(coords=coords, input=inp, blocks=(*(Block(ffn=f) for f in mem.blocks), *model.blocks), output=model.output,
                      setting=model.setting, record=model.record)
