"""``--format sarif``: SARIF 2.1.0 for code-scanning upload.

``tool.driver.rules`` describes every rule (help text from its docstring, ``helpUri`` the
rule's section of ``docs/rules.md``). Fixable findings carry the prepared fix as ``fixes``;
findings silenced by a suppression comment or accepted by the baseline are included with
``suppressions`` (``inSource`` / ``external``), as the spec asks, so that code scanning can
show them as dismissed.

Locations are relative to the repository root (the git work tree holding the project, else
the project root) with ``uriBaseId: %SRCROOT%``, which is how GitHub maps them to files
whatever directory the scan ran in; ``originalUriBaseIds`` says where that root was. A
file outside the root gets an absolute ``file:`` URI.

The documentation links come from the distribution's ``[project.urls]``: ``Documentation``
(the ``docs/`` directory), else ``Repository`` + ``/blob/main/docs``; without either they
point at the package's index page.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pytest_gridgate import __version__
from scanners.finding import Finding
from scanners.output import ScanReport, Style
from scanners.result import Hunk
from scanners.suppressions import BARE_IGNORE, UNUSED_IGNORE

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DISTRIBUTION = "pytest-gridgate"
INDEX_PAGE = f"https://pypi.org/project/{DISTRIBUTION}/"
SRCROOT = "%SRCROOT%"


@functools.cache
def _project_urls() -> dict[str, str]:
    """``[project.urls]`` of the installed distribution, by lower-case label."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        entries = metadata(DISTRIBUTION).get_all("Project-URL") or []
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return {}
    urls = {}
    for entry in entries:
        label, _, url = str(entry).partition(",")
        urls[label.strip().lower()] = url.strip()
    return urls


def information_uri() -> str:
    urls = _project_urls()
    return urls.get("homepage") or urls.get("repository") or INDEX_PAGE


def help_uri(code: str, name: str) -> str:
    """The rule's section of ``docs/rules.md`` (its heading is ``## CODE name``)."""
    urls = _project_urls()
    docs = urls.get("documentation")
    if not docs and urls.get("repository"):
        docs = urls["repository"].rstrip("/") + "/blob/main/docs"
    anchor = f"{code.lower()}-{name}"
    return f"{docs.rstrip('/')}/rules.md#{anchor}" if docs else f"{INDEX_PAGE}#{anchor}"


# Rules the engine itself reports; the rest come from the rule registries.
ENGINE_RULES: dict[str, tuple[str, str]] = {
    "GG000": (
        "parse-error",
        "A file that cannot be read, decoded or parsed (or that crashed the parser). "
        "Nothing else in it was checked.",
    ),
    "GW000": (
        "parse-error",
        "A workflow that cannot be read or parsed as YAML. Nothing else in it was checked.",
    ),
    BARE_IGNORE[0]: (
        BARE_IGNORE[1],
        "A `# gridgate: ignore` without codes. It suppresses nothing; name the codes, "
        "e.g. `# gridgate: ignore[GG001] reason`.",
    ),
    UNUSED_IGNORE[0]: (
        UNUSED_IGNORE[1],
        "A code in a `# gridgate: ignore[...]` comment that suppressed no finding. "
        "Remove it, so that it cannot hide a future finding.",
    ),
}


def _registry() -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for module in ("scanners.rules", "scanners.workflow"):
        try:
            imported = __import__(module, fromlist=["RULES"])
            rules.update(getattr(imported, "RULES", {}))
        except Exception:  # a broken plugin must not lose the report
            continue
    return rules


def _rule_descriptor(code: str, name: str, registry: dict[str, Any]) -> dict[str, Any]:
    if code in ENGINE_RULES:
        name, text = ENGINE_RULES[code]
    else:
        rule = registry.get(code)
        name = getattr(rule, "name", None) or name
        text = inspect.cleandoc(getattr(rule, "__doc__", None) or "") or name
    markdown = _markdown(text)
    short = markdown.strip().split("\n\n")[0].replace("\n", " ")
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": markdown},
        "helpUri": help_uri(code, name),
        "help": {"text": markdown, "markdown": markdown},
        "defaultConfiguration": {"level": "error"},
    }


