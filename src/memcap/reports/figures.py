"""The one figure helper of the reports: a paper's sizes (one column, two columns), fonts readable at print
size, legends below the axes (they take height, never the axes' width), titles wrapped to the figure's
width, twin axes for a second quantity of another scale, log axes whose tick labels never overlap, and every
figure written as PNG, SVG and PDF.

Invariant: a figure that `plot` saved has its titles, legend, axis labels and tick labels inside its canvas
and no two tick labels of one axis overlapping; `layout_problems` measures that with the renderer, so a test
can check it on every figure the reports draw.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from .. import outputs  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

ONE_COLUMN = 3.4  # inches: one column of a two-column paper
TWO_COLUMN = 7.0  # inches: the full text width
FORMATS = ("png", "svg", "pdf")
STYLE: dict[RcKeyType, Any] = {
    "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "lines.linewidth": 1.2, "lines.markersize": 4, "axes.grid": True, "grid.alpha": 0.25,
    "grid.linewidth": 0.5, "legend.frameon": False, "savefig.dpi": 200,
    "pdf.fonttype": 42, "svg.fonttype": "path",  # fonts embedded: the figure looks the same in every viewer
    "svg.hashsalt": "memcap",  # the SVG's element ids, so that the same figure gives the same bytes
}
# each format's date stamp removed: the same data gives the same bytes
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}
_CHAR_EM = 0.58  # average glyph width of the sans-serif font, in font sizes: what fits on a line


def _chars(width_in: float, size_pt: float) -> int:
    return max(12, int(width_in * 72 / (size_pt * _CHAR_EM)))


@contextmanager
def plot(stem: Path, cols: int = 1, panels: int = 1, height: float | None = None) -> Iterator[tuple]:
    """A figure of `panels` axes side by side, `cols` paper columns wide, saved on leaving the block as
    stem.png, stem.svg and stem.pdf. Yields (fig, ax) for one panel, (fig, [axes]) for several."""
    width = ONE_COLUMN if cols == 1 else TWO_COLUMN
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, panels, figsize=(width, height or (2.5 if cols == 1 else 2.7)), layout="constrained")
        try:
            yield fig, axes
            save(fig, Path(stem))
        finally:
            plt.close(fig)


def title(ax, text: str) -> None:
    """The axes' title, wrapped to the axes' share of the figure's width (a long title is never clipped)."""
    width = ax.figure.get_figwidth() * ax.get_position().width / 0.8
    ax.set_title(textwrap.fill(text, _chars(width, plt.rcParams["axes.titlesize"])))


def labels(ax, x: str, y: str, text: str | None = None) -> None:
    """Axis labels (each wrapped to the axes' size) and a title."""
    size = plt.rcParams["axes.labelsize"]
    pos = ax.get_position()
    ax.set_xlabel(textwrap.fill(x, _chars(ax.figure.get_figwidth() * pos.width / 0.8, size)))
    ax.set_ylabel(textwrap.fill(y, _chars(ax.figure.get_figheight() * pos.height, size)))
    if text:
        title(ax, text)


def twin(ax, ylabel: str, color: str):
    """A right-hand y axis for a quantity of another scale, its label and ticks in that quantity's color."""
    right = ax.twinx()
    right.set_ylabel(ylabel, color=color)
    right.tick_params(axis="y", colors=color)
    right.grid(False)
    return right


