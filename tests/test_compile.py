import numpy as np
import pytest
import torch
from hypothesis import given, settings

from memcap import data
from memcap.compiling import compile
from memcap.ir.stats import model_stats
from memcap.nn.export import NotFloatExact, to_torch
from memcap.point_memorizer import DataError
from memcap.testing.strategies import _make_consistent, id_datasets
from memcap.verification import verify, verify_torch


def check(ds, **kw):
    model = compile(ds, **kw)
    res = verify(model, ds)
    assert res.ok, res.misses
    assert res.positions == ds.N * (ds.n if ds.setting == "seq2seq" else 1)
    st = model_stats(model)
    assert st.attention_blocks == 1
    return model


@pytest.mark.parametrize("N", [1, 2, 10, 100, 1000])
@pytest.mark.parametrize("n", [1, 2, 8, 64])
@pytest.mark.parametrize("C", [2, 10, 1000])
def test_next_token_ids(N, n, C):
    check(_make_consistent(data.random_ids(N, n, vocab=50, C=C, seed=N + n)))


@pytest.mark.parametrize("N, n, d", [(1, 1, 1), (10, 2, 6), (100, 8, 32), (300, 8, 1), (50, 64, 6)])
@pytest.mark.parametrize("setting", ["next-token", "seq2seq"])
def test_vectors(N, n, d, setting):
    check(data.random_vectors(N, n, d, C=10, seed=N, setting=setting))


@pytest.mark.parametrize("attention", ["softmax", "hardmax"])
@pytest.mark.parametrize("positions", [False, True])
@pytest.mark.parametrize("mode", ["tight", "paper"])
def test_variants_seq2seq_ids(attention, positions, mode):
    check(data.random_ids(100, 8, vocab=30, C=10, setting="seq2seq"), attention=attention, positions=positions,
          mode=mode)


def test_permutation_conflict_is_refused_then_memorized_with_positions():
    ds = data.validate(np.array([0, 1, 2]), tokens=np.array([[1, 2, 3], [2, 1, 3], [4, 5, 6]]))
    with pytest.raises(DataError, match="examples 0 and 1 are permutations"):
        compile(ds)
    check(ds, positions=True)


def test_attention_is_uniform_with_weight_one_over_n():
    ds = data.random_ids(50, 7, vocab=20, C=10)
    model = check(ds, bit_budget=48)
    att = [b for b in model.blocks if b.attention is not None]
    assert len(att) == 1 and att[0].attention.moves == ((model.coord("sid"), model.coord("phi"), 1),)
    net = to_torch(model, ds.inputs)
    blk = next(b for b in net.blocks if b.attn is not None)
    assert torch.all(blk.attn.q.weight == 0)
    z = net.embed(torch.from_numpy(ds.tokens))
    scores = blk.attn.k(z) @ blk.attn.q(z).transpose(1, 2)
    w = torch.softmax(scores, dim=1)
    assert torch.all(w == torch.full_like(w, 1 / 7))


def test_causal_attention_averages_prefixes():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 6, size=(40, 6))
    # a label that depends only on the current token and the prefix distribution (its mean)
    labels = np.array([[(t[k] + int(10 * t[: k + 1].mean())) % 7 for k in range(6)] for t in tokens])
    ds = data.validate(labels, tokens=tokens)
    check(ds, causal=True)
    # float64 torch runs the causal mask too (it was once anti-causal there and only the exact executor was checked)
    fv = verify_torch(compile(ds, causal=True, bit_budget=48), ds)
    assert fv.wrong == 0 and fv.exact_match
    with pytest.raises(DataError, match="causal attention needs per-token labels"):
        compile(data.random_ids(5, 3, 4, 2), causal=True)


