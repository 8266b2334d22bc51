"""The hashed memorizer of the bits objective (docs/construction.md#the-bits-objective-a-retrieval-table): a
retrieval table (construct.retrieval) read by exact-integer ReLU blocks. It stores the values, never the
keys, so its output off the data is arbitrary: use it only where that is allowed (F2, rho~), never for the
phi~ memorizer, which must give 0 to every other token.

Per lookup i = 1, 2, 3 (all in the same few coordinates, one after another):
  hash      X <- a_i t, X mod 2^w by step pairs at 2^(w+p), X <- S X, then the quotient
            D <- floor(X / 2^w) = h_i(t) by step pairs at 2^(w+p). Invariant: D = h_i(t).
  Stage II  groups of G consecutive slots; step j at slot j G writes +[D >= jG] to slot j and -[D >= jG]
            to slot j - 1, so slot g holds group g's indicator once both its steps have run; one unit per
            group, relu(slot g), adds the group's registers (its G table values as base-C digits, split in
            `parts` registers U, W) and clears the slot. D is shifted by a constant every block, so each
            step's bias is 0, 1, -G or 1 - G instead of as wide as S. Invariant after it: U, W hold the
            registers of t's group, every slot is 0.
  mod G     D <- D mod G (step pairs at G 2^p): t's slot inside its group.
  Stage III each register part is read in its own digit and gate coordinates, the two parts side by
            side: chunk c of the part (top first) is read digit by digit, binary long division by 2^q C^p,
            into cw; the part's gate g = 2^r |D - c| is 0 only on chunk D (set once, then stepped from c to
            c + 1 by one step pair), and y += relu(cw - g) adds that chunk's value alone. Invariant after
            it: y gained T_i[h_i(t)], U, W, the digits, the gates, X and D are 0.
Combine: y in [0, 3C - 3] -> y mod C = y - C [y >= C] - C [y >= 2C] (two step pairs).

Shared offset (the table's offset_group = G; C prime): the three slots of t share their offset inside a group,
so the three groups' registers can simply be added and read once. Lookups 2 and 3 run first and only hash
to a group, D <- G floor(((a_i t) mod 2^w) (S / G) / 2^w), run Stage II (adding their group's registers to U,
W), then clear D and X in one block; lookup 1 runs as above, and its Stage III reads chunk D of the sum.
The registers hold base-B digits, B = 3C - 2, so that a sum of three digits never carries into the next:
one Stage III and one mod G instead of three, for a table about log2(3C - 2) / log2 C times as wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.layers import FFN, Unit
from ..ir.record import HashedTable, PlanSummary
from ..vocab import Stage2
from .retrieval import Table


@dataclass(frozen=True)
class Coords:
    """The stream coordinates the hashed memorizer uses (indices): t, X (hash scratch, cleared in Stage
    III's first block), D (slot index), registers U, W, four slots (Stage II's indicators; in Stage III
    slots 0 and 2 are the digits of the two registers, slots 1 and 3 their gates), y."""

    t: int
    X: int
    D: int
    regs: tuple[int, ...]
    slots: tuple[int, int, int, int]  # Stage II's; in Stage III (digit, gate) of part 0, then of part 1
    y: int

    def cw(self, part: int) -> int:
        """Stage III's digit of register part 0 (cw0) or 1 (cw1): one each, so that the executor's
        dictionary codes of a digit are those of its own register."""
        return self.slots[2 * part]

    def gate(self, part: int) -> int:
        """Stage III's gate of register part 0 (slot 1) or 1 (slot 3): the parts run side by side."""
        return self.slots[2 * part + 1]


