"""Benchmark: the exact causal map of every memorizer unit on every example (memcap.localize), next-token,
n = 16, random ids from 1000, 10 classes, --bit-budget 48 (float-safe Stage II) and the depth
objective (telescoped Stage II; named, since the default balanced objective's retrieval table has no
per-group units to localize). Prints units, (unit, example) pairs whose output changes, and seconds.
Pass N values as arguments (default 1000). The map runs in chunks of examples over the cores (at most 4
workers). Run it on an idle machine.
"""

import sys
import time

from memcap import data
from memcap.compiling import compile
from memcap.localize.truth import check, ground_truth

for N in [int(a) for a in sys.argv[1:]] or [1000]:
    ds = data.random_ids(N, 16, 1000, 10, seed=1)
    for budget in (48, None):
        model = compile(ds, bit_budget=budget, objective="depth")  # the default's table has no per-group units
        t0 = time.perf_counter()
        gt = ground_truth(model, ds)
        secs = time.perf_counter() - t0
        print(f"N={N} budget={budget} stage2={gt.stage2}: {len(gt.units)} units, {len(gt.pair_unit)} changed "
              f"(unit, example) pairs, record agrees: {not check(gt)}, {secs:.1f} s", flush=True)
