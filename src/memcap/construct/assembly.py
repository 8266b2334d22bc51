"""The assembly of Theorem 4.1 / Corollary 4.1 (docs/construction.md#next-token):

    E_in -> F1 = (phi~ (+) F) -> uniform attention (sid <- mean phi~) -> F2 (memorizer on contexts) -> E_out

and its two relatives: sparse attention (a register r in front: r <- mean phi~ over the real tokens, then
every token's sid <- r's, 3n + 1 connections instead of n^2), and Deep Sets (Theorem D.1: sum pooling
instead of attention, rho~ = the memorizer on the pooled phi~ = SID alone).

Token ids use the embedding of Theorem E.1 (phi~ and F are table columns, F1 has no blocks); token vectors
get F = the Stage I projection of the distinct tokens and phi~ = a memorizer that gives key tokens their
value f and every other token 0 (f1.py); F2 memorizes the context vectors (F(x_k), L * mean phi~) with the
labels (f2.py). Invariant: the blocks run F1, the mixing layer fused with F2's first block, then F2's rest.
"""

from __future__ import annotations

import dataclasses

from ..ir.layers import FFN, Block, ExactModel, UniformAttention
from ..ir.record import CompileChoices, DataSummary, ModelRecord, StageDepths
from ..vocab import ModelSetting, Setting, WindowPattern
from .f1 import TokenLayer
from .hashed import HashedMemorizer
from .memorizer import LineMemorizer
from .options import CompileOptions
from .roles import RoleRecord


def _mixing(f2: LineMemorizer | HashedMemorizer, c: dict[str, int], opts: CompileOptions) -> tuple[Block, ...]:
    """The blocks that move information between positions, ending with F2's first block."""
    if opts.multiset:
        return (Block(ffn=f2.blocks[0], pool=True),)
    if opts.recurrent:
        return (Block(ffn=f2.blocks[0], recur=((c["sid"], c["phi"]),)),)
    if opts.sparse:
        gather = UniformAttention(moves=((c["reg"], c["phi"], 1),), pattern=WindowPattern.gather)
        read = UniformAttention(moves=((c["sid"], c["reg"], 1),), pattern=WindowPattern.read)
        return Block(ffn=FFN(units=()), attention=gather), Block(ffn=f2.blocks[0], attention=read)
    att = UniformAttention(moves=((c["sid"], c["phi"], 1),), kind=opts.attention, causal=opts.causal)
    return (Block(ffn=f2.blocks[0], attention=att),)


def _mixing_name(opts: CompileOptions) -> str:
    return "pool" if opts.multiset else "recurrence" if opts.recurrent else "attention"


def assemble(f1: TokenLayer, f2: LineMemorizer | HashedMemorizer, coords: tuple[str, ...], setting: Setting, sizes: DataSummary,
             opts: CompileOptions) -> ExactModel:
    """E_in, F1's blocks, the attention (sid <- mean phi) fused with F2's first block, F2, E_out = y.
    Deep Sets pools instead; sparse attention adds the register and a second attention layer."""
    c = {name: i for i, name in enumerate(coords)}
    mixing = _mixing(f2, c, opts)
    blocks = (*f1.blocks, *mixing, *(Block(ffn=f) for f in f2.blocks[1:]))
    roles = (RoleRecord.of("F2", len(f1.blocks) + len(mixing) - 1, f2.plan.stage2, f2.plan.k, f2.tags,
                           [g.lo for g in f2.plan.groups], [g.hi for g in f2.plan.groups])
             if isinstance(f2, LineMemorizer) else None)  # the hashed memorizer's slots are shared: no per-group units
    record = ModelRecord(
        options=CompileChoices(mode=opts.mode, seed=opts.seed, bit_budget=opts.bit_budget, positions=opts.positions,
                               causal=opts.causal, attention=opts.attention, objective=opts.chosen_objective, arch=opts.arch),
        data=sizes,
        stages=StageDepths.of(phi=len(f1.blocks), **{_mixing_name(opts): len(mixing)}, F2=len(f2.blocks) - 1),
        plan=f2.plan_summary(),
        F1=f1.plan, roles=roles)
    layer = dataclasses.replace(f1.layer, register=True) if opts.sparse else f1.layer
    return ExactModel(coords=coords, input=layer, blocks=blocks, output=c["y"],
                      setting=ModelSetting.multiset if opts.multiset else ModelSetting(setting), record=record)
