"""Where memcap writes: one rule for every file and folder it produces.

An existing output is never replaced silently. Writing to a path that exists raises `OutputExists`
unless the caller passes `overwrite=True` (the command line's `--force`), and even then only an output
that memcap itself wrote, of the same kind, is replaced: a model folder by a model folder, a dataset
archive by a dataset archive; never a foreign folder or a file of another kind. An empty folder counts as
absent (nothing can be lost).

Every write goes to a temporary name beside the target (same folder, so the same file system) and is
renamed into place only when it is complete: an interrupted or failed write leaves the old output or
nothing, never a torn one. Folders are built whole in a temporary folder and then swapped in. Files are
created with mode 0666 and folders with 0777, both reduced by the umask, like any other program's.

Folders that a command resumes (a report's sweep, the trained experiments' results) carry a marker file,
`.memcap`, naming their kind; such a folder is reused as it is, and a non-empty folder without the marker
is refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

MARKER = ".memcap"


class OutputExists(FileExistsError):
    """An output path is taken. `replaceable`: whether `overwrite=True` (`--force`) would replace it."""

    def __init__(self, path: Path, what: str, replaceable: bool, kind: str):
        self.path, self.what, self.replaceable, self.kind = Path(path), what, replaceable, kind
        super().__init__(self.advice("overwrite=True"))

    def advice(self, force: str) -> str:
        """The one-line message, naming the way to replace the output (`force`: 'overwrite=True' or '--force')."""
        if self.replaceable:
            return f"{self.path} already exists ({self.what}); pass {force} to replace it"
        return (f"{self.path} already exists and is {self.what}, not a memcap {self.kind}: choose another path "
                "(memcap replaces only its own outputs)")


def _entries(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()}


def _safetensors_metadata(path: Path) -> dict:
    """The `__metadata__` of a safetensors file's header ({} when unreadable)."""
    try:
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 1 << 26:
                return {}
            return json.loads(f.read(size)).get("__metadata__") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def _json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _is_model(path: Path) -> bool:
    if not _entries(path) <= {"model.json", "weights.safetensors"}:
        return False
    try:
        with (path / "model.json").open("rb") as f:
            return b'"format":"memcap-model"' in f.read()
    except OSError:
        return False


def _is_lens(path: Path) -> bool:
    return (_entries(path) <= {"config.json", "model.safetensors", "vocab.json", "stream.json"}
            and "memcap" in _safetensors_metadata(path / "model.safetensors"))


def _is_trained(path: Path) -> bool:
    # a capacity run's folder also keeps the data it was trained on
    return _entries(path) <= {"config.json", "model.safetensors", "data.npz"} and "kind" in _json(path / "config.json")


