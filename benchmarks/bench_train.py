"""Issue #5 benchmark: seconds per full-batch epoch of the paper's model on digits (N = 1797, n = 8) by
#blocks, and the uniform-attention shortcut (a mean) against explicit n x n softmax scores at n = 1000
(N = 50), measured in one run so the ratio is fair."""

import time
from dataclasses import replace

import torch

from memcap.nn.model import MemTransformer, paper_config
from memcap.train import tasks
from memcap.train.trainer import TrainConfig, train

torch.set_num_threads(1)
task = tasks.digits()
for blocks in (1, 2, 4, 8, 16):
    _, res = train(paper_config(blocks, task.n, task.out_dim, d_in=task.d, m=8), task, TrainConfig(epochs=50, threshold=0.0))
    print(f"digits N={task.N}, m=8, {blocks:2d} blocks ({res.params} params): {1000 * res.seconds / 50:.1f} ms/epoch on {res.device}")

x = torch.rand(50, 1000, 6)
cfg = paper_config(4, 1000, 1, d_in=6)
fast = MemTransformer(cfg)
slow = MemTransformer(replace(cfg, uniform=False))
slow.load_state_dict(fast.state_dict())
with torch.no_grad():
    slow.blocks[4].attn.q.weight.zero_()
times = {}
for name, net in (("mean", fast), ("scores", slow)):
    t0 = time.perf_counter()
    for _ in range(5):
        net(x, read=-1).sum().backward()
    times[name] = (time.perf_counter() - t0) / 5
print(f"n=1000, N=50, 4 blocks, forward+backward: mean {times['mean'] * 1000:.1f} ms, n x n scores {times['scores'] * 1000:.1f} ms, "
      f"ratio {times['scores'] / times['mean']:.1f}x; max |difference| {float((fast(x, read=-1) - slow(x, read=-1)).detach().abs().max()):.2e}")
