"""The construction's own record of what each FFN unit of the F2 memorizer is for.

The memorizer tags every unit it builds with a role, the Stage II group it serves and the Stage III chunk
it serves (-1 where none); this module freezes those tags into a `RoleRecord` that a compiled model
carries in its record (model.json), so that tools which ask "which units store example i?" read the
construction's answer instead of guessing it from unit shapes. Weights are untouched: the record is
metadata only, and a model file written before it existed loads as before (its record is None).

Roles:
  project    Stage I: the projection t of the context onto a line (every example reads it)
  indicator  Stage II: one ramp of a group's indicator (a trapezoid on t, 4 ramps)
  step       Stage II: one ramp of a shared step at a group's start (telescoped: it writes the difference
             between the group's crafted integers and the previous group's; stepped: it writes a slot)
  product    Stage II: adds the group's crafted integers U, W (its labels) and base address
  clear      Stage II (stepped): clears a step's slot
  digit      Stage III: one step of an address digit of chunk i
  label-bit  Stage III: one step of a label bit of chunk i
  gate       Stage III: one ramp of chunk i's gate (a trapezoid on D)
  add        Stage III: adds chunk i's label to the output where the gate is open
  reset      Stage III: clears the gate and label scratch after chunk i
Invariant: the record lists exactly the units of the memorizer's blocks, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("project", "indicator", "step", "product", "clear", "digit", "label-bit", "gate", "add", "reset")
STAGE = {"project": "I", "indicator": "II", "step": "II", "product": "II", "clear": "II",
         "digit": "III", "label-bit": "III", "gate": "III", "add": "III", "reset": "III"}


@dataclass(frozen=True)
class UnitRole:
    """One FFN unit (model block, unit index in the block) and what the construction built it for."""

    block: int
    unit: int
    role: str
    group: int  # the Stage II group it serves (for a step: the group starting there; groups = the end step), else -1
    chunk: int  # the Stage III chunk it serves, else -1

    @property
    def stage(self) -> str:
        return STAGE[self.role]


@dataclass(frozen=True)
class RoleRecord:
    """Roles of the memorizer's units. `runs`: (block, first unit, count, role, group, chunk), blocks
    counted in the model (the memorizer's block 0 is model block `first_block`); `group_lo` / `group_hi`:
    each group's first floor of t and its last floor + 1 (the points of group g have lo_g <= floor t < hi_g)."""

    memorizer: str
    first_block: int
    stage2: str
    k: int
    runs: tuple[tuple[int, int, int, str, int, int], ...]
    group_lo: tuple[int, ...]
    group_hi: tuple[int, ...]

    @staticmethod
    def of(memorizer: str, first_block: int, stage2: str, k: int, tags, group_lo, group_hi) -> RoleRecord:
        """From the memorizer's per-block tags (a list of (role, group, chunk) per block)."""
        runs: list[list] = []
        for b, block in enumerate(tags):
            for u, (role, group, chunk) in enumerate(block):
                last = runs[-1] if runs else None
                if last and last[0] == first_block + b and last[3:] == [role, group, chunk] and last[1] + last[2] == u:
                    last[2] += 1
                else:
                    runs.append([first_block + b, u, 1, role, group, chunk])
        return RoleRecord(memorizer, first_block, stage2, k, tuple(tuple(r) for r in runs),
                          tuple(int(v) for v in group_lo), tuple(int(v) for v in group_hi))

    def units(self) -> list[UnitRole]:
        """Every unit's role, in model order."""
        return [UnitRole(b, u0 + i, role, g, c) for b, u0, count, role, g, c in self.runs for i in range(count)]

    @property
    def groups(self) -> int:
        return len(self.group_lo)

    def as_dict(self) -> dict:
        """JSON form (big floors as decimal strings, as model.json stores big integers)."""
        return {"memorizer": self.memorizer, "first_block": self.first_block, "stage2": self.stage2, "k": self.k,
                "runs": [list(r) for r in self.runs], "group_lo": [str(v) for v in self.group_lo],
                "group_hi": [str(v) for v in self.group_hi]}

    @staticmethod
    def from_dict(d: dict) -> RoleRecord:
        runs = tuple((int(b), int(u), int(n), str(r), int(g), int(c)) for b, u, n, r, g, c in d["runs"])
        bad = {r[3] for r in runs} - set(ROLES)
        if bad:
            raise ValueError(f"unknown unit roles {sorted(bad)} in the model's role record")
        return RoleRecord(str(d["memorizer"]), int(d["first_block"]), str(d["stage2"]), int(d["k"]), runs,
                          tuple(int(v) for v in d["group_lo"]), tuple(int(v) for v in d["group_hi"]))
