"""Where a report's numbers came from: memcap's version, the git commit when memcap runs from a checkout,
the command line, the seeds, the date, the machine's CPU count and the versions of Python, numpy, torch and
matplotlib. One dict, written as provenance.json, as a block of report.md/html and as comment lines at the top
of every CSV a command writes (`active` makes it the one those CSVs carry).

The date is the environment's SOURCE_DATE_EPOCH when set (the convention of reproducible builds), so that a
rerun can give the same bytes; otherwise the time of the run.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

_ACTIVE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("memcap_provenance", default=None)
LIBRARIES = ("numpy", "torch", "matplotlib", "scipy")


@functools.cache
def _git() -> dict:
    """The commit of the checkout memcap's source lives in (and whether it has uncommitted changes), or {}."""
    src = Path(__file__).resolve().parents[3]
    if not (src / ".git").exists():
        return {}
    try:
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if head.returncode != 0:
        return {}
    return {"git_commit": head.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch and epoch.isdigit() else dt.datetime.now(dt.UTC)
    return when.replace(microsecond=0).isoformat()


def collect(seeds: list[int] | None = None, argv: list[str] | None = None) -> dict:
    """The provenance of this run: `seeds` are the data seeds the command used, `argv` its command line
    (default: this process's)."""
    from .. import __version__

    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name in ("memcap", "__main__.py"):
        argv[0] = "memcap"
    return {
        "memcap": __version__, **_git(), "command": shlex.join(argv), "seeds": sorted(set(seeds or [])), "date": _date(),
        "cpus": os.cpu_count(), "platform": platform.platform(terse=True), "python": platform.python_version(),
        **{name: _version(name) for name in LIBRARIES},
    }


@contextmanager
def active(prov: dict) -> Iterator[dict]:
    """Make `prov` the provenance that every CSV written inside the block carries."""
    token = _ACTIVE.set(prov)
    try:
        yield prov
    finally:
        _ACTIVE.reset(token)


def current() -> dict:
    """The active provenance, or one collected now (a CSV always says where it came from)."""
    return _ACTIVE.get() or collect()


def _commit(prov: dict) -> str:
    if "git_commit" not in prov:
        return "not a git checkout"
    return prov["git_commit"][:12] + (" with uncommitted changes" if prov.get("git_dirty") else "")


def summary(prov: dict) -> list[tuple[str, str]]:
    """(field, value) pairs in reading order, for the report's block and the CSV comments."""
    libs = ", ".join(f"{name} {prov[name]}" for name in LIBRARIES if name in prov)
    return [("memcap", f"{prov['memcap']} (commit {_commit(prov)})"), ("command", prov["command"]),
            ("seeds", ", ".join(map(str, prov["seeds"])) or "-"), ("date", prov["date"]),
            ("machine", f"{prov['cpus']} CPUs, {prov['platform']}"), ("libraries", f"Python {prov['python']}, {libs}")]


def comment_lines(prov: dict) -> list[str]:
    """The CSV header comment: '# field: value' lines (readers skip lines that start with '#')."""
    return [f"# {k}: {v}" for k, v in summary(prov)]


def markdown(prov: dict) -> list[str]:
    """The report's provenance section."""
    return ["## Provenance", "", *(f"- **{k}**: `{v}`" for k, v in summary(prov)), "",
            "The same fields, machine-readable: `provenance.json`.", ""]


def as_json(prov: dict) -> str:
    return json.dumps(prov, indent=2, sort_keys=True) + "\n"
