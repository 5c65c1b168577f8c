"""``gridgate history add REPORT [--history PATH]`` and
``gridgate history show [--history PATH] [--html OUT] [--markdown OUT]``.

``add`` exits 0 when every trend check passed, 1 when one failed, 2 on bad input (an
unreadable report or history, a bad configuration). ``show`` exits 0, or 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_gridgate.history import record, trend
from pytest_gridgate.history.store import HistoryError, locked, read_history, read_state, state_path
from pytest_gridgate.settings import ConfigError, HistorySettings, load_config

_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgate history",
        description="Keep a history of gate reports and gate on its trends.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{add,show}")
    add = commands.add_parser(
        "add",
        help="append a run to the history and judge its trend",
        epilog="Exit codes: 0 no trend limit broken, 1 one was, 2 bad input.",
    )
    add.add_argument("report", metavar="REPORT", help="a gate report (JSON), merged or not")
    add.add_argument("--history", metavar="PATH", help="default: history.file in the config")
    add.add_argument("--branch", help="default: $GITHUB_HEAD_REF, $GITHUB_REF_NAME or git's")
    add.add_argument("--commit", help="default: $GITHUB_SHA or git's HEAD")
    add.add_argument(
        "--accept",
        action="store_true",
        help="record the run as the new baseline even if a trend limit is broken "
        "(tests removed on purpose) and exit 0",
    )
    show = commands.add_parser("show", help="write the history's page and trend block")
    show.add_argument("--history", metavar="PATH", help="default: history.file in the config")
    show.add_argument("--html", metavar="OUT", help="a self-contained HTML page with charts")
    show.add_argument(
        "--markdown", metavar="OUT", help="a short trend block (for $GITHUB_STEP_SUMMARY)"
    )
    return parser


def add(report_path: Path, history: Path, settings: HistorySettings, ns: argparse.Namespace) -> int:
    report = record.read_report(report_path)
    branch, commit = record.where(ns.branch, ns.commit)
    line = record.make_line(report, branch, commit)
    collected = record.collected_ids(report)
    with locked(history) as held:
        lines, warnings = held.read()
        state, state_warnings = read_state(state_path(history))
        for warning in warnings + state_warnings:
            print(warning, file=sys.stderr)
        judged = trend.judge(line, collected, lines, state, settings)
        line["vanished"] = judged.vanished[: record.KEPT]
        line["vanished_count"] = len(judged.vanished)
        line["added"] = judged.added
        line["trend"] = {
            "passed": judged.passed,
            "baseline": judged.baseline,
            "broken": [c.name for c in judged.checks if not c.passed],
            "accepted": bool(ns.accept and not judged.passed),
        }
        held.append(line)
        new_state = record.state_of(report, line)
        if new_state is not None and (judged.passed or ns.accept):
            state.setdefault("branches", {})[branch] = new_state
            held.write_state(state)
    number = sum(1 for e in lines if e["branch"] == branch) + 1
    print(f"gridgate history: run {number} of {branch!r} added to {history}")
    for text in judged.lines():
        print(text)
    if judged.passed:
        return 0
    if ns.accept:
        print("gridgate history: trend limits broken, accepted as the new baseline (--accept)")
        return 0
    print("gridgate history: failed: a trend limit is broken")
    return 1


def show(history: Path, ns: argparse.Namespace) -> int:
    if not ns.html and not ns.markdown:
        print(
            "gridgate history show: error: give --html OUT and/or --markdown OUT", file=sys.stderr
        )
        return _BAD_INPUT
    lines, warnings = read_history(history)
    for warning in warnings:
        print(warning, file=sys.stderr)
    if not lines:
        print(f"gridgate history show: error: {history}: no runs recorded", file=sys.stderr)
        return _BAD_INPUT
    if ns.markdown:
        from pytest_gridgate.history import markdown
        from pytest_gridgate.whole_file import write_whole

        write_whole(ns.markdown, markdown.trend_block(lines))
    if ns.html:
        try:
            from pytest_gridgate.history import page
        except ImportError as exc:
            print(
                f"gridgate history show: error: --html needs pygal ({exc.msg}): "
                "pip install 'pytest-gridgate[charts]'",
                file=sys.stderr,
            )
            return _BAD_INPUT
        from pytest_gridgate.whole_file import write_whole

        write_whole(ns.html, page.render(lines, str(history)))
    print(f"gridgate history: {len(lines)} runs from {history}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        settings = load_config().history
    except ConfigError as exc:
        print(f"gridgate history: error: {exc}", file=sys.stderr)
        return _BAD_INPUT
    history = Path(ns.history or settings.file)
    try:
        if ns.command == "add":
            return add(Path(ns.report), history, settings, ns)
        return show(history, ns)
    except (HistoryError, OSError) as exc:
        print(f"gridgate history: error: {exc}", file=sys.stderr)
        return _BAD_INPUT
