"""A retrieval table (docs/construction.md#the-bits-objective-a-retrieval-table): N distinct non-negative
integer keys t with values y in [0, C), stored without the keys.

Each key is hashed to one slot in each of three segments of S slots, h_i(t) = floor(((a_i t) mod 2^w) S / 2^w)
(multiply-shift: a_i odd), and the table T is solved so that (T[h_1] + T[h_2] + T[h_3]) mod C = y for every
key, by peeling as an XOR filter does: a slot that only one remaining key touches fixes that key's value, so
the key is removed and the rest are solved first; values are then assigned in reverse order.

With a shared offset (`offset_group` G > 0) the second and third slots sit at the first slot's offset
inside its group of G: h_1 as above, and for i = 2, 3 the group g_i = floor(((a_i t) mod 2^w) (S / G) / 2^w),
slot g_i G + (h_1 mod G). A memorizer can then add the three slots' groups into one register and read one
chunk of it. The keys split into G classes by offset, each its own smaller hypergraph: near the threshold
some class keeps a 2-core, which is solved by Gaussian elimination over GF(C) (C prime), and two keys may
share all three slots (the triples are fewer), which only a new draw mends when their values differ.

Invariant of a `Table`: for every key k, sum_i values[i][h_i(t_k)] mod C == y_k, checked exactly before the
table is returned. Peeling fails when the keys' slots contain a 2-core (unsolved); then the multipliers are drawn
again (attempt 1, 2, ... from the seed: deterministic) and, every `TRIES_PER_SIZE` attempts, the segments
grow by an eighth. Slots that no key fixes hold 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOAD = 1.23  # slots per key: just above the 3-hypergraph's peeling threshold (about 1.222)
SHARED_LOAD = 1.25  # a shared offset's 2-cores are solved by elimination: a little slack keeps them small
EXTRA_SLOTS = 32  # small key sets need slack: their 2-cores are likelier
TRIES_PER_SIZE = 4
MAX_ATTEMPTS = 64
MAX_CORE = 2000  # an offset's 2-core of more keys is drawn again rather than solved (elimination is cubic)
MAX_HASH_BITS = 64  # w: keys below 2^w never collide mod 2^w; wider keys are reduced mod 2^64


class PeelingError(RuntimeError):
    """No table was found within MAX_ATTEMPTS (the keys are not distinct, or something is badly wrong)."""


@dataclass(frozen=True)
class Table:
    """A solved table: three segments of `segment` slots (a multiple of G), their multipliers, the values."""

    segment: int  # S
    w: int  # hash width
    multipliers: tuple[int, int, int]  # a_i, odd, < 2^multiplier_bits(...)
    values: np.ndarray  # int64 [3, S] in [0, C)
    modulus: int  # C
    attempt: int  # how many draws failed before this one
    offset_group: int = 0  # G when the three slots share their offset inside a group of G, else 0
    shift: int = 0  # z: every key is a multiple of 2^z, and the hash reads t / 2^z (a t mod 2^(w + z) in the network)

    def slots(self, keys) -> np.ndarray:
        """[N, 3] global slot indices (segment i at i S) of keys t >= 0."""
        return hash_all(as_uint64(shifted(keys, self.shift)), self.multipliers, self.w, self.segment, self.offset_group)


def is_prime(p: int) -> bool:
    """Whether p is prime (trial division: moduli are label counts, small)."""
    return p >= 2 and all(p % d for d in range(2, math.isqrt(p) + 1))


def common_zeros(keys) -> int:
    """For keys wider than MAX_HASH_BITS, the largest z with every key a multiple of 2^z, else 0: such keys
    (token vectors' dyadic scale) would share their low 64 bits, the only ones the hash reads, so it reads
    t / 2^z instead. Narrower keys are hashed whole (a t mod 2^w is distinct for distinct keys anyway)."""
    ks = [int(k) for k in np.asarray(keys).ravel()]
    if max(ks, default=0).bit_length() <= MAX_HASH_BITS:
        return 0
    return min(((k & -k).bit_length() - 1 for k in ks if k), default=0)


def shifted(keys, z: int) -> np.ndarray:
    """keys // 2^z, exactly (Python ints where they do not fit int64)."""
    keys = np.asarray(keys)
    if not z:
        return keys
    return np.array([int(k) >> z for k in keys.ravel()], dtype=object)


def as_uint64(keys) -> np.ndarray:
    """Keys t >= 0 reduced mod 2^64 (exact for int64 and for Python ints of any size)."""
    keys = np.asarray(keys)
    if keys.dtype == object:
        return np.array([int(k) & ((1 << 64) - 1) for k in keys], dtype=np.uint64)
    return keys.astype(np.uint64)


def hash_slots(keys: np.ndarray, a: int, w: int, S: int) -> np.ndarray:
    """floor(((a t) mod 2^w) S / 2^w) for uint64 keys (t mod 2^64), S < 2^31, as int64: exactly the integer
    that the network's long division leaves (uint64 products wrap mod 2^64, and 2^w divides 2^64)."""
    with np.errstate(over="ignore"):
        x = keys * np.uint64(a)
    if w < 64:
        x &= np.uint64((1 << w) - 1)
    if w <= 32:
        return ((x * np.uint64(S)) >> np.uint64(w)).astype(np.int64)
    # x S = hi S 2^32 + lo S, and floor((A 2^32 + B) / 2^w) = floor((A + floor(B / 2^32)) / 2^(w - 32))
    hi, lo = x >> np.uint64(32), x & np.uint64(0xFFFFFFFF)
    return ((hi * np.uint64(S) + ((lo * np.uint64(S)) >> np.uint64(32))) >> np.uint64(w - 32)).astype(np.int64)


def hash_all(keys: np.ndarray, a: tuple[int, ...], w: int, S: int, offset_group: int = 0) -> np.ndarray:
    """[N, 3] global slots of uint64 keys: independent multiply-shift hashes into each segment, or (with
    offset_group G) the first one's offset inside its group shared by the other two."""
    first = hash_slots(keys, a[0], w, S)
    if not offset_group:
        rest = [hash_slots(keys, a[i], w, S) for i in (1, 2)]
    else:
        G = offset_group
        rest = [hash_slots(keys, a[i], w, S // G) * G + first % G for i in (1, 2)]
    return np.stack([first, S + rest[0], 2 * S + rest[1]], axis=1)


def segment_size(n: int, group: int, load: float | None = None) -> int:
    """Slots per segment: load n + EXTRA_SLOTS in all (load = LOAD unless given), rounded up to whole
    groups of `group` slots."""
    return group * max(1, math.ceil(((LOAD if load is None else load) * n + EXTRA_SLOTS) / 3 / group))


def multiplier_bits(w: int, key_bits: int, spare: int, S: int) -> int:
    """Bits A of the multipliers: every bit of a t above w costs the network one step pair, so A is ten
    bits more than the slot index needs (the slot is the top bits of a t mod 2^w, and those mix the low
    bits of t with every bit of a), at most w, and fewer where a t times the stream's denominator
    (`spare` bits) would reach 2^61 (the executor keeps values below 2^62 in int64 columns, and sums of
    two of them too), but at least 16 there (wider values only cost the executor Python ints)."""
    return max(1, min(w, S.bit_length() + 10, max(16, 61 - key_bits - spare)))


def hash_width(S: int, key_bits: int) -> int:
    """w: as wide as the keys (so a t mod 2^w, a odd, is distinct for distinct keys: no two keys share all
    three slots), at least a dozen bits more than the slot index, at most MAX_HASH_BITS."""
    return min(MAX_HASH_BITS, max(key_bits, S.bit_length() + 12))


def peel(slots: np.ndarray, total: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Peel keys whose slots are `slots` [N, 3] (global indices < total). Returns the rounds, each (keys,
    free slot of each key), in peeling order, and the keys of the 2-core that remains (empty when every
    key peeled). No core key touches a peeled key's free slot."""
    n = len(slots)
    count = np.zeros(total, dtype=np.int64)
    xor = np.zeros(total, dtype=np.int64)
    keys = np.arange(n, dtype=np.int64)
    for i in range(3):
        np.add.at(count, slots[:, i], 1)
        np.bitwise_xor.at(xor, slots[:, i], keys)
    rounds: list[tuple[np.ndarray, np.ndarray]] = []
    left = np.ones(n, dtype=bool)
    while True:
        free = np.flatnonzero(count == 1)
        if not len(free):
            return rounds, np.flatnonzero(left)
        ks, first = np.unique(xor[free], return_index=True)  # a key can be alone in two slots: take one
        rounds.append((ks, free[first]))
        left[ks] = False
        for i in range(3):
            np.subtract.at(count, slots[ks, i], 1)
            np.bitwise_xor.at(xor, slots[ks, i], ks)


def solve_core(slots: np.ndarray, y: np.ndarray, P: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(slot indices, values) with sum of each key's three slot values = y mod P (P prime), by Gaussian
    elimination over GF(P) (forward to echelon form, then back substitution), free slots 0; None when the
    system has no solution (two keys on the same three slots with different values, say) or more than
    MAX_CORE keys."""
    if len(slots) > MAX_CORE:
        return None
    cols, inv = np.unique(slots, return_inverse=True)
    a = np.zeros((len(slots), len(cols) + 1), dtype=np.int64)
    np.add.at(a, (np.repeat(np.arange(len(slots)), 3), inv.reshape(-1)), 1)
    a[:, -1] = y % P
    pivots, row = [], 0
    for col in range(len(cols)):
        nz = np.flatnonzero(a[row:, col]) + row
        if not len(nz):
            continue
        a[[row, nz[0]]] = a[[nz[0], row]]
        a[row, col:] = a[row, col:] * pow(int(a[row, col]), -1, P) % P
        below = np.flatnonzero(a[row + 1 :, col]) + row + 1
        if len(below):  # earlier columns are 0 in every row from `row` on: only col and after change
            a[below, col:] = (a[below, col:] - np.outer(a[below, col], a[row, col:])) % P
        pivots.append(col)
        row += 1
        if row == len(slots):
            break
    if a[row:, -1].any():
        return None
    values = np.zeros(len(cols) + 1, dtype=np.int64)  # the last entry stands for the constant column: -1
    values[-1] = P - 1
    for r in range(len(pivots) - 1, -1, -1):  # pivot r's row has 0 before its pivot and 1 on it
        c = pivots[r]
        values[c] = -(int(a[r, c + 1:] @ values[c + 1:])) % P
    return cols, values[:-1]


def solve_cores(slots: np.ndarray, y: np.ndarray, P: int, G: int) -> tuple[np.ndarray, np.ndarray] | None:
    """`solve_core` class by class: with a shared offset, keys of different offsets (first slot mod G)
    touch disjoint slots, so the system splits into one small system per offset."""
    parts = []
    offset = slots[:, 0] % G
    for d in np.unique(offset):
        mine = np.flatnonzero(offset == d)
        got = solve_core(slots[mine], y[mine], P)
        if got is None:
            return None
        parts.append(got)
    return np.concatenate([c for c, _ in parts]), np.concatenate([v for _, v in parts])


def _assign(slots: np.ndarray, rounds, y: np.ndarray, C: int, total: int, core=None) -> np.ndarray:
    """Values in reverse peeling order, after the core's: a key's free slot was touched by no key peeled
    after it nor by a core key, and no key of its own round touches it, so each round's slots are set from
    values already final."""
    table = np.zeros(total, dtype=np.int64)
    if core is not None:
        table[core[0]] = core[1]
    for ks, free in reversed(rounds):
        s = table[slots[ks, 0]] + table[slots[ks, 1]] + table[slots[ks, 2]]  # the free slot is still 0
        table[free] = (y[ks] - s) % C
    return table


def draw(keys: np.ndarray, key_bits: int, S: int, seed: int, attempt: int, spare: int = 0, offset_group: int = 0):
    """(w, multipliers, [N, 3] global slots) of one attempt: the multipliers come from (seed, attempt)."""
    w = hash_width(S, key_bits)
    rng = np.random.default_rng([seed, attempt])
    a = tuple(int(v) | 1 for v in rng.integers(1, 1 << multiplier_bits(w, key_bits, spare, S), size=3, dtype=np.uint64))
    return w, a, hash_all(keys, a, w, S, offset_group)


def solve(keys: np.ndarray, y: np.ndarray, C: int, group: int, seed: int, load: float | None = None, spare: int = 0,
          shared: bool = False) -> Table:
    """The table for distinct keys >= 0 (int64 or object) with values y in [0, C); `spare`: bits of the
    denominator over which the network holds the keys (see multiplier_bits); `shared`: the three slots
    share their offset inside a group of `group` slots."""
    y = np.asarray(y, dtype=np.int64)
    z = common_zeros(keys)
    keys = shifted(keys, z)
    n = len(keys)
    assert not shared or C == 1 or is_prime(C), "a shared offset solves over GF(C): C prime"
    key_bits = (max(int(k) for k in keys) if keys.dtype == object else int(keys.max())).bit_length() if n else 0
    keys = as_uint64(keys)
    S = segment_size(n, group, load if load is not None else SHARED_LOAD if shared else LOAD)
    tries = 2 * TRIES_PER_SIZE if shared else TRIES_PER_SIZE  # a shared draw also fails on a triple two keys share
    for attempt in range(MAX_ATTEMPTS):
        if attempt and attempt % tries == 0:
            S = group * math.ceil(S * 9 / 8 / group)
        w, a, slots = draw(keys, key_bits, S, seed, attempt, spare, group if shared else 0)
        rounds, stuck = peel(slots, 3 * S)
        core = solve_cores(slots[stuck], y[stuck], C, group) if len(stuck) and shared else None
        if len(stuck) and core is None:
            continue
        values = _assign(slots, rounds, y, C, 3 * S, core)
        if not np.array_equal(values[slots].sum(axis=1) % C, y % C):
            raise AssertionError("retrieval table does not reproduce its values")  # the invariant, checked
        return Table(S, w, a, values.reshape(3, S), C, attempt, group if shared else 0, z)
    raise PeelingError(f"no retrieval table for {n} keys in {MAX_ATTEMPTS} attempts: are the keys distinct?")
