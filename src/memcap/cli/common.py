"""What every command shares: the typer apps, the consoles, the one way to fail, loaders that turn a bad
file into one `error:` line, and the choices that options offer."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

if TYPE_CHECKING:  # the installed typer's: mypy would take the fallback for a second definition of the name
    from typer._click import exceptions as click
else:
    try:  # typer >= 0.24 carries its own copy of click, whose exceptions these are
        from typer._click import exceptions as click
    except ImportError:  # pragma: no cover
        import click

from .. import __version__
from .. import data as data_mod
from ..errors import DataError
from ..interrupts import Interrupted, interruptible
from ..ir import fileformat
from ..outputs import OutputExists, check, holds, results_folder, resumable
from ..vocab import Arch as BuiltArchitecture
from ..vocab import Attention, TextUnit
from ..vocab import DataSetting as DataSetting  # re-exported: the CLI's choices are the library's words
from ..vocab import Mode as Mode
from ..vocab import Objective as Objective
from ..vocab import Setting as Setting
from ..vocab import TrainedArch as TrainedArch
from .wording import as_flags


class OneLineErrors(TyperGroup):
    """The root command: a mistyped command, option or value ends in one `error:` line and exit code 2
    (click's usage box has several lines)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            with interruptible():
                code = super().main(args=args, prog_name=prog_name or "memcap", complete_var=complete_var, standalone_mode=False, **extra)
        except Interrupted:  # Ctrl-C: workers were terminated and temporary files removed on the way out
            err.print("[bold red]error:[/] interrupted", highlight=False)
            sys.exit(130)
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:
                console.print(e.ctx.get_help())
                sys.exit(0)
            where = f" (see: {e.ctx.command_path} --help)" if e.ctx is not None else ""
            err.print(f"[bold red]error:[/] {escape(e.format_message())}{escape(where)}", soft_wrap=True, highlight=False)
            sys.exit(2)
        except click.ClickException as e:
            err.print(f"[bold red]error:[/] {escape(e.format_message())}", soft_wrap=True, highlight=False)
            sys.exit(e.exit_code)
        except OutputExists as e:  # an output path taken, found after the command's own checks
            err.print(f"[bold red]error:[/] {escape(e.advice('--force'))}", soft_wrap=True, highlight=False)
            sys.exit(2)
        except typer.Abort:
            err.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True,
                  help="Compile labelled sequences into Transformers that provably memorize them; verify; measure.")
data_app = typer.Typer(no_args_is_help=True, help="Make datasets (.npz).")
repro_app = typer.Typer(no_args_is_help=True, help="Reproduce the paper's Appendix H experiments (trained models).")
app.add_typer(data_app, name="data")
app.add_typer(repro_app, name="repro")
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def show(report: Path) -> None:
    """Print a written Markdown report as it is: its [links] and ![images] are not rich markup."""
    console.print(report.read_text(), markup=False, highlight=False)


def _version(value: bool) -> None:
    if value:
        console.print(f"memcap {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
):
    """Compile labelled sequences into Transformers that provably memorize them; verify; measure."""


def fail(msg: str, code: int = 2) -> NoReturn:
    """One `error:` line on stderr and exit `code` (2: the input or the command was wrong). A library
    message's Python argument names become the flags that set them."""
    # escaped: a message's own brackets ("pip install 'memcap[train]'") are text, not rich markup
    err.print(f"[bold red]error:[/] {escape(as_flags(msg))}", soft_wrap=True, highlight=False, markup=True)
    raise typer.Exit(code)


def claim(path: Path, kind: str, force: bool) -> Path:
    """Refuse an output path that is taken (one `error:` line) before any work is done; `force` lets a
    memcap output of the same `kind` be replaced (see memcap.outputs)."""
    try:
        return check(path, kind, force)
    except OutputExists as e:
        fail(e.advice("--force"))


def resumes(path: Path, kind: str) -> Path:
    """A file that a rerun resumes: refused with one `error:` line when it exists and is not of `kind`."""
    try:
        return resumable(path, kind)
    except OutputExists as e:
        fail(e.advice("--force"))


