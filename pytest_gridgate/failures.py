"""The failures gate: one category for every failed test, errored phase and collection error.

Each failure becomes an entry ``{nodeid, when, category, exception, message}`` of the
``failures`` section; :mod:`pytest_gridgate.categories` decides the category (see
docs/failures.md) and this module registers its categoriser in every process and gives the
verdict: counts per category and the first few of each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate.categories import PLUGIN_KEY, RAISED_PLUGIN, SECTION, register

if TYPE_CHECKING:
    from pytest_gridgate.report import GateReport

# Entries shown per category in the terminal and Markdown.
SHOWN = 3


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [SECTION]  # in every report, empty when nothing failed


@pytest.hookimpl(tryfirst=True)  # the flaky and quarantine gates use it in theirs
def pytest_configure(config: pytest.Config) -> None:
    register(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    categories = config.stash.get(PLUGIN_KEY, None)
    if categories is not None:
        for plugin in (categories, config.pluginmanager.get_plugin(RAISED_PLUGIN)):
            if plugin is not None and config.pluginmanager.is_registered(plugin):
                config.pluginmanager.unregister(plugin)
        del config.stash[PLUGIN_KEY]


def explain(entry: dict[str, Any]) -> str:
    exception = f"{entry['exception']}: " if entry.get("exception") else ""
    where = f" [{entry['when']}]" if entry.get("when") not in ("call", "collect") else ""
    quarantined = " (quarantined)" if entry.get("quarantined") else ""
    return f"{entry['nodeid']}{where}{quarantined}: {exception}{entry['message']}"


def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    entries = report.sections.get(SECTION, [])
    if not entries:
        report.add_verdict(SECTION, True, "no failures")
        return
    by_category: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_category.setdefault(entry["category"], []).append(entry)
    ranked = sorted(by_category.items(), key=lambda item: (-len(item[1]), item[0]))
    counts = ", ".join(f"{len(found)} {category}" for category, found in ranked)
    details = []
    for category, found in ranked:
        shown = [f"  {explain(e)}" for e in found[:SHOWN]]
        if len(found) > SHOWN:
            shown.append(f"  ... and {len(found) - SHOWN} more")
        details.append(f"{category} ({len(found)}):\n" + "\n".join(shown))
    counted = [e for e in entries if not e.get("quarantined")]
    quarantined = len(entries) - len(counted)
    summary = f"{len(entries)} failure(s): {counts}"
    if quarantined:
        summary += f" ({quarantined} quarantined)"
    report.add_verdict(SECTION, not counted, summary, details)
