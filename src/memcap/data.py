"""Datasets of token sequences with labels: loading, generating, validating (docs/construction.md#data).

A Dataset holds either token ids (int [N, n]) or token vectors (float [N, n, d]), and labels per sequence
([N], next-token) or per token ([N, n], seq2seq). Invariant of a Dataset that `validate` returned: no NaN
or inf, no ragged rows, at least one example, integer labels >= 0, shapes that agree.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import outputs
from .errors import DataError
from .errors import rows_text as _rows
from .vocab import DataSetting, InputKind, Setting, TextUnit, choices_text


@dataclass(frozen=True)
class Dataset:
    """`Dataset(labels=..., tokens=...)` (or `vectors=...`) takes lists or arrays and checks and converts
    them as `validate` does: the fields of a Dataset are always the normalised arrays."""

    labels: np.ndarray  # int64 [N] (next-token) or [N, n] (seq2seq)
    tokens: np.ndarray | None = None  # int64 [N, n]
    vectors: np.ndarray | None = None  # float64 [N, n, d]
    source: InitVar[str] = "dataset"  # names the data in error messages

    def __post_init__(self, source: str) -> None:
        labels, inputs, field = _normalised(self.labels, self.tokens, self.vectors, source)
        object.__setattr__(self, "labels", labels)  # frozen: the one place the fields are set
        object.__setattr__(self, "tokens", inputs if field == "tokens" else None)
        object.__setattr__(self, "vectors", inputs if field == "vectors" else None)

    @property
    def kind(self) -> InputKind:
        return InputKind.ids if self.tokens is not None else InputKind.vectors

    @property
    def inputs(self) -> np.ndarray:
        x = self.tokens if self.tokens is not None else self.vectors
        assert x is not None, "a Dataset holds tokens or vectors (validate makes sure of it)"
        return x

    @property
    def N(self) -> int:
        return self.inputs.shape[0]

    @property
    def n(self) -> int:
        return self.inputs.shape[1]

    @property
    def d(self) -> int:
        return 1 if self.vectors is None else self.vectors.shape[2]

    @property
    def setting(self) -> Setting:
        return Setting.seq2seq if self.labels.ndim == 2 else Setting.next_token

    @property
    def C(self) -> int:
        return int(self.labels.max()) + 1

    @staticmethod
    def random_ids(N: int, n: int, vocab: int, C: int, seed: int = 0, setting: str = DataSetting.next_token) -> Dataset:
        return random_ids(N, n, vocab, C, seed, setting)

    @staticmethod
    def random_vectors(N: int, n: int, d: int, C: int, seed: int = 0, setting: str = DataSetting.next_token) -> Dataset:
        return random_vectors(N, n, d, C, seed, setting)

    @staticmethod
    def from_arrays(labels, tokens=None, vectors=None) -> Dataset:
        """A checked dataset from arrays: `tokens` int [N, n] or `vectors` float [N, n, d], `labels` [N] or [N, n]."""
        return validate(labels, tokens=tokens, vectors=vectors)


def validate(labels, tokens=None, vectors=None, source: str = "dataset") -> Dataset:
    """Check and normalise a dataset; raises DataError naming the example and field at fault."""
    return Dataset(labels=labels, tokens=tokens, vectors=vectors, source=source)


def _normalised(labels, tokens, vectors, source: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(labels int64, inputs int64 or float64, "tokens" | "vectors"), or a DataError."""
    if (tokens is None) == (vectors is None):
        raise DataError(f"{source}: give exactly one of `tokens` (int [N, n]) or `vectors` (float [N, n, d])")
    field = "tokens" if tokens is not None else "vectors"
    try:
        x = np.asarray(tokens if tokens is not None else vectors)
    except ValueError:
        x = None
    if x is None or x.dtype == object:
        raise DataError(f"{source}: `{field}` is ragged: every example must have the same length n (pad or cut)")
    want = 2 if field == "tokens" else 3
    if x.ndim != want:
        raise DataError(f"{source}: `{field}` must have shape {'[N, n]' if want == 2 else '[N, n, d]'}, got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0 or (want == 3 and x.shape[2] == 0):
        raise DataError(f"{source}: empty dataset ({field} shape {x.shape}); give at least one example")
    if field == "tokens":
        if not np.issubdtype(x.dtype, np.integer):
            if np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all() and (x == np.round(x)).all():
                x = x.astype(np.int64)
            else:
                raise DataError(f"{source}: `tokens` must be integer ids")
        bad = np.flatnonzero((x < 0).any(axis=1))
        if bad.size:
            raise DataError(f"{source}: negative token ids in examples {_rows(bad)}")
        if x.dtype == np.uint64 and (x > np.iinfo(np.int64).max).any():
            bad = np.flatnonzero((x > np.iinfo(np.int64).max).any(axis=1))
            raise DataError(f"{source}: token ids above 2^63 - 1 in examples {_rows(bad)}; ids are int64")
        x = x.astype(np.int64)
    else:
        x = x.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(x).reshape(x.shape[0], -1).all(axis=1))
        if bad.size:
            raise DataError(f"{source}: NaN or inf in `vectors` of examples {_rows(bad)}")
    y = np.asarray(labels)
    if y.dtype == object:
        raise DataError(f"{source}: `labels` is ragged")
    if y.shape not in ((x.shape[0],), (x.shape[0], x.shape[1])):
        raise DataError(f"{source}: `labels` must have shape [{x.shape[0]}] (next-token) or "
                        f"[{x.shape[0]}, {x.shape[1]}] (seq2seq), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
            y = y.astype(np.int64)
        else:
            raise DataError(f"{source}: `labels` must be integer classes >= 0")
    bad = np.flatnonzero((y.reshape(y.shape[0], -1) < 0).any(axis=1))
    if bad.size:
        raise DataError(f"{source}: negative labels in examples {_rows(bad)}; classes are integers >= 0")
    return y.astype(np.int64), x, field


def load(path: str | Path) -> Dataset:
    """Load a `.npz` (`tokens` or `vectors`, and `labels`) or a `.jsonl` file (one example per line:
    {"tokens": [...]} or {"vectors": [[...], ...]}, and "label": int or "labels": [...])."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a dataset file (.npz or .jsonl)")
    if path.suffix == ".npz":
        return _load_npz(path)
    if path.suffix in (".jsonl", ".json"):
        return _load_jsonl(path)
    raise DataError(f"{path}: unknown format {path.suffix!r}; use .npz or .jsonl")


def _load_npz(path: Path) -> Dataset:
    """An .npz archive of numeric arrays, read without ever unpickling (object arrays are refused)."""
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and blame object arrays
        raise DataError(f"{path}: not an npz archive (an .npz file is a zip of numpy arrays); make one with "
                        "numpy.savez or memcap data")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if "labels" not in keys:
                raise DataError(f"{path}: missing array `labels` (found {sorted(keys)})")
            arrays = {k: z[k] for k in ("labels", "tokens", "vectors") if k in keys}
    except DataError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise DataError(f"{path}: holds object arrays, which memcap never unpickles; save `tokens`/`vectors` "
                            "and `labels` as numeric arrays (np.savez(path, tokens=np.asarray(t, dtype=np.int64), ...))") from None
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    except (OSError, EOFError, KeyError) as e:
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); make one with numpy.savez "
                        "or memcap data") from None
    return validate(arrays["labels"], tokens=arrays.get("tokens"), vectors=arrays.get("vectors"), source=str(path))


def _load_jsonl(path: Path) -> Dataset:
    """One JSON object per line, every line with the same input field; ragged examples are refused."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file; a .jsonl dataset has one JSON object per line") from None
    rows, labels, field = _jsonl_examples(path, text)
    if not rows:
        raise DataError(f"{path}: no examples")
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        first = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
        raise DataError(f"{path}: ragged: example {first} has length {len(rows[first])}, example 0 has {len(rows[0])}")
    try:
        arr = np.array(rows, dtype=np.float64 if field == "vectors" else None)
        lab = np.array(labels)
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: ragged or non-numeric examples: {e}") from None
    return validate(lab, tokens=arr if field == "tokens" else None, vectors=arr if field == "vectors" else None,
                    source=str(path))


