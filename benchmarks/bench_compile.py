"""Benchmark: compile and exact-verify seconds for next-token N = 10^4, n = 32 (random ids,
vocabulary 1000), and compile seconds and peak memory for N = 10^6, n = 32."""

import resource
import sys
import time

from memcap import data
from memcap.compiling import compile
from memcap.ir.stats import model_stats
from memcap.verification import verify

big = "--no-big" not in sys.argv
ds = data.random_ids(10_000, 32, 1000, 10, seed=0)
t0 = time.perf_counter()
model = compile(ds)
t1 = time.perf_counter()
res = verify(model, ds)
t2 = time.perf_counter()
st = model_stats(model)
print(f"N=1e4 n=32: compile {t1 - t0:.2f} s, exact verify {t2 - t1:.2f} s ({res.positions - res.wrong}/{res.positions}), "
      f"params {st.params}, depth {st.depth}, max bits {st.max_bits}")
if big:
    ds = data.random_ids(1_000_000, 32, 1000, 10, seed=0)
    timings: dict = {}
    t0 = time.perf_counter()
    model = compile(ds, timings=timings)
    t1 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    st = model_stats(model)
    print(f"N=1e6 n=32: compile {t1 - t0:.2f} s (stages {timings}), peak RSS of the process {peak:.2f} GiB, "
          f"params {st.params}, depth {st.depth}")
