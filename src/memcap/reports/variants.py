"""Report sections for the paper's other models and the cost-vs-n question, from the variant sweep's rows:
Deep Sets beside the Transformer on the same multisets; sparse against dense attention as n grows; the
bit-budget curve at fixed N (Theorem F.1); Transformer, plain FFN and RNN as n grows. Each figure's data is
a CSV beside it; each sentence states a measured number."""

from __future__ import annotations

import math
from pathlib import Path

from . import figures as fg
from .fits import fit_slope, select
from .page import figure
from .tables import read_csv, table

BUDGET_LABEL = "none"


def _slope(xs, ys) -> str:
    if len(xs) < 2:
        return "-"
    return f"{fit_slope(xs, ys)[0]:.2f}"


def deep_sets(rows: list[dict], out: Path) -> list[str]:
    ds = select(rows, setting="multiset", arch="deep-sets")
    tf = {r["config"]["N"]: r for r in select(rows, setting="multiset", arch=None)}
    if not ds:
        return []
    body = [[r["config"]["N"], r["config"]["n"], r["params"], r["depth"], tf[r["config"]["N"]]["params"] if r["config"]["N"] in tf else "-",
             tf[r["config"]["N"]]["depth"] if r["config"]["N"] in tf else "-"] for r in ds]
    header = ["N", "n", "Deep Sets params", "Deep Sets depth", "Transformer params", "Transformer depth"]
    Ns = [r["config"]["N"] for r in ds]
    return ["## Deep Sets beside the Transformer (the same multiset data)", "",
            "Random multisets of 8 ids from 1000, 10 classes, one label per multiset. Deep Sets: phi~ on every token, a "
            "sum pooling (no parameters), rho~ the memorizer on the pooled sequence id. Every model verified exactly.", "",
            *table(out, "deep_sets_vs_transformer", header, body, "Deep Sets beside the Transformer on the same multisets"),
            f"Deep Sets parameters vs N: log-log slope {_slope(Ns, [r['params'] for r in ds])} over N = {Ns[0]}..{Ns[-1]} "
            "(the construction's O~(sqrt N)). Data: `deep_sets_vs_transformer.csv`.", ""]


def sparse_attention(rows: list[dict], out: Path) -> list[str]:
    sp = select(rows, setting="next-token", attention="sparse")
    if not sp:
        return []
    N = sp[0]["config"]["N"]
    dense = {r["config"]["n"]: r for r in select(rows, setting="next-token", attention=None, arch=None, N=N, float64=None, mode="tight",
                                                 vocab=1000, bit_budget=None, d=None)}
    pairs = [(r, dense[r["config"]["n"]]) for r in sp if r["config"]["n"] in dense]
    ns = [s["config"]["n"] for s, _ in pairs]
    body = [[n, s["attention_connections"], d["attention_connections"], s["params"], d["params"], f"{s['params'] / d['params']:.2f}"]
            for n, (s, d) in zip(ns, pairs, strict=True)]
    header = ["n", "sparse connections", "dense connections", "sparse params", "dense params", "sparse / dense params"]
    with fg.plot(out / "sparse_attention_vs_n", cols=2, panels=2) as (fig, (a1, a2)):
        for a, (sparse_col, dense_col) in ((a1, (1, 2)), (a2, (3, 4))):  # body's columns of each panel
            a.loglog(ns, [b[sparse_col] for b in body], "o-", label="sparse (register)")
            a.loglog(ns, [b[dense_col] for b in body], "s-", label="dense")
            fg.ticks_at(a.xaxis, ns)
        fg.labels(a1, "n", "attention connections (query, key pairs)", "Attention connections vs n")
        fg.labels(a2, "n", "parameters (paper convention)", f"Parameters vs n (N = {N})")
        fg.legend(fig, [a1, a2])
    ratios = [s["params"] / d["params"] for s, d in pairs]
    return ["## Sparse attention (a register token, two attention layers)", "",
            f"Next-token, N = {N} random sequences of ids from 1000. The register averages the n tokens' phi, then every "
            "token reads the register: 3n + 1 connections. Every model verified exactly.", "",
            *figure("sparse_attention_vs_n", "Connections and parameters vs n."),
            *table(out, "sparse_attention_vs_n", header, body, "Sparse against dense attention as n grows"),
            f"Connections vs n: log-log slope {_slope(ns, [b[1] for b in body])} (sparse) and {_slope(ns, [b[2] for b in body])} "
            f"(dense); sparse / dense parameters {min(ratios):.2f}-{max(ratios):.2f}. Data: `sparse_attention_vs_n.csv`.", ""]


