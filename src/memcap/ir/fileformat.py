"""Model files: a directory holding `model.json` (the plain sidecar: structure and every exact weight, big
integers as decimal strings, and a SHA-256 of all of it) and `weights.safetensors` (exactly the float64
state_dict of the `MemTransformer` that runs the model, its configuration in the file's metadata).
Loading reads the JSON only, checks the checksum, and never unpickles anything; a round trip is exact.
The same model gives the same bytes: keys are sorted and nothing time-dependent is written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import outputs
from ..vocab import Attention, InputKind, ModelSetting, WindowPattern, is_member
from .dense import state_dict, torch_config
from .layers import FFN, Block, ExactModel, InputLayer, UniformAttention, Unit
from .record import ModelRecord

FORMAT = "memcap-model"
VERSION = 3  # 3: the model's typed record; 2: the same JSON, read into the same record
READABLE = (2, 3)
WEIGHTS_VERSION = 2  # weights.safetensors' layout did not change with the record: its bytes stay the same


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
            if b.attention.pattern != WindowPattern.all:
                att["pattern"] = b.attention.pattern
        blocks.append({
            "attention": att,
            **({"pool": True} if b.pool else {}),
            **({"recur": [list(mv) for mv in b.recur]} if b.recur else {}),
            "units": [[_sp(u.reads), str(u.bias), _sp(u.writes)] for u in b.ffn.units],
            "shift": _sp(b.ffn.shift),
        })
    return {
        "format": FORMAT, "version": VERSION, "coords": list(model.coords), "output": model.output,
        "setting": model.setting, "meta": model.record.as_dict(),
        "input": {"kind": layer.kind, "dim": layer.dim, "weights": [[str(w) for w in r] for r in layer.weights],
                  "table": [[str(w) for w in r] for r in layer.table], "positions": layer.positions,
                  "seq_len": layer.seq_len, "position_scale": layer.position_scale,
                  "vocab": [str(v) for v in layer.vocab], "pairs": layer.pairs and [str(v) for v in layer.pairs],
                  **({"register": True} if layer.register else {})},
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
    if doc.get("version") not in READABLE:
        raise ModelFileError(f"unsupported model file version {doc.get('version')} (this memcap reads "
                             f"{', '.join(map(str, READABLE))}): "
                             "compile the model again with this memcap")
    try:
        coords = tuple(doc["coords"])
        m = len(coords)
        inp = doc["input"]
        layer = InputLayer(
            kind=InputKind(inp["kind"]), dim=int(inp["dim"]),
            weights=tuple(tuple(int(w) for w in r) for r in inp["weights"]),
            table=tuple(tuple(int(w) for w in r) for r in inp["table"]),
            positions=bool(inp["positions"]), seq_len=int(inp["seq_len"]),
            position_scale=float(inp["position_scale"]),
            vocab=tuple(int(v) for v in inp["vocab"]), pairs=tuple(int(v) for v in inp["pairs"]),
            register=bool(inp.get("register", False)),
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
                pattern = a.get("pattern", WindowPattern.all)
                if not is_member(WindowPattern, pattern):
                    raise ModelFileError(f"block {bi}: unknown attention pattern {pattern!r}")
                att = UniformAttention(moves=tuple((int(o), int(i), int(w)) for o, i, w in a["moves"]),
                                       kind=Attention(a["kind"]), causal=bool(a["causal"]), pattern=WindowPattern(pattern))
            blocks.append(Block(ffn=FFN(units=units, shift=_pairs(b["shift"], m, f"block {bi}")), attention=att,
                                pool=bool(b.get("pool", False)),
                                recur=_pairs(b.get("recur", []), m, f"block {bi}")))
        return ExactModel(coords=coords, input=layer, blocks=tuple(blocks), output=int(doc["output"]),
                          setting=ModelSetting(doc["setting"]), record=ModelRecord.from_dict(doc.get("meta", {})))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"malformed model file: {type(e).__name__}: {e}") from None


def save(model: ExactModel, path: str | Path, overwrite: bool = False) -> Path:
    """Write the model folder (built beside `path`, then moved into place). An existing `path` is refused
    with `OutputExists` unless `overwrite` is set and it is a memcap model folder."""
    from safetensors.numpy import save as safetensors_bytes

    doc = to_json(model)
    doc["sha256"] = _digest(doc)
    verdict = model.record.float64
    # one metadata key: safetensors writes a map's keys in no fixed order, and the bytes must not vary
    info = {"format": f"{FORMAT} v{WEIGHTS_VERSION}", "config": torch_config(model), "float64": verdict and verdict.as_dict(),
            "note": "exact weights in model.json; load with memcap.load_torch or MemTransformer(TransformerConfig(**config))"}
    with outputs.writing_folder(path, "model", overwrite) as tmp:
        (tmp / "model.json").write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
        weights = safetensors_bytes(state_dict(model), metadata={"memcap": json.dumps(info, sort_keys=True)})
        (tmp / "weights.safetensors").write_bytes(weights)
    return Path(path)


def _digest(doc: dict) -> str:
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load(path: str | Path) -> ExactModel:
    path = Path(path)
    f = path / "model.json" if path.is_dir() else path
    if not f.exists():
        raise ModelFileError(f"no model at {path} (expected a directory with model.json)")
    try:
        doc = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        what = "a directory with model.json" if f is path else "valid JSON"  # a dataset passed for the model, say
        raise ModelFileError(f"{path} is not a memcap model (expected {what}; {type(e).__name__}: {e})") from None
    if isinstance(doc, dict) and doc.get("format") == FORMAT and doc.get("version") in READABLE:
        if doc.get("sha256") != _digest(doc):
            raise ModelFileError(f"{f} was changed after it was written (its SHA-256 does not match): compile the model again")
    return from_json(doc)
