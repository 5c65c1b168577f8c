"""How the timeouts gate's findings read in the gate report: one ``timeouts`` entry as a
line (with where it waited and what it killed), and the report of a run the supervisor
killed. Standard library only and no pytest, like :mod:`pytest_gridgate.report_format`:
the supervisor process (``python -I -S``) renders with it.
"""

from __future__ import annotations

from pytest_gridgate.report_format import COUNTS, outcome, set_tests_verdict

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the supervisor does not import typing
if TYPE_CHECKING:
    from typing import Any


def explain_timeout(entry: dict[str, Any]) -> str:
    """One entry of the ``timeouts`` section as the terminal and Markdown show it."""
    text = f"{entry['nodeid']} ({entry.get('phase', '?')}, over {entry['seconds']:g}s"
    if entry.get("stage") == 2:
        text += ", did not stop: process ended"
    text += ")"
    if entry.get("where"):
        text += f" at {entry['where']}"
    for line in entry.get("awaiting", ()):
        text += f"\n    {line}"
    for line in entry.get("killed", ()):
        text += f"\n    killed {line}"
    return text


def killed_run(data: dict[str, Any], entry: dict[str, Any], exit_code: int) -> None:
    """Complete the last snapshot of a run that the supervisor killed in ``entry``."""
    timeouts = data["timeouts"] = [*data.get("timeouts", []), entry]
    counts = data.setdefault("counts", dict.fromkeys(COUNTS, 0))
    if entry.get("phase") != "collection":
        counts["failed"] = counts.get("failed", 0) + 1
    data["exit_code"] = exit_code
    data["outcome"] = outcome(exit_code)
    summary = f"{len(timeouts)} timed out; the run was killed in {entry['nodeid']}"
    details = [f"TIMEOUT {explain_timeout(t)}" for t in timeouts]
    gates = [g for g in data.get("gates", []) if g["gate"] != "timeouts"]
    data["gates"] = [
        *gates,
        {"gate": "timeouts", "passed": False, "summary": summary, "details": details},
    ]
    set_tests_verdict(data)
