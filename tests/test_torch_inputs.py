"""The float64 module answers only inputs its model was built for: a wrong sequence length is a
ValueError naming n, and an example with an id the model never saw gets -1, as the exact `predict` says."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import memcap  # noqa: E402
from memcap.pipeline import build  # noqa: E402
from memcap.verification import predict  # noqa: E402


def _model(tmp_path, **opts):
    setting = opts.pop("setting", "next-token")
    ds = memcap.Dataset.random_ids(N=40, n=3, vocab=100, C=4, seed=1, setting=setting)
    model = build(ds, bit_budget=48, **opts).model  # verified, its float64 verdict recorded
    memcap.save(model, tmp_path / "m.mc")
    return ds, model, [memcap.to_torch(model, ds.inputs), memcap.load_torch(tmp_path / "m.mc")]


@pytest.mark.parametrize("bad", [[[1, 2, 3, 4]], [[1, 2, 3, 1, 2, 3]], [[1, 2]], [1, 2, 3]])
def test_a_wrong_length_is_refused_naming_n(tmp_path, bad):
    _, _, nets = _model(tmp_path)
    for net in nets:
        with pytest.raises(ValueError, match="n = 3"):
            net(torch.tensor(bad))


@pytest.mark.parametrize("opts", [{}, {"positions": True}, {"setting": "seq2seq", "positions": True}])
def test_unseen_ids_get_minus_one_as_predict_gives(tmp_path, opts):
    ds, model, nets = _model(tmp_path, **opts)
    x = ds.tokens[:8].copy()
    x[0, 1] = 10**9  # an id never seen
    x[1] = x[1, ::-1] if opts.get("positions") else x[1]  # with positions: seen ids at positions never seen, maybe
    x[2, 0] = -5
    want = predict(model, x)
    assert (want[[0, 2]] == -1).all()
    for net in nets:
        with torch.no_grad():
            out = net(torch.from_numpy(x))[..., 0]
        got = out if model.setting == "seq2seq" else out[:, -1]
        assert np.array_equal(got.numpy(), want.astype(np.float64)), (got, want)
        if model.setting != "seq2seq":
            assert np.array_equal(net(torch.from_numpy(x), read=-1)[:, 0].detach().numpy(), want.astype(np.float64))
