"""Issue #2 benchmark: N = 10^4 random points in d = 16, C = 10. Prints build and exact-verification
seconds, depth, params, max bits (tight and paper modes), next to the lemma's formula."""

import math
import time

import numpy as np

from memcap.ir.executor import run
from memcap.ir.stats import model_stats
from memcap.point_memorizer import memorize

N, d, C = 10_000, 16, 10
rng = np.random.default_rng(0)
x, y = rng.random((N, d)), rng.integers(0, C, N)
for mode in ("tight", "paper"):
    t0 = time.perf_counter()
    model = memorize(x, y, mode=mode)
    t1 = time.perf_counter()
    ok = bool(run(model, x).equals(y).all())
    t2 = time.perf_counter()
    st = model_stats(model)
    m = math.sqrt(N * math.log2(N))
    k = math.sqrt(N / math.log2(N))
    R = 20 * math.sqrt(sum(v * v for v in x.max(axis=0))) * N * N / 1e-3 * math.sqrt(math.pi * d)
    lemma_depth = 3 * m + 3 * k * max(math.log2(R), math.log2(C)) + k
    print(f"{mode:5s} build {t1 - t0:6.2f} s  verify(all {N}) {t2 - t1:6.2f} s  memorized {ok}  depth {st.depth} "
          f"(lemma ~{lemma_depth:.0f})  params {st.params} (nonzero {st.nonzero_params})  max bits {st.max_bits}  "
          f"width {st.width}  k {model.group_plan.k} groups {model.group_plan.groups} addr_bits {model.group_plan.addr_bits}")