def test_text_windows_with_positions(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog; " * 20 + "memorization is capacity. " * 10)
    ds = data.text_windows(text, n=8)
    check(ds, positions=True)


def test_bit_budget_48_float64_torch_agrees_with_exact():
    for ds in (data.random_ids(1000, 12, vocab=100, C=10), data.random_ids(300, 5, 30, 10, setting="seq2seq"),
               data.random_vectors(200, 6, 4, C=10)):
        model = check(ds, bit_budget=48)
        assert model_stats(model).max_bits <= 53
        fv = verify_torch(model, ds)
        assert fv.wrong == 0 and fv.exact_match


def test_to_torch_refuses_wide_weights():
    model = compile(data.random_ids(500, 8, 50, 10), mode="paper")
    with pytest.raises(NotFloatExact, match="never checked"):
        to_torch(model)
    with pytest.raises(NotFloatExact, match="exact executor"):
        to_torch(model, data.random_ids(500, 8, 50, 10).inputs)


def _slope(xs, ys):
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def test_next_token_params_grow_like_sqrt_N_and_not_with_n():
    Ns = [100, 300, 1000, 3000, 10000]
    params = [model_stats(compile(data.random_ids(N, 16, 1000, 10, seed=1), objective="depth")).params for N in Ns]
    assert _slope(Ns, params) <= 0.6, params
    ns = [4, 64, 1024]
    p_n = [model_stats(compile(data.random_ids(1000, n, 1000, 10, seed=2), objective="depth")).params for n in ns]
    assert max(p_n) / min(p_n) <= 1.5, p_n


def test_seq2seq_params_grow_like_sqrt_nN():
    sizes = [(50, 4), (200, 4), (500, 8), (1000, 10)]
    params = [model_stats(compile(data.random_ids(N, n, 5000, 10, seed=3, setting="seq2seq"))).params
              for N, n in sizes]
    # sqrt growth with log factors: 0.60 measured (0.5 plus the log of the address width); linear would be 1
    assert _slope([N * n for N, n in sizes], params) <= 0.65, params


@pytest.mark.parametrize(
    "labels, kw, match",
    [
        (np.array([0, 1]), {"tokens": np.array([[1, 2, 3]])}, "labels` must have shape"),
        (np.array([0]), {"tokens": np.array([[1, -2]])}, "negative token ids in examples 0"),
        (np.array([0, -1]), {"tokens": np.array([[1], [2]])}, "negative labels in examples 1"),
        (np.array([0]), {"vectors": np.array([[[np.nan]]])}, "NaN or inf in `vectors` of examples 0"),
        (np.zeros(0), {"tokens": np.zeros((0, 3), dtype=int)}, "empty dataset"),
    ],
)
def test_invalid_datasets_get_clear_errors(labels, kw, match):
    with pytest.raises(DataError, match=match):
        data.validate(labels, **kw)


def test_ragged_jsonl_is_refused(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"tokens": [1, 2], "label": 0}\n{"tokens": [1], "label": 1}\n')
    with pytest.raises(DataError, match="example 1 has length 1"):
        data.load(f)


def test_same_seed_same_model():
    ds = data.random_vectors(100, 4, 3, 10)
    assert compile(ds, seed=3) == compile(ds, seed=3)


@settings(max_examples=30)
@given(id_datasets())
def test_any_consistent_dataset_compiles_and_verifies(ds):
    check(ds)


@settings(max_examples=20)
@given(id_datasets(max_N=10, max_n=4))
def test_any_dataset_with_positions_compiles_and_verifies(ds):
    # positions lift the symmetry restriction: relabel positions freely as long as identical inputs agree
    rng = np.random.default_rng(ds.N)
    lab = rng.integers(0, 5, size=ds.labels.shape)
    _, first, inv = np.unique(ds.tokens, axis=0, return_index=True, return_inverse=True)
    lab = lab[first[inv.reshape(-1)]]
    check(data.validate(lab, tokens=ds.tokens), positions=True)


def test_stage_results_read_the_same_from_a_compiled_and_a_loaded_model(tmp_path):
    from memcap.ir import fileformat

    ds = data.random_ids(N=80, n=5, vocab=30, C=4, seed=1)
    model = compile(ds)
    st, plan = model.stages, model.group_plan
    assert st.names == ("phi", "attention", "F2") and st["phi"] == 0 and st["attention"] == 1
    # every block is one stage's (F2's first block is fused with the attention)
    assert sum(st.blocks) == len(model.blocks) and st["pool"] == 0
    contexts = len(set(map(tuple, ds.tokens)))  # groups hold at most k contexts, cut early at wide gaps
    assert plan is not None and plan.k >= 1 and -(-contexts // plan.k) <= plan.groups <= contexts
    loaded = fileformat.load(fileformat.save(model, tmp_path / "m"))
    assert loaded.stages == st and loaded.group_plan == plan
