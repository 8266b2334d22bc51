"""Follow one example through a built Transformer: the path of Theorem 4.1 on the user's own data.

The exact executor runs the example with a hook that records the stream before every step; from it the
trace reads what each stage produced: the token values f (phi) and current-token ids F at every position,
the attention's mean of phi (the sequence id SID = n * mean), the F2 memorizer's projected value t of the
context, the group whose crafted integers were added, the chunk whose gate opened, and the label read out.
Nothing is recomputed by another path: every number is a value of the model's own stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import outputs
from .construct.retrieval import as_uint64, hash_all
from .construct.roles import RoleRecord, UnitRole
from .data import Dataset
from .ir.columns import columns
from .ir.executor import run, token_rows
from .ir.ffnstep import run_ffn
from .ir.layers import ExactModel
from .vocab import HookEvent, InputKind, ModelSetting, Stage2


@dataclass(frozen=True)
class Trace:
    lines: tuple[str, ...]
    coords: tuple[str, ...]
    depth_values: np.ndarray  # [blocks + 1, m] object (Fractions): the stream at the read position before each block, and the output

    def plot(self, path: str | Path) -> Path:
        """The stream's coordinates over depth (signed log2 scale), one row per coordinate."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        v = np.array([[float(x) for x in row] for row in self.depth_values], dtype=np.float64).T
        img = np.sign(v) * np.log2(1 + np.abs(v))
        fig, ax = plt.subplots(figsize=(min(16, 4 + v.shape[1] / 25), 0.35 * len(self.coords) + 1.5))
        lim = max(1.0, float(np.abs(img).max()))
        im = ax.imshow(img, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_yticks(range(len(self.coords)), self.coords)
        ax.set_xlabel("block (stream before it; last column: output)")
        ax.set_title("stream at the read position over depth: sign(z) log2(1 + |z|)")
        fig.colorbar(im, ax=ax, label="sign(z) log2(1 + |z|)")
        fig.tight_layout()
        outputs.save_figure(fig, path, dpi=110)
        plt.close(fig)
        return Path(path)


class _Recorder:
    def __init__(self, model: ExactModel, first_att: int, read_pos: int, token_col: int):
        self.model, self.first_att, self.read_pos, self.token_col = model, first_att, read_pos, token_col
        self.before: dict[int, list] = {}  # block -> stream values (Fractions) at the read column
        self.positions: dict[str, list] = {}  # coordinate -> values at every position, just before the attention
        self.hidden: dict[int, list] = {}  # block -> unit activations (Fractions) at the read column
        self.last: list = []

    def __call__(self, event: HookEvent, index: int, stream: list, den: int, rows: np.ndarray) -> None:
        if event == HookEvent.embed:
            return
        m = len(self.model.coords)
        size = columns(stream)
        phase1 = not self.model.blocks[index].mixes and index < self.first_att
        if event in (HookEvent.attention, HookEvent.pool, HookEvent.recur):
            if not self.positions:  # before the first mixing step: the token values at every position
                self.positions = {c: [_val(stream[self.model.coord(c)], j, den) for j in range(size)]
                                  for c in ("phi", "F") if c in self.model.coords}
            return
        col = self.token_col if phase1 else (self.read_pos if size > 1 else 0)
        self.before[index] = [_val(stream[c], col, den) for c in range(m)]
        hidden: list = []
        after = run_ffn([None if z is None else z[col:col + 1] for z in stream], self.model.blocks[index].ffn, den, 1, hidden)
        self.hidden[index] = [Fraction(0) if h is None else Fraction(int(h[0]), den) for h in hidden]
        self.last = [_val(z, 0, den) for z in after]


def _val(z, j: int, den: int) -> Fraction:
    return Fraction(0) if z is None else Fraction(int(z[j]), den)


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x} (= {float(x):.6g})"


