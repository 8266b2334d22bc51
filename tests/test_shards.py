"""Sharded and Dask verification: parts that combine to the one-process result, and refusals of parts
that do not fit together."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

import memcap
from memcap.cli import app
from memcap.shards import Shard, combine, shard_bounds, verify_shard

runner = CliRunner()


def _broken(model):
    """A model that misses: the output's E_out moved to another coordinate."""
    return dataclasses.replace(model, output=model.coord("t"))


def test_two_shards_combine_to_the_one_process_result():
    ds = memcap.Dataset.random_ids(900, 8, 100, 10, seed=1)
    model = memcap.compile(ds)
    for m in (model, _broken(model)):
        whole = memcap.verify(m, ds, workers=1)
        parts = [verify_shard(m, ds, i, 2, workers=1) for i in range(2)]
        assert combine(parts) == whole
        assert combine([Shard.from_json(p.to_json()) for p in reversed(parts)]) == whole
    assert not combine([verify_shard(_broken(model), ds, i, 3) for i in range(3)]).ok


def test_combine_refuses_parts_that_do_not_fit():
    ds = memcap.Dataset.random_ids(300, 6, 50, 10, seed=2)
    model = memcap.compile(ds)
    a, b = verify_shard(model, ds, 0, 2), verify_shard(model, ds, 1, 2)
    with pytest.raises(ValueError, match="in no shard"):
        combine([a])
    with pytest.raises(ValueError, match="checked twice"):
        combine([a, a, b])
    other = verify_shard(memcap.compile(ds, seed=1), ds, 1, 2)
    with pytest.raises(ValueError, match="another model"):
        combine([a, other])
    assert shard_bounds(10, 2, 3) == (6, 10)


def test_dask_local_cluster_gets_the_one_process_result():
    pytest.importorskip("distributed")
    from memcap.shards import verify_dask

    ds = memcap.Dataset.random_ids(2500, 8, 100, 10, seed=3)
    model = memcap.compile(ds)
    for m in (model, _broken(model)):
        assert verify_dask(m, ds, chunk=700) == memcap.verify(m, ds, workers=1)


def test_cli_shards(tmp_path):
    data, model = tmp_path / "d.npz", tmp_path / "m"
    assert runner.invoke(app, ["data", "random", str(data), "--N", "400"]).exit_code == 0
    assert runner.invoke(app, ["compile", str(data), "-o", str(model), "--no-verify"]).exit_code == 0
    for i in range(3):
        r = runner.invoke(app, ["verify", str(model), str(data), "--shard", f"{i}/3", "-o", str(tmp_path / f"p{i}.json")])
        assert r.exit_code == 0, r.output
    parts = [str(tmp_path / f"p{i}.json") for i in range(3)]
    r = runner.invoke(app, ["verify-combine", *parts])
    assert r.exit_code == 0 and "checked 400 examples (400 positions) exactly: 0 wrong" in r.output
    assert json.loads((tmp_path / "p0.json").read_text())["stop"] == 133
    for args, msg in [(["verify-combine", *parts[:2]], "in no shard"), (["verify", str(model), str(data), "--shard", "3/3"], "0 <= I < K"),
                      (["verify", str(model), str(data), "--shard", "x"], "I/K"),
                      (["verify", str(model), str(data), "--shard", "0/2", "--torch"], "without --torch")]:
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and r.output.count("error:") == 1 and msg in r.output, (args, r.output)
