"""The choices a compile takes, checked once against the dataset before any stage runs."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from ..data import Dataset
from ..errors import DataError
from ..vocab import Arch, Attention, Mode, Objective, Setting, choices_text, is_member


@dataclass(frozen=True)
class CompileOptions:
    setting: Setting | None = None  # None: from the labels' shape
    attention: Attention = Attention.softmax  # or hardmax (uniform attention makes them agree), or sparse: a register
    arch: Arch = Arch.transformer  # or deep-sets: rho(sum phi(x)), no attention, the multiset decides the label;
    #                            or "rnn": h_k = h_{k-1} + phi(x_k), then F2 on (F(x_n), h_n): n sequential steps
    positions: bool = False  # join each token's position to it
    causal: bool = False  # position k averages its prefix
    mode: Mode = Mode.tight  # tight: measured constants; paper: the paper's
    bit_budget: int | None = None  # every crafted integer fits this many bits (float64-friendly models)
    objective: Objective | None = None  # the plan: balanced, depth or bits; None: balanced, or depth where a bit budget
    #                                    or the paper's mode fixes the plan (`checked` resolves it)
    seed: int = 0

    @property
    def float_safe(self) -> bool:
        return self.bit_budget is not None

    @property
    def slots(self) -> bool:
        """Stage II writes each group's crafted integers once, through indicator slots (i0, i1 under a
        bit budget; i0 and Stage III's scratch for the stepped Stage II of the bits objective)."""
        return self.float_safe or self.objective == Objective.bits

    @property
    def chosen_objective(self) -> Objective:
        """The objective once `checked` has resolved a None (every stage runs on checked options)."""
        assert self.objective is not None, "CompileOptions.checked resolves the objective"
        return Objective(self.objective)

    @property
    def hashed(self) -> bool:
        """F2 is the retrieval table (objectives balanced and bits), not the address memorizer."""
        return self.objective in (Objective.balanced, Objective.bits)

    @property
    def sparse(self) -> bool:
        return self.attention == Attention.sparse

    @property
    def multiset(self) -> bool:
        return self.arch == Arch.deep_sets

    @property
    def recurrent(self) -> bool:
        return self.arch == Arch.rnn

    def checked(self, ds: Dataset) -> CompileOptions:
        """These options with each choice as its vocabulary's member, or a DataError that names the one that
        does not fit."""
        if self.setting is not None and self.setting != ds.setting:
            raise DataError(f"setting {str(self.setting)!r} needs labels of shape "
                            f"{'[N]' if self.setting == Setting.next_token else '[N, n]'}; this dataset's are {ds.labels.shape}")
        self._check_words(("attention", Attention), ("arch", Arch))
        if self.recurrent and (ds.setting != Setting.next_token or self.sparse or self.causal):
            raise DataError("rnn reads its state after the last token: it takes next-token labels [N] and neither "
                            'attention="sparse" nor causal=True')
        if self.multiset and ds.setting != Setting.next_token:
            raise DataError("deep-sets gives one label per multiset: the labels must have shape [N], "
                            f"this dataset's are {ds.labels.shape}")
        if self.multiset and (self.sparse or self.causal):
            drop = 'attention="sparse"' if self.sparse else "causal=True"
            raise DataError(f"deep-sets has no attention: drop {drop}")
        if self.sparse and self.causal:
            raise DataError("sparse attention averages the whole sequence through its register: it does not combine "
                            "with causal attention")
        self._check_words(("mode", Mode), *((("objective", Objective),) if self.objective is not None else ()))
        fixed = self.mode == Mode.paper or self.bit_budget is not None
        objective = self.objective if self.objective is not None else Objective.depth if fixed else Objective.balanced
        if objective in (Objective.bits, Objective.balanced) and fixed:
            clash = "mode paper (the paper keeps its constants)" if self.mode == Mode.paper else "a bit budget (which fixes the plan)"
            raise DataError(f"objective {str(objective)!r} chooses the tight mode's plan: it does not combine with {clash}; "
                            "leave the objective out (or give 'depth')")
        return dataclasses.replace(self, setting=None if self.setting is None else Setting(self.setting),
                                   attention=Attention(self.attention), arch=Arch(self.arch), mode=Mode(self.mode),
                                   objective=Objective(objective))

    def _check_words(self, *fields: tuple[str, type[enum.StrEnum]]) -> None:
        for name, vocab in fields:
            value = getattr(self, name)
            if not is_member(vocab, value):
                raise DataError(f"{name} must be {choices_text(vocab)}, got {value!r}")
