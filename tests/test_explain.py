"""explain follows the construction's record of its units' roles; a model without one (a file written before
the record existed) is read by its units' shapes and must tell the same story."""

import dataclasses
import re

import pytest

from memcap.data import random_ids
from memcap.explain import explain
from memcap.pipeline import build

SHAPES = {"telescoped": {}, "float-safe": {"bit_budget": 48}, "trapezoid": {"mode": "paper"}}


@pytest.mark.parametrize("shape", SHAPES)  # every Stage II shape of a line memorizer
def test_explain_reads_the_role_record_and_a_file_without_it_tells_the_same(shape):
    ds = random_ids(40, 6, 50, 10, seed=3)
    model = build(ds, seed=3, **SHAPES[shape]).model
    record = model.record.roles
    assert record is not None and record.stage2 == shape
    old = dataclasses.replace(model, record=dataclasses.replace(model.record, roles=None))  # as a file from before the record
    for example in range(0, 40, 3):
        lines = explain(model, ds, example).lines
        assert lines == explain(old, ds, example).lines
        text = "\n".join(lines)
        assert lines[-1].endswith("the label, exactly"), text
        floor_t = int(re.search(r"floor\(t\) = (-?\d+)", text).group(1))
        group = int(re.search(r"Stage II: group (\d+) of (\d+)", text).group(1))
        assert re.search(rf"of {record.groups} \(at most k = {record.k} points", text)
        assert record.group_lo[group] <= floor_t < record.group_hi[group]  # the group the record says holds t
        gate = int(re.search(r"gate opened in block (\d+)", text).group(1))
        chunk = int(re.search(r"chunk (\d+) of the group matched", text).group(1))
        assert any(u.role == "gate" and u.chunk == chunk and u.block == gate for u in record.units())