def bit_budget(rows: list[dict], out: Path) -> list[str]:
    md = []
    for N in sorted({r["config"]["N"] for r in rows if r["config"].get("float64")}):
        rs = [r for r in rows if r["config"].get("float64") and r["config"]["N"] == N]
        built = [r for r in rs if "refused" not in r]
        refused = [r for r in rs if "refused" in r]
        unbudgeted = next((r for r in built if r["config"]["bit_budget"] is None), None)
        budgeted = sorted((r for r in built if r["config"]["bit_budget"] is not None),
                          key=lambda r: r.get("budget") or r["config"]["bit_budget"])
        if not budgeted:
            continue
        B = [r.get("budget") or r["config"]["bit_budget"] for r in budgeted]
        # a budget binds where it forces a smaller group than the unbudgeted model's depth-optimal one
        k_free = unbudgeted["F2_k"] if unbudgeted else math.inf
        binding = [(b, r) for b, r in zip(B, budgeted, strict=True) if r["F2_k"] < k_free]
        slope = _slope([b for b, _ in binding], [r["params"] for _, r in binding])
        exact = [b for b, r in zip(B, budgeted, strict=True) if r.get("float64_exact")]
        name = f"bit_budget_N{N}"
        header = ["budget B", "params", "depth", "total bits", "F2 group size k", "binds", "float64 exact"]
        body = [[b, r["params"], r["depth"], r["total_bits"], r["F2_k"], "yes" if r["F2_k"] < k_free else "no",
                 "yes" if r.get("float64_exact") else "no"] for b, r in zip(B, budgeted, strict=True)]
        if unbudgeted:
            body.append([BUDGET_LABEL, unbudgeted["params"], unbudgeted["depth"], unbudgeted["total_bits"], unbudgeted["F2_k"], "-",
                         "yes" if unbudgeted.get("float64_exact") else "no"])
        with fg.plot(out / name, height=2.6) as (fig, ax):
            ax.loglog(B, [r["params"] for r in budgeted], "o-", label="parameters")
            fg.ticks_at(ax.xaxis, B)
            ax.loglog(B, [r["total_bits"] for r in budgeted], "^-", color="C2", label="total bits")
            if binding:
                a = math.exp(sum(math.log(r["params"]) + math.log(b) for b, r in binding) / len(binding))
                ax.loglog(B, [a / b for b in B], "k--", label=f"{a:.3g} / B: O~(N/B) fitted to the binding budgets")
            if exact:
                ax.axvspan(min(exact), max(exact), color="green", alpha=0.08, label="float64-exact (measured)")
            # depth is two orders of magnitude below the parameters: its own axis, linear, on the right
            right = fg.twin(ax, "depth (blocks)", "C1")
            right.plot(B, [r["depth"] for r in budgeted], "s-", color="C1", label="depth (blocks), right axis")
            right.set_ylim(0, max(r["depth"] for r in budgeted) * 1.15)
            fg.labels(ax, "bit budget B", "parameters, bits", f"N = {N}, n = 16: bit budget trade-off (params slope {slope} over the binding B)")
            fg.legend(fig, [ax, right])
        md += [f"## Bit budget trade-off at N = {N} (Theorem F.1)", "",
               *figure(name, "Parameters, total bits and depth vs the bit budget B."),
               *table(out, name, header, body, f"Bit budget trade-off at N = {N}"),
               f"Smallest budget this data allows: {B[0]} bits"
               + (f" ({'; '.join(sorted({r['refused'].split(':')[0] for r in refused}))} refused the smaller ones)" if refused else "")
               + f". Parameters vs B over the {len(binding)} binding budgets: log-log slope {slope}. float64 runs exactly at "
               f"B = {', '.join(map(str, exact)) or 'none'} (measured by the float64 check on every example). Data: `{name}.csv`.", ""]
    return md


