"""Benchmark: exact verification seconds, next-token, n = 16, random ids from 1000, 10 classes.

For N = 10^4 and 10^5 (and 10^6 with --big): compile seconds; verify seconds of the whole dataset (forked
over the cores, as `memcap verify` runs); and, on the same model and the same first 10^4 examples in one
process, the fast executor against the plain reference path (`run(..., fast=False)`, the executor as it
was before the dictionary-encoded registers), with their ratio. Then the float64 path against the exact
one on a 48-bit model at N = 10^4. Run it on an idle machine: a second busy process halves everything.
"""

import resource
import sys
import time

import torch

from memcap import data
from memcap.compile import compile
from memcap.ir.executor import run
from memcap.ir.stats import model_stats
from memcap.nn.export import to_torch
from memcap.verify import verify, verify_arrays, verify_torch

Ns = [10_000, 100_000] + ([1_000_000] if "--big" in sys.argv else [])
for N in Ns:
    ds = data.random_ids(N, 16, 1000, 10, seed=0)
    t0 = time.perf_counter()
    model = compile(ds)
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
with torch.no_grad():
    out = torch.cat([net(x[s : s + 16384], read=-1)[:, 0] for s in range(0, ds.N, 16384)])
t2 = time.perf_counter()
fv = verify_torch(model, ds)
t3 = time.perf_counter()
assert res.ok and fv.wrong == 0 and bool((out == torch.from_numpy(ds.labels).double()).all())
print(f"48-bit N=10^4 (depth {model_stats(model).depth}), one process: exact {t1 - t0:.2f} s; float64 module "
      f"(build + run) {t2 - t1:.2f} s ({(t2 - t1) / (t1 - t0):.2f}x the exact); verify_torch with its float64 check "
      f"{t3 - t2:.2f} s ({(t3 - t2) / (t1 - t0):.2f}x)", flush=True)
