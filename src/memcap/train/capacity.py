"""Trained capacity measured by code length, as Morris et al. (2025) measure it (docs/trained.md#capacity).

Data are N sequences of S tokens, each uniform over V, so H(X) = N S log2 V exactly and nothing can be
generalised. A causal language model is trained on them; a sequence's code length is
log2 V (the first token, which no model without a BOS token can predict) + sum over t >= 2 of
-log2 p(x_t | x_<t), and what the model memorized of it is max(0, S log2 V - code length). A model's
capacity is the plateau of the total over N.

Invariants: every function here is a pure function of its arguments (the data of a seed, a model's
weights); `memorized_bits` is the whole definition, a dozen lines, so that anyone can recompute the
reported numbers from a saved model and dataset. Beside it two references computed from the data alone:
`ceiling_bits` (what the best possible predictor, the empirical conditionals, would score: sequences that
share a prefix cannot all be told apart) and `determined_tokens` (the tokens whose prefix fixes them, on
which the strict criterion asks every argmax to be right).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import torch

from .tasks import Task


def random_tokens(N: int, S: int, V: int, seed: int = 0) -> torch.Tensor:
    """N sequences of S tokens uniform over 0..V-1; the first N of a seed do not depend on N."""
    if N < 1 or S < 2 or V < 2:
        raise ValueError(f"need N >= 1, S >= 2 and V >= 2; got N={N}, S={S}, V={V}")
    rows = np.random.default_rng(seed).integers(0, V, size=(N, S), dtype=np.int64)
    return torch.from_numpy(rows)


def lm_task(tokens: torch.Tensor, V: int, name: str = "tokens") -> Task:
    """Next-token prediction at every position: inputs x_1..x_{S-1}, targets x_2..x_S."""
    return Task(name, tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous(), "ce", None, V)


def codelengths(net: torch.nn.Module, tokens: torch.Tensor, V: int, batch: int = 4096) -> np.ndarray:
    """Code length in bits of each sequence under `net` (logits [B, S-1, V] from tokens[:, :-1]); the first
    token costs log2 V."""
    out = []
    device = next(net.parameters()).device
    with torch.no_grad():
        for i in range(0, len(tokens), batch):
            t = tokens[i:i + batch].to(device)
            logp = torch.log_softmax(net(t[:, :-1]).double(), dim=-1)
            nll = -logp.gather(-1, t[:, 1:, None])[..., 0].sum(dim=1) / math.log(2)
            out.append((nll + math.log2(V)).cpu().numpy())
    return np.concatenate(out)


def memorized_bits(net: torch.nn.Module, tokens: torch.Tensor, V: int) -> float:
    """Sum over sequences of max(0, H(x) - codelen(x)), H(x) = S log2 V."""
    H = tokens.shape[1] * math.log2(V)
    return float(np.maximum(0.0, H - codelengths(net, tokens, V)).sum())


def _prefix_groups(tokens: np.ndarray):
    """For t = 1..S-1: a Counter of next tokens per prefix x_<=t (as bytes), and each row's prefix key."""
    for t in range(1, tokens.shape[1]):
        keys = [r.tobytes() for r in tokens[:, :t]]
        nexts: dict[bytes, Counter] = defaultdict(Counter)
        for k, nxt in zip(keys, tokens[:, t], strict=True):
            nexts[k][int(nxt)] += 1
        yield t, keys, nexts


def ceiling_bits(tokens: torch.Tensor, V: int) -> float:
    """The memorized bits of the best predictor of this data: p(x_t | x_<t) = the fraction of the sequences
    with that prefix that continue with x_t. With V small, many sequences share a first token, so even this
    predictor is far from H(X)."""
    rows = tokens.numpy()
    gain = np.zeros(len(rows))
    for t, keys, nexts in _prefix_groups(rows):
        for i, k in enumerate(keys):
            c = nexts[k]
            gain[i] += math.log2(V) + math.log2(c[int(rows[i, t])] / sum(c.values()))
    return float(np.maximum(0.0, gain).sum())


def determined_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """Mask [N, S-1] of the targets that the data determines: every sequence sharing the prefix continues
    with the same token. Only these can all be recalled exactly by argmax."""
    rows = tokens.numpy()
    mask = np.zeros((rows.shape[0], rows.shape[1] - 1), dtype=bool)
    for t, keys, nexts in _prefix_groups(rows):
        mask[:, t - 1] = [len(nexts[k]) == 1 for k in keys]
    return torch.from_numpy(mask)


def strict_bits(tokens: torch.Tensor, V: int) -> float:
    """The information in the determined tokens: log2 V per distinct (prefix, token) the data determines."""
    rows = tokens.numpy()
    return sum(math.log2(V) * sum(len(c) == 1 for c in nexts.values()) for _, _, nexts in _prefix_groups(rows))


def argmax_misses(net: torch.nn.Module, tokens: torch.Tensor, batch: int = 4096) -> int:
    """Determined tokens whose argmax prediction is wrong (0: every determined token recalled exactly)."""
    mask = determined_tokens(tokens)
    device = next(net.parameters()).device
    misses = 0
    with torch.no_grad():
        for i in range(0, len(tokens), batch):
            t = tokens[i:i + batch].to(device)
            wrong = net(t[:, :-1]).argmax(-1) != t[:, 1:]
            misses += int((wrong & mask[i:i + batch].to(device)).sum())
    return misses
