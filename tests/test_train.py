"""Trained capacity (issue #5): trainer, capacity search, shared Optuna sweeps, kill and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hst

from memcap.nn.model import StandardConfig, build, paper_config
from memcap.train import sweep, tasks
from memcap.train.search import next_step
from memcap.train.trainer import Checkpoint, TrainConfig, evaluate, train


def tiny_task(N=24, C=2, seed=0):
    return tasks.random_vectors(N, 4, 3, C=C, seed=seed)


# ------------------------------------------------------------------ search


def run_search(cands, boundary, direction):
    """Drive next_step against a monotone truth; return (answer, tests)."""
    truth = (lambda v: v >= boundary) if direction == "min" else (lambda v: v <= boundary)
    outcomes, tests = {}, 0
    while True:
        step = next_step(cands, outcomes, direction)
        if step.done:
            return step.answer, tests
        assert step.test not in outcomes, "a candidate was asked twice"
        outcomes[step.test] = truth(step.test)
        tests += 1


@given(hst.integers(1, 200), hst.integers(-5, 210), hst.sampled_from(["min", "max"]))
@settings(max_examples=300)
def test_search_finds_the_boundary_of_any_monotone_outcome(length, boundary, direction):
    cands = list(range(1, length + 1))
    answer, tests = run_search(cands, boundary, direction)
    if direction == "min":
        expect = next((v for v in cands if v >= boundary), None)
    else:
        expect = max((v for v in cands if v <= boundary), default=None)
    assert answer == expect
    assert tests <= 2 * np.log2(length) + 3  # galloping + bisection, not a full grid


def test_search_gallops_then_bisects():
    asked = []
    outcomes = {}
    while not (s := next_step(list(range(1, 33)), outcomes)).done:
        asked.append(s.test)
        outcomes[s.test] = s.test >= 5
    assert asked == [1, 2, 4, 8, 6, 5] and s.answer == 5


# ------------------------------------------------------------------ models


def test_read_position_equals_the_full_output():
    torch.manual_seed(0)
    net = build(paper_config(3, 6, 4, d_in=3))
    x = torch.rand(5, 6, 3)
    assert torch.allclose(net(x)[:, -1], net(x, read=-1)) and torch.allclose(net(x)[:, 2], net(x, read=2))


@pytest.mark.parametrize("causal", [False, True])
def test_uniform_attention_shortcut_equals_softmax_of_zero_scores(causal):
    from memcap.nn.model import MemTransformer

    torch.manual_seed(0)
    cfg = replace(paper_config(2, 7, 3, d_in=4), causal=causal)
    fast = MemTransformer(cfg).double()
    slow = MemTransformer(replace(cfg, uniform=False)).double()
    slow.load_state_dict(fast.state_dict())
    with torch.no_grad():
        slow.blocks[2].attn.q.weight.zero_()
    x = torch.rand(6, 7, 4, dtype=torch.float64)
    assert torch.allclose(fast(x), slow(x), rtol=0, atol=1e-12)


def test_paper_model_has_one_uniform_attention_between_equal_stacks():
    cfg = paper_config(4, 8, 10, d_in=8)
    net = build(cfg)
    with_attention = [i for i, b in enumerate(net.blocks) if b.attn is not None]
    assert with_attention == [4] and len(net.blocks) == 8 and cfg.m == 2 and cfg.q == 8
    assert not net.blocks[4].attn.q.weight.requires_grad and float(net.blocks[4].attn.q.weight.abs().sum()) == 0


# ------------------------------------------------------------------ trainer


def test_trainer_memorizes_and_the_weights_score_what_it_reports():
    task = tiny_task()
    net, res = train(paper_config(2, task.n, task.out_dim, d_in=task.d, m=4), task, TrainConfig(lr=3e-2, warmup=10, epochs=800))
    assert res.memorized and res.epochs < 800
    loss, error = evaluate(net, task)
    assert error == res.error and error < 0.01


def test_standard_transformer_and_mse_tasks_train():
    task = tiny_task(16)
    cfg = StandardConfig(width=16, layers=1, heads=2, seq_len=task.n, out_dim=task.out_dim, d_in=task.d)
    _, res = train(cfg, task, TrainConfig(lr=1e-2, warmup=10, epochs=600))
    assert res.memorized
    signs = tasks.random_vectors(16, 4, 3, signs=True)
    _, res = train(paper_config(2, 4, 1, d_in=3, m=4), signs, TrainConfig(lr=3e-2, warmup=10, epochs=800))
    assert res.memorized and signs.loss == "mse"


def test_error_exactly_at_the_threshold_is_not_memorized():
    task = tiny_task(100)
    _, res = train(paper_config(1, task.n, task.out_dim, d_in=task.d), task, TrainConfig(epochs=0, threshold=0.01))
    misses = round(res.error * 100)
    _, res2 = train(paper_config(1, task.n, task.out_dim, d_in=task.d), task, TrainConfig(epochs=0, threshold=misses / 100))
    assert not res2.memorized  # error == threshold


def _weights(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("batch_size", [None, 8])
def test_same_seed_same_weights_and_resume_equals_uninterrupted(tmp_path, batch_size):
    task = tiny_task()
    model_cfg = paper_config(2, task.n, task.out_dim, d_in=task.d)
    cfg = TrainConfig(lr=1e-2, warmup=5, epochs=40, threshold=0.0, batch_size=batch_size)
    a, ra = train(model_cfg, task, cfg)
    b, _ = train(model_cfg, task, cfg)
    assert all(torch.equal(x, y) for x, y in zip(_weights(a).values(), _weights(b).values(), strict=True))

    class Kill(Exception):
        pass

    def kill_at_25(epoch, loss, error):
        if epoch == 25:
            raise Kill

    ck = Checkpoint(tmp_path / "ck", every=10)
    with pytest.raises(Kill):
        train(model_cfg, task, cfg, callbacks=(kill_at_25,), checkpoint=ck)
    c, rc = train(model_cfg, task, cfg, checkpoint=ck)  # resumes from epoch 20
    assert rc.epochs == ra.epochs == 40
    assert all(torch.equal(x, y) for x, y in zip(_weights(a).values(), _weights(c).values(), strict=True))


def test_checkpoint_of_another_run_is_refused(tmp_path):
    task = tiny_task()
    ck = Checkpoint(tmp_path / "ck", every=5)
    train(paper_config(1, task.n, task.out_dim, d_in=task.d), task, TrainConfig(epochs=5, threshold=0.0), checkpoint=ck)
    with pytest.raises(ValueError, match="another run"):
        train(paper_config(2, task.n, task.out_dim, d_in=task.d), task, TrainConfig(epochs=5, threshold=0.0), checkpoint=ck)


# ------------------------------------------------------------------ sweeps


def small_experiment(name="t"):
    # 3 points, candidates 1..6 blocks, 2 trials each, 150 epochs: a few seconds of training in all
    return sweep.Experiment(name=name, spec=dict(kind="random", n=4, d=3, C=2, seed=0, arch="paper", m=4, q=8),
                            axis="N", points=(8, 24, 64), size="blocks", candidates=tuple(range(1, 7)), n_trials=2, epochs=150,
                            lr=(1e-2, 5e-2), warmup=(0, 20))


def _table_in(tmp_path, exp, workers):
    url = str(tmp_path / f"w{workers}.db")
    st = sweep.open_storage(url, heartbeat=1)
    sweep.publish(st, exp)
    if workers == 0:
        sweep.set_threads(1)
        sweep.work(st, exp.name, poll=0.1)
    else:
        sweep.run_local(url, exp.name, workers, heartbeat=1, poll=0.2)
    return st, sweep.table(st, exp)


def _assert_no_duplicates(st, exp):
    import optuna

    for s in st.get_all_studies():
        if s.study_name.startswith(exp.name + "/"):
            trials = optuna.load_study(storage=st, study_name=s.study_name).get_trials()
            done_ks = [t.user_attrs["k"] for t in trials if t.state.name == "COMPLETE"]
            assert len(done_ks) == len(set(done_ks)), f"trial trained twice in {s.study_name}: {done_ks}"
            assert len(trials) <= exp.n_trials + sum(t.state.name == "FAIL" for t in trials)


def test_two_workers_share_a_sqlite_sweep_without_duplicates_and_match_one_worker(tmp_path):
    exp = small_experiment()
    st1, one = _table_in(tmp_path, exp, 0)
    st2, two = _table_in(tmp_path, exp, 2)
    _assert_no_duplicates(st2, exp)
    assert all(r["done"] for r in two)
    assert [r["answer"] for r in one] == [r["answer"] for r in two]
    assert sweep.deterministic_part(one) == sweep.deterministic_part(two)


def _reference_and_fresh(tmp_path, name, grace):
    """The one-worker table of a small experiment, and a fresh storage holding the same experiment."""
    exp = small_experiment(name)
    _, reference = _table_in(tmp_path, exp, 0)
    url = str(tmp_path / f"{name}.db")
    st = sweep.open_storage(url, heartbeat=1, grace=grace)
    sweep.publish(st, exp)
    return exp, reference, url, st


def _finish_and_compare(url, st, exp, reference, grace):
    sweep.set_threads(1)
    sweep.work(sweep.open_storage(url, heartbeat=1, grace=grace), exp.name, poll=0.2)
    _assert_no_duplicates(st, exp)
    assert sweep.deterministic_part(sweep.table(st, exp)) == sweep.deterministic_part(reference)


def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    exp, reference, url, st = _reference_and_fresh(tmp_path, "kill", grace=2)
    cmd = [sys.executable, "-c", "from memcap.cli import app; app()", "worker", "--storage", url, "--experiment", exp.name, "--heartbeat", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while sweep.finished_trials(st, exp.name) < 3 and time.time() - t0 < 120:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert sweep.finished_trials(st, exp.name) >= 3
    _finish_and_compare(url, st, exp, reference, grace=2)


def test_a_worker_dying_between_ask_and_its_first_heartbeat_does_not_stall_the_sweep(tmp_path):
    exp, reference, url, st = _reference_and_fresh(tmp_path, "orphan", grace=1)
    with sweep.sweep_lock(st, exp.name):  # what a claim does up to ask(), then the worker "dies"
        import optuna

        study = optuna.create_study(storage=st, study_name=exp.study_name(exp.points[0], exp.candidates[0]), direction="minimize")
        for k, params in enumerate(exp.plan()):
            study.enqueue_trial(params, user_attrs={"k": k})
        study.ask()
    _finish_and_compare(url, st, exp, reference, grace=1)


def test_a_candidate_is_decided_in_the_order_of_k():
    from types import SimpleNamespace

    from optuna.trial import TrialState

    from memcap.train.sweep import _outcome

    def t(k, state, memorized=False):
        return SimpleNamespace(state=getattr(TrialState, state), user_attrs={"k": k, "memorized": memorized})

    # k = 1 memorized while k = 0 (e.g. retried after a kill) has not finished: not decided yet
    assert _outcome([t(1, "COMPLETE", True), t(0, "WAITING")], 3) is None
    assert _outcome([t(1, "COMPLETE", True), t(0, "COMPLETE")], 3) is True
    assert _outcome([t(0, "FAIL"), t(0, "COMPLETE"), t(1, "COMPLETE"), t(2, "COMPLETE")], 3) is False
    assert _outcome([t(0, "COMPLETE"), t(1, "RUNNING")], 3) is None


def test_experiment_name_clash_and_missing_experiment_are_refused(tmp_path):
    st = sweep.open_storage(str(tmp_path / "s.db"))
    sweep.publish(st, small_experiment("x"))
    sweep.publish(st, small_experiment("x"))  # the same experiment again: fine
    with pytest.raises(ValueError, match="different experiment"):
        sweep.publish(st, replace(small_experiment("x"), n_trials=3))
    with pytest.raises(ValueError, match="no experiment 'y'.*x"):
        sweep.work(st, "y")


@pytest.mark.skipif(not (os.environ.get("MEMCAP_PG_URL")), reason="set MEMCAP_PG_URL (.ci/run starts a server when PostgreSQL is installed)")
def test_two_workers_share_a_postgresql_sweep_without_duplicates():
    url = os.environ["MEMCAP_PG_URL"]
    exp = small_experiment(f"pg{int(time.time() * 1000)}")
    st = sweep.open_storage(url, heartbeat=1)
    sweep.publish(st, exp)
    sweep.run_local(url, exp.name, 2, heartbeat=1, poll=0.2)
    _assert_no_duplicates(st, exp)
    assert all(r["done"] for r in sweep.table(st, exp))


def test_digits_task_is_bundled_and_consistent():
    t = tasks.digits()
    assert (t.N, t.n, t.d, t.classes) == (1797, 8, 8, 10)
    assert float(t.x.max()) == 1.0 and t.subset(600).N == 600
    with pytest.raises(Exception, match="1797 examples"):
        t.subset(5000)
