"""compile -> verify -> float64 check -> stats: the one path that the CLI, the demo, the sweep, compare and
the benchmarks take from a dataset to a model whose memorization is proved.

Invariant of a Built with a verification: `verification.ok` says whether the model's actual weights
output every label exactly, and `model.record.float64` records the float64 check measured on the same
data (what `to_torch` and the model file's metadata report).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from .compiling import Progress, compile
from .data import Dataset
from .ir.executor import read_positions
from .ir.float64 import FloatCheck, float64_check
from .ir.layers import ExactModel
from .ir.stats import ModelStats, model_stats
from .verification import Verification
from .verification import verify as verify_exact


@dataclass(frozen=True)
class Built:
    model: ExactModel
    stats: ModelStats
    verification: Verification | None
    float64: FloatCheck | None
    compile_s: float
    verify_s: float  # exact verification alone
    check_s: float = 0.0  # the float64 check

    @property
    def exact_text(self) -> str:
        v = self.verification
        return "-" if v is None else f"{v.positions - v.wrong}/{v.positions}"


def build(ds: Dataset, verify: bool = True, check_float: bool = True, progress: Progress | None = None,
          **options) -> Built:
    """Compile `ds` with `options` (those of `compile`); with `verify`, verify every example exactly and
    (with `check_float`) record the float64 check, measured on the same data, in the model. `progress` is
    called with each finished stage's name (compile's stages, then "exact verification", "float64 check")."""
    done = progress or (lambda _: None)
    t0 = time.perf_counter()
    model = compile(ds, progress=progress, **options)
    t1 = time.perf_counter()
    if not verify:
        return Built(model, model_stats(model), None, None, round(t1 - t0, 4), 0.0)
    res = verify_exact(model, ds)
    t2 = time.perf_counter()
    done("exact verification")
    fc = float64_check(model, ds.inputs, read_positions(model)) if check_float else None
    if check_float:
        done("float64 check")
    if fc is not None:
        model = dataclasses.replace(model, record=dataclasses.replace(model.record, float64=fc))
    return Built(model, model_stats(model), res, fc, round(t1 - t0, 4), round(t2 - t1, 4), round(time.perf_counter() - t2, 4))
