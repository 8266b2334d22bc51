"""The smallest bit budget under which a dataset compiles.

Each memorizer stage refuses a budget below what its projected range and stored values need, and that
need depends on the data and the other options, not on the budget asked for. So raising the budget to
the need that each refusal names, until `compile` succeeds, ends at the smallest budget that compiles:
any smaller one is refused by the stage whose need it misses. The answer is a compile that succeeded,
not a formula.
"""

from __future__ import annotations

from .compiling import compile
from .construct.memorizer import BudgetError
from .data import Dataset

MAX_BUDGET = 128


def smallest_bit_budget(ds: Dataset, start: int = 2, **options) -> int:
    """The least budget >= `start` with which `compile(ds, bit_budget=..., **options)` succeeds."""
    budget = start
    while budget <= MAX_BUDGET:
        try:
            compile(ds, bit_budget=budget, **options)
            return budget
        except BudgetError as e:
            # a refusal that names no larger need is stepped past one bit at a time
            budget = e.need if e.need is not None and e.need > budget else budget + 1
    raise BudgetError(f"no bit budget up to {MAX_BUDGET} compiles this dataset")
