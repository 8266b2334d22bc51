"""The hashed memorizer's plan: the cost model (parameter bits, blocks and dense parameters of a plan,
counted as `construct.hashed.build_blocks` writes its units, before any table is solved), the plan (group
size G, register parts, shared offset or not) that an objective asks for, and `memorize_hashed`, which
plans, solves the table and builds the blocks.

Invariant: the blocks and dense parameters are those of the built model for the segment size the first
draw uses (a draw that fails and grows the segments costs more than estimated); the bits are the built
bits but for the table, taken as log2 of the register base per stored digit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .hashed import Coords, HashedMemorizer, _bits, _stage3_blocks, build_blocks, register_base
from .retrieval import SHARED_LOAD, PeelingError, hash_width, is_prime, multiplier_bits, segment_size, solve

GROUP_CANDIDATES = (4, 6, 8, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 176, 192, 200, 208, 224, 240, 256, 320, 384, 512)
_PLACES = Coords(t=0, X=1, D=2, regs=(3, 4), slots=(5, 6, 7, 8), y=9)  # any distinct indices: for counting
STAGE2_UNITS = 6  # a Stage II block: two step pairs and two groups' product units


@dataclass(frozen=True)
class Plan:
    """A hashed memorizer's shape: slots per group, register parts, and whether the three slots of a key
    share their offset (one readout of the three groups' summed registers) or not (three readouts)."""

    group: int
    parts: int
    shared: bool = False


def table_modulus(C: int, shared: bool) -> int:
    """The table's modulus: C, or with a shared offset the least prime >= C (its 2-cores are solved over
    GF(p)); labels below C come back unchanged either way."""
    if not shared or C <= 2:
        return C
    p = C
    while not is_prime(p):
        p += 1
    return p


def _pair(thr: int, *ws: int) -> int:
    return 2 * (1 + _bits(thr) + sum(_bits(x) for x in ws)) - (1 if thr == 0 else 0)


@functools.lru_cache(maxsize=256)
def _stage3_shape(base: int, G: int, parts: int) -> tuple[int, int, int]:
    """Stage III as `_lookup` builds it: (bits, blocks, most units in a block), counted on the built units
    (they depend on the register base, G and parts only), with the X and D clears and the next load."""
    units, shifts = _stage3_blocks(_PLACES, G, parts, base, (base - 1).bit_length())
    bits = sum(sum(_bits(w) for _, w in u.reads) + _bits(u.bias) + sum(_bits(w) for _, w in u.writes)
               for block in units for u in block) + sum(_bits(w) for sh in shifts for _, w in sh)
    most = max(len(units[0]) + 1, len(units[-1]) + 2, *(len(u) for u in units))
    return bits + 4, len(units), most


@dataclass(frozen=True)
class _Shape:
    S: int
    n: int
    w: int
    A: int
    top: int  # step pairs that take a t mod 2^w
    P: int  # the table's modulus
    base: int  # the registers' digit base


def _shape(n_keys: int, C: int, G: int, key_bits: int, spare: int, shared: bool) -> _Shape:
    S = segment_size(n_keys, G, SHARED_LOAD if shared else None)
    w = hash_width(S, key_bits)
    A = multiplier_bits(w, key_bits, spare, S)
    P = table_modulus(C, shared)
    return _Shape(S, S // G, w, A, A + key_bits - w, P, 3 * P - 2 if shared else P)


def _hash_bits(sh: _Shape, values: int, unit: int) -> int:
    return (1 + sh.A + 2 + sum(_pair(1 << (sh.w + p), 1 << (sh.w + p)) for p in range(sh.top)) + 1 + _bits(values - 1)
            + sum(_pair(1 << (sh.w + p), 1 << (sh.w + p), unit << p) for p in range((values - 1).bit_length())))


def estimate_bits(n_keys: int, C: int, G: int, parts: int, key_bits: int, spare: int = 0, shared: bool = False) -> dict[str, int]:
    """Parameter bits per stage for n_keys keys below 2^key_bits, counted unit by unit as `build_blocks`
    writes them, except the table, taken as log2(base) bits per stored digit (a register's top digit is
    uniform in [0, C), so its bit length is about its digits times log2 of the base)."""
    sh = _shape(n_keys, C, G, key_bits, spare, shared)
    n = sh.n
    steps = (n - 1) // 2 * (_pair(0, 1, 1) + _pair(G, 1, 1)) + (n - 1) % 2 * _pair(0, 1, 1)
    groups = steps + n * (2 + parts) + ((n - 1) // 2 + 2) * _bits(2 * G) + 1
    table = round(sh.S * math.log2(sh.base)) if C > 1 else 0
    mod = sum(_pair(G << p, G << p) for p in range((n - 1).bit_length()))
    extraction = _stage3_shape(sh.base, G, parts)[0]
    combine = 2 * (2 * 2 + _bits(sh.P) + _bits(2 * sh.P)) + 8
    if not shared:
        return {"hash": 3 * _hash_bits(sh, sh.S, 1), "groups": 3 * groups, "table": 3 * table, "mod": 3 * mod,
                "extraction": 3 * extraction, "line+combine": combine}
    hashing = _hash_bits(sh, sh.S, 1) + 2 * (_hash_bits(sh, n, G) + 4)
    return {"hash": hashing, "groups": 3 * groups, "table": 3 * table, "mod": mod, "extraction": extraction,
            "line+combine": combine}


def estimate_blocks(n_keys: int, C: int, G: int, parts: int, key_bits: int, spare: int = 0,
                    shared: bool = False) -> tuple[dict[str, int], int]:
    """Blocks per stage (exactly as `build_blocks` makes them for the first draw's segment size), and the
    most units in any block (the model's q, which every block pays for in the dense count)."""
    sh = _shape(n_keys, C, G, key_bits, spare, shared)
    n = sh.n
    _, stage3, most = _stage3_shape(sh.base, G, parts)
    full = sh.top + 1 + (sh.S - 1).bit_length()
    groups = (n - 1) // 2 + 2
    q = max(STAGE2_UNITS if n > 1 else 2, most, 4)
    if not shared:
        return {"hash": 3 * full, "groups": 3 * groups, "mod": 3 * (n - 1).bit_length(), "extraction": 3 * stage3,
                "line+combine": 2}, q
    return {"hash": full + 2 * (sh.top + 2 + (n - 1).bit_length()), "groups": 3 * groups, "mod": (n - 1).bit_length(),
            "extraction": stage3, "line+combine": 2}, q


def estimate_params(n_keys: int, C: int, G: int, parts: int, key_bits: int, m: int, spare: int = 0,
                    other_blocks: int = 0, shared: bool = False) -> dict[str, int]:
    """Dense parameters per stage in the paper's every-entry convention: each block pays 4 m (an attention
    layer's entries, counted in every block) plus 2 (m + 1) q for its feed-forward layer, q the most units
    in any block of the model, so a stage costs its blocks times that, whatever its own blocks hold;
    other_blocks (the rest of the model's, if any) are counted at the same cost as "other"."""
    blocks, q = estimate_blocks(n_keys, C, G, parts, key_bits, spare, shared)
    out = {k: v * (4 * m + 2 * (m + 1) * q) for k, v in blocks.items()}
    return {**out, "other": other_blocks * (4 * m + 2 * (m + 1) * q)} if other_blocks else out


def shared_fits(n_keys: int, G: int) -> bool:
    """Whether a shared offset leaves enough distinct slot triples: S (S / G)^2 of them for n_keys keys, so
    about n_keys^2 / (2 S (S / G)^2) pairs of keys share all three slots, and a pair with two values makes
    the draw unsolvable; at most two such pairs expected (a draw then succeeds one time in six or more)."""
    S = segment_size(n_keys, G, SHARED_LOAD)
    return G > 1 and S * (S // G) ** 2 * 4 >= n_keys**2


def choose_plan(n_keys: int, C: int, key_bits: int, spare: int = 0, m: int = 0, max_params: int | None = None,
                other_blocks: int = 0, fewest: str = "bits", shared_ok: bool = True) -> Plan:
    """fewest="bits": the plan of the fewest estimated bits among those whose estimated dense parameters
    (m stream coordinates; other_blocks more blocks at the same cost) are at most max_params; where no
    plan is that small (or max_params is None), of the fewest bits. fewest="balanced": the plan of the
    least product of estimated bits and dense parameters (a tenth fewer of either is worth as much)."""
    if C == 1:
        return Plan(1, 1)
    cands = []
    for G in GROUP_CANDIDATES:
        for parts in (1, 2):
            for shared in (False, True) if shared_ok and shared_fits(n_keys, G) else (False,):
                bits = sum(estimate_bits(n_keys, C, G, parts, key_bits, spare, shared).values())
                params = sum(estimate_params(n_keys, C, G, parts, key_bits, max(m, 1), spare, other_blocks, shared).values())
                cands.append((bits, params, Plan(G, parts, shared)))
    if fewest == "balanced":
        return min(cands, key=lambda c: (c[0] * c[1], c[1]))[2]
    if max_params is not None and m:
        cands = [c for c in cands if c[1] <= max_params] or cands
    return min(cands, key=lambda c: (c[0], c[1]))[2]


def memorize_hashed(values: np.ndarray, form: tuple[tuple[int, int], ...], targets: list[int], c: Coords, seed: int,
                    den: int = 1, plan: Plan | None = None, m: int = 0, max_params: int | None = None,
                    other_blocks: int = 0, fewest: str = "bits") -> HashedMemorizer:
    """The hashed memorizer for points whose line values (exact ints, distinct) are `values` = form on the
    data, with targets >= 0 (y = target on each point; anything elsewhere). `den`: the denominator over
    which the executor will hold the stream there (the multipliers leave room for it). `plan`: forced, or
    `choose_plan`'s for `fewest` (with `m`, the model's stream width, the bits plan keeps the memorizer's
    dense parameters, and other_blocks more blocks at the same cost each, at most max_params where it can)."""
    vals = np.asarray(values, dtype=object)
    snap = -min(vals)
    keys = np.array([int(v) + snap for v in vals], dtype=object)
    key_bits = int(max(keys)).bit_length()
    C = max(targets) + 1
    spare = (den - 1).bit_length()
    plan = plan or choose_plan(len(keys), C, key_bits, spare, m, max_params if m else None, other_blocks, fewest)
    y = np.array(targets, dtype=np.int64)
    try:
        table = solve(keys, y, table_modulus(C, plan.shared), plan.group, seed, spare=spare, shared=plan.shared)
    except PeelingError:
        if not plan.shared:
            raise
        # too many keys on shared triples for every draw tried: the plan of independent slots instead
        plan = choose_plan(len(keys), C, key_bits, spare, m, max_params if m else None, other_blocks, fewest, shared_ok=False)
        table = solve(keys, y, C, plan.group, seed, spare=spare)
    blocks, names = build_blocks(c, form, snap, table, plan.group, plan.parts, key_bits)
    base = register_base(table)
    return HashedMemorizer(table, plan.group, plan.parts, (base - 1).bit_length(), key_bits, tuple(blocks), tuple(names))
