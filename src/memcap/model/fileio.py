"""Model files: a directory holding `model.json` (the plain sidecar: structure and every exact weight, big
integers as decimal strings) and `weights.safetensors` (dense float64 tensors per block, for PyTorch
users). Loading reads the JSON only and never unpickles anything; a round trip is exact. The same model
gives the same bytes: keys are sorted and nothing time-dependent is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .layers import FFN, Block, ExactModel, InputLayer, UniformAttention, Unit

FORMAT = "memcap-model"
VERSION = 1


class ModelFileError(ValueError):
    pass


def _sp(pairs) -> list:
    return [[int(c), str(int(w))] for c, w in pairs]


def to_json(model: ExactModel) -> dict:
    layer = model.input
    blocks = []
    for b in model.blocks:
        att = None
        if b.attention is not None:
            att = {"moves": [[o, i, str(w)] for o, i, w in b.attention.moves], "kind": b.attention.kind,
                   "causal": b.attention.causal}
        blocks.append({
            "attention": att,
            "units": [[_sp(u.reads), str(u.bias), _sp(u.writes)] for u in b.ffn.units],
            "shift": _sp(b.ffn.shift),
        })
    return {
        "format": FORMAT, "version": VERSION, "coords": list(model.coords), "output": model.output,
        "setting": model.setting, "meta": model.meta,
        "input": {"kind": layer.kind, "dim": layer.dim, "weights": [[str(w) for w in r] for r in layer.weights],
                  "table": [[str(w) for w in r] for r in layer.table], "positions": layer.positions,
                  "seq_len": layer.seq_len, "position_scale": layer.position_scale},
        "blocks": blocks,
    }


def _pairs(raw, m: int, where: str):
    out = []
    for c, w in raw:
        if not (0 <= int(c) < m):
            raise ModelFileError(f"{where}: coordinate {c} out of range 0..{m - 1}")
        out.append((int(c), int(w)))
    return tuple(out)


def from_json(doc: dict) -> ExactModel:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError("not a memcap model file (missing format: memcap-model)")
    if doc.get("version") != VERSION:
        raise ModelFileError(f"unsupported model file version {doc.get('version')} (this memcap reads {VERSION})")
    try:
        coords = tuple(doc["coords"])
        m = len(coords)
        inp = doc["input"]
        layer = InputLayer(
            kind=inp["kind"], dim=int(inp["dim"]),
            weights=tuple(tuple(int(w) for w in r) for r in inp["weights"]),
            table=tuple(tuple(int(w) for w in r) for r in inp["table"]),
            positions=bool(inp["positions"]), seq_len=int(inp["seq_len"]),
            position_scale=float(inp["position_scale"]),
        )
        blocks = []
        for bi, b in enumerate(doc["blocks"]):
            units = tuple(
                Unit(reads=_pairs(r, m, f"block {bi}"), bias=int(bias), writes=_pairs(w, m, f"block {bi}"))
                for r, bias, w in b["units"]
            )
            att = None
            if b["attention"] is not None:
                a = b["attention"]
                att = UniformAttention(moves=tuple((int(o), int(i), int(w)) for o, i, w in a["moves"]),
                                       kind=a["kind"], causal=bool(a["causal"]))
            blocks.append(Block(ffn=FFN(units=units, shift=_pairs(b["shift"], m, f"block {bi}")), attention=att))
        return ExactModel(coords=coords, input=layer, blocks=tuple(blocks), output=int(doc["output"]),
                          setting=doc["setting"], meta=doc.get("meta", {}))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"malformed model file: {type(e).__name__}: {e}") from None


def _dense(model: ExactModel) -> dict[str, np.ndarray]:
    m = len(model.coords)

    def f(v: int) -> float:
        try:
            return float(v)
        except OverflowError:
            return float("inf") if v > 0 else float("-inf")

    tensors: dict[str, np.ndarray] = {}
    layer = model.input
    if layer.kind == "ids":
        tensors["embedding"] = np.array([[f(v) for v in r] for r in layer.table], dtype=np.float64).reshape(-1, m)
    else:
        tensors["e_in"] = np.array([[f(v) for v in r] for r in layer.weights], dtype=np.float64).reshape(m, -1)
    for i, b in enumerate(model.blocks):
        q = len(b.ffn.units)
        w1, b1, w2, b2 = np.zeros((q, m)), np.zeros(q), np.zeros((m, q)), np.zeros(m)
        for j, u in enumerate(b.ffn.units):
            for c, w in u.reads:
                w1[j, c] += f(w)
            b1[j] = f(u.bias)
            for c, w in u.writes:
                w2[c, j] += f(w)
        for c, w in b.ffn.shift:
            b2[c] += f(w)
        tensors.update({f"blocks.{i}.w1": w1, f"blocks.{i}.b1": b1, f"blocks.{i}.w2": w2, f"blocks.{i}.b2": b2})
        if b.attention is not None:
            ov = np.zeros((m, m))
            for o, inp, w in b.attention.moves:
                ov[o, inp] += f(w)
            tensors[f"blocks.{i}.attn_ov"] = ov
    e_out = np.zeros(m)
    e_out[model.output] = 1.0
    tensors["e_out"] = e_out
    return tensors


def save(model: ExactModel, path: str | Path) -> Path:
    from safetensors.numpy import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.json").write_text(json.dumps(to_json(model), sort_keys=True, separators=(",", ":")) + "\n")
    # one metadata key: safetensors writes a map's keys in no fixed order, and the bytes must not vary
    save_file(_dense(model), str(path / "weights.safetensors"),
              metadata={"memcap": f"{FORMAT} v{VERSION}; exact weights in model.json"})
    return path


def load(path: str | Path) -> ExactModel:
    path = Path(path)
    f = path / "model.json" if path.is_dir() else path
    if not f.exists():
        raise ModelFileError(f"no model at {path} (expected a directory with model.json)")
    try:
        doc = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{f} is not valid JSON: {e}") from None
    return from_json(doc)
