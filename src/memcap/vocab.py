"""The words memcap's options, records and files are spelled in, each vocabulary defined once.

Every vocabulary is a `StrEnum`: a member is the very string it stands for (it compares, hashes, formats
and serialises as that string), so a model file, a JSON row or a sweep's hash is byte-identical whether
it was written from a member or from the plain string, and a string read back from a file compares equal
to the member. Member names are the values with '-' written '_', as the CLI's choices spell them.
"""

from __future__ import annotations

import enum


class InputKind(enum.StrEnum):
    """What a dataset's examples (and a model's input layer) hold: token ids or real vectors."""

    ids = "ids"
    vectors = "vectors"


class Setting(enum.StrEnum):
    """What a dataset's labels mean: one label per sequence [N], or one per position [N, n]."""

    next_token = "next-token"
    seq2seq = "seq2seq"


class DataSetting(enum.StrEnum):
    """The label settings random data is drawn in: a multiset's label depends only on its tokens."""

    next_token = "next-token"
    seq2seq = "seq2seq"
    multiset = "multiset"


class ModelSetting(enum.StrEnum):
    """What a built model computes: a plain ReLU network on points, or a sequence model of a setting."""

    points = "points"
    next_token = "next-token"
    seq2seq = "seq2seq"
    multiset = "multiset"


class Mode(enum.StrEnum):
    """The construction's constants: measured ones (tight) or the paper's."""

    tight = "tight"
    paper = "paper"


class Objective(enum.StrEnum):
    """What the tight mode's plan minimises: dense parameters times parameter bits (balanced, the default:
    F2 a retrieval table), blocks (depth: F2 the address memorizer) or parameter bits (bits: the retrieval
    table's plan of the fewest bits)."""

    balanced = "balanced"
    depth = "depth"
    bits = "bits"


class Arch(enum.StrEnum):
    """The compiled architecture: a Transformer, Deep Sets rho(sum phi(x)), or an RNN h_k = h_{k-1} + phi(x_k)."""

    transformer = "transformer"
    deep_sets = "deep-sets"
    rnn = "rnn"


class Attention(enum.StrEnum):
    """The attention a Transformer is compiled with: uniform scores make softmax and hardmax agree; sparse
    routes the sequence's mean through a register token."""

    softmax = "softmax"
    hardmax = "hardmax"
    sparse = "sparse"


class WindowPattern(enum.StrEnum):
    """An attention layer's mask: every position (the prefix when causal), or a sparse register pattern."""

    all = "all"
    gather = "gather"  # the register <- each real token, each real token <- the register
    read = "read"  # every position <- the register


class ReadAt(enum.StrEnum):
    """Where a sequence model's outputs are read: the last position (next-token) or every position."""

    last = "last"
    all = "all"


class Stage2(enum.StrEnum):
    """The shape of the memorizer's Stage II (how the crafted integers are written per group)."""

    trapezoid = "trapezoid"  # the paper's: 4 ramps per group
    float_safe = "float-safe"  # an indicator slot, then the big products
    stepped = "stepped"  # steps shared by neighbouring groups into slots (the bits objective)
    telescoped = "telescoped"  # the shared steps write differences between neighbouring groups
    hashed = "hashed"  # no groups of points: a retrieval table of slots (the bits objective)


class TextUnit(enum.StrEnum):
    """What a token of a text file is: a raw byte (vocabulary 256) or a distinct character."""

    byte = "byte"
    char = "char"


class TrainedArch(enum.StrEnum):
    """The trained baselines: the paper's Transformer, a standard one, recurrent cells, a flat MLP."""

    paper = "paper"
    standard = "standard"
    gru = "gru"
    lstm = "lstm"
    mlp = "mlp"


class HookEvent(enum.StrEnum):
    """The step an executor hook is shown the stream before."""

    embed = "embed"
    attention = "attention"
    pool = "pool"
    recur = "recur"
    ffn = "ffn"


def choices_text(vocab: type[enum.StrEnum]) -> str:
    """The values as an error message lists them: 'a', 'b' or 'c'."""
    quoted = [repr(v.value) for v in vocab]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def is_member(vocab: type[enum.StrEnum], value: object) -> bool:
    """Is `value` one of the vocabulary's strings? (Python 3.11's `in` refuses a plain string.)"""
    return isinstance(value, str) and value in vocab._value2member_map_