def _is_dataset(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return "labels.npy" in names and bool(names & {"tokens.npy", "vectors.npy"})


def _starts_with(magic: bytes) -> Callable[[Path], bool]:
    def check(path: Path) -> bool:
        with path.open("rb") as f:
            return f.read(len(magic)) == magic

    return check


def _is_table(path: Path) -> bool:
    """Predictions written as text: integers (or fractions) separated by spaces or commas."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    return not head.strip(b"0123456789-+/., \n")


def _is_sweep(path: Path) -> bool:
    """A sweep's JSONL rows (each with its `config`); empty counts too."""
    with path.open("rb") as f:
        first = f.readline()
    try:
        return not first.strip() or "config" in json.loads(first)
    except (ValueError, TypeError):
        return False


def _is_part(path: Path) -> bool:
    return {"start", "stop", "N", "wrong"} <= _json(path).keys()


# kind -> (is a folder, what it is in words, does an existing path hold one)
KINDS: dict[str, tuple[bool, str, Callable[[Path], bool]]] = {
    "model": (True, "model folder", _is_model),
    "lens": (True, "TransformerLens export folder", _is_lens),
    "trained": (True, "trained model folder", _is_trained),
    "dataset": (False, "dataset archive", _is_dataset),
    "array": (False, ".npy array", _starts_with(b"\x93NUMPY")),
    "table": (False, "table of outputs", _is_table),
    "png": (False, "PNG image", _starts_with(b"\x89PNG\r\n\x1a\n")),
    "part": (False, "verification part", _is_part),
    "sweep": (False, "sweep (JSONL rows)", _is_sweep),
    "marker": (False, "folder marker", lambda p: "kind" in _json(p)),
    "localization": (True, "localization folder", lambda p: {"ground_truth.json", "scores.csv", "scores.md"} <= _entries(p)),
}


def holds(path: str | Path, kind: str) -> bool:
    """Whether `path` is an output of `kind` that memcap wrote."""
    path = Path(path)
    is_dir, _, recognise = KINDS[kind]
    return path.is_dir() == is_dir and os.path.exists(path) and recognise(path)


def check(path: str | Path, kind: str, overwrite: bool = False) -> Path:
    """Raise `OutputExists` unless `path` may be written as an output of `kind`: it is absent or an empty
    folder, or `overwrite` is set and it holds a memcap output of that kind. Returns the path."""
    path = Path(path)
    is_dir, what, holds = KINDS[kind]
    if not os.path.lexists(path):
        return path
    if path.is_dir() and not path.is_symlink():
        if not any(path.iterdir()):
            return path
        same = is_dir and holds(path)
        found = f"a memcap {what}" if same else "a folder"
    else:
        same = not is_dir and path.is_file() and holds(path)
        found = f"a memcap {what}" if same else "a file"
    if same and overwrite:
        return path
    raise OutputExists(path, found, same, what)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")


@contextlib.contextmanager
def writing_file(path: str | Path, kind: str, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; when the block ends without an exception it
    replaces `path` (checked by `check` before and again after the write), else it is removed."""
    path = check(path, kind, overwrite)
    with replacing(path, before=lambda: check(path, kind, overwrite)) as tmp:
        yield tmp


@contextlib.contextmanager
def replacing(path: str | Path, before: Callable[[], object] = lambda: None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success (after calling `before`) it replaces `path`. With no
    check: for the files inside a folder that memcap owns, such as a report's figures."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        tmp.touch(exist_ok=False)  # mode 0666 less the umask, which the writer keeps
        yield tmp
        before()
        if path.is_dir():  # an empty folder was taken as absent
            path.rmdir()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes, kind: str, overwrite: bool = False) -> Path:
    with writing_file(path, kind, overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str, kind: str, overwrite: bool = False) -> Path:
    return write_bytes(path, text.encode(), kind, overwrite)


@contextlib.contextmanager
def writing_folder(path: str | Path, kind: str, overwrite: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside `path` to fill; when the block ends without an exception it
    takes the place of `path` (swapped in one step where the system can), else it is deleted."""
    path = check(path, kind, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    tmp.mkdir()
    try:
        yield tmp
        check(path, kind, overwrite)
        if path.exists() and not _exchange(tmp, path):
            old = _temp_name(path)
            os.rename(path, old)  # a kill here leaves nothing at `path`; the old output is at `old`
            os.rename(tmp, path)
            shutil.rmtree(old)
        elif not path.exists():
            os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # after an exchange, `tmp` holds the old output


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def results_folder(path: str | Path, kind: str, earlier: Callable[[Path], bool] = lambda p: False) -> Path:
    """A folder that a command fills and resumes (`kind`: 'report', 'results'): created with its marker,
    or reused when it carries the same marker (or, unmarked, `earlier` recognises it as written by an
    older memcap); any other non-empty folder is refused with `OutputExists` (not replaceable: memcap
    does not delete what it did not write)."""
    path = Path(path)
    marker = path / MARKER
    if (path.is_dir() and any(path.iterdir()) and _json(marker).get("kind") != kind
            and (marker.exists() or not earlier(path))):
        raise OutputExists(path, "a folder that memcap did not create" if not marker.exists() else
                           f"a memcap {_json(marker).get('kind', 'folder')} folder", False, f"{kind} folder")
    if path.exists() and not path.is_dir():
        raise OutputExists(path, "a file", False, f"{kind} folder")
    path.mkdir(parents=True, exist_ok=True)
    if not marker.exists():
        write_text(marker, json.dumps({"kind": kind, "by": "memcap"}) + "\n", "marker")
    return path


def resumable(path: str | Path, kind: str) -> Path:
    """A file that a command appends to and resumes: absent, or an output of `kind` (kept as it is); any
    other file or folder is refused with `OutputExists`."""
    path = Path(path)
    if os.path.lexists(path):
        is_dir, what, holds = KINDS[kind]
        if path.is_dir() != is_dir or not holds(path):
            raise OutputExists(path, "a folder" if path.is_dir() else "a file of another kind", False, what)
    return path


def replace_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file (see `replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def save_figure(fig, path: str | Path, **options) -> Path:
    """`fig.savefig` through a temporary file (see `replacing`); the format is the target's suffix."""
    path = Path(path)
    with replacing(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), **options)
    return path