# what the repro commands write into their -o folder (experiment names start with these)
TRAINED_RESULTS = ("fig3-", "n-independence-", "bpp-", "arch-", "curves.", "bits_per_param.", "architectures.", "ablation.",
                   "capacity", "sweeps.db", "compare-")


def _trained_results(folder: Path) -> bool:
    """A trained-results folder that an older memcap filled (before folders carried a marker): only its files."""
    return all(p.is_file() and p.name.startswith(TRAINED_RESULTS) for p in folder.iterdir())


def built_report(folder: Path) -> bool:
    """A report folder that an older memcap wrote: its report.md, or a sweep it began."""
    md, rows = folder / "report.md", folder / "sweep.jsonl"
    if md.is_file():
        with md.open() as f:
            return f.readline().startswith("# memcap")
    return holds(rows, "sweep")


def results_dir(path: Path, kind: str = "results", earlier: Callable[[Path], bool] = _trained_results) -> Path:
    """The folder a command fills and a rerun resumes (tables, figures, storage): created and marked, or
    reused; a folder that memcap did not fill is refused with one `error:` line."""
    try:
        return results_folder(path, kind, earlier=earlier)
    except OutputExists as e:
        fail(e.advice("--force"))


def load_dataset(path: Path) -> data_mod.Dataset:
    try:
        return data_mod.load(path)
    except DataError as e:
        fail(str(e))


def load_model(path: Path):
    try:
        return fileformat.load(path)
    except (fileformat.ModelFileError, OSError) as e:
        fail(str(e))


def need_train_extra() -> None:
    """Name the pip command when the optional training dependencies are missing."""
    import importlib.util

    missing = [m for m in ("optuna", "sklearn", "sqlalchemy") if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"this command needs the training extra ({', '.join(missing)} not installed): "
             "pip install 'memcap[train]' (from a checkout: pip install -e '.[train]')")


# the options' choices (typer lists them in --help and refuses others): the library's own vocabularies,
# and below them the few words only the command line speaks
AttentionKind = Attention
BuiltArch = BuiltArchitecture
Unit = TextUnit


class Arch(enum.StrEnum):
    """The two architectures of the paper's trained experiments."""

    paper = "paper"
    standard = "standard"


class ArchOrBoth(enum.StrEnum):
    paper = "paper"
    standard = "standard"
    both = "both"


class Criteria(enum.StrEnum):
    both = "both"
    error = "error"
    exact = "exact"


class Target(enum.StrEnum):
    transformer_lens = "transformer-lens"
    torch = "torch"


class Fig3Data(enum.StrEnum):
    digits = "digits"
    digits3 = "digits3"
    topics = "topics"
    random = "random"


Force = Annotated[bool, typer.Option("--force", help="replace an existing output of the same kind (a model folder memcap wrote, "
                                                     "a dataset archive, a PNG, ...; never a folder or file of another kind)")]

# what the model commands share, written once
BUDGET_HELP = "every crafted integer fits this many bits (48 gives models that run exactly in float64, as the check measures); default: none"
BitBudget = Annotated[int | None, typer.Option(min=2, help=BUDGET_HELP)]
ModelDir = Annotated[Path, typer.Argument(help="a model directory")]
ModelOutput = Annotated[Path, typer.Option("-o", "--output", help="model directory to write")]
ItsDataset = Annotated[Path, typer.Argument(help="its dataset")]

# options that every sweep command takes, written once
STORAGE_HELP = "Optuna storage: an SQLite file path (default) or any SQLAlchemy URL, e.g. postgresql://user@host/db"
SWEEPS_DB = "out/trained/sweeps.db"  # the default Storage: every sweep command shares one file
Epochs = Annotated[int, typer.Option(min=1, help="most epochs per training run")]
Storage = Annotated[str, typer.Option(help=STORAGE_HELP)]
Workers = Annotated[int, typer.Option(min=0, help="local worker processes (0: only publish the sweep for `memcap worker`)")]
OutDir = Annotated[Path, typer.Option("-o", help="folder for the tables, figures and CSVs")]
Seed = Annotated[int, typer.Option(min=0, help="random seed")]
Trials = Annotated[int, typer.Option(min=1, help="Optuna trials (learning rate, warm-up) per tested size")]
MaxBlocks = Annotated[int, typer.Option(min=1, help="largest #blocks the search tries")]


