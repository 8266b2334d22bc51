"""memcap: compile labelled token sequences into Transformers that provably memorize them.

    import memcap
    ds = memcap.Dataset.random_ids(N=1000, n=16, vocab=100, C=10)   # or memcap.load_dataset("data.npz")
    model = memcap.compile(ds, bit_budget=48)
    assert memcap.verify(model, ds).ok        # exact arithmetic, every example
    memcap.save(model, "model.mc")
    net = memcap.to_torch(model, ds.inputs)   # float64 PyTorch module, where float64 is exact

The pieces: `compile` (the construction), `verify` (the exact executor on every example), `predict` (the
exact outputs of a model on any inputs of its shape; -1 where an id was never seen), `load`/`save`
(model files; an existing output is replaced only with `overwrite=True`, and only by one of the same kind:
`OutputExists` otherwise), `memorize` (the plain ReLU memorizer on points), `to_torch`/`load_torch` and
`memcap.nn.export.to_transformer_lens` (the field's tools), `stats` (sizes in the paper's convention),
`load_trained` (a model saved by `memcap train --save` or `memcap repro capacity --save`).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .compiling import compile
from .data import Dataset
from .data import load as load_dataset
from .data import save as save_dataset
from .errors import DataError
from .ir.fileformat import load, save
from .ir.layers import ExactModel
from .ir.stats import model_stats as stats
from .nn import export
from .nn.export import NotFloatExact, load_torch, to_torch
from .outputs import OutputExists
from .point_memorizer import memorize
from .verification import predict, verify


def load_trained(directory):
    """A trained model folder (config.json + model.safetensors) as a torch module in eval mode; torch is
    imported only when this is called."""
    from .train.trainer import load_trained as _load

    return _load(directory)


try:
    __version__ = _version("memcap")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["compile", "verify", "predict", "load", "save", "Dataset", "load_dataset", "save_dataset", "memorize", "stats",
           "to_torch", "load_torch", "load_trained", "export", "ExactModel", "DataError", "NotFloatExact", "OutputExists",
           "__version__"]
