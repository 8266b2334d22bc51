"""Five localization methods of the literature (Chang, Thomason & Jia, NAACL 2024), written from their
descriptions, run on the float64 `MemTransformer` of a compiled model: each gives, per example, a score
for every memorizer unit (higher: more responsible for the example's output).

The model's one output y is the label itself (E_out reads the label coordinate), so "the loss on the
target" is (y - label)^2 and the target's logit is y.
- zero-out       the loss change when the unit alone is zeroed (all units of one example in one batch)
- activations    the unit's activation times the norm of its output weights
- ig             integrated gradients of y per unit (knowledge neurons): one block's activations scaled from
                 0 to 1, the gradient averaged over `steps` points, times the activation
- slimming       a real mask m in [0, 1] per unit, from 1, trained to raise the target's loss while an L1
                 penalty keeps sum(1 - m) small; score 1 - m
- hard-concrete  a Hard Concrete gate per unit (Louizos et al.), trained the same way with the expected
                 number of closed gates as the penalty; score -log_alpha
The loss pushed up by the pruning methods is log(1 + (y - label)^2): these models' weights reach 2^48,
so the squared error overflows where a mask opens a wide ramp. Non-finite values are counted
(`MethodRun.nonfinite`), never hidden.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

METHODS = ("zero-out", "activations", "ig", "slimming", "hard-concrete")


@dataclass(frozen=True)
class MethodRun:
    method: str
    scores: np.ndarray  # [examples, units] float64
    seconds: float
    nonfinite: int  # scores or gradients that were not finite (set to -inf before ranking)


def _forward(net, x, mask=None):
    """y at the last position of token ids x [B, n]; `mask` [B, blocks, q] multiplies every FFN activation."""
    import torch

    z = net.embed(net.rows(x))
    split = max(net.cfg.attention_at, default=-1) + 1
    for i, block in enumerate(net.blocks):
        if block.attn is not None:
            z = z + block.attn(z)
        h = torch.relu(block.w1(z))
        if mask is not None:
            h = h * mask[:, i, None, :]
        z = z + block.w2(h)
        if i == split - 1:
            z = z[:, -1:]
    return net.e_out(z)[:, -1, 0]


class Net:
    """The float64 module with the memorizer's units as (block, unit) pairs, for per-example attribution."""

    def __init__(self, net, units: list[tuple[int, int]]):
        import torch

        self.net, self.units = net, units
        self.blocks, self.q = net.cfg.blocks, net.cfg.q
        self.flat = torch.tensor([b * self.q + u for b, u in units], dtype=torch.int64)

    def mask(self, rows: int, values=None):
        """A [rows, blocks, q] mask of ones, the memorizer's units set to `values` [rows, units] if given."""
        import torch

        m = torch.ones(rows, self.blocks * self.q, dtype=torch.float64)
        if values is not None:
            m = m.index_copy(1, self.flat, values)
        return m.view(rows, self.blocks, self.q)

    def hidden(self, x):
        """Activations [B, units] of the memorizer's units at the last position."""
        import torch

        z = self.net.embed(self.net.rows(x))
        split = max(self.net.cfg.attention_at, default=-1) + 1
        acts = []
        for i, block in enumerate(self.net.blocks):
            if block.attn is not None:
                z = z + block.attn(z)
            h = torch.relu(block.w1(z))
            acts.append(h[:, -1])
            z = z + block.w2(h)
            if i == split - 1:
                z = z[:, -1:]
        return torch.stack(acts, dim=1).reshape(len(x), -1)[:, self.flat]


def zero_out(net: Net, x, y, batch: int = 2048) -> np.ndarray:
    import torch

    out = np.zeros((len(x), len(net.units)))
    with torch.no_grad():
        for j in range(len(x)):
            base = float((_forward(net.net, x[j : j + 1])[0] - y[j]) ** 2)
            for s in range(0, len(net.units), batch):
                ids = torch.arange(s, min(s + batch, len(net.units)))
                mask = net.mask(len(ids)).view(len(ids), -1)
                mask[torch.arange(len(ids)), net.flat[ids]] = 0.0  # row r zeroes unit s + r alone
                ys = _forward(net.net, x[j : j + 1].expand(len(ids), -1).contiguous(), mask.view(len(ids), net.blocks, net.q))
                out[j, s : s + len(ids)] = ((ys - y[j]) ** 2 - base).numpy()
    return out


