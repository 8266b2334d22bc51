"""The model's typed record: lossless against the JSON it is stored as, and old (version 2) model files,
written by memcap before the record existed and kept under tests/data/, still load and still memorize."""

import json
from pathlib import Path

import numpy as np
import pytest

from memcap import data
from memcap.compiling import compile
from memcap.ir import fileformat
from memcap.ir.executor import run
from memcap.ir.record import FloatCheck, ModelRecord, PlanSummary
from memcap.verification import verify
from memcap.vocab import Objective, Stage2

DATA = Path(__file__).parent / "data"


def _doc(name: str) -> dict:
    return json.loads((DATA / name / "model.json").read_text())


def test_version_2_sequence_model_loads_with_its_record_and_memorizes():
    doc = _doc("model-v2-next-token")
    assert doc["version"] == 2
    model = fileformat.load(DATA / "model-v2-next-token")
    rec = model.record
    assert rec.as_dict() == doc["meta"]  # nothing the old file recorded is lost
    assert (rec.data.N, rec.data.n, rec.data.C, rec.options.objective) == (6, 3, 3, Objective.depth)
    assert rec.stages.names == ("phi", "attention", "F2") and isinstance(rec.plan, PlanSummary)
    assert isinstance(rec.float64, FloatCheck) and rec.roles is not None and rec.F1 is None
    res = verify(model, data.load(DATA / "model-v2-next-token" / "data.npz"))
    assert res.ok and res.positions == 6


def test_version_2_point_memorizer_loads_and_memorizes():
    doc = _doc("model-v2-points")
    model = fileformat.load(DATA / "model-v2-points")
    assert model.record.points and model.record.as_dict() == doc["meta"]
    assert model.record.plan.snap == doc["meta"]["snap"] and model.stages.names == ("projection", "groups", "extraction")
    pts = np.load(DATA / "model-v2-points" / "points.npz")
    assert run(model, pts["points"]).equals(pts["labels"]).all()


@pytest.mark.parametrize("name", ["model-v2-next-token", "model-v2-points"])
def test_resaving_a_version_2_file_changes_only_its_version(tmp_path, name):
    old = (DATA / name / "model.json").read_text()
    fileformat.save(fileformat.load(DATA / name), tmp_path / "m")
    new = json.loads((tmp_path / "m" / "model.json").read_text())
    before = json.loads(old)
    assert new["version"] == fileformat.VERSION == 3
    assert {k: v for k, v in new.items() if k not in ("version", "sha256")} == \
        {k: v for k, v in before.items() if k not in ("version", "sha256")}


def test_an_unknown_version_is_refused(tmp_path):
    doc = _doc("model-v2-next-token")
    doc["version"] = 99
    with pytest.raises(fileformat.ModelFileError, match="version 99"):
        fileformat.from_json(doc)


@pytest.mark.parametrize("opts", [{}, {"objective": "bits"}, {"arch": "deep-sets"}, {"bit_budget": 48}])
def test_record_round_trips_through_its_json_form(opts):
    ds = data.random_ids(20, 4, vocab=12, C=3, seed=2)
    model = compile(ds, **opts)
    rec = model.record
    assert ModelRecord.from_dict(json.loads(json.dumps(rec.as_dict()))) == rec
    assert (rec.plan.stage2 == Stage2.hashed) == (opts.get("objective") == "bits")
    assert (rec.plan.table is not None) == (opts.get("objective") == "bits")
