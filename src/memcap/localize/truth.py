"""Exact ground truth of where a compiled model stores each example.

Two answers, both exact and of different kinds:
- `store` / `read`: the construction's record (`construct.roles`): the Stage II units that serve the
  example's group (they carry the group's crafted integers, its labels among them) and the Stage III units
  that serve its chunk's gate and label add. Which group and chunk an example is in comes from the
  unablated exact run: its projected value t against the recorded group bounds, and the chunk whose add
  unit fired.
- `causal`: the units whose zeroing alone changes the example's output (`causal.causal_pairs`).
`check` compares the two on what the record promises: a product unit changes exactly its group's
examples, an add unit exactly its chunk's, and no Stage II unit of group g reaches an example below g.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..construct.roles import RoleRecord, UnitRole
from ..data import Dataset
from ..ir.layers import ExactModel
from ..vocab import Objective
from .causal import CleanStart, causal_pairs, stream_before

STORE_ROLES = ("indicator", "step", "product")
READ_ROLES = ("gate", "add")


class NoRecord(ValueError):
    """The model carries no role record (or one this tool cannot use)."""


def record_of(model: ExactModel) -> RoleRecord:
    rec = model.record.roles
    opts = model.record.options
    if rec is None and opts is not None and opts.objective in (Objective.bits, Objective.balanced):
        raise NoRecord(f"a {opts.objective}-objective model (F2 a retrieval table) stores each label as a sum of three "
                       "table slots shared with other examples, with no per-group units to name: compile with "
                       "--objective depth (or a bit budget)")
    if rec is None:
        raise NoRecord("this model file carries no record of its units' roles (written by an older memcap): "
                       "compile it again")
    if model.setting != "next-token" or model.input.register:
        raise NoRecord("localization covers next-token models with dense attention (one read position per example)")
    return rec


@dataclass(frozen=True)
class GroundTruth:
    """`units`: every memorizer unit (its id is its index); per covered example (`examples`, dataset
    indices): its group and chunk (-1: none); `pair_unit`, `pair_example` list every (unit id, position in
    `examples`) whose output changes when that unit alone is zeroed, sorted by unit, then example."""

    units: tuple[UnitRole, ...]
    examples: np.ndarray
    labels: np.ndarray
    group: np.ndarray
    chunk: np.ndarray
    pair_unit: np.ndarray
    pair_example: np.ndarray
    stage2: str

    @cached_property
    def _tags(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per unit: its role's name, group and chunk, as arrays (a question is then one vector compare)."""
        return (np.array([u.role for u in self.units]), np.array([u.group for u in self.units], dtype=np.int64),
                np.array([u.chunk for u in self.units], dtype=np.int64))

    @cached_property
    def _by_example(self) -> tuple[np.ndarray, np.ndarray]:
        """The pairs' unit ids ordered by (example, unit), and each covered example's offset into them."""
        order = np.lexsort((self.pair_unit, self.pair_example))
        offsets = np.r_[0, np.cumsum(np.bincount(self.pair_example, minlength=len(self.examples)))]
        return self.pair_unit[order], offsets

    def _ids(self, roles: tuple[str, ...], key: int, value: int, upto: bool = False) -> np.ndarray:
        role, *by = self._tags
        tag = by[key]
        return np.flatnonzero(np.isin(role, roles) & ((tag <= value) if upto else (tag == value)))

    def store(self, j: int) -> np.ndarray:
        """Unit ids of Stage II's units of covered example j's group."""
        g = int(self.group[j])
        return self._ids(STORE_ROLES, 0, g) if g >= 0 else np.zeros(0, np.int64)

    def store_sum(self, j: int) -> np.ndarray:
        """Unit ids whose writes add up to covered example j's crafted integers: telescoped, the step pairs
        of its group and of every group below it (each writes a difference); otherwise `store`."""
        g = int(self.group[j])
        if self.stage2 != "telescoped" or g < 0:
            return self.store(j)
        return self._ids(("step",), 0, g, upto=True)

    def read(self, j: int) -> np.ndarray:
        """Unit ids of Stage III's gate and add of covered example j's chunk."""
        c = int(self.chunk[j])
        return self._ids(READ_ROLES, 1, c) if c >= 0 else np.zeros(0, np.int64)

    def causal(self, j: int) -> np.ndarray:
        """Unit ids whose zeroing alone changes covered example j's output."""
        units, offsets = self._by_example
        return units[offsets[j] : offsets[j + 1]]

    def affected(self, uid: int) -> np.ndarray:
        """Positions in `examples` whose output changes when unit `uid` alone is zeroed."""
        lo, hi = np.searchsorted(self.pair_unit, [uid, uid + 1])
        return self.pair_example[lo:hi]


