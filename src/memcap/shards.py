"""Exact verification beyond one process. Verification is a sum over examples, so it splits exactly:

- `verify_shard(model, ds, I, K)` checks the I-th of K contiguous slices and returns a `Shard` that names
  the model and the data it checked (SHA-256 of each); `combine(shards)` adds shards back into one
  `Verification` and refuses parts of different models or data, overlapping parts, or parts that leave
  examples out. A batch scheduler runs `memcap verify MODEL DATA --shard I/K -o part_I.json` anywhere and
  `memcap verify-combine part_*.json` at the end.
- `verify_dask(model, ds, address)` spreads the slices over a Dask cluster (a LocalCluster of one process
  per core by default, or the scheduler at `address` for many machines) and combines them the same way.

Invariant: the combined result equals the one-process `verify` (same checked, positions, wrong, misses).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from .data import Dataset
from .ir.fileformat import to_json
from .ir.layers import ExactModel
from .jsonrecord import JsonRecord
from .verification import Verification, verify_arrays

MAX_MISSES = 10


@dataclass(frozen=True)
class Shard(JsonRecord):
    """One contiguous slice's verification, written as JSON by `memcap verify --shard`."""

    start: int  # first example checked
    stop: int  # one past the last
    N: int  # examples in the whole dataset
    positions: int
    wrong: int
    misses: tuple[tuple[int, int], ...]  # (example, position), global indices
    model_sha256: str
    data_sha256: str


def model_sha256(model: ExactModel) -> str:
    return hashlib.sha256(json.dumps(to_json(model), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def data_sha256(ds: Dataset) -> str:
    h = hashlib.sha256()
    for a in (ds.inputs, ds.labels):
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def shard_bounds(N: int, index: int, count: int) -> tuple[int, int]:
    """The index-th of count contiguous slices of range(N) (0-based; sizes differ by at most one)."""
    if not (count >= 1 and 0 <= index < count):
        raise ValueError(f"shard {index}/{count}: need 0 <= I < K")
    return N * index // count, N * (index + 1) // count


def _shard(model: ExactModel, ds: Dataset, start: int, stop: int, res: Verification, sha: tuple[str, str]) -> Shard:
    misses = tuple((i + start, p) for i, p in res.misses)
    return Shard(start, stop, ds.N, res.positions, res.wrong, misses, *sha)


def verify_shard(model: ExactModel, ds: Dataset, index: int, count: int, workers: int | None = None) -> Shard:
    start, stop = shard_bounds(ds.N, index, count)
    res = verify_arrays(model, ds.inputs[start:stop], ds.labels[start:stop], workers=workers)
    return _shard(model, ds, start, stop, res, (model_sha256(model), data_sha256(ds)))


def combine(shards: list[Shard]) -> Verification:
    """One Verification from shards that cover every example of one model and one dataset exactly once."""
    if not shards:
        raise ValueError("no shards to combine")
    first = shards[0]
    for s in shards:
        if (s.model_sha256, s.data_sha256, s.N) != (first.model_sha256, first.data_sha256, first.N):
            raise ValueError(f"shard [{s.start}, {s.stop}) checked another model or dataset than shard [{first.start}, {first.stop})")
    spans = sorted((s.start, s.stop) for s in shards)
    at = 0
    for a, b in spans:
        if a != at:
            raise ValueError(f"examples [{min(a, at)}, {max(a, at)}) are {'checked twice' if a < at else 'in no shard'}")
        at = b
    if at != first.N:
        raise ValueError(f"examples [{at}, {first.N}) are in no shard")
    misses = sorted(m for s in shards for m in s.misses)[:MAX_MISSES]
    return Verification(checked=first.N, positions=sum(s.positions for s in shards), wrong=sum(s.wrong for s in shards),
                        misses=tuple(misses))


def verify_dask(model: ExactModel, ds: Dataset, address: str | None = None, chunk: int = 5000) -> Verification:
    """Verify on a Dask cluster: a LocalCluster (one single-threaded process per core) when `address` is
    None, else the running scheduler at `address` (e.g. tcp://host:8786). Needs the [dask] extra."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:
        raise ImportError("Dask verification needs dask.distributed: pip install 'memcap[dask]'") from e
    import os

    cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None) \
        if address is None else None
    sha = ("", "")  # one process checks one model and one dataset: nothing to tell apart
    try:
        with Client(cluster if cluster is not None else address) as client:
            remote = client.scatter(model, broadcast=True)
            bounds = [(s, min(s + chunk, ds.N)) for s in range(0, ds.N, chunk)]
            futures = [client.submit(verify_arrays, remote, ds.inputs[a:b], ds.labels[a:b], workers=1, pure=False)
                       for a, b in bounds]
            parts = [_shard(model, ds, a, b, res, sha) for (a, b), res in zip(bounds, client.gather(futures), strict=True)]
    finally:
        if cluster is not None:
            cluster.close()
    return combine(parts)
