"""The README's main job: generate a dataset, compile it in five variants, verify each exactly on every
example (and the bit-budget model in float64 torch), and print sizes beside the theorem and lower bounds."""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .. import data
from ..bounds import all_bounds, check_lower_bounds
from ..ir import fileformat
from ..pipeline import build
from ..verify import verify_torch

VARIANTS = [
    ("tight", {}),
    ("paper", {"mode": "paper"}),
    ("bit budget 48", {"bit_budget": 48}),
    ("positions", {"positions": True}),
    ("hardmax", {"attention": "hardmax"}),
]


def run_demo(N: int, n: int, seed: int, out: Path, console: Console) -> bool:
    ds = data.random_ids(N, n, vocab=200, C=10, seed=seed)
    console.print(f"dataset: {N} random sequences of {n} token ids (vocabulary 200), 10 classes, seed {seed}")
    table = Table(title="compiled Transformers (every example verified with exact arithmetic)")
    for c in ("variant", "params", "nonzero", "depth", "width", "max bits", "total bits", "compile s",
              "verify s", "exact", "float64"):
        table.add_column(c, justify="right")
    all_ok = True
    for name, opts in VARIANTS:
        b = build(ds, seed=seed, **opts)
        fl = "-"
        if "bit_budget" in opts:
            fv = verify_torch(b.model, ds)
            fl = f"{fv.positions - fv.wrong}/{fv.positions}"
            all_ok &= fv.wrong == 0
        st = b.stats
        fileformat.save(b.model, out / name.replace(" ", "-"), overwrite=True)  # the demo's own folder: a rerun replaces its models
        all_ok &= b.verification.ok
        table.add_row(name, f"{st.params:,}", f"{st.nonzero_params:,}", str(st.depth), str(st.width),
                      str(st.max_bits), f"{st.total_bits:,}", f"{b.compile_s:.2f}", f"{b.verify_s:.2f}", b.exact_text, fl)
        if name == "tight":
            tight = st
    console.print(table)
    bt = Table(title=f"Theorem 4.1 and the lower bounds at N={N}, n={n} (O-constants taken as 1)")
    for c in ("bound", "kind", "quantity", "value", "formula"):
        bt.add_column(c)
    for b in all_bounds(N, n, 1, 10, vocab=200):
        if b.kind != "table1":
            bt.add_row(b.name, b.kind, b.quantity, f"{b.value:,.0f}", b.formula)
    console.print(bt)
    for bname, need, have, ok in check_lower_bounds(tight.as_dict(), N, n, 10, "next-token"):
        console.print(f"lower bound {bname}: needs >= {need:,.0f}; tight model has {have:,} -> "
                      f"{'holds' if ok else 'VIOLATED'}")
    console.print(f"tight model: {tight.params / math.sqrt(N):.0f} x sqrt(N) parameters; "
                  f"{tight.total_bits / (N * math.log2(10)):.1f} x the N log2 C information floor in bits")
    console.print(f"models written under {out}/")
    console.print("[bold green]all variants memorize every example[/]" if all_ok else "[bold red]FAILED[/]")
    return all_ok
