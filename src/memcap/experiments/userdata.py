"""Sweeps on a user's dataset: nested random subsets of it (the first N of one permutation per seed, so each
N's subset holds every smaller N's), each beside random data of the same n, vocabulary, C, setting and
construction options, so that a report can put "how many parameters does my data need, and how does that
grow?" beside the answer for data with no structure at all.

Invariant: a configuration names its file by path and content hash; `subset` refuses a file whose content
changed since the configuration was made (a resumed sweep never mixes two versions of the data).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from .. import data
from ..errors import DataError, NeedsPositions

QUICK_N = (30, 100, 300)
FULL_N = (100, 300, 1000, 3000, 10_000, 30_000, 100_000)


def file_hash(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256: what a configuration calls the data."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@functools.cache
def _load(path: str, digest: str) -> data.Dataset:
    if file_hash(Path(path)) != digest:
        raise DataError(f"{path} changed since its sweep was started (content hash {digest} expected); "
                        "sweep into a new file, or restore the data")
    return data.load(path)


def subset(cfg: dict) -> data.Dataset:
    """The N examples of the user's data that this configuration names: the first N of the permutation that
    its seed draws (nested across N for one seed)."""
    ds = _load(cfg["data"], cfg["sha256"])
    take = np.random.default_rng(cfg["seed"]).permutation(ds.N)[: cfg["N"]]
    return data.validate(ds.labels[take], tokens=None if ds.tokens is None else ds.tokens[take],
                         vectors=None if ds.vectors is None else ds.vectors[take], source=cfg["data"])


def needs_positions(ds: data.Dataset, arch: str) -> bool:
    """Whether the construction needs each token's position joined to it for this data: it does when two
    sequences that are permutations of each other (with the same current token) carry different labels.
    Raises DataError when even positions cannot tell two examples apart (the labels contradict)."""
    from ..compiling import compile

    if arch == "deep-sets":  # a Deep Sets model sees the multiset only: positions would not reach it
        return False
    try:
        compile(ds, arch=arch, positions=False)
        return False
    except NeedsPositions:
        pass
    compile(ds, arch=arch, positions=True)  # a DataError here: identical inputs with different labels
    return True


def describe(ds: data.Dataset) -> dict:
    """What the matched random data copies: n, the number of distinct tokens (ids) or d (vectors), the
    number of distinct labels, and the setting."""
    out = {"setting": ds.setting, "n": ds.n, "C": int(len(np.unique(ds.labels)))}
    if ds.kind == "ids":
        assert ds.tokens is not None  # the kind is ids exactly when tokens are held
        out["vocab"] = int(len(np.unique(ds.tokens)))
    else:
        out["d"] = ds.d
    return out


def grid(total: int, quick: bool) -> list[int]:
    """The default N: the quick or full grid up to the dataset's size, and the whole dataset when it is
    larger than the grid's last point kept (the quick grid adds it only where the data cut the grid short,
    so that a small file still gets its last point)."""
    full = QUICK_N if quick else FULL_N
    Ns = [N for N in full if N <= total]
    if (not quick or len(Ns) < len(full)) and (not Ns or Ns[-1] < total):
        Ns.append(total)
    return Ns


def configs(path: Path, Ns: list[int] | None = None, seeds: int = 3, arch: str = "transformer", quick: bool = False,
            baseline: bool = True) -> list[dict]:
    """The sweep's configurations: for each N and seed, the user's subset and (with `baseline`) its random
    match. Raises DataError when the data cannot be read or compiled, or an N exceeds the data."""
    ds = data.load(path)
    Ns = sorted(set(Ns)) if Ns else grid(ds.N, quick)
    if Ns[-1] > ds.N:
        raise DataError(f"--N {Ns[-1]}: {path} has {ds.N} examples; give N up to {ds.N}")
    if arch in ("deep-sets", "rnn") and ds.setting != "next-token":
        raise DataError(f"--arch {arch} takes one label per sequence; {path} has seq2seq labels")
    shape = describe(ds)
    opts = dict(mode="tight", bit_budget=None, positions=needs_positions(ds, arch), **({"arch": arch} if arch != "transformer" else {}))
    digest = file_hash(path)
    out = []
    for N in Ns:
        for seed in range(seeds):
            out.append(dict(source="data", data=str(Path(path).resolve()), sha256=digest, **shape, N=N, seed=seed, **opts))
            if baseline:
                setting = "multiset" if arch == "deep-sets" else shape["setting"]
                out.append(dict(source="random", match=digest, **{**shape, "setting": setting}, N=N, seed=seed, **opts))
    return out