def cost_vs_n(rows: list[dict], out: Path) -> list[str]:
    md = []
    for kind, where in (("token ids (vocabulary 1000)", {"vocab": 1000}), ("token vectors (d = 6)", {"d": 6})):
        per = {a: {r["config"]["n"]: r for r in select(rows, setting="next-token", arch=a, **where)} for a in ("transformer", "ffn", "rnn")}
        ns = sorted(set(per["transformer"]) & set(per["ffn"]) & set(per["rnn"]))
        if len(ns) < 2:
            continue
        N = per["transformer"][ns[0]]["config"]["N"]
        tag = "ids" if "vocab" in where else "vectors"
        header = ["n", "Transformer params", "FFN params", "RNN params", "Transformer steps", "FFN steps", "RNN steps"]
        body = [[n, per["transformer"][n]["params"], per["ffn"][n]["params"], per["rnn"][n]["params"],
                 per["transformer"][n]["sequential_steps"], per["ffn"][n]["sequential_steps"], per["rnn"][n]["sequential_steps"]] for n in ns]
        with fg.plot(out / f"cost_vs_n_{tag}", cols=2, panels=2) as (fig, (a1, a2)):
            for col, label in ((1, "Transformer"), (2, "FFN on the flattened input"), (3, "RNN (identity recurrence)")):
                a1.loglog(ns, [b[col] for b in body], "o-", label=label)
                a2.loglog(ns, [b[col + 3] for b in body], "o-", label=label)
            for a in (a1, a2):
                fg.ticks_at(a.xaxis, ns)
            fg.labels(a1, "n", "parameters (paper convention)", f"Built, {kind}, N = {N}: parameters vs n")
            fg.labels(a2, "n", "sequential steps", "Sequential steps vs n")
            fg.legend(fig, [a1, a2])
        tp = [b[1] for b in body]
        over = [(b[0], b[2] - b[1]) for b in body if b[2] > b[1]]
        where_text = (f"the FFN exceeds the Transformer from n = {over[0][0]} on" if over
                      else f"the FFN stays below the Transformer up to n = {ns[-1]}")
        excess = f"; the excess grows with log-log slope {_slope(*zip(*over, strict=True))}" if len(over) >= 2 else ""
        md += [f"## Cost against sequence length, built: {kind}", "",
               *figure(f"cost_vs_n_{tag}", "Parameters and sequential steps vs n."),
               *table(out, f"cost_vs_n_{tag}", header, body, f"Cost against n, built, {kind}"),
               f"Measured: the Transformer's parameters stay within {max(tp) / min(tp):.2f}x from n = {ns[0]} to {ns[-1]}; "
               f"the FFN's grow with log-log slope {_slope(ns, [b[2] for b in body])} (its input layer has m x d n weights) and "
               f"{where_text}{excess}; the RNN's parameters stay within {max(b[3] for b in body) / min(b[3] for b in body):.2f}x "
               f"while its sequential steps (its depth plus the n - 1 further steps of the recurrence) grow with slope "
               f"{_slope(ns, [b[6] for b in body])}, against {_slope(ns, [b[4] for b in body])} for the Transformer. "
               f"Data: `cost_vs_n_{tag}.csv`.", ""]
    return md


VARIANT_SECTIONS = [deep_sets, sparse_attention, bit_budget, cost_vs_n]


def trained_section(trained: Path | None, out: Path) -> list[str]:
    """The trained cost-vs-n table and figure of `memcap repro architectures`, copied beside the report."""
    import shutil

    if trained is None or not (Path(trained) / "architectures.csv").exists():
        return []
    rows = read_csv(Path(trained) / "architectures.csv")
    for name in ("architectures.csv", "architectures.png", "architectures.svg", "architectures.pdf"):
        if (Path(trained) / name).exists() and Path(trained).resolve() != Path(out).resolve():
            shutil.copy(Path(trained) / name, out / name)
    body = [[t["arch"], t["n"], t["size"], t["min_size"] or ("none in the range" if t["done"] == "True" else "running"),
             t["params"] or "-"] for t in rows]
    return ["## Cost against sequence length, trained", "",
            f"From `memcap repro architectures` (results in {trained}): the smallest model of each architecture that "
            "memorized the same random sequences, found by the same trainer and search.", "",
            *figure("architectures", "Trained cost vs n: the smallest model that memorized, per architecture."),
            *table(out, "architectures_table", ["arch", "n", "size knob", "smallest size", "trainable params"], body,
                   "Trained: the smallest model that memorized, per architecture and n"), "Data: `architectures.csv`.", ""]
