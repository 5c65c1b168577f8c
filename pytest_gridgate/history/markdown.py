"""The Markdown trend block for ``$GITHUB_STEP_SUMMARY``, standard library only.

A text table renders everywhere; the chart is a Mermaid ``xychart-beta`` block, which
GitHub draws and other viewers show as text. The size does not grow with the suite or
the history: a fixed number of runs and of listed node ids (under 10 KB in practice,
against GitHub's 1 MB step summary limit).
"""

from __future__ import annotations

from typing import Any

from pytest_gridgate.report_format import _cell, _code_span

RUNS = 10  # rows of the table
CHART_RUNS = 30  # points of the chart
LISTED = 20  # vanished tests listed


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def trend_block(lines: list[dict[str, Any]]) -> str:
    """The trend of the latest run's branch, newest row first."""
    last = lines[-1]
    branch = last["branch"]
    runs = [e for e in lines if e["branch"] == branch]
    trend = last.get("trend", {})
    verdict = (
        "passed" if trend.get("passed", True) else "failed: " + ", ".join(trend.get("broken", []))
    )
    out = [
        f"### gridgate history: {_cell(branch)} ({len(runs)} runs), trend {verdict}",
        "",
        "| run | commit | tests | vanished | new | wall | p95 test | failed | flaky | leaks |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    first = len(runs) - min(RUNS, len(runs))
    for number in range(len(runs), first, -1):
        e = runs[number - 1]
        failed = sum(int(n) for n in e.get("failures", {}).values())
        out.append(
            f"| {number} | {_code_span(str(e.get('commit', ''))[:8] or '-')} "
            f"| {e['collected']} | {e.get('vanished_count', 0)} | {e.get('added', 0)} "
            f"| {_seconds(float(e.get('wall', 0)))} | {_seconds(float(e.get('p95', 0)))} "
            f"| {failed} | {e.get('flaky_count', 0)} | {e.get('leaks', 0)} |"
        )
    chart = runs[-CHART_RUNS:]
    if len(chart) > 1:
        numbers = ", ".join(str(len(runs) - len(chart) + i + 1) for i in range(len(chart)))
        walls = ", ".join(f"{float(e.get('wall', 0)):.2f}" for e in chart)
        out += [
            "",
            "```mermaid",
            "xychart-beta",
            '  title "suite wall time (s), last runs"',
            f"  x-axis [{numbers}]",
            f"  line [{walls}]",
            "```",
        ]
    vanished = last.get("vanished", [])
    if vanished:
        count = int(last.get("vanished_count", len(vanished)))
        out += ["", f"Vanished in the latest run ({count}):", ""]
        out += [f"- {_code_span(n)}" for n in vanished[:LISTED]]
        if count > LISTED:
            out.append(f"- ... and {count - LISTED} more")
    return "\n".join(out) + "\n"