@dataclass(frozen=True)
class HashedMemorizer:
    """The built memorizer: its table, group size G, register parts, blocks and each block's stage."""

    table: Table
    group: int
    parts: int
    digit_bits: int  # r: bits of one table value
    key_bits: int  # T: the keys t are below 2^T
    blocks: tuple[FFN, ...]
    block_stage: tuple[str, ...]  # the stage of each block: line, hash, groups, mod, extraction, combine

    def stage_bits(self) -> dict[str, int]:
        """Measured parameter bits per stage (every nonzero weight, bias and shift: its bit length), the
        product units' register writes counted apart as "table"."""
        out: dict[str, int] = {}
        for ffn, name in zip(self.blocks, self.block_stage, strict=True):
            for u in ffn.units:  # a product unit reads its slot and clears it last
                table = len(u.writes) > 1 and u.writes[-1] == (u.reads[0][0], -1) and len(u.reads) == 1
                stored = u.writes[:-1] if table else ()
                out["table"] = out.get("table", 0) + sum(_bits(w) for _, w in stored)
                out[name] = (out.get(name, 0) + sum(_bits(w) for _, w in u.writes[len(stored):])
                             + sum(_bits(w) for _, w in u.reads) + _bits(u.bias))
            out[name] = out.get(name, 0) + sum(_bits(w) for _, w in ffn.shift)
        return out

    def plan_summary(self) -> PlanSummary:
        """The plan as the model records it: the group size as k, and the retrieval table's shape."""
        lookup_ends = tuple(i for i, name in enumerate(self.block_stage[:-1])  # each lookup's last block
                            if name == "extraction" and self.block_stage[i + 1] != "extraction")
        table = HashedTable(self.parts, self.table.segment, self.table.modulus, self.table.attempt + 1, self.table.w,
                            tuple(self.table.multipliers), lookup_ends, self.table.offset_group, self.table.shift)
        return PlanSummary(self.group, 3 * self.table.segment // self.group, 0, self.digit_bits, Stage2.hashed, 1, table)


def _bits(x: int) -> int:
    return abs(int(x)).bit_length()


def _pair(read: int, thr: int, writes: tuple[tuple[int, int], ...]) -> list[Unit]:
    """[Z >= thr] on integers as relu(Z - thr + 1) - relu(Z - thr), each write weight w times that step."""
    return [Unit(reads=((read, 1),), bias=1 - thr, writes=writes),
            Unit(reads=((read, 1),), bias=-thr, writes=tuple((c, -w) for c, w in writes))]


def part_bounds(group: int, parts: int) -> list[int]:
    """Chunk index where each register part starts, and G at the end."""
    return [round(k * group / parts) for k in range(parts + 1)]


def registers(values: np.ndarray, C: int, group: int, parts: int) -> list[list[int]]:
    """Per group, its register parts: the part's table values as base-C digits (C: the register base),
    its first chunk on top."""
    bounds = part_bounds(group, parts)
    out = []
    for j in range(len(values) // group):
        chunk = values[j * group : (j + 1) * group]
        regs = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            r = 0
            for v in chunk[lo:hi]:
                r = r * C + int(v)
            regs.append(r)
        out.append(regs)
    return out


def _hash_blocks(c: Coords, a: int, S: int, w: int, key_bits: int, unit: int = 1) -> list[list[Unit]]:
    """X = a t on entry (< 2^(A + T), A the multiplier's bits): X mod 2^w by step pairs at 2^(w + p), then
    X <- S X (one unit), then D = unit floor(X / 2^w) by step pairs at 2^(w + p). Every value stays
    below 2^61 where the keys allow (the multiplier is chosen so), so the executor keeps int64 columns."""
    top = a.bit_length() + key_bits - w  # X < 2^(w + top)
    blocks = [_pair(c.X, 1 << (w + p), ((c.X, -(1 << (w + p))),)) for p in range(top - 1, -1, -1)]
    blocks.append([Unit(reads=((c.X, 1),), bias=0, writes=((c.X, S - 1),))])
    blocks += [_pair(c.X, 1 << (w + p), ((c.X, -(1 << (w + p))), (c.D, unit << p))) for p in range((S - 1).bit_length() - 1, -1, -1)]
    return blocks


def _stage2_blocks(c: Coords, regs: list[list[int]], G: int) -> tuple[list[list[Unit]], list[list[tuple[int, int]]]]:
    """Stage II's units and shifts per block. D enters as h - G; block b reads h - (2b + 1) G, so its steps
    (at slots 2b + 1 and 2b + 2) sit at relative 0 and G; the last block's shift restores D = h."""
    n = len(regs)
    slot = lambda j: c.slots[j % len(c.slots)]  # noqa: E731
    nblocks = (n - 1) // 2 + 2
    units: list[list[Unit]] = [[] for _ in range(nblocks)]
    shifts: list[list[tuple[int, int]]] = [[] for _ in range(nblocks)]
    shifts[0].append((slot(0), 1))  # step 0 is 1 on every slot index: a constant
    for b in range(nblocks):
        for j in (2 * b + 1, 2 * b + 2):
            if j < n:
                rel = j * G - (2 * b + 1) * G
                units[b] += _pair(c.D, rel, ((slot(j), 1), (slot(j - 1), -1)))
        for g in (2 * b - 2, 2 * b - 1):
            if 0 <= g < n:
                writes = tuple((reg, v) for reg, v in zip(c.regs, regs[g], strict=False) if v)
                units[b].append(Unit(reads=((slot(g), 1),), bias=0, writes=(*writes, (slot(g), -1))))
        shifts[b].append((c.D, -2 * G if b < nblocks - 1 else (2 * b + 1) * G))
    return units, shifts


def _mod_blocks(c: Coords, G: int, groups: int) -> list[list[Unit]]:
    return [_pair(c.D, G << p, ((c.D, -(G << p)),)) for p in range((groups - 1).bit_length() - 1, -1, -1)]


def _part_schedule(G: int, parts: int, r: int) -> list[tuple[int, int, int]]:
    """(first chunk, end chunk, first block) of each register part in Stage III. Two parts run side by side,
    the second r // 2 blocks later, so that each part's busy blocks (readout, gate step) fall on the other's
    quiet ones: with r = 4 every block holds 6 units, as many as a Stage II block."""
    bounds = part_bounds(G, parts)
    return [(bounds[k], bounds[k + 1], k * (r // 2)) for k in range(parts)]


def _stage3_blocks(c: Coords, G: int, parts: int, C: int, r: int) -> tuple[list[list[Unit]], list[list[tuple[int, int]]]]:
    """Per part: chunk by chunk, r blocks each, then one block that adds the part's last chunk. Chunk ch of
    the part is read into cw(k) by binary long division; the part's gate g_k = 2^r |D - ch| is set in the
    part's first block and stepped to the next chunk by 2^r - 2^(r + 1) [D >= ch + 1] (a step pair and a
    constant), one block after each readout; y += relu(cw - g_k) adds chunk D's value alone."""
    sched = _part_schedule(G, parts, r)
    out: list[list[Unit]] = [[] for _ in range(max(start + (hi - lo) * r + 1 for lo, hi, start in sched))]
    shifts: list[list[tuple[int, int]]] = [[] for _ in out]
    for k, (lo, hi, start) in enumerate(sched):
        reg, cw, g = c.regs[k], c.cw(k), c.gate(k)
        out[start] += [Unit(reads=((c.D, 1),), bias=-lo, writes=((g, 1 << r),))]  # relu(D - lo)
        if lo > 0:
            out[start].append(Unit(reads=((c.D, -1),), bias=lo, writes=((g, 1 << r),)))  # relu(lo - D)
        for ch in range(lo, hi):
            at = start + (ch - lo) * r
            for i, q in enumerate(range(r - 1, -1, -1)):
                thr = (1 << q) * C ** (hi - 1 - ch)
                out[at + i] += _pair(reg, thr, ((reg, -thr), (cw, 1 << q)))
            out[at + r] += [Unit(reads=((cw, 1), (g, -1)), bias=0, writes=((c.y, 1),)),
                            Unit(reads=((cw, 1),), bias=0, writes=((cw, -1),))]
            if ch < hi - 1:  # step the gate to chunk ch + 1 once the readout of ch has read it
                step = at + r + min(1, r - 1)
                out[step] += _pair(c.D, ch + 1, ((g, -(1 << (r + 1))),))
                shifts[step].append((g, 1 << r))
        out[start + (hi - lo) * r].append(Unit(reads=((g, 1),), bias=0, writes=((g, -1),)))
    return [list(u) for u in out], shifts


def register_base(table: Table) -> int:
    """The registers' digit base: C, or 3C - 2 where three registers are added before the one readout."""
    return 3 * table.modulus - 2 if table.offset_group else table.modulus


def _hash_and_groups(c: Coords, table: Table, i: int, G: int, parts: int, key_bits: int,
                     values: int, unit: int) -> list[tuple[str, list[Unit], list]]:
    """Lookup i's hash into D (`values` values, each times `unit`) and its Stage II, which adds the group's
    registers to U, W and leaves D as the hash made it."""
    hashing = _hash_blocks(c, table.multipliers[i], values, table.w + table.shift, key_bits, unit)
    out: list[tuple[str, list[Unit], list]] = [("hash", u, []) for u in hashing]
    out[-1][2].append((c.D, -G))  # Stage II's entry offset (the hash always has its scaling block)
    units, shifts = _stage2_blocks(c, registers(table.values[i], register_base(table), G, parts), G)
    return out + [("groups", u, sh) for u, sh in zip(units, shifts, strict=True)]


def _groups_only(c: Coords, table: Table, i: int, G: int, parts: int, key_bits: int, next_a: int) -> list[tuple[str, list[Unit], list]]:
    """Lookup i of a shared-offset table: D = G g_i(t), Stage II adds the group's registers, then one block
    clears D and X (the remainder) and loads X = next_a t for the next lookup."""
    out = _hash_and_groups(c, table, i, G, parts, key_bits, table.segment // G, G)
    clear = [Unit(reads=((c.D, 1),), bias=0, writes=((c.D, -1),)), Unit(reads=((c.X, 1),), bias=0, writes=((c.X, -1),)),
             Unit(reads=((c.t, 1),), bias=0, writes=((c.X, next_a),))]
    return [*out, ("hash", clear, [])]


def _lookup(c: Coords, table: Table, i: int, G: int, parts: int, key_bits: int) -> list[tuple[str, list[Unit], list]]:
    """One lookup's blocks as (stage, units, shifts), X = a_i t already loaded; the last block is the
    extraction's final add, which also clears D."""
    S, B = table.segment, register_base(table)
    out = _hash_and_groups(c, table, i, G, parts, key_bits, S, 1)
    out += [("mod", u, []) for u in _mod_blocks(c, G, S // G)]
    stage3, shifts3 = _stage3_blocks(c, G, parts, B, (B - 1).bit_length())
    # the division's remainder (< 2^w) is cleared here, not in Stage II, whose units then read only D and
    # the slots: a function of D, which the executor evaluates piecewise
    stage3[0].append(Unit(reads=((c.X, 1),), bias=0, writes=((c.X, -1),)))
    stage3[-1].append(Unit(reads=((c.D, 1),), bias=0, writes=((c.D, -1),)))
    return out + [("extraction", u, sh) for u, sh in zip(stage3, shifts3, strict=True)]


def build_blocks(c: Coords, form: tuple[tuple[int, int], ...], snap: int, table: Table, G: int, parts: int,
                 key_bits: int) -> tuple[list[FFN], list[str]]:
    """Stage I (t = form + snap >= 0 on the data, and X = a t for the first lookup), three lookups (with a
    shared offset: lookups 2 and 3 to their groups, then lookup 1 whole), the combine; with the stage of
    every block."""
    C = table.modulus
    if C == 1:  # one label: y = 0 everywhere, nothing to store
        return [FFN(units=())], ["line"]
    a = table.multipliers
    order = (1, 2, 0) if table.offset_group else (0, 1, 2)
    first = Unit(reads=form, bias=snap, writes=((c.t, 1), (c.X, a[order[0]])))
    seq: list[tuple[str, list[Unit], list]] = [("line", [first], [])]
    if table.offset_group:
        seq += _groups_only(c, table, 1, G, parts, key_bits, a[2])
        seq += _groups_only(c, table, 2, G, parts, key_bits, a[0])
        seq += _lookup(c, table, 0, G, parts, key_bits)
    else:
        for i in range(3):
            if i:  # load X for the next lookup inside the previous one's last block
                seq[-1][1].append(Unit(reads=((c.t, 1),), bias=0, writes=((c.X, a[i]),)))
            seq += _lookup(c, table, i, G, parts, key_bits)
    seq.append(("combine", _pair(c.y, C, ((c.y, -C),)) + _pair(c.y, 2 * C, ((c.y, -C),)), []))
    return [FFN(units=tuple(u), shift=tuple(sh)) for _, u, sh in seq], [name for name, _, _ in seq]
