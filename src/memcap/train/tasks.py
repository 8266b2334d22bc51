"""Training tasks: tensors to fit, the loss, and where the output is read (docs/trained.md#trained).

A Task is what the trainer needs and nothing more. Invariant: `fingerprint` changes whenever the data, the
loss or the read position does, so a checkpoint or a sweep never mixes runs of different tasks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from ..data import Dataset
from ..errors import DataError
from ..nn.model import GPTConfig, MLPConfig, RecurrentConfig, StandardConfig, TransformerConfig, paper_config
from ..vocab import Setting, TrainedArch

ModelConfig = TransformerConfig | StandardConfig | GPTConfig | RecurrentConfig | MLPConfig  # every config nn.model builds


@dataclass(frozen=True)
class Task:
    name: str
    x: torch.Tensor  # ids int64 [N, n] or vectors float32 [N, n, d]
    y: torch.Tensor  # class ids int64 ([N] or [N, n]) or targets +-1 float32 [N]
    loss: str  # "ce" or "mse"
    read: int | None  # the position whose output is trained (-1: the last); None: every position (seq2seq)
    classes: int  # output width for "ce"; 1 for "mse"

    @property
    def N(self) -> int:
        return self.x.shape[0]

    @property
    def n(self) -> int:
        return self.x.shape[1]

    @property
    def d(self) -> int:
        return self.x.shape[2] if self.x.ndim == 3 else 0

    @property
    def vocab(self) -> int:
        return int(self.x.max()) + 1 if self.x.ndim == 2 else 0

    @property
    def out_dim(self) -> int:
        return 1 if self.loss == "mse" else self.classes

    @property
    def bits(self) -> float:
        """Information in the labels: log2(C) per label (the floor N log C of docs/trained.md#trained)."""
        return float(self.y.numel() * np.log2(max(self.classes, 2)))

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in (self.x, self.y):
            h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
            h.update(t.contiguous().numpy().tobytes())
        h.update(f"{self.loss}/{self.read}/{self.classes}".encode())
        return h.hexdigest()[:16]

    def subset(self, N: int) -> Task:
        if not 1 <= N <= self.N:
            raise DataError(f"task {self.name} has {self.N} examples; asked for the first {N}")
        return Task(f"{self.name}[:{N}]", self.x[:N], self.y[:N], self.loss, self.read, self.classes)


DENSE_IDS = 1 << 20  # ids below this train through an embedding of max id + 1 rows; larger ones are renumbered


def from_dataset(ds: Dataset, name: str = "dataset") -> Task:
    """Next-token datasets train the last position's output; seq2seq ones every position's. Token ids of
    2^20 or more (sparse vocabularies, up to 2^63) are renumbered by rank, so that the trained embedding has
    one row per token present, as the built model's does; smaller ids are kept as they are."""
    tokens = ds.tokens
    if tokens is not None and int(tokens.max()) >= DENSE_IDS:
        tokens = np.unique(tokens, return_inverse=True)[1].reshape(tokens.shape)
    x = torch.from_numpy(tokens.copy()) if tokens is not None else torch.from_numpy(ds.inputs.astype(np.float32))
    y = torch.from_numpy(ds.labels.astype(np.int64))
    return Task(name, x, y, "ce", -1 if ds.setting == Setting.next_token else None, ds.C)


def model_config(spec: dict, task: Task) -> ModelConfig:
    """The one place an architecture name and its sizes become a model config for `task`: "paper" (blocks,
    m = 2, q = 8 by default), "standard" (width, layers, heads = 1, mlp = 4 by default), "gru" / "lstm"
    (width = hidden size, layers = 1) or "mlp" (width, 2 hidden layers, on the flattened input)."""
    if spec["arch"] == TrainedArch.paper:
        return paper_config(spec["blocks"], task.n, task.out_dim, d_in=task.d, vocab=task.vocab, m=spec.get("m", 2), q=spec.get("q", 8))
    if spec["arch"] == TrainedArch.standard:
        return StandardConfig(width=spec["width"], layers=spec["layers"], heads=spec.get("heads", 1), seq_len=task.n,
                              out_dim=task.out_dim, d_in=task.d, vocab=task.vocab, mlp=spec.get("mlp", 4))
    if spec["arch"] in (TrainedArch.gru, TrainedArch.lstm):
        return RecurrentConfig(cell=spec["arch"], width=spec["width"], layers=spec.get("layers", 1), seq_len=task.n,
                               out_dim=task.out_dim, d_in=task.d, vocab=task.vocab)
    if spec["arch"] == TrainedArch.mlp:
        return MLPConfig(width=spec["width"], layers=spec.get("layers", 2), seq_len=task.n, out_dim=task.out_dim,
                         d_in=task.d, vocab=task.vocab)
    raise ValueError(f"unknown arch {spec['arch']!r}: use paper, standard, gru, lstm or mlp")


def digits(seed: int = 0, classes: int = 10) -> Task:
    """scikit-learn's bundled digits (no download): each 8x8 image is a sequence of n = 8 rows, d = 8,
    pixel values / 16; shuffled with `seed` so that the first N are a random subset. 10 classes, or 3
    (the digit mod 3: {0,3,6,9}, {1,4,7}, {2,5,8}, as many classes as the paper's MultiNLI, and groups
    that share no visual feature, so a model must memorize rather than read off a shape)."""
    from sklearn.datasets import load_digits

    if classes not in (3, 10):
        raise ValueError(f"digits have 10 classes or 3 (mod 3); got {classes}")
    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    x = torch.from_numpy((d.images[order] / 16.0).astype(np.float32))
    y = torch.from_numpy((d.target[order] % classes).astype(np.int64))
    name = f"digits(seed={seed})" if classes == 10 else f"digits-mod3(seed={seed})"
    return Task(name, x, y, "ce", -1, classes)


# The 79 help topics of CPython's bundled `pydoc_data.topics`, in three groups by what they document.
TOPIC_GROUPS = {
    "statements and execution": (
        "assert", "assignment", "async", "augassign", "break", "class", "compound", "context-managers", "continue", "del",
        "dynamic-features", "else", "exceptions", "execmodel", "for", "function", "global", "if", "import", "naming",
        "nonlocal", "pass", "raise", "return", "try", "while", "with", "yield"),
    "expressions": (
        "atom-identifiers", "atom-literals", "attribute-references", "await", "binary", "bitwise", "booleans", "calls",
        "comparisons", "conversions", "exprlists", "floating", "formatstrings", "identifiers", "imaginary", "in", "integers",
        "lambda", "lists", "dict", "numbers", "operator-summary", "power", "shifting", "slicings", "strings", "subscriptions",
        "unary"),
    "data model and built-in types": (
        "attribute-access", "bltin-code-objects", "bltin-ellipsis-object", "bltin-null-object", "bltin-type-objects",
        "callable-types", "customization", "debugger", "id-classes", "numeric-types", "objects", "sequence-types",
        "specialattrs", "specialnames", "string-methods", "truth", "types", "typesfunctions", "typesmapping",
        "typesmethods", "typesmodules", "typesseq", "typesseq-mutable"),
}


def topics(seed: int = 0, n: int = 8) -> Task:
    """Real text that ships with CPython (no download): the interpreter's help topics (`pydoc_data.topics`),
    cut into consecutive windows of n words (identifiers and numbers, lower-cased), each labelled by its
    topic's group (3 classes, as many as the paper's MultiNLI). A window that occurs more than once is
    dropped everywhere, so every label is determined by its tokens. Shuffled with `seed`; token ids are
    numbered by first appearance in that order, so the first N windows use a compact vocabulary and the
    trained embedding has one row per word they contain. Topics not in the table (other Python versions)
    are left out; the text itself differs between Python versions, which the task's fingerprint records."""
    import re
    from collections import Counter
    from pydoc_data.topics import topics as text

    windows, labels = [], []
    for label, names in enumerate(TOPIC_GROUPS.values()):
        for name in names:
            words = re.findall(r"[a-z_][a-z_0-9]*|[0-9]+", text.get(name, "").lower())
            for i in range(0, len(words) - n + 1, n):
                windows.append(tuple(words[i:i + n]))
                labels.append(label)
    count = Counter(windows)
    keep = [i for i, w in enumerate(windows) if count[w] == 1]
    order = np.random.default_rng(seed).permutation(len(keep))
    ids: dict[str, int] = {}
    x = np.array([[ids.setdefault(w, len(ids)) for w in windows[keep[i]]] for i in order], dtype=np.int64)
    y = np.array([labels[keep[i]] for i in order], dtype=np.int64)
    return Task(f"pydoc-topics(n={n},seed={seed})", torch.from_numpy(x), torch.from_numpy(y), "ce", -1, len(TOPIC_GROUPS))


def random_vectors(N: int, n: int, d: int, C: int = 2, seed: int = 0, signs: bool = False) -> Task:
    """Tokens Uniform[0,1)^d; labels uniform over C classes, or +-1 for MSE (`signs`, the paper's
    n-independence experiment)."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((N, n, d)).astype(np.float32))
    if signs:
        y = torch.from_numpy(rng.choice([-1.0, 1.0], size=N).astype(np.float32))
        return Task(f"random(N={N},n={n},d={d},+-1,seed={seed})", x, y, "mse", -1, 2)
    y = torch.from_numpy(rng.integers(0, C, size=N).astype(np.int64))
    return Task(f"random(N={N},n={n},d={d},C={C},seed={seed})", x, y, "ce", -1, C)
