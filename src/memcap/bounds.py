"""Every bound of docs/construction.md#bounds and the paper's Table 1, evaluated for (N, n, d, C, r, delta, vocabulary).

Upper bounds are the theorems' formulas with their O(.) constants taken as 1 (so they are shapes, not
guarantees); lower bounds are stated as the smallest W (or total bits) they allow. `check_lower_bounds`
compares a built model with the lower bounds: a built model below one would be a bug.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .vocab import Setting


@dataclass(frozen=True)
class Bound:
    name: str
    kind: str  # "upper" | "lower" | "table1"
    quantity: str  # "params", "depth", "width", "bits", "total_bits"
    value: float
    formula: str
    source: str

    def as_dict(self) -> dict:
        return asdict(self)


def log2(x: float) -> float:
    return math.log2(max(x, 2.0))


def theorem_R(N: int, n: int, d: int, r: float, delta: float) -> float:
    """R of Theorem 4.1 (docs/construction.md#next-token): R^2 = 400 sqrt(3d) n^3 r N^5 pi / delta."""
    r, delta = max(r, 1.0), min(delta, 1.0)
    return math.sqrt(400 * math.sqrt(3 * d) * n**3 * r * N**5 * math.pi / delta)


def thm43_min_params(nN: int) -> float:
    """Smallest W with nN <= 9 W^2 log2(48 e nN) (Theorem 4.3, hardmax seq2seq, all tokens distinct)."""
    return math.sqrt(nN / (9 * math.log2(48 * math.e * nN)))


def all_bounds(N: int, n: int, d: int = 1, C: int = 2, r: float = 1.0, delta: float = 1.0,
               vocab: int | None = None, setting: str = Setting.next_token) -> list[Bound]:
    M = N if setting == Setting.next_token else n * N  # what the memorizer F2 stores
    R = theorem_R(N, n, d, r, delta)
    lr, lc = log2(R), log2(C + 1)
    depth = math.sqrt(M * log2(M)) + math.sqrt(M / log2(M)) * max(lr, lc)
    bits = log2(d) + math.sqrt(M / log2(M)) * max(lr, lc)
    width = 14
    src = "Thm 4.1" if setting == Setting.next_token else "Cor 4.1"
    out = [
        Bound("width", "upper", "width", width, "14", src),
        Bound("depth", "upper", "depth", depth, "sqrt(M log M) + sqrt(M/log M) max(log R, log C)", src),
        Bound("bit complexity", "upper", "bits", bits, "log d + sqrt(M/log M) max(log R, log C)", src),
        Bound("parameters", "upper", "params", d + depth * width * width,
              "d + depth * width^2  (O~(d + sqrt(M)))", src),
        Bound("next-token lower bound", "lower", "params", math.sqrt(N), "sqrt(N)  (Omega, constant 1)", "Thm 4.2"),
        Bound("counting bound", "lower", "total_bits", (N if setting == Setting.next_token else n * N) * math.log2(max(C, 2)),
              "W * B >= N log2 C" + (" (nN for seq2seq)" if setting != Setting.next_token else ""), "counting"),
    ]
    if setting != Setting.next_token:
        out.append(Bound("seq2seq hardmax lower bound", "lower", "params", thm43_min_params(n * N),
                         "nN <= 9 W^2 log2(48 e nN), solved for W", "Thm 4.3"))
    w = vocab or d
    out += [
        Bound("Kim et al. 2023 (seq2seq)", "table1", "params", d + n + math.sqrt(n * N), "O~(d + n + sqrt(nN))", "Table 1"),
        Bound("Mahdavi et al. 2023 (next-token, 1 layer)", "table1", "params", d * d * N / n, "O(d^2 N / n)", "Table 1"),
        Bound("Kajitsuka & Sato 2023 (seq2seq, 1 layer)", "table1", "params", d * n * N + d * d, "O(d n N + d^2)", "Table 1"),
        Bound("Madden et al. 2024 (next-token, positions)", "table1", "params", w * N, "O(omega N), Omega(omega N)", "Table 1"),
        Bound("this paper, next-token", "table1", "params", math.sqrt(N), "O~(sqrt N), Omega(sqrt N)", "Table 1"),
        Bound("this paper, seq2seq", "table1", "params", math.sqrt(n * N), "O~(sqrt(nN)), Omega(sqrt(nN/log nN))", "Table 1"),
    ]
    return out


def check_lower_bounds(stats: dict, N: int, n: int, C: int, setting: str) -> list[tuple[str, float, float, bool]]:
    """(bound, required, built, holds) for each lower bound against a built model's stats."""
    rows = [("sqrt(N) parameters (Thm 4.2)", math.sqrt(N), stats["params"])]
    labels = N if setting == Setting.next_token else n * N
    rows.append(("total bits >= N log2 C (counting)", labels * math.log2(max(C, 2)), stats["total_bits"]))
    if setting != Setting.next_token:
        rows.append(("Thm 4.3 parameters", thm43_min_params(n * N), stats["params"]))
    return [(name, need, have, have >= need) for name, need, have in rows]
