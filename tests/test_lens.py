"""TransformerLens export: a native TransformerBridge run in float64 outputs exactly the label on every example."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from memcap import data
from memcap.cli import app
from memcap.nn.export import NotFloatExact
from memcap.pipeline import build
from memcap.verification import verify

pytest.importorskip("transformer_lens")
from memcap.construct.lens import lens_form  # noqa: E402
from memcap.nn.export import lens_tokens, to_transformer_lens  # noqa: E402

runner = CliRunner()


def _run_bridge(bridge, model, ds):
    with torch.no_grad():
        out = bridge(torch.from_numpy(lens_tokens(model, ds.tokens)))[..., 0]
    return out[:, -1] if ds.setting == "next-token" else out


def _check_variant(N, setting, positions):
    ds = data.random_ids(N, 8 if setting == "next-token" else 6, 10**9, 10, seed=3, setting=setting)
    built = build(ds, bit_budget=48, positions=positions)
    assert built.verification.ok and built.float64.exact
    assert verify(lens_form(built.model), ds).ok  # the exported form is exact too, in exact arithmetic
    bridge = to_transformer_lens(built.model, ds.inputs)
    out = _run_bridge(bridge, built.model, ds)
    lab = torch.from_numpy(ds.labels).double()
    assert torch.equal(out, lab), int((out != lab).sum())
    _, cache = bridge.run_with_cache(torch.from_numpy(lens_tokens(built.model, ds.tokens[:2])))
    assert len(cache) > 0


@pytest.mark.parametrize("positions", [False, True])
@pytest.mark.parametrize("setting", ["next-token", "seq2seq"])
def test_bridge_outputs_every_label_exactly(setting, positions):
    _check_variant(300, setting, positions)


@pytest.mark.slow
@pytest.mark.parametrize("positions", [False, True])
@pytest.mark.parametrize("setting", ["next-token", "seq2seq"])
def test_bridge_outputs_every_label_exactly_on_2000_examples(setting, positions):
    _check_variant(2000, setting, positions)


def test_export_command_writes_config_state_and_vocab(tmp_path):
    ds = data.random_ids(200, 6, 10**12, 10, seed=1)
    data.save(ds, tmp_path / "d.npz")
    assert runner.invoke(app, ["compile", str(tmp_path / "d.npz"), "-o", str(tmp_path / "m"), "--bit-budget", "48"]).exit_code == 0
    r = runner.invoke(app, ["export", str(tmp_path / "m"), "--to", "transformer-lens", "-o", str(tmp_path / "tl")])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "tl" / "config.json").read_text())
    vocab = json.loads((tmp_path / "tl" / "vocab.json").read_text())
    from safetensors.torch import load_file
    from transformer_lens import TransformerBridge, TransformerBridgeConfig

    bridge = TransformerBridge.boot_native(TransformerBridgeConfig(**cfg), dtype=torch.float64, device="cpu")
    bridge.load_state_dict(load_file(str(tmp_path / "tl" / "model.safetensors")), strict=True)
    rows = np.vectorize(lambda t: vocab.get(str(t), 0))(ds.tokens)
    with torch.no_grad():
        out = bridge(torch.from_numpy(rows))[:, -1, 0]
    assert torch.equal(out, torch.from_numpy(ds.labels).double())


def test_a_model_that_is_not_float_exact_is_refused():
    ds = data.random_ids(300, 5, 50, 10, seed=1)
    built = build(ds)
    with pytest.raises(NotFloatExact, match="float64"):
        to_transformer_lens(built.model, ds.inputs)


def test_the_docs_load_the_export_with_transformer_lens_alone(tmp_path, monkeypatch):
    """The docs' TransformerLens-only block runs on an exported folder and gives every label; the stream's
    coordinate names label a cached activation."""
    import re
    from pathlib import Path

    from memcap.nn.stream import label_stream

    monkeypatch.chdir(tmp_path)
    ds = data.random_ids(60, 5, 40, 10, seed=2)
    data.save(ds, "ds.npz")
    assert runner.invoke(app, ["compile", "ds.npz", "-o", "m", "--bit-budget", "48"]).exit_code == 0
    assert runner.invoke(app, ["export", "m", "--to", "transformer-lens", "-o", "tl"]).exit_code == 0
    doc = (Path(__file__).resolve().parents[1] / "docs" / "file-formats.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", doc, flags=re.S) if "boot_native" in b)
    assert "memcap" not in block  # TransformerLens, safetensors, numpy and torch only
    scope: dict = {}
    exec(block, scope)
    assert torch.equal(scope["labels"], torch.from_numpy(ds.labels).double())
    assert torch.equal(scope["y_after_last_block"][:, -1], torch.from_numpy(ds.labels[:8]).double())
    resid = scope["cache"][f"blocks.{scope['config']['n_layers'] - 1}.hook_resid_post"]
    named = label_stream(resid, "tl")
    assert list(named) == scope["names"] and torch.equal(named["y"], scope["y_after_last_block"])
    with pytest.raises(ValueError, match="stream"):
        label_stream(torch.zeros(2, 5, len(scope["names"]) + 1), "tl")
    from_memcap = next(b for b in re.findall(r"```python\n(.*?)```", doc, flags=re.S) if "to_transformer_lens(model" in b)
    from memcap.ir import fileformat

    scope = {"model": fileformat.load("m"), "ds": ds}  # as compiled by the command, its float64 verdict recorded
    exec(from_memcap, scope)
    assert torch.equal(scope["stream"]["y"][:, -1], torch.from_numpy(ds.labels[:8]).double())
