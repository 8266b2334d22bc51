"""The residual stream's coordinate names for tools outside memcap.

An exported TransformerLens folder carries `stream.json`: the name of every coordinate of the residual
stream (d_model of them, in order), what each holds, and which cached activations have the stream as
their last dimension. `label_stream` turns such an activation into one tensor per named coordinate, so a
`run_with_cache` result reads as the construction's quantities without memcap's docs.
"""

from __future__ import annotations

import json
from pathlib import Path

STREAM_FILE = "stream.json"

MEANINGS = {
    "phi": "the token's value f (0 for a token that is not a key token); the attention averages it",
    "F": ("the token's distinct integer: ids, its embedding row (with positions (id row - 1) * n + 1 + position); "
          "vectors, its place on phi~'s line"),
    "sid": "after the attention: the mean of phi over the window (n * sid is the sequence id)",
    "t": "F2's Stage I: the context's projected position on the memorizer's line",
    "D": "Stage II/III: t minus the floor of the chunk being matched (a gate opens at 0)",
    "U": "Stage II: the group's crafted address integer (one delta per point), read digit by digit",
    "W": "Stage II: the group's crafted label integer (one label chunk per point), read bit by bit",
    "cw0": "Stage III scratch: a chunk's label as it is extracted (chunks alternate between cw0 and cw1)",
    "cw1": "Stage III scratch: the next chunk's label (chunks alternate between cw0 and cw1)",
    "g": "Stage III: the gate that opens when D matches the current chunk",
    "y": "the output: the label (read by the unembedding)",
    "i0": "bit budget: Stage II's indicator slot (multiplied in one block later)",
    "i1": "bit budget: the second indicator slot",
    "x": "token vectors: the token projected on phi~'s integer direction",
    "D1": "the phi~ memorizer's distance coordinate",
    "T1": "the phi~ memorizer's line (export form of a model built with positions)",
    "Fi": "token vectors under a bit budget: an integer token id for F2",
    "T2": "the integer-id memorizer's line",
    "D2": "the integer-id memorizer's distance coordinate",
    "reg": "sparse attention: the value the register gathered",
}

# cached activations whose last dimension is the residual stream (the attention's and the MLP's inner
# hooks have d_head or d_mlp instead)
STREAM_HOOKS = ("hook_embed", "hook_pos_embed", "blocks.{l}.hook_resid_pre", "blocks.{l}.hook_attn_out",
                "blocks.{l}.hook_resid_mid", "blocks.{l}.hook_mlp_out", "blocks.{l}.hook_resid_post")


def stream_sidecar(coords: tuple[str, ...]) -> dict:
    """The content of stream.json for a model whose residual stream has these coordinates."""
    return {"coords": list(coords), "meaning": {c: MEANINGS.get(c, "") for c in coords},
            "output": coords.index("y") if "y" in coords else None, "stream_hooks": list(STREAM_HOOKS)}


def write_stream_names(folder: str | Path, coords: tuple[str, ...]) -> Path:
    path = Path(folder) / STREAM_FILE
    path.write_text(json.dumps(stream_sidecar(coords), indent=1) + "\n")
    return path


def stream_names(folder: str | Path) -> list[str]:
    """The coordinate names of an exported folder's residual stream, in order."""
    return json.loads((Path(folder) / STREAM_FILE).read_text())["coords"]


def label_stream(activation, names) -> dict:
    """{coordinate name: activation[..., i]} for a cached activation whose last dimension is the stream
    (`names`: a list of names, or an exported folder). A last dimension of another size is a ValueError."""
    if isinstance(names, (str, Path)):
        names = stream_names(names)
    if activation.shape[-1] != len(names):
        raise ValueError(f"the last dimension has {activation.shape[-1]} entries, the stream {len(names)} "
                         f"coordinates: give a residual-stream activation ({', '.join(STREAM_HOOKS[:3])}, ...)")
    return {name: activation[..., i] for i, name in enumerate(names)}
