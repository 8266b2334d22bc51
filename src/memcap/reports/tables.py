"""The report's plain outputs: a figure's data as a CSV beside it, and a Markdown table."""

from __future__ import annotations

import csv
from pathlib import Path

from .. import outputs


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with outputs.replacing(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def md_table(header: list[str], body: list[list]) -> list[str]:
    """Markdown lines of a table, with a blank line after it."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(map(str, r)) + " |" for r in body), ""]
