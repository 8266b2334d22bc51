"""Stream coordinates of a compiled model: which named coordinates exist for each variant, which scratch
coordinates F1's and F2's memorizers share, and the embedding table that writes phi and F for token ids.
Invariant: every stage addresses the stream only by these names, so a variant's layout is decided once.
"""

from __future__ import annotations

from ..vocab import InputKind

IDS_COORDS = ("phi", "F", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")
VECTOR_COORDS = ("x", "F", "D1", "phi", "sid", "t", "D", "U", "W", "cw0", "cw1", "g", "y", "i0", "i1")


def coords_for(kind: InputKind, float_safe: bool, sparse: bool = False, multiset: bool = False, slots: bool = False,
               hashed: bool = False) -> tuple[str, ...]:
    """Stream coordinates of a compiled model (the indicator slots only where float-safe; the register's
    gathered value `reg` only with sparse attention; the integer token id Fi where F2 reads a float-safe
    current token vector). `slots`: the one slot i0 of the bits objective's stepped Stage II; `hashed`:
    both slots (i1 is the hashed memorizer's scratch X)."""
    names: tuple[str, ...] = IDS_COORDS if kind == InputKind.ids else VECTOR_COORDS
    names = names if float_safe or hashed else names[:-1] if slots else names[:-2]
    if float_safe and kind == InputKind.vectors and not multiset:  # an integer token id for F2 (see f1.token_layer)
        at = names.index("phi") + 1
        names = (*names[:at], "Fi", "T2", "D2", *names[at:])
    if sparse:
        at = names.index("sid") + 1
        names = (*names[:at], "reg", *names[at:])
    return names


def shared_scratch(c: dict[str, int]) -> dict[str, int]:
    """The scratch coordinates that F1's and F2's memorizers share (F1 leaves them at zero)."""
    return {name: c[name] for name in ("U", "W", "cw0", "cw1", "g", "i0", "i1") if name in c}


def embedding_table(f: tuple[int, ...], F_values: list[int], coords: tuple[str, ...]) -> tuple:
    """Rows of E_in for token ids, one per distinct token j (row j + 1): phi = f(token), F = F_values[j]
    (distinct small integers, whatever the raw ids). Row 0, for ids never seen, is all zeros."""
    m = len(coords)
    phi, F = coords.index("phi"), coords.index("F")
    rows = [[0] * m for _ in range(len(f) + 1)]
    for j, (value, fv) in enumerate(zip(f, F_values, strict=True)):
        rows[j + 1][F] = fv
        rows[j + 1][phi] = value
    return tuple(tuple(r) for r in rows)
