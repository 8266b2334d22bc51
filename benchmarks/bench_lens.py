"""Benchmark: where a TransformerLens bridge's forward time goes, against memcap's float64 module.

A 48-bit model of N random sequences of n token ids (vocabulary 17, 10 classes; N = 1797, n = 64 has the
shape of scikit-learn's digits as 64-token sequences) is built and exported as a native TransformerBridge.
Printed: blocks; seconds of memcap's MemTransformer (all positions, and only the read position after the
attention, as `verify --torch` runs it); the export's seconds (float64 check of the export form, boot,
strict load); the bridge's forward seconds over all N at several batch sizes (each checked to give every
label exactly); run_with_cache on one batch with every hook and with a names filter (seconds, tensors,
MB); and a profile of one bridge batch split into the attention-pattern arithmetic every block does
(scores, mask, softmax), the linear layers, and the rest (module calls and hooks in Python).
One thread; run it on an idle machine.

    python benchmarks/bench_lens.py [--N 1797] [--n 64] [--batches 1797,256,64]
"""

import argparse
import cProfile
import pstats
import time

import numpy as np
import torch

from memcap import data
from memcap.nn.export import _checked_form, _load_strict, lens_config, lens_state, lens_tokens, to_torch
from memcap.pipeline import build

ATTENTION_OPS = ("matmul", "softmax", "masked_fill", "baddbmm", "scaled_dot_product", "einsum")


def seconds(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def profile_split(f) -> dict[str, float]:
    pr = cProfile.Profile()
    pr.enable()
    f()
    pr.disable()
    split = {"attention pattern": 0.0, "linear": 0.0, "other (Python module calls, hooks)": 0.0}
    stats = pstats.Stats(pr).stats
    total = max(v[3] for v in stats.values())  # the outermost call's cumulative time
    for (_, _, name), (_, _, tottime, _, _) in stats.items():
        if any(op in name for op in ATTENTION_OPS):
            split["attention pattern"] += tottime
        elif "linear" in name:
            split["linear"] += tottime
    split["other (Python module calls, hooks)"] = total - split["attention pattern"] - split["linear"]
    return {k: round(v, 2) for k, v in split.items()} | {"total": round(total, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--N", type=int, default=1797)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batches", default="1797,256,64")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from transformer_lens import TransformerBridge, TransformerBridgeConfig

    ds = data.random_ids(args.N, args.n, 17, 10, seed=0)
    s, b = seconds(lambda: build(ds, bit_budget=48))
    model = b.model
    print(f"N = {ds.N}, n = {ds.n}: {len(model.blocks)} blocks, d_model {len(model.coords)}, built in {s:.1f} s; "
          f"float64 exact: {b.float64.exact}")
    net, x = to_torch(model, ds.inputs), torch.from_numpy(ds.tokens)
    labels = torch.from_numpy(ds.labels).double()
    with torch.no_grad():
        s_all, out = seconds(lambda: net(x)[:, -1, 0])
        s_read, _ = seconds(lambda: net(x, read=-1))
    print(f"memcap MemTransformer: {s_all:.2f} s all positions, {s_read:.2f} s read position only; exact: {torch.equal(out, labels)}")
    s_check, form = seconds(lambda: _checked_form(model, ds.inputs, False))
    s_boot, bridge = seconds(lambda: TransformerBridge.boot_native(TransformerBridgeConfig(**lens_config(form)),
                                                                   dtype=torch.float64, device="cpu"))
    s_load, _ = seconds(lambda: _load_strict(bridge, lens_state(form)))
    bridge.eval()
    print(f"export: float64 check {s_check:.2f} s, boot_native {s_boot:.2f} s, strict load {s_load:.2f} s")
    rows = torch.from_numpy(lens_tokens(model, ds.tokens))
    with torch.no_grad():
        for bs in (int(v) for v in args.batches.split(",")):
            s, outs = seconds(lambda bs=bs: [bridge(rows[i:i + bs]) for i in range(0, ds.N, bs)])
            ok = torch.equal(torch.cat(outs)[:, -1, 0], labels)
            print(f"bridge forward, batches of {bs}: {s:.2f} s ({s / s_all:.1f}x MemTransformer all positions); exact: {ok}")
        batch = rows[:64]
        for what, filt in (("every hook", None), ("names_filter hook_resid_post", lambda k: k.endswith("hook_resid_post"))):
            s, (_, cache) = seconds(lambda filt=filt: bridge.run_with_cache(batch, names_filter=filt))
            mb = sum(t.numel() * t.element_size() for t in cache.values()) / 2**20
            print(f"run_with_cache on 64 examples, {what}: {s:.2f} s, {len(cache)} tensors, {mb:.1f} MB")
        split = profile_split(lambda: bridge(rows[:256]))
        print(f"profile of one bridge batch of 256 (s, under cProfile): {split}")
    print(f"numpy {np.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
