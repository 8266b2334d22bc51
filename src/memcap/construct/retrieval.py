"""A retrieval table (docs/construction.md#the-bits-objective-a-retrieval-table): N distinct non-negative
integer keys t with values y in [0, C), stored without the keys.

Each key is hashed to one slot in each of three segments of S slots, h_i(t) = floor(((a_i t) mod 2^w) S / 2^w)
(multiply-shift: a_i odd), and the table T is solved so that (T[h_1] + T[h_2] + T[h_3]) mod C = y for every
key, by peeling as an XOR filter does: a slot that only one remaining key touches fixes that key's value, so
the key is removed and the rest are solved first; values are then assigned in reverse order.

Invariant of a `Table`: for every key k, sum_i values[i][h_i(t_k)] mod C == y_k, checked exactly before the
table is returned. Peeling fails when the keys' slots contain a 2-core; then the multipliers are drawn
again (attempt 1, 2, ... from the seed: deterministic) and, every `TRIES_PER_SIZE` attempts, the segments
grow by an eighth. Slots that no key fixes hold 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOAD = 1.23  # slots per key: just above the 3-hypergraph's peeling threshold (about 1.222)
EXTRA_SLOTS = 32  # small key sets need slack: their 2-cores are likelier
TRIES_PER_SIZE = 4
MAX_ATTEMPTS = 64
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


def peel(slots: np.ndarray, total: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Peel keys whose slots are `slots` [N, 3] (global indices < total). Returns the rounds, each (keys,
    free slot of each key), in peeling order, or None when a 2-core remains."""
    n = len(slots)
    count = np.zeros(total, dtype=np.int64)
    xor = np.zeros(total, dtype=np.int64)
    keys = np.arange(n, dtype=np.int64)
    for i in range(3):
        np.add.at(count, slots[:, i], 1)
        np.bitwise_xor.at(xor, slots[:, i], keys)
    rounds, done = [], 0
    while done < n:
        free = np.flatnonzero(count == 1)
        if not len(free):
            return None
        ks, first = np.unique(xor[free], return_index=True)  # a key can be alone in two slots: take one
        rounds.append((ks, free[first]))
        done += len(ks)
        for i in range(3):
            np.subtract.at(count, slots[ks, i], 1)
            np.bitwise_xor.at(xor, slots[ks, i], ks)
    return rounds


def _assign(slots: np.ndarray, rounds, y: np.ndarray, C: int, total: int) -> np.ndarray:
    """Values in reverse peeling order: a key's free slot was touched by no key peeled after it, and no key
    of its own round touches it, so each round's slots are set from values already final."""
    table = np.zeros(total, dtype=np.int64)
    for ks, free in reversed(rounds):
        s = table[slots[ks, 0]] + table[slots[ks, 1]] + table[slots[ks, 2]]  # the free slot is still 0
        table[free] = (y[ks] - s) % C
    return table


def draw(keys: np.ndarray, key_bits: int, S: int, seed: int, attempt: int, spare: int = 0):
    """(w, multipliers, [N, 3] global slots) of one attempt: the multipliers come from (seed, attempt)."""
    w = hash_width(S, key_bits)
    rng = np.random.default_rng([seed, attempt])
    a = tuple(int(v) | 1 for v in rng.integers(1, 1 << multiplier_bits(w, key_bits, spare, S), size=3, dtype=np.uint64))
    return w, a, np.stack([i * S + hash_slots(keys, a[i], w, S) for i in range(3)], axis=1)


def solve(keys: np.ndarray, y: np.ndarray, C: int, group: int, seed: int, load: float | None = None, spare: int = 0) -> Table:
    """The table for distinct keys >= 0 (int64 or object) with values y in [0, C); `spare`: bits of the
    denominator over which the network holds the keys (see multiplier_bits)."""
    y = np.asarray(y, dtype=np.int64)
    keys = np.asarray(keys)
    n = len(keys)
    key_bits = (max(int(k) for k in keys) if keys.dtype == object else int(keys.max())).bit_length() if n else 0
    keys = as_uint64(keys)
    S = segment_size(n, group, LOAD if load is None else load)
    for attempt in range(MAX_ATTEMPTS):
        if attempt and attempt % TRIES_PER_SIZE == 0:
            S = group * math.ceil(S * 9 / 8 / group)
        w, a, slots = draw(keys, key_bits, S, seed, attempt, spare)
        rounds = peel(slots, 3 * S)
        if rounds is None:
            continue
        values = _assign(slots, rounds, y, C, 3 * S)
        if not np.array_equal(values[slots].sum(axis=1) % C, y % C):
            raise AssertionError("retrieval table does not reproduce its values")  # the invariant, checked
        return Table(S, w, a, values.reshape(3, S), C, attempt)
    raise PeelingError(f"no retrieval table for {n} keys in {MAX_ATTEMPTS} attempts: are the keys distinct?")
