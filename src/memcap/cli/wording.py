"""The library's errors name Python arguments (`bit_budget=48`); the command line names its flags.

`as_flags` rewrites a library message for the CLI, so that each message is written once, in the library,
and a Python user never reads a flag they cannot pass. Only the spellings below are rewritten: library
messages use exactly these forms when they name an argument.
"""

from __future__ import annotations

import re

# (Python spelling in a library message, its command-line spelling); the longer forms come first
_SPELLINGS: tuple[tuple[str, str], ...] = (
    (r"bit_budget=(\d+)", r"--bit-budget \1"),
    (r"\bbit_budget\b", "--bit-budget"),
    (r"\bpositions=True\b", "--positions"),
    (r"\battention=\"sparse\"", "--attention sparse"),
    (r"\bcausal=True\b", "--causal"),
    (r"\bmemcap\.to_torch\b", "--to torch"),
    (r"\bdevice=\"([^\"]*)\"", r"--device \1"),
    (r"\bto_torch\(model, ds\.inputs\)", "--data DATA"),
)


def as_flags(message: str) -> str:
    """`message` with every Python argument spelling replaced by the flag that sets it."""
    for python, flag in _SPELLINGS:
        message = re.sub(python, flag, message)
    return message
