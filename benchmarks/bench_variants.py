"""Benchmark: compile and exact-verify seconds of each model kind at N = 10^4 (next-token, n = 16, random
ids from 1000, 10 classes; Deep Sets on multiset labels of the same shape), in one run, with each kind's
ratio to the dense Transformer's. `--workers 1` verifies in one process (the default spreads over cores)."""

import sys
import time

from memcap import data
from memcap.compiling import compile
from memcap.ir.stats import model_stats
from memcap.verification import verify

workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else None
N, n = 10_000, 16
seq = data.random_ids(N, n, 1000, 10, seed=0)
sets = data.random_ids(N, n, 1000, 10, seed=0, setting="multiset")
kinds = [("transformer (dense attention)", seq, {}), ("sparse attention", seq, {"attention": "sparse"}),
         ("deep sets", sets, {"arch": "deep-sets"}), ("rnn", seq, {"arch": "rnn"})]
base = None
for name, ds, opts in kinds:
    t0 = time.perf_counter()
    model = compile(ds, **opts)
    t1 = time.perf_counter()
    res = verify(model, ds, workers=workers)
    t2 = time.perf_counter()
    assert res.ok, name
    st = model_stats(model)
    c, v = t1 - t0, t2 - t1
    base = base or (c, v)
    print(f"{name:30s} compile {c:6.2f} s ({c / base[0]:.2f}x)  exact verify {v:6.2f} s ({v / base[1]:.2f}x)  "
          f"{res.positions}/{res.positions} positions  params {st.params}  depth {st.depth}  "
          f"connections {st.attention_connections}  sequential steps {st.sequential_steps}")