def explain(model: ExactModel, ds: Dataset, example: int, position: int | None = None) -> Trace:
    """Trace example `example` (its read position: the last for next-token, `position` or 0 for seq2seq)."""
    x = ds.inputs[example : example + 1]
    n = x.shape[1]
    pos = n - 1 if model.setting != ModelSetting.seq2seq else (position or 0)
    reg = int(model.input.register)  # the register's column comes first
    att_at = [i for i, b in enumerate(model.blocks) if b.mixes]
    first_att = att_at[0] if att_at else len(model.blocks)
    rec = _Recorder(model, first_att, pos + reg, _token_column(model, x, pos + reg))
    out = run(model, x, read=np.array([pos]), hook=rec)
    y = Fraction(int(out.numerators[0, 0]), out.den)
    label = int(ds.labels[example] if ds.labels.ndim == 1 else ds.labels[example, pos])
    lines = _input_lines(model, ds, example, pos, label) + _mixing_lines(model, rec, first_att, n, pos, reg)
    f2 = att_at[-1] if att_at else first_att
    stage_t = rec.before.get(f2 + 1)
    if stage_t is not None:
        t = stage_t[model.coord("t")]
        what = "the multiset's SID" if model.setting == ModelSetting.multiset else "the context (F, SID)"
        lines.append(f"3. F2 Stage I: {what} projected to one line: t = {_fmt(t)}, floor(t) = {t.numerator // t.denominator}")
    plan = model.group_plan
    if plan and plan.stage2 == Stage2.hashed and stage_t is not None:
        lines += _hashed_lines(model, rec, f2, stage_t[model.coord("t")])
        y = rec.last[model.coord("y")]
    else:
        lines += _memorizer_lines(model, rec, f2)
    lines.append(f"6. output y = {_fmt(y)} -> {'the label, exactly' if y == label else f'NOT the label {label}'}")
    depth = [rec.before.get(b, [Fraction(0)] * len(model.coords)) for b in range(len(model.blocks))] + [rec.last]
    return Trace(lines=tuple(lines), coords=model.coords, depth_values=np.array(depth, dtype=object))


def _token_column(model: ExactModel, x: np.ndarray, col: int) -> int:
    """Before the attention the executor runs once per distinct token: the column of the token at `col`."""
    rows = token_rows(model, x)
    uniq = np.unique(rows, axis=0) if rows.ndim > 1 else np.unique(rows)
    hit = (uniq == rows[col]).all(axis=1) if uniq.ndim > 1 else uniq == rows[col]
    return int(np.flatnonzero(hit)[0])


def _input_lines(model: ExactModel, ds: Dataset, example: int, pos: int, label: int) -> list[str]:
    """The example, and step 1: how its tokens entered the stream (the embedding table, or F1)."""
    x = ds.inputs[example : example + 1]
    what = "token ids " + str(ds.inputs[example].tolist()) if ds.kind == InputKind.ids else f"{x.shape[1]} token vectors"
    lines = [f"example {example}: {what}; label {label} ({model.setting}, read at position {pos})"]
    if ds.kind == InputKind.ids:
        r = model.input.rows(x)[0]
        lines.append(f"1. embedding (Theorem E.1): table rows {r.tolist()} (0 = an id never seen)" +
                     (" of (token, position) pairs" if model.input.positions else ""))
    else:
        lines.append(f"1. F1 (Stage I + phi~ memorizer, {model.stages['phi']} blocks): token values from the stream")
    return lines


def _mixing_lines(model: ExactModel, rec: _Recorder, first_att: int, n: int, pos: int, reg: int) -> list[str]:
    """The token values at every position, and step 2: how the mixing step made the sequence id."""
    if not rec.positions:
        return []
    phi, F = rec.positions.get("phi", [])[reg:], rec.positions.get("F", [])[reg:]
    lines = [f"   token values f (phi) per position: {[_fmt(v) for v in phi]}"]
    if model.setting != ModelSetting.multiset:
        lines.append(f"   current-token ids F per position:  {[_fmt(v) for v in F]}")
    first = model.blocks[first_att]
    sid = sum(phi, Fraction(0)) / n
    if first.pool:
        lines.append(f"2. Deep Sets sum pooling (no attention): pooled phi = SID = sum of phi = {_fmt(sid * n)}")
    elif first.recur:
        lines.append(f"2. identity recurrence h_k = h_(k-1) + phi(x_k) over {n} sequential steps: h_n = SID = {_fmt(sid * n)}")
    elif reg:
        lines.append(f"2. sparse attention: the register averages the {n} tokens' phi ({2 * n} connections), then every "
                     f"token reads the register ({n + 1}): sid = {_fmt(sid)}; sequence id SID = n * sid = {_fmt(sid * n)}")
    elif first.attention is not None and not first.attention.causal:
        lines.append(f"2. uniform attention (W_Q = 0, weight 1/{n} each): sid = mean of phi = {_fmt(sid)}; "
                     f"sequence id SID = n * sid = {_fmt(sid * n)}")
    else:
        lines.append(f"2. causal uniform attention: position {pos} averages its prefix of {pos + 1} tokens")
    return lines


