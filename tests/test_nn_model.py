"""The one PyTorch model file: the paper's architecture and its uniform attention."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from memcap.nn.model import build, paper_config


def test_read_position_equals_the_full_output():
    torch.manual_seed(0)
    net = build(paper_config(3, 6, 4, d_in=3))
    x = torch.rand(5, 6, 3)
    assert torch.allclose(net(x)[:, -1], net(x, read=-1)) and torch.allclose(net(x)[:, 2], net(x, read=2))


@pytest.mark.parametrize("causal", [False, True])
def test_uniform_attention_shortcut_equals_softmax_of_zero_scores(causal):
    from memcap.nn.model import MemTransformer

    torch.manual_seed(0)
    cfg = replace(paper_config(2, 7, 3, d_in=4), causal=causal)
    fast = MemTransformer(cfg).double()
    slow = MemTransformer(replace(cfg, uniform=False)).double()
    slow.load_state_dict(fast.state_dict())
    with torch.no_grad():
        slow.blocks[2].attn.q.weight.zero_()
    x = torch.rand(6, 7, 4, dtype=torch.float64)
    assert torch.allclose(fast(x), slow(x), rtol=0, atol=1e-12)


def test_paper_model_has_one_uniform_attention_between_equal_stacks():
    cfg = paper_config(4, 8, 10, d_in=8)
    net = build(cfg)
    with_attention = [i for i, b in enumerate(net.blocks) if b.attn is not None]
    assert with_attention == [4] and len(net.blocks) == 8 and cfg.m == 2 and cfg.q == 8
    assert not net.blocks[4].attn.q.weight.requires_grad and float(net.blocks[4].attn.q.weight.abs().sum()) == 0
