"""``--format json``: the version 1 document of design.md, exactly."""

from __future__ import annotations

import json

from scanners.output import ScanReport, Style


def render(report: ScanReport, style: Style) -> str:
    document = {
        "version": 1,
        "files_scanned": report.files_scanned,
        "findings": [
            {
                "rule": f.rule,
                "name": f.name,
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "message": f.message,
                "severity": f.severity,
                "fixable": f.fixable,
            }
            for f in report.findings
        ],
    }
    return json.dumps(document, indent=2) + "\n"