def activations(net: Net, x, y) -> np.ndarray:
    import torch

    with torch.no_grad():
        h = net.hidden(x)
        norms = torch.stack([blk.w2.weight.norm(dim=0) for blk in net.net.blocks]).reshape(-1)[net.flat]
        return (h * norms[None, :]).numpy()


def integrated_gradients(net: Net, x, y, steps: int = 8, rows: int = 2048) -> np.ndarray:
    """Per block, its activations scaled by alpha = (s + 1/2) / steps; attribution = h * mean gradient."""
    import torch

    blocks = sorted({b for b, _ in net.units})
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    grads = torch.zeros(len(x), net.blocks, net.q, dtype=torch.float64)
    per = max(1, rows // steps)
    for j in range(len(x)):
        for s in range(0, len(blocks), per):
            chunk = torch.tensor(blocks[s : s + per])
            mask = torch.ones(len(chunk) * steps, net.blocks, net.q, dtype=torch.float64)
            mask[torch.arange(len(mask)), chunk.repeat_interleave(steps)] = alphas.repeat(len(chunk))[:, None]
            mask.requires_grad_(True)
            ys = _forward(net.net, x[j : j + 1].expand(len(mask), -1).contiguous(), mask)
            (grad,) = torch.autograd.grad(ys.sum(), mask)
            # d y / d mask_u = h_u * d y / d(mask_u h_u): its mean over the path is IG's integral
            g = grad[torch.arange(len(mask)), chunk.repeat_interleave(steps)].view(len(chunk), steps, net.q).mean(dim=1)
            grads[j, chunk] = g
    return grads.reshape(len(x), -1)[:, net.flat].numpy()


def _raise_loss(net: Net, x, y, gates, params, penalty, steps: int, lr: float, lam: float) -> None:
    """Adam on `params`: raise log(1 + (y - label)^2) of every example under its own gates, with `penalty`."""
    import torch

    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        g = gates()
        ys = _forward(net.net, x, net.mask(len(x), g))
        loss = -torch.log1p((ys - y) ** 2).sum() + lam * penalty()
        opt.zero_grad()
        loss.backward()
        for p in params:
            if p.grad is not None:
                p.grad.nan_to_num_(0.0, 0.0, 0.0)  # an overflowing step is skipped, and counted by the caller
        opt.step()


def slimming(net: Net, x, y, steps: int = 100, lr: float = 0.05, lam: float = 1e-2) -> np.ndarray:
    import torch

    m = torch.ones(len(x), len(net.units), dtype=torch.float64, requires_grad=True)

    def gates():
        return m.clamp(0.0, 1.0)

    _raise_loss(net, x, y, gates, [m], lambda: (1 - gates()).sum(), steps, lr, lam)
    return (1 - m.detach().clamp(0.0, 1.0)).numpy()


def hard_concrete(net: Net, x, y, steps: int = 100, lr: float = 0.05, lam: float = 1e-2, seed: int = 0) -> np.ndarray:
    import torch

    beta, gamma, zeta = 2 / 3, -0.1, 1.1
    gen = torch.Generator().manual_seed(seed)
    log_alpha = torch.full((len(x), len(net.units)), 3.0, dtype=torch.float64, requires_grad=True)

    def gates():
        u = torch.rand(log_alpha.shape, generator=gen, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
        s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + log_alpha) / beta)
        return (s * (zeta - gamma) + gamma).clamp(0.0, 1.0)

    def closed():  # expected number of gates at exactly 0
        return torch.sigmoid(beta * np.log(-gamma / zeta) - log_alpha).sum()

    _raise_loss(net, x, y, gates, [log_alpha], closed, steps, lr, lam)
    return (-log_alpha.detach()).numpy()


def run_method(method: str, net: Net, x, y, seed: int = 0) -> MethodRun:
    """Scores [examples, units] of one method; x: token ids [K, n] (torch int64), y: labels [K] (float64)."""
    fns = {"zero-out": zero_out, "activations": activations, "ig": integrated_gradients, "slimming": slimming,
           "hard-concrete": lambda net, x, y: hard_concrete(net, x, y, seed=seed)}
    t0 = time.perf_counter()
    scores = np.asarray(fns[method](net, x, y), dtype=np.float64)
    bad = ~np.isfinite(scores)
    scores[bad] = -np.inf
    return MethodRun(method, scores, time.perf_counter() - t0, int(bad.sum()))
