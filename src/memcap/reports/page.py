"""A report page from sections: report.md, a self-contained report.html (its style inline, images beside it,
nothing fetched from the network when it is viewed) and provenance.json.

A section is a function `(rows, out) -> list[str]`: it writes its figures and tables into `out` and returns
its Markdown lines (empty when the rows hold nothing for it). A report is a title, an introduction and a list
of sections; adding a section is adding a function to that list.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import outputs
from . import provenance
from .figures import STYLE as STYLE_RC

Section = Callable[[list[dict], Path], list[str]]

STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
.table{overflow-x:auto;margin:.8em 0}table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;white-space:nowrap}td.long{white-space:normal;min-width:24em}
th{background:#f2f2f2;vertical-align:bottom}tr:nth-child(even){background:#fafafa}
img{max-width:100%;border:1px solid #eee}h1,h2{border-bottom:1px solid #ddd;padding-bottom:.2em}code{background:#f4f4f4}
em{color:#555}"""


def figure(stem: str, caption: str) -> list[str]:
    """A figure's Markdown: the PNG, its caption, links to the vector versions and its data."""
    return [f"![{caption}]({stem}.png)", "",
            f"*{caption}* Vector: [{stem}.svg]({stem}.svg), [{stem}.pdf]({stem}.pdf). Data: `{stem}.csv`.", ""]


PX_PER_INCH = 150  # the HTML shows every figure at one scale, so that a one-column figure's fonts match a two-column one's


def _sized_images(html: str, out: Path) -> str:
    """Give each PNG its width at PX_PER_INCH from the size saved in the file (pixels over its dpi)."""

    def size(m: re.Match) -> str:
        path = out / m.group(2)
        if not path.is_file() or path.suffix != ".png":
            return m.group(0)
        head = path.read_bytes()[:33]
        width_px = struct.unpack(">I", head[16:20])[0]
        dpi = float(STYLE_RC["savefig.dpi"])
        return f'{m.group(1)}{m.group(2)}" style="width:{round(width_px / dpi * PX_PER_INCH)}px"'

    return re.sub(r'(<img alt="[^"]*" src=")([^"]+)"', size, html)


def write(out: Path, title: str, intro: list[str], sections: Sequence[Section], rows: list[dict], prov: dict) -> Path:
    """Run every section on `rows`, then write report.md, report.html and provenance.json in `out`."""
    import markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {title}", "", *intro]
    with provenance.active(prov):
        for section in sections:
            md += section(rows, out)
    md += provenance.markdown(prov)
    text = "\n".join(md) + "\n"
    outputs.replace_text(out / "report.md", text)
    body = _sized_images(markdown.markdown(text, extensions=["tables"], output_format="html"), out)
    # a wide table scrolls inside its box instead of running off the page
    body = body.replace("<table>", '<div class="table"><table>').replace("</table>", "</table></div>")
    body = re.sub(r"<td([^>]*)>([^<]{60,})</td>", r'<td\1 class="long">\2</td>', body)  # a sentence in a cell wraps
    outputs.replace_text(out / "report.html", f"<!doctype html>\n<html><head><meta charset=utf-8><title>{title}</title>\n"
                                    f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
    outputs.replace_text(out / "provenance.json", provenance.as_json(prov))
    return out / "report.md"