def _jsonl_examples(path: Path, text: str) -> tuple[list, list, str | None]:
    """The inputs, the labels and the input field (`tokens` or `vectors`) of every non-blank line."""
    rows, labels = [], []
    field = None
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            ex = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {i + 1} is not JSON: {e}") from None
        if not isinstance(ex, dict):
            raise DataError(f"{path}: line {i + 1} is not a JSON object such as {{\"tokens\": [1, 2], \"label\": 0}}")
        f = "tokens" if "tokens" in ex else "vectors" if "vectors" in ex else None
        if f is None or not ({"label", "labels"} & ex.keys()):
            raise DataError(f"{path}: line {i + 1} needs `tokens` or `vectors`, and `label` or `labels`")
        if field is not None and f != field:
            raise DataError(f"{path}: line {i + 1} has `{f}` but earlier lines have `{field}`")
        field = f
        rows.append(ex[f])
        labels.append(ex["label"] if "label" in ex else ex["labels"])
    return rows, labels, field


def save(ds: Dataset, path: str | Path, setting: str | None = None, overwrite: bool = False) -> Path:
    """Write `ds` as a compressed .npz archive (through a temporary file beside `path`); `setting` (such as
    "multiset", which the labels' shape cannot tell from next-token) is recorded as a string array `setting`
    beside them. An existing `path` is refused with `OutputExists` unless `overwrite` is set and it is a
    dataset archive."""
    # Any: mypy matches a ** dict against savez's own keyword allow_pickle: bool as well
    arrays: dict[str, Any] = {"labels": ds.labels, ("tokens" if ds.kind == InputKind.ids else "vectors"): ds.inputs}
    if setting is not None:
        arrays["setting"] = np.array(setting)
    with outputs.writing_file(path, "dataset", overwrite) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)  # a file object: np.savez would add .npz to a bare temporary name
    return Path(path)