def _group_and_chunk(model: ExactModel, rec: RoleRecord, start: CleanStart, examples: np.ndarray):
    """Each example's group (t against the recorded bounds) and chunk (the add unit that fired)."""
    from ..ir.columns import dense
    from ..ir.ffnstep import run_ffn

    stream, den = list(start.stream), start.den
    size = len(examples)
    adds = {(u.block, u.unit): u.chunk for u in rec.units() if u.role == "add"}
    chunk = np.full(size, -1, dtype=np.int64)
    t_floor = None
    t_coord = model.coord("t")
    for b in range(start.block, len(model.blocks)):
        hidden: list = []
        stream = run_ffn(stream, model.blocks[b].ffn, den, size, hidden_out=hidden)
        if b == start.block:
            t = dense(stream[t_coord])
            t_floor = np.array([int(v) // den for v in t], dtype=object)
        for u, h in enumerate(hidden):
            if (b, u) in adds and h is not None:
                chunk[np.flatnonzero(h)] = adds[(b, u)]
    assert t_floor is not None, "the memorizer's first block reads t: the loop above met it"
    lo, hi = np.array(rec.group_lo, dtype=object), np.array(rec.group_hi, dtype=object)
    g = np.searchsorted(lo, t_floor, side="right") - 1
    inside = (g >= 0) & (t_floor < hi[np.maximum(g, 0)])
    return np.where(inside, g, -1).astype(np.int64), chunk


def ground_truth(model: ExactModel, ds: Dataset, examples: np.ndarray | None = None, progress=None) -> GroundTruth:
    """The ground truth on `examples` (dataset indices; default every example)."""
    rec = record_of(model)
    examples = np.arange(ds.N) if examples is None else np.asarray(examples, dtype=np.int64)
    inputs = ds.inputs[examples]
    start = stream_before(model, inputs, rec.first_block)
    units = tuple(rec.units())
    stage3 = [u.block for u in units if u.stage == "III"]
    src, ex = causal_pairs(model, start, [(u.block, u.unit) for u in units], progress, tail=min(stage3, default=None))
    group, chunk = _group_and_chunk(model, rec, start, examples)
    return GroundTruth(units, examples, np.asarray(ds.labels)[examples], group, chunk, src, ex, rec.stage2)


def check(gt: GroundTruth) -> list[str]:
    """What the record promises that the measured causal map breaks (empty: they agree)."""
    problems = []
    for uid, u in enumerate(gt.units):
        hit = gt.affected(uid)
        name = f"unit ({u.block}, {u.unit}) [{u.role}]"
        if u.role == "product" and not np.array_equal(hit, np.flatnonzero(gt.group == u.group)):
            problems.append(f"{name} of group {u.group} changes examples {hit[:5].tolist()}, not exactly its group's")
        if u.role == "add" and not np.array_equal(hit, np.flatnonzero(gt.chunk == u.chunk)):
            problems.append(f"{name} of chunk {u.chunk} changes examples {hit[:5].tolist()}, not exactly its chunk's")
        if u.stage == "II" and len(hit) and gt.group[hit].min() < u.group:
            problems.append(f"{name} of group {u.group} changes an example of group {int(gt.group[hit].min())} below it")
    return problems
