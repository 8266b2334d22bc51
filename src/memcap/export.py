"""Built models into the field's tools: a float64 `MemTransformer` (`to_torch`, `load_torch`) and a
TransformerLens 4 `TransformerBridge` (`to_transformer_lens`, `save_transformer_lens`).

A built model is handed to float64 only where `float64_check` says it computes the same outputs there:
measured on the data when it is given, else the verdict recorded in the model when it was compiled and
verified (`memcap compile` records it). `force=True` builds the module anyway, for study.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .ir import fileformat
from .ir.dense import state_dict, torch_config
from .ir.float64 import FloatCheck, float64_check
from .ir.layers import ExactModel


class NotFloatExact(ValueError):
    """The model would not compute its exact outputs in float64."""


def read_for(model: ExactModel) -> str:
    return "all" if model.setting == "seq2seq" else "last"


def float_verdict(model: ExactModel, inputs: np.ndarray | None = None) -> FloatCheck | None:
    """The float64 check measured on `inputs`, or the one recorded in the model, or None."""
    if inputs is not None:
        return float64_check(model, inputs, read_for(model))
    rec = model.meta.get("float64")
    return FloatCheck(**rec) if rec else None


def _refuse_unless_exact(model: ExactModel, inputs, force: bool) -> None:
    if force:
        return
    verdict = float_verdict(model, inputs)
    if verdict is None:
        raise NotFloatExact("this model's float64 behaviour was never checked: pass the dataset "
                            "(to_torch(model, ds.inputs)) so that the check can measure its activations")
    if not verdict.exact:
        raise NotFloatExact(f"this model does not run exactly in float64: {verdict.reason}. Run it with the exact "
                            "executor (memcap verify / memcap predict), or compile with --bit-budget 48")


def to_torch(model: ExactModel, inputs: np.ndarray | None = None, force: bool = False):
    """The float64 `MemTransformer` with `model`'s weights; refused (NotFloatExact) unless float64-exact."""
    import torch

    from .torch_model import MemTransformer, TransformerConfig

    _refuse_unless_exact(model, inputs, force)
    net = MemTransformer(TransformerConfig(**torch_config(model))).double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict(model).items()}, strict=True)
    return net.eval()


def load_torch(path: str | Path, force: bool = False):
    """The float64 `MemTransformer` stored in a model directory's `weights.safetensors` (config from the
    file's metadata), loaded with strict=True. Refused unless the model was recorded as float64-exact."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from .torch_model import MemTransformer, TransformerConfig

    f = Path(path) / "weights.safetensors" if Path(path).is_dir() else Path(path)
    if not f.exists():
        raise fileformat.ModelFileError(f"no weights at {f}")
    with safe_open(str(f), "pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("memcap", "{}"))
    if "config" not in meta:
        raise fileformat.ModelFileError(f"{f} has no memcap configuration in its metadata (written by another tool?)")
    verdict = meta.get("float64")
    if not force and not (verdict and verdict.get("exact")):
        why = verdict["reason"] if verdict else "never checked"
        raise NotFloatExact(f"{f}: not recorded as float64-exact ({why}); load it with force=True to study it anyway")
    net = MemTransformer(TransformerConfig(**meta["config"])).double()
    net.load_state_dict(load_file(str(f)), strict=True)
    return net.eval()
