"""Hypothesis strategies: valid point sets (incl. adversarial ones), valid token-id datasets, and
multiset datasets (one label per multiset) with some of them made inconsistent on purpose."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..vocab import DataSetting, Setting


@st.composite
def point_sets(draw, max_points: int = 40, max_d: int = 4):
    """Distinct points with labels (-1 = extra); some collinear, some exactly at a minimum separation,
    coordinates spanning 1e-9 .. 1e9."""
    d = draw(st.integers(1, max_d))
    V = draw(st.integers(1, max_points))
    style = draw(st.sampled_from(["random", "collinear", "grid", "scales"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if style == "random":
        x = rng.standard_normal((V, d)) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    elif style == "collinear":
        direction = rng.standard_normal(d)
        x = np.outer(rng.permutation(V).astype(float), direction)
    elif style == "grid":  # exactly delta apart along the first axis
        delta = draw(st.sampled_from([1e-9, 0.5, 1.0, 7.0]))
        x = np.zeros((V, d))
        x[:, 0] = np.arange(V) * delta
    else:
        x = rng.standard_normal((V, d)) * (10.0 ** rng.integers(-9, 10, size=(V, 1)))
    x = np.unique(x, axis=0)
    C = draw(st.sampled_from([2, 10, 1000]))
    y = rng.integers(0, C, size=len(x))
    extra = rng.random(len(x)) < draw(st.sampled_from([0.0, 0.3]))
    y[extra] = -1
    if (y < 0).all():
        y[0] = 0
    return x, y


@st.composite
def id_datasets(draw, max_N: int = 30, max_n: int = 6):
    """Token-id datasets with labels that are consistent for a permutation-equivariant model."""
    from ..data import random_ids

    N = draw(st.integers(1, max_N))
    n = draw(st.integers(1, max_n))
    vocab = draw(st.integers(1, 20))
    C = draw(st.sampled_from([2, 10, 1000]))
    setting = draw(st.sampled_from([Setting.next_token, Setting.seq2seq]))
    ds = random_ids(N, n, vocab, C, seed=draw(st.integers(0, 2**16)), setting=setting)
    return _make_consistent(ds)


@st.composite
def sparse_id_datasets(draw, max_N: int = 30, max_n: int = 6):
    """Consistent token-id datasets whose ids are spread over [0, 2^63): the vocabulary is sparse."""
    from ..data import validate

    ds = draw(id_datasets(max_N, max_n))
    top = draw(st.sampled_from([10**6, 10**9, 2**63 - 1]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    spread = np.unique(rng.integers(0, top, size=64, dtype=np.int64))
    while len(spread) < 20:  # a collision among 64 draws from a large range is rare; draw again if it happened
        spread = np.unique(np.r_[spread, rng.integers(0, top, size=64, dtype=np.int64)])
    return validate(ds.labels, tokens=spread[ds.tokens])


@st.composite
def multiset_datasets(draw, max_N: int = 30, max_n: int = 6, vectors: bool | None = None):
    """Datasets whose label depends on the multiset of tokens only (ids, or vectors when `vectors`); many
    examples are permutations of each other (a small vocabulary), and share their label."""
    from ..data import random_ids, validate

    N, n = draw(st.integers(1, max_N)), draw(st.integers(1, max_n))
    C, seed = draw(st.sampled_from([2, 10, 1000])), draw(st.integers(0, 2**16))
    V = draw(st.integers(1, 20))
    ds = random_ids(N, n, V, C, seed, setting=DataSetting.multiset)
    if vectors if vectors is not None else draw(st.booleans()):  # the ids name distinct vectors of [0, 1)^d
        alphabet = np.random.default_rng(seed).random((V, draw(st.integers(1, 3))))
        return validate(ds.labels, vectors=alphabet[ds.tokens])
    return ds


def _make_consistent(ds):
    """Give every context (current token, multiset) the label of its first occurrence."""
    from ..data import validate

    tokens, labels = ds.tokens, ds.labels.copy()
    seen: dict = {}
    N, n = tokens.shape
    for i in range(N):
        key_ms = tuple(sorted(tokens[i].tolist()))
        if labels.ndim == 1:
            labels[i] = seen.setdefault((key_ms, int(tokens[i, -1])), int(labels[i]))
        else:
            for k in range(n):
                labels[i, k] = seen.setdefault((key_ms, int(tokens[i, k])), int(labels[i, k]))
    return validate(labels, tokens=tokens)
