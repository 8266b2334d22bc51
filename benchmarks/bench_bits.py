"""Total parameter bits against the information floor N log2 C, every objective, on the same data:
N random sequences (n = 16, vocabulary 1000, C = 10, seed 0; default N = 10^4 and 10^5).

Per (N, objective) it prints: total bits, bits / floor, bits per weight bit (floor / total), params (the
paper's every-entry convention), nonzero params, depth, compile and exact-verification seconds (every
example run through the real weights), peak memory (each run in its own process, so the peak is its own),
and whether every example was memorized. For the bits objective it also prints where F2's bits are, stage by
stage, measured on the built blocks beside the cost model's estimate (construct.hashed.estimate_bits).

For the bits objective it also prints F2's dense parameters by stage (the paper's every-entry convention:
each block costs 4 m + 2 (m + 1) q, so a stage costs its blocks times that), measured on the built blocks
beside the cost model's (construct.hashed.estimate_params).

`python benchmarks/bench_bits.py [N ...] [--objective balanced|depth|bits|all] [--group G --parts P --shared 0|1]`
(--group / --parts / --shared force the retrieval table's plan instead of the cost model's choice: a point
of the bits / parameters front)
"""

import argparse
import json
import math
import resource
import subprocess
import sys
import time


def one(N: int, objective: str, group: int = 0, parts: int = 0, shared: int = 0) -> dict:
    from memcap import data
    from memcap.compiling import compile
    from memcap.construct import f2 as f2_stage
    from memcap.construct import hashplan
    from memcap.ir.stats import model_stats
    from memcap.verification import verify

    built = {}
    if objective != "depth":  # keep the hashed memorizer for its per-stage bits
        make = f2_stage.memorize_hashed
        forced = {"plan": hashplan.Plan(group, parts or 2, bool(shared))} if group else {}
        f2_stage.memorize_hashed = lambda *a, **k: built.setdefault("f2", make(*a, **{**k, **forced}))
    ds = data.random_ids(N=N, n=16, vocab=1000, C=10, seed=0)
    t0 = time.perf_counter()
    model = compile(ds, objective=objective)
    t1 = time.perf_counter()
    ok = verify(model, ds).ok
    t2 = time.perf_counter()
    st = model_stats(model)
    row = {"N": N, "objective": objective, "bits": st.total_bits, "params": st.params, "nonzero": st.nonzero_params,
           "depth": st.depth, "compile_s": t1 - t0, "verify_s": t2 - t1, "memorized": ok,
           "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "plan": model.group_plan.as_dict()}
    if "f2" in built and model.group_plan.stage2 == "hashed":  # balanced may have kept the depth objective's model
        f2 = built["f2"]
        row["stages"] = f2.stage_bits()
        args = (model.record.data.contexts, f2.table.modulus, f2.group, f2.parts, f2.key_bits)  # P prime: P again
        shared = bool(f2.table.offset_group)
        row["plan"]["shared"] = shared
        row["estimate"] = hashplan.estimate_bits(*args, shared=shared)
        per_block = 4 * st.m * st.H + 2 * (st.m + 1) * st.q
        row["stage_params"] = {}
        for name in f2.block_stage:
            key = "line+combine" if name in ("line", "combine") else name
            row["stage_params"][key] = row["stage_params"].get(key, 0) + per_block
        row["estimate_params"] = hashplan.estimate_params(*args, m=st.m, shared=shared)
    return row


def main(Ns: list[int], objectives: tuple[str, ...], group: int, parts: int, shared: int) -> None:
    for N in Ns:
        floor = N * math.log2(10)
        params = {}
        for objective in objectives:
            cmd = [sys.executable, __file__, "--one", str(N), objective, str(group), str(parts), str(shared)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            params[objective] = r["params"]
            print(f"N {N:>7}  {objective:8s}  bits {r['bits']:>9}  bits/floor {r['bits'] / floor:6.3f}  bits per weight bit "
                  f"{floor / r['bits']:.3f}  params {r['params']:>8}  nonzero {r['nonzero']:>8}  depth {r['depth']:>5}  "
                  f"compile {r['compile_s']:6.1f} s  verify {r['verify_s']:6.1f} s  peak {r['peak_mib']:7.0f} MiB  "
                  f"memorized {r['memorized']}", flush=True)
            print(f"          plan {r['plan']}")
            if "stages" in r:
                print("          F2 bits by stage, measured: " + ", ".join(f"{k} {v}" for k, v in r["stages"].items())
                      + f" (sum {sum(r['stages'].values())})")
                print("          cost model's estimate:      " + ", ".join(f"{k} {v}" for k, v in r["estimate"].items())
                      + f" (sum {sum(r['estimate'].values())})")
                print("          F2 dense params by stage, measured: " + ", ".join(f"{k} {v}" for k, v in r["stage_params"].items())
                      + f" (sum {sum(r['stage_params'].values())}; params / N {r['params'] / N:.3f})")
                print("          cost model's estimate:              " + ", ".join(f"{k} {v}" for k, v in r["estimate_params"].items())
                      + f" (sum {sum(r['estimate_params'].values())})")
        for other in (o for o in params if o != "depth" and "depth" in params):
            print(f"N {N:>7}  params {other}/depth objective: {params[other] / params['depth']:.3f}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3], *(int(v) for v in sys.argv[4:7]))))
    else:
        ap = argparse.ArgumentParser(description="total parameter bits against N log2 C, every objective")
        ap.add_argument("N", type=int, nargs="*", default=[10_000, 100_000])
        ap.add_argument("--objective", choices=("balanced", "depth", "bits", "all"), default="all")
        ap.add_argument("--group", type=int, default=0, help="the retrieval table's group size G (default: the cost model's)")
        ap.add_argument("--parts", type=int, default=0, choices=(0, 1, 2), help="register parts (with --group; default 2)")
        ap.add_argument("--shared", type=int, default=0, choices=(0, 1), help="with --group: the three slots share their offset")
        a = ap.parse_args()
        main(a.N, ("balanced", "depth", "bits") if a.objective == "all" else (a.objective,), a.group, a.parts, a.shared)
