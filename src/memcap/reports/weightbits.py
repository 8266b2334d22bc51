"""The report's section "Bits per weight bit: built against trained": the information floor N log2 C of the
memorized labels over the total bits of the built model's parameters (every stored nonzero parameter, the
bit length of its integer magnitude), for both objectives at every N of the sweep, beside the published
figures for trained models and memcap's own trained capacity runs where they exist.

A trained model's weight bits are its parameter count times the bits of its number format (16 for bf16,
32 for float32), every parameter counted whatever its value; so a trained bits-per-parameter figure over
the format's width is the same ratio: label information per stored weight bit.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .fits import series_rows

# Morris et al. 2025, "How much do language models memorize?": their measured capacity of GPT-style models
MORRIS_BF16 = 3.5  # bits per parameter, trained in bf16 (16-bit weights)
MORRIS_FP32 = 3.8  # bits per parameter, trained in float32 (32-bit weights)


def _trained_rows(capacity_csv: Path | None) -> list[list]:
    """memcap's own `repro capacity` models (float32 weights), when its capacity_models.csv exists."""
    if capacity_csv is None or not Path(capacity_csv).is_file():
        return []
    with Path(capacity_csv).open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("bits_per_param")]
    return [[f"trained here (`repro capacity`): {r['arch']} {r['depth']}x{r['width']}, {r['params']} params, float32",
             f"{float(r['bits_per_param']):.2f} bits/param", f"{float(r['bits_per_param']) / 32:.3f}"] for r in rows]


def section(rows: list[dict], capacity_csv: Path | None = None) -> list[str]:
    """Markdown lines of the section (empty when the sweep has no next-token tight rows)."""
    series = (("depth objective", "next-token tight, params vs N"), ("bits objective", "next-token tight bits objective, params vs N"),
              ("balanced objective (default)", "next-token tight balanced objective, params vs N"))
    body = []
    for what, name in series:
        for r in series_rows(rows, name):
            c = r["config"]
            floor = c["N"] * math.log2(c["C"])
            body.append([f"built, {what}, N = {c['N']}", f"{r['total_bits']} bits for {floor:.0f} label bits",
                         f"{floor / r['total_bits']:.3f}"])
    if not body:
        return []
    body += [["trained, Morris et al. 2025 (their measurement), bf16", f"{MORRIS_BF16} bits/param", f"{MORRIS_BF16 / 16:.2f}"],
             ["trained, Morris et al. 2025 (their measurement), float32", f"{MORRIS_FP32} bits/param", f"{MORRIS_FP32 / 32:.2f}"]]
    body += _trained_rows(capacity_csv)
    md = ["## Bits per weight bit: built against trained", "",
          "Label information stored per bit of weight: N log2 C over the model's total parameter bits for the built "
          "models (random next-token data, n = 16, vocabulary 1000, C = 10; every example verified exactly), and a "
          "trained model's measured bits per parameter over its number format's width (16 for bf16, 32 for float32). "
          "The built models under the bits and balanced objectives store each label in a retrieval table "
          "(docs/construction.md): the bits objective's ratio approaches 1 / 1.23 from below as N grows, the balanced "
          "objective trades some of it for fewer parameters; the trained figures are Morris et al.'s published "
          "measurements, cited as theirs.", "",
          "| model | measured | bits per weight bit |", "|---|---|---|"]
    md += ["| " + " | ".join(map(str, row)) + " |" for row in body]
    return [*md, ""]