def _random_labels(rng, token_ids: np.ndarray, C: int, setting: str) -> np.ndarray:
    """Uniform labels; for seq2seq a token that repeats inside a sequence repeats its label, so that the
    data is consistent for a permutation-equivariant model (docs/construction.md#data). "multiset": one
    label per sequence, the same for sequences that are permutations of each other (Deep Sets data)."""
    N, n = token_ids.shape
    if setting == DataSetting.next_token:
        return rng.integers(0, C, size=N)
    if setting == DataSetting.multiset:
        labels = rng.integers(0, C, size=N)
        _, first, inv = np.unique(np.sort(token_ids, axis=1), axis=0, return_index=True, return_inverse=True)
        return labels[first[inv.reshape(-1)]]
    if setting != DataSetting.seq2seq:
        raise DataError(f"setting must be {choices_text(DataSetting)}, got {setting!r}")
    labels = rng.integers(0, C, size=(N, n))
    for i in range(N):
        _, first, inv = np.unique(token_ids[i], return_index=True, return_inverse=True)
        labels[i] = labels[i, first[inv.reshape(-1)]]
    return labels


def _positive(**sizes: int) -> None:
    for name, v in sizes.items():
        if v is None or int(v) < 1:
            raise DataError(f"{name} must be an integer >= 1, got {v}")


def random_ids(N: int, n: int, vocab: int, C: int, seed: int = 0, setting: str = DataSetting.next_token) -> Dataset:
    """N sequences of n ids drawn uniformly from [vocab], labels uniform in [C]."""
    _positive(N=N, n=n, vocab=vocab, C=C)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(N, n))
    return validate(_random_labels(rng, tokens, C, setting), tokens=tokens)