def value(choice) -> str | None:
    return None if choice is None else choice.value


class CommaList(tuple):
    """A comma-separated option's items, as its parser (`ints`, `names_of`, `float_pair`) hands them to a command."""


def comma_default(text: str) -> CommaList:
    """A comma option's default, kept as the text a user would type so that --help shows it that way; click runs
    defaults through the option's parser, so the command still receives a CommaList."""
    return cast(CommaList, text)


def ints(text) -> CommaList:
    """typer's parser for a comma list of positive integers: a bad item is a usage error naming it."""
    if isinstance(text, tuple):
        return CommaList(text)
    out = []
    for item in str(text).split(","):
        try:
            v = int(item.strip())
        except ValueError:
            raise typer.BadParameter(f"{item.strip()!r} is not an integer (give a comma-separated list such as 100,1000)") from None
        if v < 1:
            raise typer.BadParameter(f"{v} must be >= 1")
        out.append(v)
    return CommaList(out)


def names_of(choices: tuple[str, ...]):
    """typer's parser for a comma list drawn from `choices` (at least one, each known)."""

    def parse(text) -> CommaList:
        if isinstance(text, tuple):
            return CommaList(text)
        picked = tuple(a.strip() for a in str(text).split(",") if a.strip())
        bad = [a for a in picked if a not in choices]
        if bad or not picked:
            raise typer.BadParameter(f"{'unknown ' + ', '.join(bad) if bad else 'the list is empty'}; choose from {', '.join(choices)}")
        return CommaList(picked)

    return parse


def float_pair(text) -> CommaList:
    """typer's parser for 'low,high' with 0 < low <= high."""
    if isinstance(text, tuple):
        return CommaList(text)
    try:
        lo, hi = (float(v) for v in str(text).split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not two numbers low,high (such as 0.003,0.1)") from None
    if not 0 < lo <= hi:
        raise typer.BadParameter(f"need 0 < low <= high; got {lo:g},{hi:g}")
    return CommaList((lo, hi))


def progress_bar(total: int | None, what: str):
    """A transient rich progress bar on stderr (done/total, or a count when total is None) and its task id."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}" if total else "{task.completed}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    return prog, prog.add_task(what, total=total)


def check_fits(model, ds, model_path: Path, data: Path) -> None:
    """One `error:` line when DATA cannot be fed to MODEL at all (not a miss: a mismatch)."""
    if model.setting == "points":
        fail(f"{model_path} is a plain point memorizer; verify it with: memcap verify-points {model_path} POINTS")
    if model.input.kind != ds.kind:
        fail(f"{model_path} takes token {model.input.kind}; {data} has token {ds.kind}")
    if ds.kind == "vectors" and ds.d != model.input.dim:
        fail(f"{model_path} takes tokens of dimension {model.input.dim}; {data} has d = {ds.d}")
    if model.input.positions and ds.n != model.input.seq_len:
        fail(f"{model_path} was built with positions for length n = {model.input.seq_len}; {data} has n = {ds.n}")
    if model.input.seq_len and ds.n != model.input.seq_len:  # the mean over n positions is built in
        fail(f"{model_path} was built for sequences of length n = {model.input.seq_len}; {data} has n = {ds.n}")


def check_labels(model, ds, model_path: Path, data: Path) -> None:
    wants = "next-token" if model.setting == "multiset" else model.setting  # a multiset model: one label per sequence
    if wants != ds.setting:
        fail(f"{model_path} is a {model.setting} model; {data} has {ds.setting} labels of shape {list(ds.labels.shape)}")