def _markdown(docstring: str) -> str:
    """The docstring as docs/rules.md shows it (RST ``literals`` become Markdown)."""
    try:
        from scanners.docs import help_markdown
    except ImportError:  # pragma: no cover - the docs generator is optional here
        return docstring
    return help_markdown(docstring)


def _region(f: Finding) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": f.line, "startColumn": f.column}
    if f.end_line is not None:
        region["endLine"] = f.end_line
    if f.end_column is not None:
        region["endColumn"] = f.end_column
    return region


class Locations:
    """ScanReport paths (relative to the current directory) as SARIF artifact locations."""

    def __init__(self, repository_root: str | None) -> None:
        self.cwd = Path.cwd()
        self.root = Path(repository_root or self.cwd).resolve()

    def artifact(self, path: str) -> dict[str, str]:
        absolute = Path(os.path.normpath(self.cwd / path))
        try:
            relative = absolute.relative_to(self.root)
        except ValueError:  # outside the repository: only an absolute URI says where
            return {"uri": absolute.as_uri()}
        return {"uri": quote(relative.as_posix()), "uriBaseId": SRCROOT}

    def base_ids(self) -> dict[str, Any]:
        return {SRCROOT: {"uri": self.root.as_uri().rstrip("/") + "/"}}


def _fix(f: Finding, hunks: list[Hunk], source: bytes, where: Locations) -> dict[str, Any]:
    # Split as bytes, like the hunks were made (str.splitlines knows more line breaks).
    lines = [line.decode("utf-8", "replace") for line in source.splitlines(keepends=True)]
    own = [h for h in hunks if h[0] < f.line <= max(h[1], h[0] + 1)] or hunks
    replacements = []
    for start, end, new in own:
        if end < len(lines):
            deleted = {"startLine": start + 1, "startColumn": 1, "endLine": end + 1, "endColumn": 1}
        elif lines:
            last = lines[-1].rstrip("\r\n")
            deleted = {
                "startLine": start + 1,
                "startColumn": 1,
                "endLine": len(lines),
                "endColumn": len(last) + 1,
            }
        else:
            deleted = {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}
        text = "".join(new).encode("latin-1").decode("utf-8", "replace")
        replacements.append({"deletedRegion": deleted, "insertedContent": {"text": text}})
    return {
        "description": {"text": f"gridgate --fix: {f.rule}"},
        "artifactChanges": [
            {"artifactLocation": where.artifact(f.path), "replacements": replacements}
        ],
    }


def render(report: ScanReport, style: Style) -> str:
    registry = _registry()
    where = Locations(report.repository_root)
    entries: list[tuple[Finding, list[dict[str, Any]]]] = [(f, []) for f in report.findings]
    entries += [
        (s.finding, [{"kind": "inSource", "justification": s.reason or "no reason given"}])
        for s in report.suppressed
    ]
    entries += [(f, [{"kind": "external", "justification": "baseline"}]) for f in report.baselined]
    entries.sort(key=lambda entry: entry[0])

    codes: dict[str, str] = {}
    for f, _ in entries:
        codes.setdefault(f.rule, f.name)
    for code, (name, _) in ENGINE_RULES.items():
        codes.setdefault(code, name)
    for code, rule in registry.items():
        codes.setdefault(code, getattr(rule, "name", code))
    ordered = sorted(codes)
    index = {code: i for i, code in enumerate(ordered)}

    results = []
    for f, suppressions in entries:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": f.severity if f.severity in ("error", "warning", "note") else "error",
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": where.artifact(f.path),
                        "region": _region(f),
                    }
                }
            ],
            "partialFingerprints": {
                "gridgate/v1": f"{f.rule}:{where.artifact(f.path)['uri']}:{f.source or f.message}"
            },
        }
        hunks = report.fixes.get(f.path)
        if f.fixable and hunks and f.path in report.sources:
            result["fixes"] = [_fix(f, hunks, report.sources[f.path], where)]
        if suppressions:
            result["suppressions"] = suppressions
        results.append(result)

    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gridgate",
                        "version": __version__,
                        "informationUri": information_uri(),
                        "rules": [_rule_descriptor(c, codes[c], registry) for c in ordered],
                    }
                },
                "originalUriBaseIds": where.base_ids(),
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
