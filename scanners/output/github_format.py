"""``--format github``: workflow commands that GitHub turns into annotations.

GitHub shows at most 10 annotations of each level per step, so a plain summary line with
the full count follows them.
"""

from __future__ import annotations

from scanners.output import ScanReport, Style, summary_lines


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: ScanReport, style: Style) -> str:
    if style.quiet >= 2:
        return ""
    lines = []
    for f in report.findings:
        level = f.severity if f.severity in ("error", "warning", "notice") else "error"
        props = [
            f"file={escape_property(f.path)}",
            f"line={f.line}",
            f"col={f.column}",
        ]
        if f.end_line is not None:
            props.append(f"endLine={f.end_line}")
        if f.end_column is not None and f.end_line in (None, f.line):
            props.append(f"endColumn={f.end_column}")
        props.append(f"title={escape_property(f.rule)}")
        lines.append(f"::{level} {','.join(props)}::{escape_data(f.message)}")
    if style.quiet:
        return "".join(line + "\n" for line in lines)
    summary = summary_lines(report)
    if len(report.findings) > 10:
        summary.append(
            "GitHub shows at most 10 annotations per level per step; all findings are listed above."
        )
    return "\n".join([*lines, *summary]) + "\n"
