"""The vocabularies are StrEnums: a member is its string everywhere a file or a comparison sees it."""

import json

import pytest

import memcap
from memcap import data
from memcap.construct.options import CompileOptions
from memcap.errors import DataError
from memcap.vocab import (
    Arch,
    Attention,
    InputKind,
    Mode,
    ModelSetting,
    Objective,
    Setting,
    Stage2,
    WindowPattern,
    choices_text,
    is_member,
)


def test_members_are_their_strings():
    assert Setting.next_token == "next-token" and Arch.deep_sets == "deep-sets" and Stage2.float_safe == "float-safe"
    assert json.dumps({"setting": Setting.seq2seq, Mode.paper: 1}) == json.dumps({"setting": "seq2seq", "paper": 1})
    assert f"{InputKind.ids}" == "ids" and {"ids": 1}[InputKind.ids] == 1
    assert is_member(Attention, "sparse") and not is_member(Attention, "dense") and not is_member(Attention, 3)
    assert choices_text(Objective) == "'balanced', 'depth' or 'bits'"


def test_checked_options_hold_members_and_refuse_other_words():
    ds = data.random_ids(20, 4, 10, 3)
    opts = CompileOptions(mode="paper", arch="rnn", attention="hardmax").checked(ds)
    assert type(opts.mode) is Mode and type(opts.arch) is Arch and type(opts.attention) is Attention
    assert opts.mode is Mode.paper and opts.objective is Objective.depth
    with pytest.raises(DataError, match="arch must be 'transformer', 'deep-sets' or 'rnn', got 'cnn'"):
        CompileOptions(arch="cnn").checked(ds)


def test_a_model_file_reads_back_members(tmp_path):
    ds = data.random_ids(40, 4, 12, 3)
    model = memcap.compile(ds, attention="sparse")
    back = memcap.load(memcap.save(model, tmp_path / "m"))
    assert back == model
    assert type(back.setting) is ModelSetting and back.setting == "next-token"
    assert type(back.input.kind) is InputKind and back.input.kind == ds.kind == "ids"
    assert [b.attention.pattern for b in back.blocks if b.attention] == [WindowPattern.gather, WindowPattern.read]
    plan = back.group_plan
    assert plan is not None and type(plan.stage2) is Stage2
