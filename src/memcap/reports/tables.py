"""The reports' tables: one helper writes a table as Markdown (for report.md), CSV (with the run's provenance
as '#' comment lines at the top) and LaTeX (booktabs, to paste into a paper), after dropping repeated rows
and columns that hold one value in every row (said once in a note instead).

Invariant: every CSV the reports write starts with the provenance comment, and `read_csv` (the one way the
package reads them back) skips it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .. import outputs
from . import provenance


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """A CSV with the active provenance as its '#' header comment."""
    buf = io.StringIO()
    buf.write("".join(line + "\n" for line in provenance.comment_lines(provenance.current())))
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    outputs.replace_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV that `write_csv` wrote (or any CSV), its '#' comment lines skipped."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _numeric(cell) -> bool:
    try:
        float(str(cell).replace(",", ""))
        return True
    except ValueError:
        return False


def _numeric_column(body: list[list], i: int) -> bool:
    return bool(body) and all(_numeric(r[i]) or str(r[i]) in ("-", "") for r in body)


def md_table(header: list[str], body: list[list]) -> list[str]:
    """Markdown lines of a table (numeric columns right-aligned, text left), with a blank line after it."""
    align = ["---:" if _numeric_column(body, i) else ":---" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|", *("| " + " | ".join(map(str, r)) + " |" for r in body), ""]


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"$<$", ">": r"$>$", "≤": r"$\le$", "≥": r"$\ge$",
        "×": r"$\times$", "≈": r"$\approx$", "–": "--", "·": r"$\cdot$", "`": ""}


def tex_escape(text) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def latex_table(header: list[str], body: list[list], caption: str = "") -> str:
    """A booktabs tabular (in a table float with `caption`): numeric columns right-aligned, text left."""
    align = "".join("r" if _numeric_column(body, i) else "l" for i in range(len(header)))
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{tex_escape(caption)}}}")
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(tex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(tex_escape(c) for c in r) + r" \\" for r in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def tidy(header: list[str], body: list[list], keep: tuple[str, ...] = ()) -> tuple[list[str], list[list], list[str]]:
    """Repeated rows dropped (the first kept) and columns with one value in every row removed (unless named
    in `keep`); returns the header, the body and 'column: value' notes for the removed columns."""
    seen, rows = set(), []
    for r in body:
        key = tuple(map(str, r))
        if key not in seen:
            seen.add(key)
            rows.append(list(r))
    constant = [i for i, h in enumerate(header) if len(rows) > 1 and h not in keep and len({str(r[i]) for r in rows}) == 1]
    notes = [f"{header[i]}: {rows[0][i]}" for i in constant]
    cols = [i for i in range(len(header)) if i not in constant]
    return [header[i] for i in cols], [[r[i] for i in cols] for r in rows], notes


def table(out: Path, stem: str, header: list[str], body: list[list], caption: str = "", keep: tuple[str, ...] = ()) -> list[str]:
    """Write stem.md and stem.tex in `out` tidied (no repeated rows, no constant columns), stem.csv with
    every column (it is also the data of a figure) but no repeated rows, and return the Markdown lines for
    the report, with a note of the constant columns and the files."""
    full_header, full_body, _ = tidy(header, body, keep=tuple(header))
    write_csv(Path(out) / f"{stem}.csv", full_header, full_body)
    header, body, notes = tidy(header, body, keep)
    md = md_table(header, body)
    outputs.replace_text(Path(out) / f"{stem}.md", "\n".join(([f"{caption}", ""] if caption else []) + md))
    outputs.replace_text(Path(out) / f"{stem}.tex", latex_table(header, body, caption))
    same = f"Every row has {'; '.join(notes)} (a column in `{stem}.csv`). " if notes else ""
    return [*md, f"*{same}Table: `{stem}.md`, `{stem}.csv`, `{stem}.tex` (LaTeX, booktabs).*", ""]
