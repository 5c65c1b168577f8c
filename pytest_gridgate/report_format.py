"""How the gate report (JSON version 1) reads: terminal lines, Markdown, the files.

Pure functions over the report's JSON dict, standard library only and no pytest: the
supervisor process (``python -I -S``, see :mod:`pytest_gridgate.timeouts.takeover`) renders with
them the report of a run it had to kill, so that report reads exactly like any other.
"""

from __future__ import annotations

import contextlib

from pytest_gridgate.whole_file import append_whole, write_whole

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the supervisor does not import typing
if TYPE_CHECKING:
    from typing import Any

# JSON ``counts`` keys; the first five are the contract, the rest are extras.
COUNTS = ("collected", "passed", "failed", "errors", "skipped", "xfailed", "xpassed", "deselected")
# Details shown per gate before "... and N more": the terminal section fits on one screen.
TERMINAL_DETAILS = 8
MARKDOWN_DETAILS = 50


def outcome(exit_code: int) -> str:
    return "passed" if exit_code == 0 else "failed"


def terminal_lines(data: dict[str, Any], max_details: int = TERMINAL_DETAILS) -> list[str]:
    """The ``gridgate`` section of the terminal summary: one line per gate, then the verdict."""
    gates = data.get("gates", [])
    width = max((len(g["gate"]) for g in gates), default=0)
    lines = []
    for g in gates:
        lines.append(f"{'PASS' if g['passed'] else 'FAIL'} {g['gate']:<{width}}  {g['summary']}")
        for detail in _capped(g.get("details", []), max_details):
            # A detail's own further lines (where a timeout waited, what it killed) sit
            # under it, indented once more.
            lines.extend(f"    {line}" for line in detail.split("\n"))
    lines.append(f"gridgate: {outcome(data['exit_code'])} (exit code {data['exit_code']})")
    return lines


def markdown(data: dict[str, Any], max_details: int = MARKDOWN_DETAILS) -> str:
    """The Markdown summary (for ``$GITHUB_STEP_SUMMARY``)."""
    code = data["exit_code"]
    lines = [
        f"## {'✅' if code == 0 else '❌'} gridgate: {outcome(code)} (exit code {code})",
        "",
        "| gate | verdict | summary |",
        "|---|---|---|",
    ]
    gates = data.get("gates", [])
    for g in gates:
        verdict = "✅ pass" if g["passed"] else "❌ fail"
        lines.append(f"| {g['gate']} | {verdict} | {_cell(g['summary'])} |")
    counts = ", ".join(plural(n, key) for key, n in data.get("counts", {}).items() if n)
    lines += ["", f"Counts: {counts or 'no tests'}."]
    for g in gates:
        if g.get("details"):
            lines += ["", f"<details><summary>{_html(g['gate'])}</summary>", ""]
            for detail in _capped(g["details"], max_details):
                lines += _list_item(detail)
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_files(
    data: dict[str, Any],
    json_path: str | None,
    markdown_path: str | None,
    append: bool,
    *,
    exit_code_if_unwritten: int | None = None,
) -> list[str]:
    """Write the JSON report and the Markdown summary (appended to, for a step summary).

    Returns one line per file that could not be written, naming its path; never raises
    for an unwritable path, and an output that fails does not stop the other. A failure
    adds a failed ``report`` verdict to ``data`` (and, when ``exit_code_if_unwritten`` is
    given and the run had passed, sets that exit code) and the files already written are
    written again, so every file that exists tells the same story. The summary is appended
    last: an append cannot be taken back.
    """
    outputs = []
    if json_path:
        outputs.append((json_path, "the JSON report", False, True))
    if markdown_path:
        source = " ($GITHUB_STEP_SUMMARY)" if append else ""
        outputs.append((markdown_path, f"the Markdown summary{source}", append, False))
    outputs.sort(key=lambda output: output[2])
    problems: list[str] = []
    written: list[tuple[str, str, bool, bool]] = []
    for output in outputs:
        path, what, appending, is_json = output
        try:
            text = _render_json(data) if is_json else markdown(data)
            (append_whole if appending else write_whole)(path, text)
        except (OSError, ValueError) as exc:
            problems.append(f"cannot write {what} to {path}: {_reason(exc)}")
            _unwritten_verdict(data, problems, exit_code_if_unwritten)
            for again in written:  # the verdict changed: rewrite what already went out
                # It was writable a moment ago; should that change, the first message stands.
                with contextlib.suppress(OSError, ValueError):
                    write_whole(again[0], _render_json(data) if again[3] else markdown(data))
        else:
            written.append(output)
    return problems


