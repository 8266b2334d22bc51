"""Exact verification: run the model's actual weights on every example (every read position) and compare.

Invariant: a Verification with wrong == 0 means the exact executor's output equals the label at every
position that the setting reads, for every example of the dataset.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .data import Dataset
from .interrupts import quiet_worker, sigint_blocked
from .ir.executor import ExactOutput, read_positions, run
from .ir.layers import ExactModel
from .vocab import InputKind, ModelSetting


@dataclass(frozen=True)
class Verification:
    checked: int  # examples
    positions: int  # read positions checked in all
    wrong: int  # read positions whose output differs from the label
    misses: tuple[tuple[int, int], ...] = field(default=())  # (example, position) of the first misses

    @property
    def ok(self) -> bool:
        return self.wrong == 0 and self.checked > 0


_JOB: tuple = ()  # (model, inputs, read) for forked workers: inherited, never pickled


def _run_slice(bounds: tuple[int, int]) -> ExactOutput:
    model, inputs, read = _JOB
    return run(model, inputs[bounds[0] : bounds[1]], read=read)


def _outputs(model: ExactModel, inputs: np.ndarray, read: str, batch: int, workers: int) -> Iterator[tuple[int, ExactOutput]]:
    """Exact outputs batch by batch; with workers > 1 the batches run in forked processes (the exact
    arithmetic is the same, only spread over cores)."""
    N = len(inputs)
    parallel = workers > 1 and N >= 2000 and "fork" in mp.get_all_start_methods()
    if parallel:
        batch = min(batch, -(-N // workers))
    slices = [(s, min(s + batch, N)) for s in range(0, N, batch)]
    if not parallel:
        for b in slices:
            yield b[0], run(model, inputs[b[0] : b[1]], read=read)
        return
    global _JOB
    _JOB = (model, inputs, read)
    try:
        with sigint_blocked():  # the workers ignore Ctrl-C; the pool's exit terminates them
            pool = mp.get_context("fork").Pool(min(workers, len(slices)), initializer=quiet_worker)
        with pool:
            for b, out in zip(slices, pool.imap(_run_slice, slices), strict=True):
                yield b[0], out
    finally:
        _JOB = ()


def verify_arrays(model: ExactModel, inputs: np.ndarray, labels: np.ndarray, batch: int = 100_000,
                  progress: Callable[[int, int], None] | None = None, workers: int | None = None) -> Verification:
    inputs, labels = np.asarray(inputs), np.asarray(labels)
    N = len(inputs)
    read = read_positions(model)
    wrong, positions = 0, 0
    misses: list[tuple[int, int]] = []
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    for s, out in _outputs(model, inputs, read, batch, workers):
        lab = labels[s : s + len(out.numerators)].reshape(out.numerators.shape)
        ok = out.equals(lab)
        positions += ok.size
        bad = np.argwhere(~ok)
        wrong += len(bad)
        misses.extend((int(i) + s, int(p)) for i, p in bad[: max(0, 10 - len(misses))])
        if progress:
            progress(min(s + len(out.numerators), N), N)
    return Verification(checked=N, positions=positions, wrong=wrong, misses=tuple(misses))


def verify(model: ExactModel, ds: Dataset, batch: int = 100_000,
           progress: Callable[[int, int], None] | None = None, workers: int | None = None) -> Verification:
    """Verify a compiled Transformer on a dataset (next-token: the last position; seq2seq: every one)."""
    if model.input.kind != ds.kind:
        raise ValueError(f"model takes token {model.input.kind}, the dataset has token {ds.kind}")
    return verify_arrays(model, ds.inputs, ds.labels, batch, progress, workers)


def unseen_examples(model: ExactModel, inputs: np.ndarray) -> np.ndarray:
    """Examples holding a token id (or, with positions, an (id, position)) that the model never saw."""
    if model.input.kind != InputKind.ids:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero((model.input.rows(inputs) == 0).any(axis=1))


def expected_shape(model: ExactModel) -> tuple[str, ...]:
    """The shape of one batch of inputs that `model` was built for, trailing dimensions as numbers."""
    layer = model.input
    n = layer.seq_len or int(model.meta.get("n", 0))
    if model.setting == "points":
        return ("N", str(layer.dim))
    return ("N", str(n)) if layer.kind == "ids" else ("N", str(n), str(layer.dim))


def checked_inputs(model: ExactModel, inputs) -> np.ndarray:
    """`inputs` (a list or an array) as an array of the shape the model was built for, or a ValueError
    naming that shape: the positional and averaging weights are defined for the built length n only."""
    try:
        x = np.asarray(inputs, dtype=np.int64 if model.input.kind == "ids" else np.float64)
    except (ValueError, TypeError, OverflowError) as e:
        raise ValueError(f"inputs must be a rectangular array of {model.input.kind}: {e}") from None
    want = expected_shape(model)
    got = tuple(str(v) for v in x.shape)
    if len(got) != len(want) or got[1:] != want[1:]:
        hint = " (wrap one sequence in a list: [[...]])" if len(got) == len(want) - 1 else ""
        raise ValueError(f"this model takes inputs of shape [{', '.join(want)}]; got shape {list(x.shape)}{hint}")
    return x


def predict(model: ExactModel, inputs) -> np.ndarray:
    """Exact outputs: [N] for next-token and point models, [N, n] for seq2seq; int64 where every output is
    an integer (else an object array with Fractions). `inputs` is a list or an array of the shape the model
    was built for ([N, n] token ids, [N, n, d] token vectors, [N, d] points), else a ValueError. An example
    with a token id that the model never saw gets -1 (no label) at every position: the construction says
    nothing about it."""
    inputs = checked_inputs(model, inputs)
    out = run(model, inputs, read=read_positions(model)).values()
    if model.setting != ModelSetting.seq2seq:
        out = out[:, 0]
    unseen = unseen_examples(model, inputs)
    if all(isinstance(v, int) for v in out.ravel()):
        out = out.astype(np.int64)
    out[unseen] = -1
    return out


@dataclass(frozen=True)
class FloatVerification:
    checked: int
    positions: int
    wrong: int  # positions where round(float64 output) != label
    max_deviation: float  # max |float64 output - label| over all read positions
    exact_match: bool  # every float64 output equals the label exactly (no rounding needed)


def verify_torch(model: ExactModel, ds: Dataset, batch: int = 16384, force: bool = False) -> FloatVerification:
    """Run the float64 torch module on every example and compare with the labels. Refused (NotFloatExact)
    when the float64 check, measured on this dataset, says float64 would not compute the exact outputs."""
    import torch

    from .nn.export import to_torch

    net = to_torch(model, ds.inputs, force=force)
    x = torch.from_numpy(ds.inputs)
    wrong, dev, positions = 0, 0.0, 0
    with torch.no_grad():
        for s in range(0, ds.N, batch):
            # next-token: only the read position goes through the blocks after the attention
            out = net(x[s : s + batch])[..., 0] if model.setting == ModelSetting.seq2seq else net(x[s : s + batch], read=-1)[:, None, 0]
            lab = torch.from_numpy(ds.labels[s : s + batch]).to(torch.float64).reshape(out.shape)
            wrong += int((torch.round(out) != lab).sum())
            dev = max(dev, float((out - lab).abs().max()))
            positions += out.numel()
    return FloatVerification(ds.N, positions, wrong, dev, dev == 0.0)
