"""Does a model run exactly in float64 on a dataset? Decided by measuring the exact run, not by weight bits.

float64 holds every integer of magnitude below 2^53 (and such an integer times a power of two), so a sum of
products is exact when every partial sum is. The check runs the exact executor over the data and bounds,
for every hidden unit and every stream coordinate that float64 forms, every partial sum by sum |w| |z| +
|b| over the power of two that all its weights share (the bit extraction multiplies by powers of two
only); any bound that reaches 2^53 refuses the model, naming the block.

Two roundings are placed by the construction on purpose and are followed instead of forbidden: the
attention's mean (weight 1/n is a binary fraction only for n a power of two, and a causal prefix mean
1/k never is for every k), and token vectors times integer directions (products of 53-bit mantissas).
A coordinate holding such a value is "fractional". A snap unit, relu(x + M) - M with M >= 2^51, makes
float64 round x to an integer, and the memorizer places one at every Stage I, where its trapezoids
accept a point's floor and floor + 1 alike. Any other unit that reads a fractional coordinate, and a
fractional output, refuse the model: nothing rounds that error back.

The verdict is a sufficient check, not the proof: `verify --torch` still runs the float64 module on every
example and counts every miss.
"""

from __future__ import annotations

import math

import numpy as np

from ..vocab import HookEvent, InputKind, ModelSetting, ReadAt, WindowPattern
from .columns import absmax
from .executor import run
from .layers import ExactModel
from .record import FloatCheck

LIMIT = 1 << 53
SNAP_MIN = 1 << 51


def _twos(w: int) -> int:
    """Trailing zero bits of a nonzero integer."""
    w = abs(int(w))
    return (w & -w).bit_length() - 1


def _shared_twos(weights: list[int]) -> int:
    """Trailing zero bits that all nonzero weights share: every partial sum is a multiple of 2^that, and
    float64 needs only its 53 significant bits above it (a power-of-two weight never costs precision)."""
    return min((_twos(w) for w in weights if w), default=0)


class _Watch:
    """Follows the exact run: magnitudes in real units (numerators over den) and fractional coordinates."""

    def __init__(self, model: ExactModel, n: int):
        self.model = model
        self.n = n
        self.frac: set[int] = set()
        self.snapped: set[int] = set()  # written by a snap of a non-integer: float64 and the exact run differ there
        self.worst = 0.0
        self.problem = ""
        self._seen: dict[int, tuple] = {}  # id of a stream array -> (the array, its absmax)

    def _over(self, bound_num: int, den: int, where: str) -> None:
        value = bound_num / den
        self.worst = max(self.worst, value)
        if value >= LIMIT and not self.problem:
            self.problem = f"{where}: a partial sum reaches 2^{math.log2(value):.1f}; float64 holds integers to 2^53"

    def __call__(self, event: HookEvent, index: int, stream: list, den: int, rows: np.ndarray) -> None:
        if self.problem:
            return
        layer = self.model.input
        if event == HookEvent.embed:
            if layer.kind == InputKind.ids:
                peak = max((abs(v) for r in layer.table for v in r), default=0)
                self._over(peak, 1, "the embedding")
            else:
                x = np.abs(np.asarray(rows, dtype=np.float64))
                for c, row in enumerate(layer.weights):
                    if any(row):
                        bound = float((x @ np.abs(np.array(row, dtype=np.float64))).max(initial=0.0))
                        self.worst = max(self.worst, bound)
                        if bound >= LIMIT:
                            self.problem = f"the input layer: a product reaches 2^{math.log2(bound):.1f}"
                        self.frac.add(c)
            return
        block = self.model.blocks[index]
        amax = self._absmax(stream)
        if event == HookEvent.attention:
            att = block.attention
            assert att is not None, "the executor shows the attention event only for a block with attention"
            # one key (a token reading the register) has weight exactly 1; a mean over n is a binary
            # fraction only for n a power of two
            exact_mean = att.pattern == WindowPattern.read or not att.causal and self.n & (self.n - 1) == 0
            for out, inp, w in att.moves:
                self._over(amax[inp] * abs(w) * self.n, den, f"block {index}'s attention")
                if inp in self.frac or not exact_mean:
                    self.frac.add(out)
            return
        if event in (HookEvent.pool, HookEvent.recur):  # sums of at most n values: exact while every partial sum is
            for a in amax:
                self._over(a * self.n, den, f"block {index}'s pooling")
            return
        for u, unit in enumerate(block.ffn.units):
            bound = abs(unit.bias) * den + sum(abs(w) * amax[c] for c, w in unit.reads)
            self._over(bound >> _shared_twos([w for _, w in unit.reads] + [unit.bias]), den, f"block {index} unit {u}")
            if unit.bias >= SNAP_MIN and any(c in self.snapped for c, _ in unit.reads):
                self.problem = (f"block {index} unit {u} reads a value that float64 rounded to an integer while the exact "
                                "run keeps its fraction: the two runs read different values")
                return
            if unit.bias < SNAP_MIN and any(c in self.frac for c, _ in unit.reads):
                self.problem = (f"block {index} unit {u} reads a value that float64 rounds (the attention's mean or a "
                                "product with a token vector) and nothing rounds it back to an integer: compile with "
                                "a bit budget (bit_budget=48) for a float64 model")
                return

    def after_ffn(self, index: int, stream: list, after: list, den: int, hidden: list) -> None:
        """The executor's own FFN result for block `index` (stream before, after, each unit's activation):
        the residual write is z + (W2 h + b2), and float64 forms sum |w| h (bounded), W2 h + b2 (the actual
        change) and the new value; each must stay below 2^53."""
        if self.problem:
            return
        block = self.model.blocks[index]
        written = {c for unit in block.ffn.units for c, _ in unit.writes} | {c for c, _ in block.ffn.shift}
        h_max = [absmax(h) for h in hidden]
        for c in written:
            terms = [(w, hm) for unit, hm in zip(block.ffn.units, h_max, strict=True) for cc, w in unit.writes if cc == c]
            products = sum(abs(w) * h for w, h in terms) >> _shared_twos([w for w, _ in terms])
            change = absmax(after[c] - stream[c] if stream[c] is not None else after[c])
            self._over(max(products, change, absmax(after[c])), den, f"block {index}, stream coordinate {self.model.coords[c]}")
        for unit in block.ffn.units:
            if unit.bias >= SNAP_MIN:
                writes = {c for c, _ in unit.writes}
                self.frac -= writes
                pre = None
                for c, w in unit.reads:
                    if stream[c] is not None:
                        pre = stream[c].astype(object) * w if pre is None else pre + stream[c].astype(object) * w
                if pre is not None and den > 1 and (pre % den != 0).any():
                    self.snapped |= writes

    def summary(self) -> tuple[float, str, bool]:
        """(largest bound, problem or "", whether the output coordinate holds a rounded value): small, so
        that a forked worker can hand it back."""
        return self.worst, self.problem, self.model.output in self.frac | self.snapped

    def _absmax(self, stream: list) -> list[int]:
        """absmax of every coordinate; a coordinate that a block left alone is the same array as before, so
        its value is remembered (only for the arrays of the current stream, which are alive anyway)."""
        seen = {}
        out = []
        for z in stream:
            key = id(z)
            hit = self._seen.get(key)
            value = hit[1] if hit is not None and hit[0] is z else absmax(z)
            seen[key] = (z, value)
            out.append(value)
        self._seen = seen
        return out


def _significant_bits(v: int) -> int:
    return 0 if v == 0 else abs(int(v)).bit_length() - _twos(v)


def _widest_weight(model: ExactModel) -> tuple[int, str]:
    """The most significant bits of any weight (float64 holds 53) and where it sits."""
    best = (0, "")
    for i, block in enumerate(model.blocks):
        for unit in block.ffn.units:
            for w in (unit.bias, *(w for _, w in unit.reads), *(w for _, w in unit.writes)):
                b = _significant_bits(w)
                if b > best[0]:
                    best = (b, f"block {i}")
    for row in (*model.input.table, *model.input.weights):
        for w in row:
            if _significant_bits(w) > best[0]:
                best = (_significant_bits(w), "the input layer")
    return best


def float64_check(model: ExactModel, inputs: np.ndarray, read: str = ReadAt.last) -> FloatCheck:
    """Run the exact executor over `inputs` and decide whether the float64 module computes the same outputs."""
    inputs = np.asarray(inputs)
    refused = weight_check(model, len(inputs))
    if refused is not None:
        return refused
    watch = watcher(model, inputs)
    run(model, inputs, read=read, hook=watch)
    return verdict([watch.summary()], len(inputs))


def weight_check(model: ExactModel, examples: int) -> FloatCheck | None:
    """The refusal when a weight itself is wider than float64 holds (no run needed), else None."""
    bits, where = _widest_weight(model)
    if bits > 53:
        return FloatCheck(False, f"a weight in {where} has {bits} significant bits; float64 holds 53", bits, examples)
    return None


def watcher(model: ExactModel, inputs: np.ndarray) -> _Watch:
    """The hook that follows one exact run of `inputs` (`run(..., hook=...)`) for the float64 check; runs
    over slices of a dataset each take their own, and `verdict` joins their summaries."""
    inputs = np.asarray(inputs)
    return _Watch(model, inputs.shape[1] if model.setting != ModelSetting.points and inputs.ndim >= 2 else 1)


def verdict(summaries: list[tuple[float, str, bool]], examples: int) -> FloatCheck:
    """The float64 check from the summaries of runs over slices (largest bound, first problem, whether
    the output coordinate holds a rounded value): the same verdict as one run over all of them, since
    every bound is a maximum over examples and every problem is met by the slice that holds it."""
    worst = max((w for w, _, _ in summaries), default=0.0)
    problem = next((p for _, p, _ in summaries if p), "")
    if not problem and any(rounded for _, _, rounded in summaries):
        problem = "the output coordinate holds a value that float64 rounds"
    bits = math.ceil(math.log2(worst)) if worst > 1 else 0
    if problem:
        return FloatCheck(False, problem, bits, examples)
    return FloatCheck(True, f"every partial sum stays below 2^{max(bits, 1)} (float64 holds integers to 2^53); every "
                      "rounded value is snapped back to an integer before it is read", bits, examples)