def _render_json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, indent=2) + "\n"


def _reason(exc: Exception) -> str:
    strerror = getattr(exc, "strerror", None)
    return strerror if isinstance(strerror, str) and strerror else str(exc)


def _unwritten_verdict(data: dict[str, Any], problems: list[str], exit_code: int | None) -> None:
    if exit_code is not None and data.get("exit_code") == 0:
        data["exit_code"] = exit_code
        data["outcome"] = outcome(exit_code)
    if len(problems) == 1:
        summary, details = problems[0], []
    else:
        summary, details = f"{len(problems)} files could not be written", list(problems)
    verdict = {"gate": "report", "passed": False, "summary": summary, "details": details}
    data["gates"] = [*(g for g in data.get("gates", []) if g["gate"] != "report"), verdict]


def set_tests_verdict(
    data: dict[str, Any], failed_elsewhere: int = 0, collect_errors: int | None = None
) -> None:
    """Put the ``tests`` gate's verdict, judged from the counts, after ``collection``'s.

    ``failed_elsewhere``: failed reports in categories other plugins add (a "timeout");
    ``collect_errors``: how many of the ``errors`` are failed collect reports (by default
    one per collection error; under xdist each worker may report the same one).
    """
    counts = dict(data["counts"])
    # Collection errors are the collection gate's; here only errors of tests count.
    if collect_errors is None:
        collect_errors = len(data.get("collection_errors", []))
    test_errors = max(0, counts.get("errors", 0) - collect_errors)
    in_collection = counts.get("errors", 0) - test_errors
    keys = [*COUNTS[1:7], *(key for key in counts if key not in COUNTS)]
    # pytest's own numbers, so that the line reads like pytest's last line. Collection
    # errors are among pytest's errors and are named so; only errors of tests fail here.
    shown = []
    for key in keys:
        if counts.get(key):
            text = plural(counts[key], key)
            if key == "errors" and in_collection:
                text += f" ({in_collection} in collection)" if test_errors else " (in collection)"
            shown.append(text)
    if all(not counts.get(key) for key in keys if key != "errors") and not test_errors:
        shown = []  # only collection errors: no test ran
    if shown:
        failed = counts.get("failed") or test_errors or failed_elsewhere
        verdict = {"gate": "tests", "passed": not failed, "summary": ", ".join(shown)}
    else:
        # Nothing ran: fine only for a run that passes anyway (min_tests = 0).
        verdict = {
            "gate": "tests",
            "passed": data["exit_code"] in (0, 5),
            "summary": "no tests ran",
        }
    verdict["details"] = []
    gates = [g for g in data.get("gates", []) if g["gate"] != "tests"]
    names = [g["gate"] for g in gates]
    gates.insert(names.index("collection") + 1 if "collection" in names else 0, verdict)
    data["gates"] = gates


def plural(n: int, key: str) -> str:
    return f"{n} {key[:-1] if key == 'errors' and n == 1 else key}"


def _capped(items: list[str], limit: int) -> list[str]:
    if len(items) <= limit:
        return items
    return [*items[:limit], f"... and {len(items) - limit} more"]


def _cell(text: str) -> str:
    """Text for a table cell: GFM ends a cell at an unescaped ``|``, a row at a newline."""
    return _html(text).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _list_item(text: str) -> list[str]:
    """One detail as a Markdown list item, shown verbatim.

    The first line is a code span; further lines (a timeout's stack, the processes it
    killed) follow in a fenced block inside the item, so their line breaks and
    indentation stay. Neither escapes anything: backslashes are literal in code, so the
    fence or span is made longer than any run of backticks in the text instead.
    """
    first, *rest = text.split("\n")
    lines = [f"- {_code_span(first)}"]
    if rest:
        fence = "`" * max(3, _longest_backtick_run("\n".join(rest)) + 1)
        lines += [f"  {fence}text", *(f"  {line}" for line in rest), f"  {fence}"]
    return lines


def _code_span(text: str) -> str:
    ticks = "`" * (_longest_backtick_run(text) + 1)
    # A space keeps a leading or trailing backtick out of the delimiter; CommonMark strips
    # one space on each side when both are there.
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip(" ") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest
