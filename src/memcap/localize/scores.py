"""Scores of a localization: a ranking of memorizer units per example against the exact ground truth.

- recall@k (store)   INJ-style: the fraction of the example's storing units (Stage II of its group, from
                     the construction's record) among the ranking's top k
- recall@k (read)    the same for its chunk's Stage III gate and label add
- precision@k        the fraction of the top k whose zeroing alone changes the example's output (exact)
- DEL                the top k zeroed together in the exact model: the fraction of target examples whose
                     output changes (destroyed) against the fraction of other examples (a fixed sample)
- specificity        target destroyed minus others destroyed (1: only the target; 0: no better than harming
                     everything alike)
Units are named both as memcap (block, unit) and as TransformerLens neurons of the exported model.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..ir.executor import run
from ..ir.layers import ExactModel
from .truth import GroundTruth

TL_NAME = re.compile(r"^blocks\.(\d+)\.mlp\.hook_post\[\.\.\., *(\d+)\]$")


def tl_offset(model: ExactModel) -> int:
    """Blocks the TransformerLens export puts in front of the model's own (a model with positions gets a
    phi~ memorizer there); TransformerLens layer = block + offset, neuron = unit."""
    if not model.input.positions:
        return 0
    from ..construct.lens import lens_form

    return len(lens_form(model).blocks) - len(model.blocks)


def unit_names(gt: GroundTruth, offset: int) -> list[dict]:
    return [{"id": i, "block": u.block, "unit": u.unit, "tl": f"blocks.{u.block + offset}.mlp.hook_post[..., {u.unit}]",
             "role": u.role, "group": u.group, "chunk": u.chunk} for i, u in enumerate(gt.units)]


def parse_unit(entry, index: dict[tuple[int, int], int], offset: int) -> int:
    """A unit id from [block, unit], {"block": b, "unit": u} or "blocks.{l}.mlp.hook_post[..., i]"."""
    if isinstance(entry, str):
        m = TL_NAME.match(entry.strip())
        if not m:
            raise DataError(f"unit {entry!r}: expected blocks.L.mlp.hook_post[..., I] or [block, unit]")
        key = (int(m.group(1)) - offset, int(m.group(2)))
    elif isinstance(entry, dict) and {"block", "unit"} <= entry.keys():
        key = (int(entry["block"]), int(entry["unit"]))
    elif isinstance(entry, (list, tuple)) and len(entry) == 2:
        key = (int(entry[0]), int(entry[1]))
    else:
        raise DataError(f"unit {entry!r}: expected [block, unit], {{'block': b, 'unit': u}} or a TransformerLens name")
    if key not in index:
        raise DataError(f"unit {entry!r} is not a unit of the model's memorizer")
    return index[key]


def parse_rankings(doc, gt: GroundTruth, offset: int) -> list[np.ndarray]:
    """A user's rankings ({"rankings": {example: [unit, ...]}} or {example: [unit, ...]}) in the ground
    truth's example order; every covered example must be ranked."""
    if not isinstance(doc, dict):
        raise DataError("a ranking file is a JSON object: {\"rankings\": {\"<example>\": [unit, ...]}}")
    ranks = doc.get("rankings", doc)
    index = {(u.block, u.unit): i for i, u in enumerate(gt.units)}
    out = []
    for e in gt.examples.tolist():
        if str(e) not in ranks:
            raise DataError(f"the ranking file has no ranking for example {e}")
        out.append(np.array([parse_unit(x, index, offset) for x in ranks[str(e)]], dtype=np.int64))
    return out


def zero_units(model: ExactModel, units: list[tuple[int, int]]) -> ExactModel:
    """The model with these units' output weights zeroed (the unit writes nothing)."""
    blocks = list(model.blocks)
    for b, u in units:
        ffn = blocks[b].ffn
        new = list(ffn.units)
        new[u] = dataclasses.replace(new[u], writes=())
        blocks[b] = dataclasses.replace(blocks[b], ffn=dataclasses.replace(ffn, units=tuple(new)))
    return dataclasses.replace(model, blocks=tuple(blocks))


@dataclass(frozen=True)
class Score:
    method: str
    k: int
    recall_store: float
    recall_read: float
    precision: float
    target_destroyed: float
    others_destroyed: float
    seconds: float
    nonfinite: int = 0
    del_targets: int = 0  # the targets DEL ran on (all of them unless sampled)

    @property
    def specificity(self) -> float:
        return self.target_destroyed - self.others_destroyed


def score(model: ExactModel, inputs: np.ndarray, labels: np.ndarray, gt: GroundTruth, ranks: list[np.ndarray],
          k: int, others: np.ndarray, method: str, seconds: float = 0.0, nonfinite: int = 0,
          del_on: np.ndarray | None = None) -> Score:
    """Every metric of the rankings `ranks` (one per covered example, unit ids, best first); `others`:
    dataset indices of the examples DEL measures the collateral damage on; `del_on`: the covered examples
    (positions) on which DEL runs, each one exact run of 1 + len(others) examples (default: all)."""
    rec_s, rec_r, prec, hit, coll = [], [], [], [], []
    for j, rank in enumerate(ranks):
        top = rank[:k]
        store, read, causal = gt.store(j), gt.read(j), gt.causal(j)
        rec_s.append(np.isin(store, top).mean() if len(store) else 0.0)
        rec_r.append(np.isin(read, top).mean() if len(read) else 0.0)
        prec.append(np.isin(top, causal).mean() if len(top) else 0.0)
    for j in range(len(ranks)) if del_on is None else del_on:
        top = ranks[j][:k]
        ablated = zero_units(model, [(gt.units[i].block, gt.units[i].unit) for i in top])
        e = int(gt.examples[j])
        rest = others[others != e]
        ok = run(ablated, inputs[np.r_[e, rest]]).equals(labels[np.r_[e, rest]]).ravel()
        hit.append(not ok[0])
        coll.append(1.0 - ok[1:].mean() if len(rest) else 0.0)
    return Score(method, k, float(np.mean(rec_s)), float(np.mean(rec_r)), float(np.mean(prec)), float(np.mean(hit)),
                 float(np.mean(coll)), seconds, nonfinite, len(hit))


def ranking(scores: np.ndarray) -> list[np.ndarray]:
    """Unit ids by descending score, ties by unit id."""
    return [np.argsort(-s, kind="stable") for s in scores]


def random_ranking(units: int, examples: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(units) for _ in range(examples)]


COLUMNS = ("method", "k", "recall@k store", "recall@k read", "precision@k causal", "target destroyed",
           "others destroyed", "specificity", "seconds", "non-finite")


def rows(scores: list[Score]) -> list[tuple]:
    return [(s.method, s.k, f"{s.recall_store:.3f}", f"{s.recall_read:.3f}", f"{s.precision:.3f}", f"{s.target_destroyed:.3f}",
             f"{s.others_destroyed:.3f}", f"{s.specificity:.3f}", f"{s.seconds:.2f}", s.nonfinite) for s in scores]
