"""Total parameter bits against the information floor N log2 C, both objectives, on the same data:
N random sequences (n = 16, vocabulary 1000, C = 10, seed 0; default N = 10^4 and 10^5).

Per (N, objective) it prints: total bits, bits / floor, bits per weight bit (floor / total), params (the
paper's every-entry convention), nonzero params, depth, compile and exact-verification seconds (every
example run through the real weights), peak memory (each run in its own process, so the peak is its own),
and whether every example was memorized. For the bits objective it also prints where F2's bits are, stage by
stage, measured on the built blocks beside the cost model's estimate (construct.hashed.estimate_bits).

`python benchmarks/bench_bits.py [N ...]`
"""

import json
import math
import resource
import subprocess
import sys
import time


def one(N: int, objective: str) -> dict:
    from memcap import data
    from memcap.compiling import compile
    from memcap.construct import assemble, hashed
    from memcap.ir.stats import model_stats
    from memcap.verification import verify

    built = {}
    if objective == "bits":  # keep the hashed memorizer for its per-stage bits
        make = assemble.memorize_hashed
        assemble.memorize_hashed = lambda *a, **k: built.setdefault("f2", make(*a, **k))
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
    if "f2" in built:
        f2 = built["f2"]
        row["stages"] = f2.stage_bits()
        row["estimate"] = hashed.estimate_bits(model.record.data.contexts, f2.table.modulus, f2.group, f2.parts, f2.key_bits)
    return row


def main(Ns: list[int]) -> None:
    for N in Ns:
        floor = N * math.log2(10)
        params = {}
        for objective in ("depth", "bits"):
            out = subprocess.run([sys.executable, __file__, "--one", str(N), objective], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            params[objective] = r["params"]
            print(f"N {N:>7}  {objective:5s}  bits {r['bits']:>9}  bits/floor {r['bits'] / floor:6.3f}  bits per weight bit "
                  f"{floor / r['bits']:.3f}  params {r['params']:>8}  nonzero {r['nonzero']:>8}  depth {r['depth']:>5}  "
                  f"compile {r['compile_s']:6.1f} s  verify {r['verify_s']:6.1f} s  peak {r['peak_mib']:7.0f} MiB  "
                  f"memorized {r['memorized']}", flush=True)
            print(f"          plan {r['plan']}")
            if "stages" in r:
                print("          F2 bits by stage, measured: " + ", ".join(f"{k} {v}" for k, v in r["stages"].items())
                      + f" (sum {sum(r['stages'].values())})")
                print("          cost model's estimate:      " + ", ".join(f"{k} {v}" for k, v in r["estimate"].items())
                      + f" (sum {sum(r['estimate'].values())})")
        print(f"N {N:>7}  params bits/depth objective: {params['bits'] / params['depth']:.3f}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3])))
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
