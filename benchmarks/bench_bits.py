"""Total parameter bits against the information floor N log2 C, both objectives, on the same data:
N = 10^4 and 10^5 random sequences (n = 16, vocabulary 1000, C = 10). Prints bits, bits / floor, params,
depth, the group plan, and compile and exact-verification seconds (every example run through the real
weights). `python benchmarks/bench_bits.py [N ...]`"""

import math
import sys
import time

from memcap import data
from memcap.compile import compile
from memcap.ir.stats import model_stats
from memcap.verify import verify

Ns = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
for N in Ns:
    ds = data.random_ids(N=N, n=16, vocab=1000, C=10, seed=0)
    floor = N * math.log2(10)
    params = {}
    for objective in ("depth", "bits"):
        t0 = time.perf_counter()
        model = compile(ds, objective=objective)
        t1 = time.perf_counter()
        ok = verify(model, ds).ok
        t2 = time.perf_counter()
        st = model_stats(model)
        params[objective] = st.params
        plan = model.group_plan
        print(f"N {N:>7}  {objective:5s}  bits {st.total_bits:>9}  bits/floor {st.total_bits / floor:6.2f}  params {st.params:>8}  "
              f"depth {st.depth:>5}  k {plan.k} groups {plan.groups} addr_bits {plan.addr_bits}  largest token value "
              f"{model.meta['max_token_value']}  compile {t1 - t0:5.1f} s  verify {t2 - t1:5.1f} s  memorized {ok}", flush=True)
    print(f"N {N:>7}  params bits/depth objective: {params['bits'] / params['depth']:.3f}")
