"""memcap's command line: a thin typer layer over the library. Importing the package registers every
command, so `memcap`, `python -m memcap` and `python -m memcap.cli` list the same ones."""

from . import build, capacity, data, localize, sweeps, train, verify  # noqa: F401  (each module registers its commands on the app)
from .common import app

__all__ = ["app"]
