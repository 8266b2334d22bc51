"""Benchmark: exact verification seconds, next-token, n = 16, random ids from 1000, 10 classes.

For N = 10^4 and 10^5 (and 10^6 with --big): compile seconds; verify seconds of the whole dataset (forked
over the cores, as `memcap verify` runs); and, on the same model and the same first 10^4 examples in one
process, the fast executor against the plain reference path (`run(..., fast=False)`, the executor as it
was before the dictionary-encoded registers), with their ratio. Then the float64 path against the exact
one on a 48-bit model at N = 10^4, and what `memcap verify --torch` does there (the exact verification with
the float64 check measured in the same pass, then the float64 module on every example) against
`memcap verify` alone, with their ratio. Run it on an idle machine: a second busy process halves
everything (the load average is printed beside the last figures). `--float64`: only the 48-bit part;
`--objective NAME`: compile with that objective (default: the default, balanced).
"""

import os
import resource
import sys
import time

import torch

from memcap import data
from memcap.compiling import compile
from memcap.ir.executor import run
from memcap.ir.stats import model_stats
from memcap.nn.export import to_torch
from memcap.verification import verify, verify_arrays, verify_torch

Ns = [] if "--float64" in sys.argv else [10_000, 100_000] + ([1_000_000] if "--big" in sys.argv else [])
objective = sys.argv[sys.argv.index("--objective") + 1] if "--objective" in sys.argv else None  # None: the default
for N in Ns:
    ds = data.random_ids(N, 16, 1000, 10, seed=0)
    t0 = time.perf_counter()
    model = compile(ds, objective=objective)
    t1 = time.perf_counter()
    res = verify(model, ds)
    t2 = time.perf_counter()
    assert res.ok
    sub, lab = ds.inputs[:10_000], ds.labels[:10_000]
    t3 = time.perf_counter()
    fast = run(model, sub)
    t4 = time.perf_counter()
    plain = run(model, sub, fast=False)
    t5 = time.perf_counter()
    assert (fast.numerators == plain.numerators).all() and fast.equals(lab).all()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"N={N:>8}: compile {t1 - t0:6.1f} s, verify all {t2 - t1:6.1f} s ({res.positions - res.wrong}/{res.positions}), "
          f"depth {model_stats(model).depth}; first 10^4 in one process: fast {t4 - t3:.2f} s, reference {t5 - t4:.2f} s "
          f"({(t5 - t4) / (t4 - t3):.1f}x); peak RSS {peak:.2f} GiB", flush=True)

ds = data.random_ids(10_000, 16, 1000, 10, seed=0)
model = compile(ds, bit_budget=48)
t0 = time.perf_counter()
res = verify_arrays(model, ds.inputs, ds.labels, workers=1)
t1 = time.perf_counter()
net = to_torch(model, force=True)  # the module alone; verify_torch below also measures the float64 check
x = torch.from_numpy(ds.inputs)
threads = torch.get_num_threads()
torch.set_num_threads(1)  # as verify_torch runs it
with torch.no_grad():
    out = torch.cat([net(x[s : s + 16384], read=-1)[:, 0] for s in range(0, ds.N, 16384)])
torch.set_num_threads(threads)
t2 = time.perf_counter()
fv = verify_torch(model, ds)
t3 = time.perf_counter()
assert res.ok and fv.wrong == 0 and bool((out == torch.from_numpy(ds.labels).double()).all())
print(f"48-bit N=10^4 (depth {model_stats(model).depth}), one process: exact {t1 - t0:.2f} s; float64 module "
      f"(build + run) {t2 - t1:.2f} s ({(t2 - t1) / (t1 - t0):.2f}x the exact); verify_torch with its float64 check "
      f"{t3 - t2:.2f} s ({(t3 - t2) / (t1 - t0):.2f}x)", flush=True)

# what the two commands do, in one process: `memcap verify` (exact, forked over the cores) and
# `memcap verify --torch` (the same pass measuring the float64 check too, then the float64 module)
t0 = time.perf_counter()
alone = verify(model, ds)
t1 = time.perf_counter()
both = verify(model, ds, float_check=True)
t2 = time.perf_counter()
fv = verify_torch(model, ds, check=both.float64)
t3 = time.perf_counter()
assert alone.ok and both.ok and both.float64.exact and fv.wrong == 0
exact_s, both_s = t1 - t0, t3 - t1
print(f"verify vs verify --torch, 48-bit N=10^4, {torch.get_num_threads()} torch thread(s): exact alone {exact_s:.2f} s; "
      f"exact + float64 check {t2 - t1:.2f} s, float64 module {t3 - t2:.2f} s; together {both_s:.2f} s = "
      f"{both_s / exact_s:.2f}x the exact alone (float64 part {(both_s - exact_s) / exact_s:.2f}x); "
      f"load average {os.getloadavg()[0]:.2f}", flush=True)
