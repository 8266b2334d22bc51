"""The errors a user can meet, and the helper that names rows in their messages.

Every error here carries a message that says which example or field is at fault and what to do; the CLI
prints it as one `error:` line and exits 2.
"""

from __future__ import annotations


class DataError(ValueError):
    """Input that cannot be memorized or read; the message names the offending rows and what to do."""


class NeedsPositions(DataError):
    """Two examples that only a model with positions can tell apart carry different labels."""


class NotFloatExact(ValueError):
    """The model would not compute its exact outputs in float64."""


def rows_text(idx, limit: int = 5) -> str:
    """'3, 7, 9 (and 12 more)': row indices for a message."""
    idx = [int(i) for i in idx]
    more = f" (and {len(idx) - limit} more)" if len(idx) > limit else ""
    return ", ".join(map(str, idx[:limit])) + more