def random_vectors(N: int, n: int, d: int, C: int, seed: int = 0, setting: str = DataSetting.next_token) -> Dataset:
    """N sequences of n tokens drawn uniformly from [0, 1)^d, labels uniform in [C]."""
    _positive(N=N, n=n, d=d, C=C)
    rng = np.random.default_rng(seed)
    vectors = rng.random((N, n, d))
    ids = np.unique(vectors.reshape(N * n, d), axis=0, return_inverse=True)[1].reshape(N, n)
    return validate(_random_labels(rng, ids, C, setting), vectors=vectors)


@dataclass(frozen=True)
class WindowCounts:
    """What `text_windows_counted` did with a file's windows: `read` windows, `repeats` dropped (a window seen
    before, followed by the same token), `conflicts` dropped (a window seen before, followed by another
    token: the first follower is kept), `kept` = read - repeats - conflicts; `conflicting` distinct
    windows had such a second follower; `first_conflict` describes the earliest, or is empty."""

    read: int
    repeats: int
    conflicts: int
    kept: int
    conflicting: int = 0
    first_conflict: str = ""


def text_windows(path: str | Path, n: int, unit: str = TextUnit.byte, stride: int = 1, limit: int | None = None) -> Dataset:
    """Next-token windows of a text file: each example is n consecutive tokens, its label the token after.

    unit="byte" uses raw bytes (vocabulary 256); unit="char" numbers the file's distinct characters in
    sorted order. A window that recurs is kept once, with the token after its first occurrence, so that
    the data is a function (the same window followed by two different tokens could not be memorized).
    """
    return text_windows_counted(path, n, unit, stride, limit)[0]


def text_windows_counted(path: str | Path, n: int, unit: str = TextUnit.byte, stride: int = 1,
                         limit: int | None = None) -> tuple[Dataset, WindowCounts]:
    """`text_windows`, and the counts of the windows read and dropped."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}" if not path.exists() else f"{path} is a directory; give a text file")
    raw = path.read_bytes()
    if unit == TextUnit.byte:
        seq = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
        show = lambda ids: repr(bytes(int(i) for i in ids).decode("utf-8", errors="replace"))  # noqa: E731
    elif unit == TextUnit.char:
        text = raw.decode("utf-8", errors="replace")
        alphabet = sorted(set(text))
        index = {c: i for i, c in enumerate(alphabet)}
        seq = np.array([index[c] for c in text], dtype=np.int64)
        show = lambda ids: repr("".join(alphabet[int(i)] for i in ids))  # noqa: E731
    else:
        raise DataError(f"unit must be {choices_text(TextUnit)}, got {unit!r}")
    if len(seq) <= n:
        raise DataError(f"{path}: {len(seq)} tokens, need more than the window length n={n}")
    starts = np.arange(0, len(seq) - n, stride)
    if limit is not None:
        starts = starts[:limit]
    windows = seq[starts[:, None] + np.arange(n)[None, :]]
    labels = seq[starts + n]
    _, first, inv = np.unique(windows, axis=0, return_index=True, return_inverse=True)
    owner = first[inv.reshape(-1)]  # the first occurrence of each window
    later = owner != np.arange(len(windows))
    conflict = later & (labels != labels[owner])
    note = ""
    if conflict.any():
        i = int(np.flatnonzero(conflict)[0])
        j = int(owner[i])
        note = (f"window {show(windows[i])} is followed by {show(labels[j:j + 1])} at token {starts[j]} and by "
                f"{show(labels[i:i + 1])} at token {starts[i]}")
    keep = np.sort(first)
    counts = WindowCounts(len(windows), int((later & ~conflict).sum()), int(conflict.sum()), len(keep),
                          len(np.unique(owner[conflict])), note)
    return validate(labels[keep], tokens=windows[keep], source=str(path)), counts
