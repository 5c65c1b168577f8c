"""The history page: one self-contained HTML file with charts, for the ``charts`` extra.

Charts are pygal's: pure Python (no compiled parts, no browser engine, about 0.1 s to
import), and its output is SVG that goes inline into the page, so the page opens offline
from an artifact or a file. Its tooltip script would be loaded from the web, so it is
left out (``js=[]``), and a Content-Security-Policy that allows nothing but the page's
own inline styles makes any request or script a browser error rather than a silent
download. matplotlib would draw the same charts at ten times the import time and install
size; plotly's page carries 3 MB of JavaScript.

With many runs the dots go and the lines stay: 500 runs of dots in seven charts would be
most of a 2 MB page; every run is still one vertex of its line.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

import pygal
from pygal.style import Style

from pytest_gridgate import __version__

DOTS_UP_TO = 60  # runs; beyond, lines without dots
LABELS = 12  # x labels shown per chart
ROWS = 20  # rows per table

_STYLE = Style(
    background="white",
    plot_background="white",
    font_family="sans-serif",
    colors=("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"),
)
_SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.DOTALL)
_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); }
.chart svg { width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.n { text-align: right; }
code { font-size: 0.9em; }
"""


def _chart(title: str, runs: list[str], series: dict[str, list[float | None]]) -> str:
    chart = pygal.Line(
        js=[],
        title=title,
        style=_STYLE,
        width=560,
        height=260,
        show_dots=len(runs) <= DOTS_UP_TO,
        dots_size=2.5,
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        legend_at_bottom_columns=4,
        x_labels=runs,
        x_labels_major_count=LABELS,
        show_minor_x_labels=len(runs) <= LABELS,
        truncate_label=-1,
        include_x_axis=True,
        disable_xml_declaration=True,
        no_data_text="no data",
    )
    for name, values in series.items():
        chart.add(name, values)
    svg: str = chart.render(is_unicode=True)
    # pygal always adds its chart's configuration as an inline script, for the tooltip
    # script left out above: dead weight (every x label again) that the page's policy
    # would refuse with a console error. The labels are run numbers: no "</script>".
    svg = _SCRIPT.sub("", svg)
    slug = title.split(" (")[0].replace(" ", "-")
    return f'<div class="chart" data-chart="{html.escape(slug)}">{svg}</div>'


def charts(lines: list[dict[str, Any]]) -> list[str]:
    runs = [str(i) for i in range(1, len(lines) + 1)]
    categories = sorted({c for e in lines for c in e.get("failures", {})})

    def rate(e: dict[str, Any]) -> float:
        ran = int(e.get("ran", 0))
        return round(100 * int(e.get("flaky_count", 0)) / ran, 3) if ran else 0.0

    return [
        _chart("tests collected", runs, {"collected": [e["collected"] for e in lines]}),
        _chart("suite wall time (s)", runs, {"wall": [e.get("wall") for e in lines]}),
        _chart("p95 test time (s)", runs, {"p95": [e.get("p95") for e in lines]}),
        _chart(
            "failures by category",
            runs,
            {c: [e.get("failures", {}).get(c, 0) for e in lines] for c in categories}
            or {"failures": [0 for _ in lines]},
        ),
        _chart("flaky rate (% of tests run)", runs, {"flaky": [rate(e) for e in lines]}),
        _chart(
            "leaks and timeouts",
            runs,
            {
                "leaks": [e.get("leaks", 0) for e in lines],
                "timeouts": [e.get("timeouts", 0) for e in lines],
            },
        ),
        _chart(
            "peak memory (MB)",
            runs,
            {"peak": [round(int(e.get("memory_peak", 0)) / 1e6, 1) for e in lines]},
        ),
    ]


def _table(caption: str, head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return f"<h2>{html.escape(caption)}</h2><p>None.</p>"
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if c[:1].isdigit() else ''}>{c}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<h2>{html.escape(caption)}</h2><table><tr>{cells}</tr>{body}</table>"


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def tables(lines: list[dict[str, Any]]) -> list[str]:
    last = lines[-1]
    slowest = [[_code(str(n)), f"{float(s):.3f} s"] for n, s in last.get("slowest", [])]
    flaky = Counter(n for e in lines for n in e.get("flaky", []))
    often = [[_code(n), str(k)] for n, k in flaky.most_common(ROWS)]
    vanished = []
    for number, e in enumerate(lines, start=1):
        for nodeid in e.get("vanished", []):
            vanished.append([str(number), html.escape(e["branch"]), _code(nodeid)])
    shown = vanished[-ROWS * 5 :]
    return [
        _table(f"Slowest tests of run {len(lines)}", ["test", "time"], slowest),
        _table("Most often flaky", ["test", "runs flaky"], often),
        _table(
            f"Vanished tests ({len(vanished)}, latest {len(shown)} shown)",
            ["run", "branch", "test"],
            shown,
        ),
    ]


def render(lines: list[dict[str, Any]], source: str) -> str:
    """The page of ``lines`` (oldest first), read from ``source``."""
    last = lines[-1]
    trend = last.get("trend", {})
    verdict = (
        "passed" if trend.get("passed", True) else "failed: " + ", ".join(trend.get("broken", []))
    )
    head = (
        f"{len(lines)} runs in {html.escape(source)}; latest: run {len(lines)}, "
        f"branch {_code(last['branch'])}, commit {_code(str(last.get('commit', ''))[:12])}, "
        f"{last['collected']} tests, trend {html.escape(verdict)}"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            "<title>gridgate history</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>gridgate history</h1><p>{head}</p>",
            '<div class="charts">',
            *charts(lines),
            "</div>",
            *tables(lines),
            f"<p><small>pytest-gridgate {__version__}</small></p>",
            "</body></html>",
            "",
        ]
    )
