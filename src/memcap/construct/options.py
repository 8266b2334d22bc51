"""The choices a compile takes, checked once against the dataset before any stage runs."""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Dataset
from ..errors import DataError


@dataclass(frozen=True)
class CompileOptions:
    setting: str | None = None  # None: from the labels' shape
    attention: str = "softmax"  # or "hardmax" (uniform attention makes them agree), or "sparse": a register
    arch: str = "transformer"  # or "deep-sets": rho(sum phi(x)), no attention, the multiset decides the label;
    #                            or "rnn": h_k = h_{k-1} + phi(x_k), then F2 on (F(x_n), h_n): n sequential steps
    positions: bool = False  # join each token's position to it
    causal: bool = False  # position k averages its prefix
    mode: str = "tight"  # "tight": measured constants; "paper": the paper's
    bit_budget: int | None = None  # every crafted integer fits this many bits (float64-friendly models)
    objective: str = "depth"  # tight mode's plan: "depth" (fewest blocks) or "bits" (fewest parameter bits)
    seed: int = 0

    @property
    def float_safe(self) -> bool:
        return self.bit_budget is not None

    @property
    def slots(self) -> bool:
        """Stage II writes each group's crafted integers once, through indicator slots (i0, i1 under a
        bit budget; i0 and Stage III's scratch for the stepped Stage II of the bits objective)."""
        return self.float_safe or self.objective == "bits"

    @property
    def sparse(self) -> bool:
        return self.attention == "sparse"

    @property
    def multiset(self) -> bool:
        return self.arch == "deep-sets"

    @property
    def recurrent(self) -> bool:
        return self.arch == "rnn"

    def checked(self, ds: Dataset) -> CompileOptions:
        """These options, or a DataError that names the one that does not fit."""
        if self.setting is not None and self.setting != ds.setting:
            raise DataError(f"setting {self.setting!r} needs labels of shape "
                            f"{'[N]' if self.setting == 'next-token' else '[N, n]'}; this dataset's are {ds.labels.shape}")
        if self.attention not in ("softmax", "hardmax", "sparse"):
            raise DataError(f"attention must be 'softmax', 'hardmax' or 'sparse', got {self.attention!r}")
        if self.arch not in ("transformer", "deep-sets", "rnn"):
            raise DataError(f"arch must be 'transformer', 'deep-sets' or 'rnn', got {self.arch!r}")
        if self.recurrent and (ds.setting != "next-token" or self.sparse or self.causal):
            raise DataError("rnn reads its state after the last token: it takes next-token labels [N] and neither "
                            'attention="sparse" nor causal=True')
        if self.multiset and ds.setting != "next-token":
            raise DataError("deep-sets gives one label per multiset: the labels must have shape [N], "
                            f"this dataset's are {ds.labels.shape}")
        if self.multiset and (self.sparse or self.causal):
            drop = 'attention="sparse"' if self.sparse else "causal=True"
            raise DataError(f"deep-sets has no attention: drop {drop}")
        if self.sparse and self.causal:
            raise DataError("sparse attention averages the whole sequence through its register: it does not combine "
                            "with causal attention")
        if self.mode not in ("tight", "paper"):
            raise DataError(f"mode must be 'tight' or 'paper', got {self.mode!r}")
        if self.objective not in ("depth", "bits"):
            raise DataError(f"objective must be 'depth' or 'bits', got {self.objective!r}")
        if self.objective == "bits" and (self.mode == "paper" or self.bit_budget is not None):
            raise DataError("objective 'bits' chooses the tight mode's plan: it does not combine with "
                            f"{'mode paper (the paper keeps its constants)' if self.mode == 'paper' else 'a bit budget (which fixes the plan)'}")
        return self
