"""Exact executor: runs an `ExactModel` on a batch with integer arithmetic only; no float on the path.

The stream is held as integer numerators over one common denominator `den` (the input's dyadic scale
times the attention's window length), so every FFN step is integer arithmetic, vectorised over examples:
int64 where a bound proves it cannot overflow, Python ints (object arrays) where it might. A coordinate
that is still exactly zero is held as None and costs nothing.

Eight exact savings, none of which skips a weight of the model:
- blocks before the first attention are token-wise, so they run once per distinct input token and the
  result is gathered back to every position;
- blocks after the last attention are token-wise too, so they run only at the positions that are read;
- there, a coordinate of big integers that takes few distinct values (the memorizer's crafted integers U
  and W hold one value per group, whatever the example) is dictionary-encoded (`Coded`: a code per column
  and the distinct values), and a unit that reads only such coordinates computes once per distinct value
  (a column whose fixed sample of 1024 values barely repeats is not tried: a sum of three registers picked
  by three hashes has a value per example);
- a block's writes are summed per (coordinate, |weight|) first, so the four ramps of a group's indicator,
  which write one big integer with weights +-A and cancel outside the group, form that big product only on
  the columns where their small signed sum is not zero (added there in place); and a step pair, relu(p) -
  relu(p - 1) with opposite writes (a bit extraction's comparison), is one clip(p, 0, 1) (`ir/ffnstep`);
- a run of blocks whose units each read one coordinate that the run never writes (the memorizer's group
  indicators on t) is evaluated through the units' sorted breakpoints and prefix sums (`ramps`): one
  search per column instead of one product per unit;
- a run of blocks whose units each read one coordinate, all of them functions of one key coordinate (the
  hashed memorizer's Stage II on its slot index), is evaluated as piecewise-affine functions of the key
  (`piecewise`): once per unit on a few pieces, the registers it writes evaluated on the columns at the end;
- the output is compared as numerators (y * den == label * den), never divided.
`run(..., fast=False)` turns the last five off: the plain path, kept as the reference that tests compare with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..vocab import HookEvent, InputKind, ModelSetting, ReadAt, WindowPattern
from . import piecewise, ramps
from .columns import dense, encode, take
from .columns import fit as _fit
from .ffnstep import _add, _scaled, run_ffn
from .layers import FFN, ExactModel, UniformAttention
from .numbers import exact_dyadic


@dataclass(frozen=True)
class ExactOutput:
    """Outputs y = numerators / den at the read positions: numerators is an object array [B, reads]."""

    numerators: np.ndarray
    den: int

    def values(self) -> np.ndarray:
        """Exact outputs as ints where integral, else as Fractions."""
        from fractions import Fraction

        den = self.den
        flat = [n // den if n % den == 0 else Fraction(n, den) for n in self.numerators.ravel()]
        return np.array(flat, dtype=object).reshape(self.numerators.shape)

    def equals(self, labels: np.ndarray) -> np.ndarray:
        """Boolean mask: output exactly equal to the integer label (compares numerators)."""
        lab = np.asarray(labels).astype(object).reshape(self.numerators.shape)
        return np.asarray(self.numerators == lab * self.den, dtype=bool)


def run_attention(stream: list, att: UniformAttention, den: int, batch: int, n: int) -> tuple[list, int]:
    """Uniform attention on [batch*n] columns; returns the stream over the new denominator. The register
    patterns put the register at column 0 of each example and its n - 1 real tokens after it."""
    scale = (math.lcm(*range(1, n + 1)) if att.causal else n - 1 if att.pattern == WindowPattern.gather
             else 1 if att.pattern == WindowPattern.read else n)
    new = [None if z is None else _scaled(z, scale) for z in stream]
    for out, inp, w in att.moves:
        z = stream[inp]
        if z is None:
            continue
        z = z.astype(object).reshape(batch, n)  # sums over n positions: exact in objects, then fitted back
        if att.causal:
            weights = np.array([scale // k for k in range(1, n + 1)], dtype=object)
            mixed = np.cumsum(z, axis=1) * weights
        elif att.pattern == WindowPattern.gather:  # r averages the real tokens; a real token's one key is r
            mixed = np.repeat(z[:, :1] * scale, n, axis=1)
            mixed[:, 0] = z[:, 1:].sum(axis=1)
        elif att.pattern == WindowPattern.read:  # every position's one key is r
            mixed = np.repeat(z[:, :1], n, axis=1)
        else:
            mixed = np.repeat(z.sum(axis=1, keepdims=True), n, axis=1)
        new[out] = _add(new[out], _scaled(_fit(mixed.reshape(-1)), w))
    return new, den * scale


def run_recurrence(stream: list, moves: tuple[tuple[int, int], ...], batch: int, n: int) -> list:
    """The identity recurrence h_k = h_{k-1} + x_k, unrolled: position k of `out` gains the prefix sum of `in`."""
    new = list(stream)
    for out, inp in moves:
        if stream[inp] is not None:
            h = np.cumsum(stream[inp].astype(object).reshape(batch, n), axis=1).reshape(-1)
            new[out] = _add(new[out], _fit(h))
    return new


def run_pool(stream: list, batch: int, n: int) -> list:
    """Deep Sets' sum pooling: every position of an example gets the sum of its stream over the positions."""
    out: list[np.ndarray | None] = []
    for z in stream:
        if z is None:
            out.append(None)
            continue
        total = z.astype(object).reshape(batch, n).sum(axis=1, keepdims=True)
        out.append(_fit(np.repeat(total, n, axis=1).reshape(-1)))
    return out


