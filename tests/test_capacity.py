"""Trained capacity by code length: the definitions on hand-made cases, and a saved run whose memorized bits
are recomputed here from the saved model and data with a few lines of our own."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("optuna")

import memcap  # noqa: E402
from memcap.jsonrecord import named  # noqa: E402
from memcap.train import capacity  # noqa: E402
from memcap.train import capacity_sweep as cs  # noqa: E402
from memcap.train.capacity_sweep import CAPACITY_GRID as grid  # noqa: E402
from memcap.train.storage import open_storage  # noqa: E402


class Oracle(torch.nn.Module):
    """Puts probability `p` on the true next token of every training sequence (a lookup of the prefix)."""

    def __init__(self, tokens: torch.Tensor, V: int, p: float):
        super().__init__()
        self.table = {tuple(r[:t].tolist()): int(r[t]) for r in tokens for t in range(1, tokens.shape[1])}
        self.V, self.p = V, p
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        B, T = x.shape
        probs = torch.full((B, T, self.V), (1 - self.p) / (self.V - 1), dtype=torch.float64)
        for b in range(B):
            for t in range(T):
                probs[b, t, self.table[tuple(x[b, : t + 1].tolist())]] = self.p
        return probs.log()


def test_memorized_bits_of_an_oracle_and_of_uniform_guessing():
    V, S = 16, 5
    tokens = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    exact = Oracle(tokens, V, 1 - 1e-12)
    # a perfect predictor of tokens 2..S memorizes all but the first token: (S - 1) log2 V per sequence
    assert capacity.memorized_bits(exact, tokens, V) == pytest.approx(2 * (S - 1) * math.log2(V), rel=1e-6)
    half = Oracle(tokens, V, 0.5)
    assert capacity.memorized_bits(half, tokens, V) == pytest.approx(2 * (S - 1) * (math.log2(V) - 1), rel=1e-9)
    uniform = Oracle(tokens, V, 1 / V)  # code length = H exactly: nothing memorized
    assert capacity.memorized_bits(uniform, tokens, V) == pytest.approx(0.0, abs=1e-9)
    assert capacity.argmax_misses(exact, tokens) == 0


def test_shared_prefixes_cap_the_ceiling_and_the_determined_tokens():
    V = 4
    tokens = torch.tensor([[0, 1, 2], [0, 1, 3], [1, 2, 0]])  # rows 0 and 1 share the prefix (0, 1)
    mask = capacity.determined_tokens(tokens)
    assert mask.tolist() == [[True, False], [True, False], [True, True]]
    # row 0: token 2 is determined (2 bits), token 3 has p = 1/2 (1 bit); same for row 1; row 2: 4 bits
    assert capacity.ceiling_bits(tokens, V) == pytest.approx(3 + 3 + 4)
    # determined (prefix, token) pairs: (0)->1 once for two rows, (1)->2, (1,2)->0
    assert capacity.strict_bits(tokens, V) == pytest.approx(3 * 2)


def test_random_tokens_are_a_stream_and_bad_sizes_are_refused():
    a, b = capacity.random_tokens(10, 6, 32, seed=3), capacity.random_tokens(20, 6, 32, seed=3)
    assert torch.equal(a, b[:10]) and int(b.max()) < 32
    with pytest.raises(ValueError, match="S >= 2"):
        capacity.random_tokens(4, 1, 32)


def test_a_saved_run_recomputes_to_the_reported_bits(tmp_path):
    spec = named(cs.CapacitySpec(name="t", V=16, S=6, models=(("gpt", 1, 8), ("paper", 1, 4)), Ns=((16, 48), (16,)),
                                    steps=150, lr=0.05, warmup=10))
    st = open_storage(str(tmp_path / "s.db"))
    grid.publish(st, spec)
    grid.publish(st, spec)  # idempotent: nothing planned twice
    assert grid.work(st, spec.name, save=tmp_path / "runs", device="cpu") == 3
    rows = cs.run_rows(st, spec)
    assert [(r["arch"], r["N"]) for r in rows] == [(a, N) for _, (a, _, _), N in spec.runs()]
    for r in rows:
        folder = tmp_path / "runs" / cs.run_name((r["arch"], r["depth"], r["width"]), r["N"])
        net = memcap.load_trained(folder)
        tokens = torch.from_numpy(np.load(folder / "data.npz")["tokens"])
        assert tokens.shape == (r["N"], spec.S)
        with torch.no_grad():  # our own few lines: bits of tokens 2..S under the model, the first one free
            logp = torch.log_softmax(net(tokens[:, :-1]).double(), -1).gather(-1, tokens[:, 1:, None])[..., 0]
        gained = (logp.sum(1) / math.log(2) + (spec.S - 1) * math.log2(spec.V)).clamp(min=0).sum().item()
        assert gained == pytest.approx(r["memorized_bits"], rel=1e-3, abs=0.2)
        assert 0 <= r["memorized_bits"] <= r["ceiling_bits"] + 1e-6 <= r["H_bits"] + 1e-6
        assert json.loads((folder / "config.json").read_text())["kind"] in ("GPTConfig", "TransformerConfig")
    summ = cs.summary(spec, rows)
    assert {s["arch"] for s in summ} == {"gpt", "paper"}
    best = next(s for s in summ if s["arch"] == "gpt")
    assert best["capacity_bits"] == max(r["memorized_bits"] for r in rows if r["arch"] == "gpt") > 0
    # a different experiment under the same name is refused
    with pytest.raises(ValueError, match="different capacity experiment"):
        grid.publish(st, cs.CapacitySpec(**{**spec.__dict__, "steps": 1}))


def test_the_report_writes_its_table_figures_and_csvs(tmp_path, figure_layout):
    from dataclasses import replace

    spec = cs.profile(quick=True)
    spec = replace(spec, Ns=((24, 48, 96), *spec.Ns[1:]))  # the rows below: three N of the GPT model
    rows = [{"arch": "gpt", "depth": 1, "width": 8, "N": N, "params": 2032, "H_bits": N * 112.0, "memorized_bits": b,
             "ceiling_bits": N * 100.0, "strict_bits": N * 90.0, "strict_misses": m, "loss": 0.1, "steps": 3000,
             "seconds": 1.0, "device": "cpu"} for N, b, m in ((24, 2400.0, 0), (48, 4100.0, 3), (96, 4000.0, 40))]
    from memcap.reports import capacity as report

    text = report.write(spec, rows, tmp_path).read_text()
    assert "| GPT 1 layer(s), d 8 | 2032 | 3/3 | 48 | 4100.0 | 2.018 | yes | 24 | 1.063 |" in text
    for f in ("capacity_runs.csv", "capacity_models.csv", "capacity_curves.png", "capacity_vs_params.png", "capacity_curves.svg",
              "capacity_vs_params.pdf"):
        assert (tmp_path / f).stat().st_size > 0
    assert figure_layout == {"capacity_curves": [], "capacity_vs_params": []}


def test_repro_capacity_command_runs_resumes_and_refuses_bad_options(tmp_path):
    from typer.testing import CliRunner

    from memcap.cli import app

    runner = CliRunner()
    args = ["repro", "capacity", "--quick", "--steps", "3", "--storage", str(tmp_path / "s.db"), "-o", str(tmp_path / "out"),
            "--workers", "1", "--save", str(tmp_path / "runs"), "--device", "cpu"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "bits/param" in r.output and (tmp_path / "out" / "capacity.md").exists()
    assert len(list((tmp_path / "runs").iterdir())) == 4  # two models, two N each
    again = runner.invoke(app, [*args[:-2], "--workers", "0"])  # resumes: every run is already in the storage
    assert again.exit_code == 0 and "4/4 runs" in again.output
    bad = runner.invoke(app, ["repro", "capacity", "--device", "tpu", "--storage", str(tmp_path / "t.db")])
    assert bad.exit_code == 2 and "error:" in bad.output and not (tmp_path / "t.db").exists()


def test_trainer_ablation_rows_change_one_setting_each():
    from memcap.train.ablation import trainer_ablation

    rows = trainer_ablation(N=40, width=4, variations=(("baseline", {}), ("lr 1e-3", {"lr": 1e-3}), ("100 epochs", {"epochs": 100})))
    assert [r["setting"] for r in rows] == ["baseline", "lr 1e-3", "100 epochs"]
    assert rows[1]["lr"] == 1e-3 and rows[2]["epochs_max"] == 100 and rows[2]["epochs"] <= 100
    for r in rows:  # exact means no wrong label, and the trainer stopped as soon as that held
        assert r["exact"] == (r["wrong"] == 0)
        assert r["exact"] or r["epochs"] == r["epochs_max"]


def test_save_onto_a_storage_that_already_holds_the_runs_is_refused(tmp_path):
    from typer.testing import CliRunner

    from memcap.cli import app

    spec = cs.profile(quick=True, steps=2)
    st = open_storage(str(tmp_path / "s.db"))
    grid.publish(st, spec)
    grid.work(st, spec.name, device="cpu")  # every run finished, none saved
    args = ["repro", "capacity", "--quick", "--steps", "2", "--storage", str(tmp_path / "s.db"), "-o", str(tmp_path / "out"),
            "--workers", "1", "--device", "cpu", "--save", str(tmp_path / "runs")]
    r = CliRunner().invoke(app, args)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "already holds 4 finished run(s)" in lines[0] and "--storage" in lines[0]
    assert not (tmp_path / "runs").exists()
