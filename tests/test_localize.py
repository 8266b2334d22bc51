"""Localization ground truth: the causal map equals exhaustive ablation, the record's promises hold, the
metrics score planted and random rankings as they must, and the ground-truth file's unit names zero the
right neurons in the strictly loaded weights.safetensors."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from memcap.cli import app
from memcap.data import random_ids
from memcap.data import save as save_data
from memcap.ir import fileformat
from memcap.ir.executor import run
from memcap.ir.record import ModelRecord
from memcap.localize.bench import bench, planted, truth_document
from memcap.localize.causal import _unique_states, causal_pairs, stream_before
from memcap.localize.scores import TL_NAME, random_ranking, score, zero_units
from memcap.localize.truth import NoRecord, check, ground_truth
from memcap.nn.export import load_torch
from memcap.pipeline import build

runner = CliRunner()


def _model(N, budget, seed=3, **opts):
    ds = random_ids(N, 6, 50, 10, seed=seed)
    return build(ds, bit_budget=budget, seed=seed, **opts).model, ds  # verified, float64 verdict recorded


SHAPES = {"float-safe": (48, {}), "telescoped": (None, {}), "trapezoid": (None, {"mode": "paper"})}


def test_a_bits_objective_model_is_refused_with_the_reason():
    model, ds = _model(40, None, objective="bits")  # its retrieval table's slots are shared: no per-group units
    with pytest.raises(NoRecord, match="three table slots"):
        ground_truth(model, ds)


@pytest.mark.parametrize("shape", SHAPES)  # every Stage II shape that has groups: local products, differences, trapezoids
def test_causal_map_equals_exhaustive_ablation(shape):
    model, ds = _model(40, SHAPES[shape][0], **SHAPES[shape][1])
    gt = ground_truth(model, ds)
    assert gt.stage2 == shape and check(gt) == []
    base = run(model, ds.inputs).numerators.ravel()
    for uid, u in enumerate(gt.units):
        out = run(zero_units(model, [(u.block, u.unit)]), ds.inputs).numerators.ravel()
        assert np.array_equal(np.flatnonzero(out != base), gt.affected(uid)), (uid, u)


@pytest.mark.parametrize("shape", SHAPES)
def test_causal_map_is_the_same_whatever_the_tail_block_and_the_chunks(shape):
    model, ds = _model(40, SHAPES[shape][0], **SHAPES[shape][1])
    rec = model.record.roles
    start = stream_before(model, ds.inputs, rec.first_block)
    units = [(u.block, u.unit) for u in rec.units()]
    ref = causal_pairs(model, start, units)  # no tail: every pair carried through every block
    assert len(ref[0]) > 100
    stage3 = min(u.block for u in rec.units() if u.stage == "III")
    for tail in (rec.first_block + 1, stage3, len(model.blocks) - 1):
        for chunk in (1 << 30, 7 * len(units)):  # one chunk, then chunks of 7 examples
            got = causal_pairs(model, start, units, tail=tail, chunk_pairs=chunk)
            assert all(np.array_equal(a, b) for a, b in zip(got, ref, strict=True)), (tail, chunk)


def test_equal_states_are_merged_exactly_with_python_ints_too():
    rng = np.random.default_rng(0)
    ex = rng.integers(0, 5, 3000)
    small = rng.integers(-3, 3, 3000)
    big = np.array([int(v) << 70 for v in rng.integers(-2, 2, 3000)] + [], dtype=object)
    for deltas in ([small], [small, big]):
        first, inverse = _unique_states(ex, deltas)
        keys = list(zip(ex.tolist(), *(d.tolist() for d in deltas), strict=True))
        assert len(first) == len(set(keys))
        assert all(keys[first[inverse[i]]] == keys[i] for i in range(len(keys)))


def test_telescoped_storage_is_distributed_and_float_safe_products_local():
    tele, ds = _model(40, None)
    gt = ground_truth(tele, ds)
    top = int(np.argmax(gt.group))
    steps_below = [i for i, u in enumerate(gt.units) if u.role == "step" and u.group < gt.group[top]]
    assert len(steps_below) >= 2 and np.isin(steps_below, gt.causal(top)).all()  # every lower step reaches it
    assert np.isin(steps_below, gt.store_sum(top)).all() and np.isin(gt.store(top), gt.store_sum(top)).all()
    safe, ds = _model(40, 48)
    gt = ground_truth(safe, ds)
    for i, u in enumerate(gt.units):
        if u.role == "product":
            assert np.array_equal(gt.affected(i), np.flatnonzero(gt.group == u.group))


def test_record_lists_every_memorizer_unit_and_old_files_have_none():
    model, _ = _model(30, 48)
    rec = model.record.roles
    want = [(b, u) for b in range(rec.first_block, len(model.blocks)) for u in range(len(model.blocks[b].ffn.units))]
    assert [(u.block, u.unit) for u in rec.units()] == want
    assert ModelRecord.from_dict({k: v for k, v in model.record.as_dict().items() if k != "roles"}).roles is None


def test_del_runs_on_a_seeded_sample_of_many_targets_and_says_so():
    from memcap.localize.report import scores_markdown

    model, ds = _model(40, 48)
    full = bench(model, ds, ["record"], examples=12, k=5, others=10)
    part = bench(model, ds, ["record"], examples=12, k=5, others=10, del_targets=4)
    assert full.scores[0].del_targets == 12 and part.scores[0].del_targets == 4
    assert part.scores[0].recall_store == full.scores[0].recall_store == 1.0  # read off the truth: every target
    assert "sample of 4" in scores_markdown(part.scores, part.truth) and "sample" not in scores_markdown(full.scores, full.truth)


def test_planted_ranking_scores_recall_one_and_random_near_k_over_units():
    model, ds = _model(60, 48)
    gt = ground_truth(model, ds, np.arange(0, 60, 2))
    others = np.arange(1, 60, 2)
    k = max(len(gt.store(j)) for j in range(len(gt.examples)))
    s = score(model, ds.inputs, ds.labels, gt, planted(gt), k, others, "planted")
    assert s.recall_store == 1.0 and s.target_destroyed == 1.0
    k = 20
    r = score(model, ds.inputs, ds.labels, gt, random_ranking(len(gt.units), len(gt.examples), 0), k, others, "random")
    assert abs(r.recall_store - k / len(gt.units)) < 0.08, (r.recall_store, k / len(gt.units))


def test_truth_file_names_units_that_zero_in_the_strictly_loaded_safetensors(tmp_path):
    model, ds = _model(60, 48)
    fileformat.save(model, tmp_path / "m")
    gt = ground_truth(model, ds, np.arange(10))
    doc = json.loads(json.dumps(truth_document(model, gt, ())))
    net = load_torch(tmp_path / "m")  # plain MemTransformer, float64, load_state_dict strict
    target = doc["examples"][0]
    other = next(e for e in doc["examples"] if e["group"] != target["group"])
    with torch.no_grad():
        for uid in target["store"]:
            m = TL_NAME.match(doc["units"][uid]["tl"])  # TransformerLens layer and neuron = block and w2 column
            net.blocks[int(m.group(1))].w2.weight[:, int(m.group(2))] = 0.0
        y = net(torch.tensor(ds.inputs[[target["example"], other["example"]]]), read=-1)[:, 0]
    assert y[0].item() != target["label"]
    assert y[1].item() == other["label"]


def test_user_ranking_in_tl_names_scores_like_memcap_names():
    model, ds = _model(40, 48)
    b = bench(model, ds, [], examples=4, k=3, others=10)
    gt = b.truth
    mem = {str(e): [[gt.units[i].block, gt.units[i].unit] for i in gt.store(j)] for j, e in enumerate(gt.examples)}
    tl = {e: [f"blocks.{bu[0]}.mlp.hook_post[..., {bu[1]}]" for bu in v] for e, v in mem.items()}
    s1 = bench(model, ds, [], examples=4, k=3, others=10, user={"rankings": mem}).scores[0]
    s2 = bench(model, ds, [], examples=4, k=3, others=10, user={"rankings": tl}).scores[0]
    assert s1 == s2 and s1.recall_store == 0.6  # 3 of each group's 5 storing units


def test_localize_command_writes_files_and_refuses_bad_input(tmp_path, monkeypatch):
    from memcap.reports import figures

    model, ds = _model(40, 48)
    fileformat.save(model, tmp_path / "m")
    save_data(ds, tmp_path / "d.npz")
    problems, real_save = [], figures.save

    def save(fig, stem):
        problems.extend(figures.layout_problems(fig))
        return real_save(fig, stem)

    monkeypatch.setattr(figures, "save", save)
    r = runner.invoke(app, ["localize", str(tmp_path / "m"), str(tmp_path / "d.npz"), "-o", str(tmp_path / "o"),
                            "--method", "random,activations", "--examples", "3"])
    assert r.exit_code == 0, r.output
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"ground_truth.json", "scores.csv", "scores.md",
                                                             "rankings_random.json", "rankings_activations.json",
                                                             "scores.png", "scores.svg", "scores.pdf"}
    assert not problems, problems  # the figure of the table: nothing outside its canvas
    doc = json.loads((tmp_path / "o" / "ground_truth.json").read_text())  # written example by example
    assert [e["example"] for e in doc["examples"]] == sorted(e["example"] for e in doc["examples"]) and len(doc["examples"]) == 3
    assert doc["record_agrees"] and all(e["causal"] for e in doc["examples"]) and len(doc["units"]) > 100
    before = (tmp_path / "o" / "ground_truth.json").read_bytes()
    again = ["localize", str(tmp_path / "m"), str(tmp_path / "d.npz"), "-o", str(tmp_path / "o"), "--examples", "2"]
    r = runner.invoke(app, again)  # an earlier result is kept unless --force
    assert r.exit_code == 2 and "--force" in r.output and (tmp_path / "o" / "ground_truth.json").read_bytes() == before
    r = runner.invoke(app, [*again, "--force"])
    assert r.exit_code == 0 and (tmp_path / "o" / "ground_truth.json").read_bytes() != before
    assert not (tmp_path / "o" / "rankings_activations.json").exists()  # replaced whole, not mixed
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    r = runner.invoke(app, [*again[:5], str(tmp_path / "mine"), "--examples", "2", "--force"])
    assert r.exit_code == 2 and (tmp_path / "mine" / "notes.txt").exists()  # never a folder memcap did not write
    (tmp_path / "bad.json").write_text('{"rankings": {"0": ["blocks.x"]}}')
    for args in (["--method", "nope"], ["--score", str(tmp_path / "bad.json")]):
        r = runner.invoke(app, ["localize", str(tmp_path / "m"), str(tmp_path / "d.npz"), "-o", str(tmp_path / "o2"), *args])
        assert r.exit_code == 2 and "error:" in r.output and "Traceback" not in r.output
        assert not (tmp_path / "o2").exists()


def test_report_hook_embeds_localize_tables(tmp_path):
    from memcap.localize.bench import save
    from memcap.localize.report import report_hook

    assert report_hook(tmp_path) == []
    model, ds = _model(40, 48)
    save(tmp_path / "localization" / "N40", model, bench(model, ds, ["random"], examples=3, k=2, others=5))
    md = "\n".join(report_hook(tmp_path))
    assert "### N40" in md and "| random | 2 |" in md
    assert (tmp_path / "localization.csv").read_text().splitlines()[1].startswith("N40,random,2,")


def test_zero_out_in_float64_finds_exactly_the_causal_units():
    import torch

    from memcap.localize.methods import Net, run_method
    from memcap.nn.export import to_torch

    model, ds = _model(40, 48)
    gt = ground_truth(model, ds, np.arange(5))
    net = Net(to_torch(model), [(u.block, u.unit) for u in gt.units])
    r = run_method("zero-out", net, torch.tensor(ds.inputs[:5]), torch.tensor(ds.labels[:5], dtype=torch.float64))
    for j in range(5):
        assert np.array_equal(np.flatnonzero(r.scores[j] != 0), gt.causal(j))


def test_a_users_ranking_names_its_own_targets():
    model, ds = _model(40, 48)
    b = bench(model, ds, ["random"], examples=2, k=3, others=10, user={"rankings": {"7": [[1, 0]], "3": ["blocks.1.mlp.hook_post[..., 0]"]}})
    assert b.truth.examples.tolist() == [3, 7] and [s.method for s in b.scores] == ["user", "random"]
    with pytest.raises(Exception, match="dataset has 0..39"):
        bench(model, ds, [], user={"rankings": {"40": []}})