def _memorizer_lines(model: ExactModel, rec: _Recorder, f2: int) -> list[str]:
    """Steps 4-5 for a line memorizer: the group whose crafted integers were added, and the chunk whose
    gate opened. The construction's record of its units' roles says which units those are; a model file
    written before the record existed is read by the units' shapes instead."""
    record = model.record.roles
    k: int | None
    if record is not None:
        matched, groups, k = _match_by_roles(model, rec, record)
        gates = _gates_by_roles(record)
    else:
        matched, groups, k = _match_by_shapes(model, rec, f2)
        gates = _gates_by_shapes(model, f2)
    c = model.coord
    if matched:
        gi, blk, _ = matched
        after = rec.before.get(blk + 1, rec.last)
        lines = [f"4. F2 Stage II: group {gi} of {groups} (at most k = {k} points each) matched t in block {blk}: its crafted integers "
                 f"U = {after[c('U')].numerator} ({after[c('U')].numerator.bit_length()} bits of address deltas) and "
                 f"W = {after[c('W')].numerator} ({after[c('W')].numerator.bit_length()} bits of labels) were added"]
    else:
        lines = [f"4. F2 Stage II: no group of {groups} matched t: the output stays 'no label'"]
    opened = [i for i, b in enumerate(gates) if (rec.before.get(b + 1, rec.last))[c("g")] == 1]
    if opened:
        i = opened[0]
        lines.append(f"5. F2 Stage III: bit extraction read the chunks of U and W; chunk {i} of the group matched "
                     f"(D = t - floor(t_{i}) in [0, 1], gate opened in block {gates[i]}) and added its stored label")
    else:
        lines.append("5. F2 Stage III: no chunk's gate opened")
    return lines


Match = tuple[int, int, int] | None  # (group, block where its integers were added, net indicator), or None


def _match_by_roles(model: ExactModel, rec: _Recorder, record: RoleRecord) -> tuple[Match, int, int]:
    """The group whose crafted integers reached the stream, from the units the record says add them."""
    units = record.units()
    if record.stage2 == Stage2.telescoped:
        # one step pair per group start: t's group is the last step that t reached (the end step: none)
        pairs: dict[int, list[UnitRole]] = {}
        for u in units:
            if u.role == "step":
                pairs.setdefault(u.group, []).append(u)
        on = [g for g, (up, down) in sorted(pairs.items())
              if rec.hidden[up.block][up.unit] - rec.hidden[down.block][down.unit] != 0]
        return ((on[-1], pairs[on[-1]][0].block, 1) if on and on[-1] < record.groups else None), record.groups, record.k
    # the group's trapezoid ramps (or, float-safe, its product unit) net 1 where t lies in the group, else 0
    adds = "indicator" if record.stage2 == Stage2.trapezoid else "product"
    per_group: dict[int, list[UnitRole]] = {}
    for u in units:
        if u.role == adds:
            per_group.setdefault(u.group, []).append(u)
    for g, group_units in sorted(per_group.items()):
        net = sum(_w_sign(model, u.block, u.unit) * rec.hidden[u.block][u.unit] for u in group_units if u.block in rec.hidden)
        if net != 0:
            return (g, group_units[0].block, net), record.groups, record.k
    return None, record.groups, record.k


