"""A gate report judged against a history: the ``history`` verdict and section that the
plugin (``--gridgate-history``) and ``gridgate merge --history`` add. Standard library
only; nothing is appended to the history (that is ``gridgate history add``'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_gridgate.history import record, trend
from pytest_gridgate.history.store import HistoryError, read_history, read_state, state_path
from pytest_gridgate.settings import HistorySettings


def judge_report(
    data: dict[str, Any], history: Path, settings: HistorySettings
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The verdict (a ``gates`` entry) and the ``history`` section (None when the history
    could not be read, which is itself a failed verdict)."""
    try:
        lines, warnings = read_history(history)
    except HistoryError as exc:
        return {"gate": "history", "passed": False, "summary": str(exc), "details": []}, None
    state, state_warnings = read_state(state_path(history))
    branch, commit = record.where()
    line = record.make_line(data, branch, commit)
    judged = trend.judge(line, record.collected_ids(data), lines, state, settings)
    verdict = judged.verdict()
    verdict["details"] = [*warnings, *state_warnings, *verdict["details"]]
    return verdict, judged.section()


def apply(data: dict[str, Any], history: Path, settings: HistorySettings) -> bool:
    """Add the verdict and section to the report ``data``; a broken limit makes a passing
    report's exit code 1. Whether the trend passed."""
    verdict, section = judge_report(data, history, settings)
    data["gates"] = [*(g for g in data.get("gates", []) if g["gate"] != "history"), verdict]
    if section is not None:
        data["history"] = section
    if not verdict["passed"] and data.get("exit_code") == 0:
        data["exit_code"] = 1
        data["outcome"] = "failed"
    return bool(verdict["passed"])
