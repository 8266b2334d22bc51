"""The worker framework's own rules, without training: specs round-trip through JSON, names carry their
settings and stay what they were (old storages resume), and a worker finds a spec of either kind."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

pytest.importorskip("optuna")

from memcap.jsonrecord import named  # noqa: E402
from memcap.shards import Shard  # noqa: E402
from memcap.train import capacity_sweep as cs  # noqa: E402
from memcap.train.experiments import bits_per_param, fig3  # noqa: E402
from memcap.train.storage import open_storage  # noqa: E402
from memcap.train.sweep import BOUNDARY_SEARCH  # noqa: E402
from memcap.train.workers import find_sweep, published  # noqa: E402


def test_specs_round_trip_and_keep_their_names():
    exp = fig3(points=(20, 40), n_trials=2, epochs=200, max_blocks=3)
    grid = cs.profile(quick=True, steps=3)
    shard = Shard(0, 5, 9, 40, 1, ((3, 7),), "m" * 64, "d" * 64)
    for record in (exp, grid, shard, bits_per_param("standard", (4,))):
        assert type(record).from_json(record.to_json()) == record
    assert isinstance(cs.CapacitySpec.from_json(grid.to_json()).models[0], cs.ModelShape)
    # the names that storages made before the framework hold: a changed hash would start every sweep anew
    assert exp.name == "fig3-digits-m8-580ee9" and grid.name == "capacity-quick-1b84b4"
    assert named(replace(exp, name="fig3-digits-m8", epochs=201)).name != exp.name
    old = json.loads(grid.to_json())
    del old["mlp"]  # stored before the MLP width was a setting
    assert cs.CapacitySpec.from_json(json.dumps(old)).mlp == 4


def test_a_worker_finds_either_kind_by_name_and_names_both_when_missing(tmp_path):
    st = open_storage(str(tmp_path / "s.db"))
    exp = fig3(points=(20,), n_trials=1, epochs=10, max_blocks=2)
    grid = cs.profile(quick=True, steps=2)
    BOUNDARY_SEARCH.publish(st, exp)
    cs.CAPACITY_GRID.publish(st, grid)
    kinds = (cs.CAPACITY_GRID, BOUNDARY_SEARCH)
    assert find_sweep(st, exp.name, kinds) is BOUNDARY_SEARCH and find_sweep(st, grid.name, kinds) is cs.CAPACITY_GRID
    assert published(st, kinds) == [exp.name, grid.name]
    with pytest.raises(ValueError, match=f"no experiment 'x' in this storage; it has: {exp.name}, {grid.name}"):
        find_sweep(st, "x", kinds)
    with pytest.raises(ValueError, match="no capacity experiment"):
        cs.CAPACITY_GRID.work(st, exp.name)  # a search experiment's name is not a capacity experiment
    assert BOUNDARY_SEARCH.find(st, grid.name) is None