def legend(fig, axes, cols: int | None = None) -> None:
    """One legend below the axes for every labelled line of `axes` (a label shared by panels once); the
    figure grows by its rows, so the axes keep their size."""
    axes = list(axes) if isinstance(axes, list | tuple) else [axes]
    seen: dict[str, object] = {}
    for a in axes:
        for h, lab in zip(*a.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    if not seen:
        return
    per_line = _chars(fig.get_figwidth(), plt.rcParams["legend.fontsize"])
    longest = max(len(lab) for lab in seen) + 6  # the handle and the gap
    ncols = cols or max(1, min(len(seen), per_line // longest))
    rows = math.ceil(len(seen) / ncols)
    fig.set_figheight(fig.get_figheight() + rows * plt.rcParams["legend.fontsize"] * 1.45 / 72 + 0.08)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=ncols)


def _number(v: float, sci: bool) -> str:
    """A tick label: plain numbers on an axis that stays below 10^5, else 10^k and m x 10^k (one style
    per axis)."""
    if v <= 0:
        return "0"
    if not sci and v >= 0.01:
        return f"{v:g}" if v < 1e4 else f"{v:.0f}"
    k = math.floor(math.log10(v) + 1e-9)
    m = v / 10**k
    return f"$10^{{{k}}}$" if abs(m - 1) < 1e-6 else f"${m:g}\\times10^{{{k}}}$"


def _formatter(hi: float) -> ticker.FuncFormatter:
    sci = hi >= 1e5
    return ticker.FuncFormatter(lambda v, _pos: _number(v, sci))


def ticks_at(axis, values) -> None:
    """Major ticks at exactly these values (the measured N of a short series), plainly labelled; `save`
    keeps them and only thins them if labels would overlap."""
    values = sorted(set(values))
    axis.set_major_locator(ticker.FixedLocator(values))
    axis.set_major_formatter(_formatter(max(values) if values else 1))
    axis.set_minor_formatter(ticker.NullFormatter())


def _log_ticks(axis, lo: float, hi: float) -> None:
    """Majors at powers of ten, with 2 and 5 between them when the range spans less than two decades; minor
    ticks unlabelled (matplotlib labels them when fewer than two majors show, and they collide)."""
    if isinstance(axis.get_major_locator(), ticker.FixedLocator):
        return
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 0
    subs = (1.0,) if decades >= 2 else (1.0, 2.0, 5.0) if decades >= 0.7 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(_formatter(hi))
    axis.set_minor_formatter(ticker.NullFormatter())


def _overlapping(boxes) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _thin(axis, renderer) -> bool:
    """Keep every other tick label of an axis whose labels overlap; True when it changed the ticks."""
    if not _overlapping(_tick_boxes(axis, renderer)):
        return False
    lo, hi = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_majorticklocs() if lo <= t <= hi]
    axis.set_major_locator(ticker.FixedLocator(ticks[::2]))
    return True


def _tick_labels(axis) -> list:
    """The tick labels the axis draws (those of ticks inside its view), on either side."""
    drawn = axis._update_ticks()  # noqa: SLF001 - matplotlib's own list of the ticks it will draw
    return [lab for t in drawn for lab in (t.label1, t.label2) if lab.get_visible() and lab.get_text()]


def _tick_boxes(axis, renderer):
    boxes = [t.get_window_extent(renderer) for t in _tick_labels(axis)]
    key = (lambda b: b.x0) if axis.axis_name == "x" else (lambda b: b.y0)
    return sorted(boxes, key=key)


def _rewrap(fig, renderer) -> bool:
    """Rewrap each title or x label that is wider than the canvas or sticks out of it (the character
    estimate of `title` can miss for wide glyphs); True when it changed one."""
    changed = False
    for ax in fig.axes:
        for text in (ax.title, ax.xaxis.label):
            box = text.get_window_extent(renderer) if text.get_text() else None
            # a title is centred on its axes, not the figure: it can leave the canvas while narrower than it
            if box is not None and (box.width > fig.bbox.width * 0.98 or box.x0 < 0 or box.x1 > fig.bbox.width):
                longest = max(len(line) for line in text.get_text().split("\n"))
                text.set_text(textwrap.fill(text.get_text().replace("\n", " "), max(10, int(longest * 0.85))))
                changed = True
    return changed


def save(fig, stem: Path) -> list[Path]:
    """Set the log axes' ticks, lay the figure out until no text is too wide and no tick labels overlap
    (a few draws at most), then write stem.png, .svg and .pdf with that layout."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    for ax in fig.axes:
        for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() == "log":
                _log_ticks(axis, *sorted(lim))
    for _ in range(5):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        # every call runs: each fixes its own texts against this draw
        if not any([_rewrap(fig, r), *(_thin(axis, r) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis))]):
            break
    fig.set_layout_engine("none")  # the layout is final: the three formats reuse it instead of solving it again
    paths = [stem.with_name(f"{stem.name}.{ext}") for ext in FORMATS]  # a name may hold dots
    for ext, path in zip(FORMATS, paths, strict=True):
        outputs.save_figure(fig, path, metadata=_METADATA[ext])  # through a temporary name: never a half-written figure
    return paths


def layout_problems(fig) -> list[str]:
    """What lies outside the canvas (titles, legends, axis labels, tick labels) or overlaps another tick
    label of its axis, measured by the renderer; empty for a good figure."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    canvas = fig.bbox
    texts = [("suptitle", fig._suptitle)] if fig._suptitle is not None else []
    texts += [(f"legend {i}", lg) for i, lg in enumerate(fig.legends)]
    problems = []
    for i, ax in enumerate(fig.axes):
        texts += [(f"axes {i} title", ax.title), (f"axes {i} xlabel", ax.xaxis.label), (f"axes {i} ylabel", ax.yaxis.label)]
        if ax.get_legend() is not None:
            texts.append((f"axes {i} legend", ax.get_legend()))
        for axis in (ax.xaxis, ax.yaxis):
            texts += [(f"axes {i} {axis.axis_name} tick {t.get_text()!r}", t) for t in _tick_labels(axis)]
            if _overlapping(_tick_boxes(axis, r)):
                problems.append(f"axes {i}: {axis.axis_name} tick labels overlap")
    for name, artist in texts:
        if hasattr(artist, "get_text") and not artist.get_text():
            continue
        b = artist.get_window_extent(r)
        if b.x0 < canvas.x0 - 0.5 or b.y0 < canvas.y0 - 0.5 or b.x1 > canvas.x1 + 0.5 or b.y1 > canvas.y1 + 0.5:
            problems.append(f"{name} lies outside the canvas ({b.x0:.0f}..{b.x1:.0f} x {b.y0:.0f}..{b.y1:.0f} "
                            f"in {canvas.width:.0f} x {canvas.height:.0f})")
    return problems