def _gates_by_roles(record: RoleRecord) -> list[int]:
    """The block of each Stage III chunk's gate, chunk by chunk."""
    block: dict[int, int] = {}
    for u in record.units():
        if u.role == "gate":
            block.setdefault(u.chunk, u.block)
    return [block[i] for i in sorted(block)]


def _w_sign(model: ExactModel, b: int, u: int) -> int:
    return 1 if dict(model.blocks[b].ffn.units[u].writes).get(model.coord("W"), 0) > 0 else -1


def _match_by_shapes(model: ExactModel, rec: _Recorder, f2: int) -> tuple[Match, int, int | None]:
    """A model file without a role record: the adding units found by their shapes (they write W and do
    not read it; telescoped steps read t alone)."""
    c = model.coord
    f2_blocks = range(f2, len(model.blocks))
    W = c("W")
    adders = [(b, u) for b in f2_blocks for u, unit in enumerate(model.blocks[b].ffn.units)
              if any(cc == W for cc, _ in unit.writes) and all(cc != W for cc, _ in unit.reads)]
    per = 1 if "i0" in model.coords else 4
    matched = None
    plan = model.group_plan
    if plan and plan.stage2 == Stage2.telescoped:
        steps = [(b, u) for b in f2_blocks for u, unit in enumerate(model.blocks[b].ffn.units) if unit.reads == ((c("t"), 4),)]
        on = [j for j in range(len(steps) // 2) if rec.hidden[steps[2 * j][0]][steps[2 * j][1]]
              - rec.hidden[steps[2 * j + 1][0]][steps[2 * j + 1][1]] != 0]
        if on and on[-1] < plan.groups:
            matched = (on[-1], steps[2 * on[-1]][0], 1)
    else:
        for g in range(0, len(adders), per):
            net = sum(_w_sign(model, b, u) * rec.hidden[b][u] for b, u in adders[g : g + per] if b in rec.hidden)
            if net != 0:
                matched = (g // per, adders[g][0], net)
                break
    groups, k = (plan.groups, plan.k) if plan else (len(adders) // per, None)
    return matched, groups, k


def _gates_by_shapes(model: ExactModel, f2: int) -> list[int]:
    """A model file without a role record: the gate blocks are those that read D and write g."""
    c = model.coord
    return [b for b in range(f2, len(model.blocks))
            if any(cc == c("g") for unit in model.blocks[b].ffn.units for cc, _ in unit.writes)
            and any(cc == c("D") for unit in model.blocks[b].ffn.units for cc, _ in unit.reads)]


def _hashed_lines(model: ExactModel, rec, f2: int, t: Fraction) -> list[str]:
    """Steps 4-5 for the bits objective's hashed F2: the three slots that t hashes to (from the model's
    recorded multipliers) and the values the stream's y gained at each lookup, read from the stream."""
    plan = model.record.plan
    assert plan is not None and plan.table is not None, "a hashed F2 records its table"
    S, G, w, C = plan.table.segment, plan.k, plan.table.hash_bits, plan.table.modulus
    key = int(t)
    slots = hash_all(as_uint64([key >> plan.table.key_shift]), plan.table.multipliers, w, S, plan.table.offset_group)[0] - np.arange(3) * S
    y = model.coord("y")
    after = [0] + [rec.before.get(f2 + end + 1, rec.last)[y] for end in plan.table.lookup_ends]
    gained = [int(b - a) for a, b in zip(after, after[1:], strict=False)]
    where = ", ".join(f"segment {i}: slot {h} (group {h // G}, chunk {h % G})" for i, h in enumerate(slots))
    head = (f"4. F2 hashed retrieval: t = {key} is hashed (multiply-shift, w = {w}) to one slot in each of three segments of "
            f"{S} slots: {where}; Stage II adds each slot's group register (groups of {G} slots)")
    if plan.table.offset_group:  # one readout of the three registers' sum
        return [head + ", the three into one register; Stage III reads their common chunk",
                f"5. the chunk holds the three stored values' sum, {sum(gained)}, and mod {C} that is the output"]
    return [head + ", Stage III reads its chunk",
            f"5. the three stored values {gained[:3]} sum to {sum(gained[:3])}, and mod {C} that is the output"]
