"""What a model records about how it was built: the compile choices, the data's sizes, the depth of each
stage, the memorizer's plan, the role of every F2 unit and the float64 verdict.

`ModelRecord` is frozen and typed; `ir.fileformat` is the only reader and writer of its JSON form (the
`meta` object of model.json). Invariant: `ModelRecord.from_dict(r.as_dict()) == r`, and `as_dict` writes
exactly the keys the compiler has always written (a key that was optional stays absent when unset), so a
model's file bytes do not depend on whether its record went through this class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..vocab import Arch, Attention, Mode, Objective, Stage2
from .roles import RoleRecord

# a sidecar sorts its keys: the stages are put back in the model's order by this list
STAGE_ORDER = ("phi", "attention", "pool", "recurrence", "F2", "projection", "groups", "extraction")


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that are set (None means "not recorded", so the key stays out of the file)."""
    return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class StageDepths:
    """How many blocks each stage of the method took, in the model's order: (phi, attention | pool |
    recurrence, F2) for a compiled Transformer, (projection, groups, extraction) for a plain memorizer."""

    names: tuple[str, ...]
    blocks: tuple[int, ...]

    def __getitem__(self, name: str) -> int:
        return dict(zip(self.names, self.blocks, strict=True)).get(name, 0)

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.names, self.blocks, strict=True))

    @staticmethod
    def of(**blocks: int) -> StageDepths:
        return StageDepths(tuple(blocks), tuple(blocks.values()))

    @staticmethod
    def from_dict(d: dict) -> StageDepths:
        names = sorted(d, key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER))
        return StageDepths(tuple(names), tuple(int(d[s]) for s in names))


@dataclass(frozen=True)
class HashedTable:
    """The hashed memorizer's retrieval table (the bits objective): its shape, hash and lookups."""

    parts: int
    segment: int
    modulus: int
    peel_attempts: int
    hash_bits: int
    multipliers: tuple[int, ...]
    lookup_ends: tuple[int, ...]  # each readout's last block, counted in the memorizer
    offset_group: int = 0  # G where a key's three slots share their offset (one readout), else 0
    key_shift: int = 0  # z where every key is a multiple of 2^z and the hash reads t / 2^z, else 0

    def as_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "multipliers": list(self.multipliers), "lookup_ends": list(self.lookup_ends)}
        for name in ("offset_group", "key_shift"):  # files without them keep their bytes
            if not out[name]:
                del out[name]
        return out

    @staticmethod
    def from_dict(d: dict) -> HashedTable:
        return HashedTable(int(d["parts"]), int(d["segment"]), int(d["modulus"]), int(d["peel_attempts"]),
                           int(d["hash_bits"]), tuple(int(v) for v in d["multipliers"]),
                           tuple(int(v) for v in d["lookup_ends"]), int(d.get("offset_group", 0)), int(d.get("key_shift", 0)))


@dataclass(frozen=True)
class PlanSummary:
    """The memorizer's plan as the model records it: k per group, how many groups, the width in bits of
    each point's address delta and label chunk in the crafted integers, Stage II's shape and Stage III's
    address digit. The hashed memorizer records stage2 "hashed" and its `table`; the plain point
    memorizer records its float `snap`."""

    k: int
    groups: int
    addr_bits: int
    label_bits: int
    stage2: Stage2 = Stage2.trapezoid
    digit: int = 1  # address bits Stage III reads per block
    table: HashedTable | None = None
    snap: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "groups": self.groups, "addr_bits": self.addr_bits, "label_bits": self.label_bits,
                "stage2": self.stage2, "digit": self.digit, **(self.table.as_dict() if self.table else {}),
                **_present(snap=self.snap)}

    @staticmethod
    def from_dict(d: dict) -> PlanSummary:
        # files written before the shape was recorded hold the paper's (trapezoid, 1-bit digits)
        return PlanSummary(int(d["k"]), int(d["groups"]), int(d["addr_bits"]), int(d["label_bits"]),
                           Stage2(d.get("stage2", Stage2.trapezoid)), int(d.get("digit", 1)),
                           HashedTable.from_dict(d) if "parts" in d else None,
                           int(d["snap"]) if "snap" in d else None)


@dataclass(frozen=True)
class F1Summary:
    """The phi~ memorizer's plan (token vectors only), and the blocks of the integer-id memorizer that
    float-safe token vectors add after it."""

    k: int
    groups: int
    addr_bits: int
    label_bits: int
    id_blocks: int | None = None

    def as_dict(self) -> dict[str, int]:
        return {"k": self.k, "groups": self.groups, "addr_bits": self.addr_bits, "label_bits": self.label_bits,
                **_present(id_blocks=self.id_blocks)}

    @staticmethod
    def from_dict(d: dict) -> F1Summary | None:
        if not d:
            return None  # token ids: no phi~ memorizer
        return F1Summary(int(d["k"]), int(d["groups"]), int(d["addr_bits"]), int(d["label_bits"]),
                         int(d["id_blocks"]) if "id_blocks" in d else None)


