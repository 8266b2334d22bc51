"""Built models into the field's tools: a float64 `MemTransformer` (`to_torch`, `load_torch`) and a
TransformerLens 4 `TransformerBridge` (`to_transformer_lens`, `save_transformer_lens`).

TransformerLens feeds token rows through `embed` and adds `pos_embed`; every block is x + attn(x), then
+ mlp(.), the paper's residual block. Uniform attention is q = k = 0 (every score 0); FFN-only blocks
have v = o = 0; the one output logit is the label. A model built with positions is exported in its
equivalent form (construct/lens.lens_form: an additive position table and phi~ blocks in front). The
exact executor checks that form on the data, and the float64 check decides whether TransformerLens may run it.

A built model is handed to float64 only where `float64_check` says it computes the same outputs there:
measured on the data when it is given, else the verdict recorded in the model when it was compiled and
verified (`memcap compile` records it). `force=True` builds the module anyway, for study.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .. import outputs
from ..construct.lens import lens_form
from ..errors import NotFloatExact
from ..ir import fileformat
from ..ir.dense import state_dict, torch_config
from ..ir.executor import read_positions
from ..ir.float64 import FloatCheck, float64_check
from ..ir.layers import ExactModel
from .stream import write_stream_names


def float_verdict(model: ExactModel, inputs: np.ndarray | None = None) -> FloatCheck | None:
    """The float64 check measured on `inputs`, or the one recorded in the model, or None."""
    if inputs is not None:
        return float64_check(model, inputs, read_positions(model))
    return model.record.float64


def _refuse_unless_exact(model: ExactModel, inputs, force: bool, check: FloatCheck | None = None) -> None:
    if force:
        return
    verdict = check or float_verdict(model, inputs)
    if verdict is None:
        raise NotFloatExact("this model's float64 behaviour was never checked: pass the dataset "
                            "(to_torch(model, ds.inputs)) so that the check can measure its activations")
    if not verdict.exact:
        raise NotFloatExact(f"this model does not run exactly in float64: {verdict.reason}. Run it with the exact "
                            "executor (memcap verify / memcap predict), or compile with bit_budget=48")


def to_torch(model: ExactModel, inputs: np.ndarray | None = None, force: bool = False, check: FloatCheck | None = None):
    """The float64 `MemTransformer` with `model`'s weights; refused (NotFloatExact) unless float64-exact
    (measured on `inputs`, or given as `check`: the float64 check already measured on them)."""

    from .model import MemTransformer, TransformerConfig

    _refuse_unless_exact(model, inputs, force, check)
    net = MemTransformer(TransformerConfig(**torch_config(model))).double()
    _load_strict(net, state_dict(model))
    return net.eval()


def load_torch(path: str | Path, force: bool = False):
    """The float64 `MemTransformer` stored in a model directory's `weights.safetensors` (config from the
    file's metadata), loaded with strict=True. Refused unless the model was recorded as float64-exact."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from .model import MemTransformer, TransformerConfig

    f = Path(path) / "weights.safetensors" if Path(path).is_dir() else Path(path)
    if not f.exists():
        raise fileformat.ModelFileError(f"no weights at {f}")
    with safe_open(str(f), "pt") as fh:
        info = json.loads((fh.metadata() or {}).get("memcap", "{}"))
    if "config" not in info:
        raise fileformat.ModelFileError(f"{f} has no memcap configuration in its metadata (written by another tool?)")
    verdict = info.get("float64")
    if not force and not (verdict and verdict.get("exact")):
        why = verdict["reason"] if verdict else "never checked"
        raise NotFloatExact(f"{f}: not recorded as float64-exact ({why}); load it with force=True to study it anyway")
    net = MemTransformer(TransformerConfig(**info["config"])).double()
    _load_strict(net, {k: v.numpy() for k, v in load_file(str(f)).items()})
    return net.eval()


def lens_config(form: ExactModel) -> dict:
    """Keyword arguments of TransformerBridgeConfig for the lens form."""
    att = [b.attention for b in form.blocks if b.attention is not None]
    return {
        "d_model": len(form.coords), "n_heads": max([len(a.moves) for a in att] + [1]), "d_head": 1,
        "d_mlp": max([len(b.ffn.units) for b in form.blocks] + [1]), "n_layers": len(form.blocks), "n_ctx": form.input.seq_len,
        "d_vocab": len(form.input.table), "d_vocab_out": 1, "act_fn": "relu", "normalization_type": None,
        "attention_dir": "causal" if att and att[0].causal else "bidirectional",
    }