def embed(model: ExactModel, tokens: np.ndarray) -> tuple[list, int]:
    """E_in on a 2-D array of distinct tokens: rows are table rows ([T]) or vectors ([T, d(+1)])."""
    layer = model.input
    m = len(model.coords)
    if layer.kind == InputKind.ids:
        table = np.array(layer.table, dtype=object)
        codes = np.asarray(tokens, dtype=np.int64)
        if layer.pos_table:
            n = len(layer.pos_table)
            rows = table[codes // n] + np.array(layer.pos_table, dtype=object)[codes % n]
        else:
            rows = table[codes]
        stream = [None if not rows[:, c].any() else _fit(rows[:, c].copy()) for c in range(m)]
        return stream, 1
    num, den = exact_dyadic(np.asarray(tokens, dtype=np.float64))
    weights = np.array(layer.weights, dtype=object)
    stream = []
    for c in range(m):
        row = weights[c]
        stream.append(None if not any(row) else _fit(num.dot(row)))
    return stream, den


def token_rows(model: ExactModel, inputs: np.ndarray) -> np.ndarray:
    """Flatten [B, n(, d)] inputs to one row per position, joining positions when the model uses them. A
    model with a register gets one more position in front: table row 0 or the zero vector, both E_in = 0."""
    layer = model.input
    batch, n = inputs.shape[0], inputs.shape[1]
    if layer.kind == InputKind.ids:
        rows = layer.rows(inputs)
        if layer.pos_table:  # the additive form: a column is the pair (row, position), coded row * n + k
            rows = rows * n + np.arange(n)[None, :]
        if layer.register:
            rows = np.concatenate([np.zeros((batch, 1), dtype=rows.dtype), rows], axis=1)
        return rows.reshape(-1)
    vec = np.asarray(inputs, dtype=np.float64).reshape(batch, n, -1)
    if layer.positions:
        pos = np.broadcast_to(np.arange(n, dtype=np.float64)[None, :, None] * layer.position_scale, (batch, n, 1))
        vec = np.concatenate([vec, pos], axis=2)
    if layer.register:
        vec = np.concatenate([np.zeros((batch, 1, vec.shape[2])), vec], axis=1)
    return vec.reshape(-1, vec.shape[2])


def read_positions(model: ExactModel) -> ReadAt:
    """Where a model's outputs are read: every position for seq2seq, the last one otherwise."""
    return ReadAt.all if model.setting == ModelSetting.seq2seq else ReadAt.last


Hook = Callable[[HookEvent, int, list, int, np.ndarray], None]


def _ffn_observed(hook, index: int, stream: list, ffn: FFN, den: int, size: int) -> list:
    """run_ffn, and, for a hook with an `after_ffn` method, hand it the stream before and after and the
    units' activations (so that it need not run the block again)."""
    if hook is None or not hasattr(hook, "after_ffn"):
        return run_ffn(stream, ffn, den, size)
    hidden: list = []
    after = run_ffn(stream, ffn, den, size, hidden)
    hook.after_ffn(index, stream, after, den, hidden)
    return after


def run(model: ExactModel, inputs: np.ndarray, read: str | np.ndarray = ReadAt.last, hook: Hook | None = None,
        fast: bool = True) -> ExactOutput:
    """Run the model exactly. `inputs`: points [B, d] (plain network), vectors [B, n, d] or ids [B, n].

    `read`: "last" (next-token), "all" (seq2seq) or an explicit array of positions. `hook`, when given,
    sees the stream before every step: hook("embed", -1, token rows, 1, rows), then hook("attention",
    "pool", "recur" or "ffn", block index, stream, den, rows), and, if it has a method `after_ffn`, after each
    FFN: hook.after_ffn(block index, stream before, stream after, den, unit activations). It observes the run
    (magnitudes for the float64 check) and changes nothing.
    """
    inputs = np.asarray(inputs)
    if model.setting == ModelSetting.points:
        inputs = inputs[:, None] if model.input.kind == InputKind.ids else inputs[:, None, :]
    batch, n = inputs.shape[0], inputs.shape[1]
    if model.input.positions and n != model.input.seq_len:
        raise ValueError(f"model was built for sequences of length {model.input.seq_len}, got {n}")
    rows = token_rows(model, inputs)
    positions = _read_positions(read, n)
    if model.input.register:  # read positions count real tokens; the register sits in front
        positions, n = positions + 1, n + 1
    att_at = [i for i, b in enumerate(model.blocks) if b.mixes]
    first_att, last_att = (att_at[0], att_at[-1]) if att_at else (len(model.blocks), -1)
    fast = fast and hook is None  # an observer sees plain arrays
    stream, den = _token_prefix(model, rows, first_att, hook, fast)
    stream, den = _mixing(model, stream, den, rows, range(first_att, last_att + 1), batch, n, hook)
    cols = (np.arange(batch)[:, None] * n + positions[None, :]).reshape(-1)
    stream = [take(z, cols) for z in stream]
    stream = _read_suffix(model, stream, den, rows, max(last_att + 1, first_att), len(cols), hook, fast)
    y = dense(stream[model.output])
    y = np.zeros(len(cols), dtype=object) if y is None else y.astype(object)  # Python ints out, whatever the path
    return ExactOutput(numerators=y.reshape(batch, len(positions)), den=den)


def _read_positions(read: str | np.ndarray, n: int) -> np.ndarray:
    """The positions `read` names among n tokens (before the register shifts them)."""
    if isinstance(read, str):
        return np.array([n - 1]) if read == ReadAt.last else np.arange(n)
    return np.asarray(read)


def _token_prefix(model: ExactModel, rows: np.ndarray, first_att: int, hook: Hook | None, fast: bool) -> tuple[list, int]:
    """The blocks before the first mixing step, run once per distinct token, then spread to every
    (example, position) column: a token's stream before any mixing depends on the token alone."""
    see = hook or (lambda *_: None)
    if rows.ndim == 1:
        uniq, inverse = np.unique(rows, return_inverse=True)
    else:
        uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    see(HookEvent.embed, -1, [], 1, uniq)
    stream, den = embed(model, uniq)
    prefix = ramps.runs(model.blocks[:first_att], 0) if fast else {}
    i = 0
    while i < first_att:
        if i in prefix:
            stream = ramps.run_ramps(stream, list(model.blocks[i : prefix[i]]), den, len(uniq), _add)
            i = prefix[i]
            continue
        see(HookEvent.ffn, i, stream, den, uniq)
        stream = _ffn_observed(hook, i, stream, model.blocks[i].ffn, den, len(uniq))
        i += 1
    inverse = inverse.reshape(-1)
    return [take(dense(z), inverse) for z in stream], den  # the mixing layers take plain columns


def _mixing(model: ExactModel, stream: list, den: int, rows: np.ndarray, blocks: range, batch: int, n: int,
            hook: Hook | None) -> tuple[list, int]:
    """The blocks from the first mixing step to the last, on every (example, position) column."""
    see = hook or (lambda *_: None)
    for i in blocks:
        block = model.blocks[i]
        if block.attention is not None:
            see(HookEvent.attention, i, stream, den, rows)
            stream, den = run_attention(stream, block.attention, den, batch, n)
        if block.pool:
            see(HookEvent.pool, i, stream, den, rows)
            stream = run_pool(stream, batch, n)
        if block.recur:
            see(HookEvent.recur, i, stream, den, rows)
            stream = run_recurrence(stream, block.recur, batch, n)
        see(HookEvent.ffn, i, stream, den, rows)
        stream = _ffn_observed(hook, i, stream, block.ffn, den, batch * n)
    return stream, den


def _repeats(z: np.ndarray) -> bool:
    """Whether an object column may have few enough distinct values to be worth encoding: a fixed sample of
    1024 columns repeats at least 3% of the time (a column of N distinct values, a sum of three registers
    chosen by three hashes, say, is not tried: trying costs a pass of dictionary lookups per block)."""
    if len(z) <= 4096:
        return True
    sample = z[np.linspace(0, len(z) - 1, 1024).astype(np.int64)]
    return len(set(sample.tolist())) < 1000


def _read_suffix(model: ExactModel, stream: list, den: int, rows: np.ndarray, start: int, size: int,
                 hook: Hook | None, fast: bool) -> list:
    """The blocks after the last mixing step, on the read columns only (nothing mixes them any more)."""
    see = hook or (lambda *_: None)
    tried: dict[int, int] = {}  # coordinate -> id of the column that did not encode (not tried again)
    merged = ramps.runs(model.blocks, start) if fast else {}
    i = start
    while i < len(model.blocks):
        if i in merged:
            stream = ramps.run_ramps(stream, list(model.blocks[i : merged[i]]), den, size, _add)
            i = merged[i]
            continue
        done = piecewise.run(stream, model.blocks, i, den, size, _add) if fast else None
        if done is not None:
            stream, i = done
            continue
        block = model.blocks[i]
        i += 1
        see(HookEvent.ffn, i - 1, stream, den, rows)
        if fast:  # big integers that a unit reads and that repeat across examples: once per distinct value
            for c in {c for unit in block.ffn.units for c, _ in unit.reads}:
                z = stream[c]
                if isinstance(z, np.ndarray) and z.dtype == object and len(z) >= 64 and tried.get(c) != id(z):
                    stream[c] = encode(z) if _repeats(z) else z
                    tried[c] = id(z)
        stream = _ffn_observed(hook, i - 1, stream, block.ffn, den, size) if hook else run_ffn(stream, block.ffn, den, size, fast=fast)
    return stream