@dataclass(frozen=True)
class CompileChoices:
    """The choices the model was compiled with. A plain point memorizer records mode, seed and bit budget
    only (the sequence choices are None); objective and arch are recorded only when not the default."""

    mode: Mode = Mode.tight
    seed: int = 0
    bit_budget: int | None = None
    positions: bool | None = None
    causal: bool | None = None
    attention: Attention | None = None
    objective: Objective = Objective.depth
    arch: Arch = Arch.transformer

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "seed": self.seed, "bit_budget": self.bit_budget,
                **_present(positions=self.positions, causal=self.causal, attention=self.attention),
                **({"objective": self.objective} if self.objective != Objective.depth else {}),
                **({"arch": self.arch} if self.arch != Arch.transformer else {})}

    @staticmethod
    def from_dict(d: dict) -> CompileChoices:
        def opt(key: str, kind):
            return kind(d[key]) if d.get(key) is not None else None

        return CompileChoices(Mode(d.get("mode", Mode.tight)), int(d.get("seed", 0)), opt("bit_budget", int),
                              opt("positions", bool), opt("causal", bool), opt("attention", Attention),
                              Objective(d.get("objective", Objective.depth)), Arch(d.get("arch", Arch.transformer)))


_SEQUENCE_COUNTS = ("n", "distinct_tokens", "key_tokens", "windows", "contexts", "max_token_value", "value_tries")


@dataclass(frozen=True)
class DataSummary:
    """The sizes of the data the model memorizes: N examples (labelled points), dimension d, C classes, the
    largest norm r and smallest gap delta of what F1 separates; a sequence model adds its input kind and
    counts (n, distinct and key tokens, windows, contexts, the largest token value and the tries to find
    the values), a plain point memorizer its number of points V (labelled and extra)."""

    N: int
    d: int
    C: int
    r: float
    delta: float | None  # None: a single point (no gap)
    input: str | None = None
    n: int | None = None
    distinct_tokens: int | None = None
    key_tokens: int | None = None
    windows: int | None = None
    contexts: int | None = None
    max_token_value: int | None = None
    value_tries: int | None = None
    V: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"N": self.N, "d": self.d, "C": self.C, "r": self.r, "delta": self.delta,
                **_present(input=self.input, V=self.V, **{k: getattr(self, k) for k in _SEQUENCE_COUNTS})}

    @staticmethod
    def from_dict(d: dict) -> DataSummary:
        counts = {k: int(d[k]) for k in (*_SEQUENCE_COUNTS, "V") if k in d}
        return DataSummary(int(d["N"]), int(d["d"]), int(d["C"]), d["r"], d["delta"], d.get("input"), **counts)


@dataclass(frozen=True)
class FloatCheck:
    """The float64 verdict: does the model compute its exact outputs in float64 on `examples` inputs."""

    exact: bool
    reason: str
    max_magnitude_bits: int  # bits of the largest partial-sum bound met (real units, rounded up)
    examples: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelRecord:
    """What a built model records. `points`: a plain point memorizer (its plan at the top level of the
    JSON form, no F1); otherwise a compiled sequence model (F1's summary and F2's plan). An empty record
    (`options` None) is a model built by hand: it records nothing."""

    options: CompileChoices | None = None
    data: DataSummary | None = None
    stages: StageDepths = field(default_factory=lambda: StageDepths((), ()))
    plan: PlanSummary | None = None
    F1: F1Summary | None = None
    roles: RoleRecord | None = None
    float64: FloatCheck | None = None
    points: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (model.json's `meta`)."""
        if self.options is None or self.data is None or self.plan is None:
            return {}
        d = {**self.options.as_dict(), **self.data.as_dict()}
        if self.points:
            d.update(self.plan.as_dict())
        else:
            d.update(F1=self.F1.as_dict() if self.F1 else {}, F2=self.plan.as_dict())
        d["stages"] = self.stages.as_dict()
        if self.roles is not None:
            d["roles"] = self.roles.as_dict()
        if self.float64 is not None:
            d["float64"] = self.float64.as_dict()
        return d

    @staticmethod
    def from_dict(d: dict) -> ModelRecord:
        if not d:
            return ModelRecord()
        points = "F2" not in d
        return ModelRecord(
            options=CompileChoices.from_dict(d), data=DataSummary.from_dict(d),
            stages=StageDepths.from_dict(d.get("stages", {})),
            plan=PlanSummary.from_dict(d if points else d["F2"]),
            F1=None if points else F1Summary.from_dict(d.get("F1", {})),
            roles=RoleRecord.from_dict(d["roles"]) if d.get("roles") else None,
            float64=FloatCheck(**d["float64"]) if d.get("float64") else None,
            points=points,
        )