def lens_state(form: ExactModel) -> dict[str, np.ndarray]:
    """TransformerBridge state_dict (nn.Linear layout, out x in) of the lens form, float64."""
    cfg = lens_config(form)
    m, H, q = cfg["d_model"], cfg["n_heads"], cfg["d_mlp"]
    dense = state_dict(dataclasses.replace(form, input=dataclasses.replace(form.input, vocab=(), pairs=())))
    sd = {"embed.weight": dense["embed.weight"], "pos_embed.weight": np.array(form.input.pos_table, dtype=np.float64).reshape(-1, m)}
    for i in range(len(form.blocks)):
        pre = f"blocks.{i}"
        for name in ("q", "k", "v"):
            sd[f"{pre}.attn.{name}.weight"] = dense.get(f"{pre}.attn.{name}.weight", np.zeros((H, m)))
            sd[f"{pre}.attn.{name}.bias"] = np.zeros(H)
        sd[f"{pre}.attn.o.weight"] = dense.get(f"{pre}.attn.o.weight", np.zeros((m, H)))
        sd[f"{pre}.attn.o.bias"] = np.zeros(m)
        w1, b1 = dense[f"{pre}.w1.weight"], dense[f"{pre}.w1.bias"]
        w2 = dense[f"{pre}.w2.weight"]
        sd[f"{pre}.mlp.in.weight"] = np.pad(w1, ((0, q - w1.shape[0]), (0, 0)))
        sd[f"{pre}.mlp.in.bias"] = np.pad(b1, (0, q - b1.shape[0]))
        sd[f"{pre}.mlp.out.weight"] = np.pad(w2, ((0, 0), (0, q - w2.shape[1])))
        sd[f"{pre}.mlp.out.bias"] = dense[f"{pre}.w2.bias"]
    sd["unembed.weight"] = dense["e_out.weight"]
    sd["unembed.bias"] = np.zeros(1)
    return sd


def _checked_form(model: ExactModel, inputs, force: bool) -> ExactModel:
    form = lens_form(model)
    if force:
        return form
    if inputs is None:
        rec = model.record.float64
        if rec and not rec.exact:  # measured at compile on the data it was built for: passing that data again cannot help
            advice = "" if "bit_budget" in rec.reason else ": compile it with a bit budget (bit_budget=48) for one that does"
            raise NotFloatExact(f"this model does not run exactly in float64, so TransformerLens would not either "
                                f"({rec.reason}){advice}")
        if not rec:
            raise NotFloatExact("this model's float64 behaviour was never checked: pass the dataset to check it on")
        if not model.input.positions:
            return form
        raise NotFloatExact("a model with positions is exported in another form that must be checked on the data: pass the dataset")
    fc = float64_check(form, inputs, read_positions(model))
    if not fc.exact:
        raise NotFloatExact(f"this model does not run exactly in float64 in TransformerLens: {fc.reason}; compile with bit_budget=48")
    return form


def lens_tokens(model: ExactModel, ids: np.ndarray) -> np.ndarray:
    """Raw token ids [B, n] -> the rows TransformerLens takes (vocab.json's map; 0 = an id never seen).
    The lens form's rows belong to the ids alone: positions come from pos_embed."""
    return dataclasses.replace(model.input, positions=False).rows(np.asarray(ids))


def to_transformer_lens(model: ExactModel, inputs: np.ndarray | None = None, force: bool = False):
    """The loaded native TransformerBridge (float64, CPU), ready for run_with_cache on `lens_tokens(model, ids)`.
    Refused (NotFloatExact) unless float64 computes the exact outputs (measured on `inputs` when given)."""
    try:
        import torch
        from transformer_lens import TransformerBridge, TransformerBridgeConfig
    except ImportError as e:
        raise ImportError(f"TransformerLens is not installed ({e.name}): pip install 'memcap[lens]' "
                          "(from a checkout: pip install -e '.[lens]')") from None
    form = _checked_form(model, inputs, force)
    bridge = TransformerBridge.boot_native(TransformerBridgeConfig(**lens_config(form)), dtype=torch.float64, device="cpu")
    _load_strict(bridge, lens_state(form))
    return bridge.eval()


def _load_strict(bridge, sd: dict[str, np.ndarray]) -> None:
    """What load_state_dict(sd, strict=True) does (same keys, same shapes, values copied), in linear time:
    torch's load_state_dict takes time quadratic in the number of blocks, which a deep memorizer's
    thousands of blocks make minutes, while state_dict() hands out the parameters and buffers themselves."""
    import torch

    own = bridge.state_dict(keep_vars=True)
    if own.keys() != sd.keys():
        missing, unexpected = sorted(own.keys() - sd.keys())[:5], sorted(sd.keys() - own.keys())[:5]
        raise ValueError(f"state dict keys differ: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for k, t in own.items():
            if tuple(t.shape) != sd[k].shape:
                raise ValueError(f"{k}: shape {tuple(t.shape)} in the bridge, {sd[k].shape} in the export")
            t.copy_(torch.from_numpy(sd[k]))


def save_transformer_lens(model: ExactModel, out: str | Path, inputs: np.ndarray | None = None, force: bool = False,
                          overwrite: bool = False) -> Path:
    """DIR/config.json (TransformerBridgeConfig kwargs), DIR/model.safetensors (float64 state dict),
    DIR/vocab.json (raw token id as a string -> row; unseen ids go to row 0), DIR/stream.json (the
    residual stream's coordinate names, for `memcap.nn.stream.label_stream`). Built beside `out`, then moved
    into place; an existing `out` is refused (`OutputExists`) unless `overwrite` is set and it is such an export."""
    from safetensors.numpy import save as safetensors_bytes

    outputs.check(out, "lens", overwrite)
    form = _checked_form(model, inputs, force)
    with outputs.writing_folder(out, "lens", overwrite) as tmp:
        (tmp / "config.json").write_text(json.dumps(lens_config(form), sort_keys=True, indent=1) + "\n")
        (tmp / "model.safetensors").write_bytes(
            safetensors_bytes(lens_state(form), metadata={"memcap": "TransformerBridge native state dict, float64"}))
        (tmp / "vocab.json").write_text(json.dumps({str(v): j + 1 for j, v in enumerate(model.input.vocab)}, sort_keys=True) + "\n")
        write_stream_names(tmp, form.coords)
    return Path(out)
