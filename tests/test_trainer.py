"""The trainer and its tasks: memorizes, scores what it reports, resumes bit for bit."""

from __future__ import annotations

import pytest
import torch

from memcap.nn.model import StandardConfig, paper_config
from memcap.train import tasks
from memcap.train.trainer import Checkpoint, TrainConfig, evaluate, train


def tiny_task(N=24, C=2, seed=0):
    return tasks.random_vectors(N, 4, 3, C=C, seed=seed)


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


def test_digits_task_is_bundled_and_consistent():
    t = tasks.digits()
    assert (t.N, t.n, t.d, t.classes) == (1797, 8, 8, 10)
    assert float(t.x.max()) == 1.0 and t.subset(600).N == 600
    with pytest.raises(Exception, match="1797 examples"):
        t.subset(5000)


def test_topics_task_is_bundled_text_with_determined_labels():
    t = tasks.topics()
    assert (t.n, t.classes, t.d) == (8, 3, 0) and t.N >= 1700
    windows = {tuple(row) for row in t.x.tolist()}
    assert len(windows) == t.N  # a repeated window is dropped, so no two examples can disagree
    assert set(t.y.tolist()) == {0, 1, 2}
    for N in (600, 1700):  # ids by first appearance: the first N windows use exactly ids 0..V_N - 1
        sub = t.subset(N)
        assert set(sub.x.unique().tolist()) == set(range(sub.vocab))
    again = tasks.topics()
    assert torch.equal(again.x, t.x) and torch.equal(again.y, t.y) and again.fingerprint == t.fingerprint
    assert not torch.equal(tasks.topics(seed=1).y, t.y)
