"""The quarantine gate: known-broken tests that still run, with an expiry date.

``.gridgate/quarantine.toml`` (``quarantine.file``, or ``--gridgate-quarantine PATH``)::

    [[test]]
    nodeid = "tests/test_sync.py::test_remote_mirror"
    reason = "mirror times out since the provider moved; OPS-412"
    until = 2027-01-31

A quarantined test runs as any other. When it fails, its failure is recorded with its
category (``failures`` entry marked ``quarantined``) and then counted as pytest counts an
expected failure (``xfailed``, reason "quarantined until ...: ..."), so it does not fail
the run. On the worker that ran it, before anything counts the report: pytest's session,
``-x``, xdist's controller all see the expected failure.

The gate fails (and the run exits 1) when an entry is past its ``until`` date, naming it:
an expired entry tolerates nothing, its test's failure fails the run again. An entry whose
test passed is listed as "can leave quarantine"; one matching no collected test is stale.
A file that cannot be read or is malformed is a usage error naming the file and the line
(exit 4) before any test module is imported.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from pytest_gridgate import categories
from pytest_gridgate.config import get_config
from pytest_gridgate.report import attach, attached

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from pytest_gridgate.report import GateReport

SECTION = "quarantine"
KEYS = ("nodeid", "reason", "until")
_KEY = pytest.StashKey["Quarantine"]()
_WORKER_OUTPUT = "gridgate_quarantine"


class Entry(NamedTuple):
    nodeid: str
    reason: str
    until: datetime.date
    line: int

    def expired(self, today: datetime.date) -> bool:
        return self.until < today


class Quarantine:
    def __init__(self, path: Path | None, shown: str, entries: list[Entry]) -> None:
        self.path = path
        self.shown = shown
        self.entries = entries
        self.today = datetime.datetime.now(datetime.timezone.utc).date()


def _problem(shown: str, line: int, text: str) -> pytest.UsageError:
    return pytest.UsageError(f"gridgate: {shown}: line {line}: {text}")


def read(path: Path, shown: str) -> list[Entry]:
    """The entries of a quarantine file; no file is no quarantine."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise pytest.UsageError(f"gridgate: {shown}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        message = str(exc).split(" (at line", 1)[0]
        line = int(found.group(1)) if found else 1
        raise _problem(shown, line, f"invalid TOML: {message}") from None
    lines = text.splitlines()
    headers = [i + 1 for i, line in enumerate(lines) if re.match(r"\s*\[\[\s*test\s*\]\]", line)]

    def line_of(key: str, start: int = 1, end: int = len(lines) + 1) -> int:
        pattern = re.compile(rf"\s*\[*\s*{re.escape(key)}\s*[=\]]")
        for number in range(start, min(end, len(lines) + 1)):
            if pattern.match(lines[number - 1]):
                return number
        return start

    for key in data:
        if key != "test":
            raise _problem(shown, line_of(key), f"unknown key {key!r} (expected [[test]] tables)")
    tests = data.get("test", [])
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise _problem(shown, line_of("test"), "test: expected [[test]] tables")
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tests):
        start = headers[index] if index < len(headers) else 1
        end = headers[index + 1] if index + 1 < len(headers) else len(lines) + 1
        for key in table:
            if key not in KEYS:
                raise _problem(
                    shown,
                    line_of(key, start, end),
                    f"unknown key {key!r} (known: nodeid, reason, until)",
                )
        for key in KEYS:
            if key not in table:
                raise _problem(shown, start, f"[[test]] {index + 1}: {key} is missing")
        for key in ("nodeid", "reason"):
            if not isinstance(table[key], str) or not table[key].strip():
                raise _problem(
                    shown, line_of(key, start, end), f"{key}: expected a non-empty string"
                )
        until = _date(table["until"])
        if until is None:
            raise _problem(
                shown,
                line_of("until", start, end),
                f"until: expected a date like 2027-01-31, got {table['until']!r}",
            )
        nodeid = table["nodeid"].strip()
        line = line_of("nodeid", start, end)
        if nodeid in seen:
            raise _problem(shown, line, f"{nodeid} is quarantined twice (also line {seen[nodeid]})")
        seen[nodeid] = line
        entries.append(Entry(nodeid, table["reason"].strip(), until, line))
    return entries


def _date(value: object) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return None  # a date, not a moment: "until" is a whole day
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [SECTION]  # in every report, empty without a quarantine file


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gridgate").addoption(
        "--gridgate-quarantine",
        metavar="PATH",
        help="the quarantine file (config: quarantine.file, from the project root; env: "
        "GRIDGATE_QUARANTINE_FILE; default: .gridgate/quarantine.toml)",
    )


def _load(config: pytest.Config) -> Quarantine:
    # The parsed known arguments: before the initial conftests, config.option is not yet.
    option = getattr(config.known_args_namespace, "gridgate_quarantine", None)
    setting = get_config(config).quarantine.file
    if option:
        path, shown = config.invocation_params.dir / option, str(option)
    elif setting:
        path, shown = config.rootpath / setting, setting
    else:
        return Quarantine(None, "", [])
    return Quarantine(path, shown, read(path, shown))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # A malformed file stops the run before any test module is imported (exit 4).
    early_config.stash[_KEY] = _load(early_config)


def pytest_configure(config: pytest.Config) -> None:
    quarantine = config.stash.get(_KEY, None)
    if quarantine is None:  # loaded with -p, after the initial conftests
        quarantine = config.stash[_KEY] = _load(config)
    if quarantine.entries:
        config.pluginmanager.register(QuarantinedTests(config, quarantine), "gridgate-quarantine")
        categoriser = categories.plugin(config)
        if categoriser is not None:  # a quarantined failure's category is read as it is logged
            categoriser.as_raised()


def _matches(entry: str, nodeid: str) -> bool:
    # An entry may name a test function of several parameter sets, or a class.
    return nodeid == entry or nodeid.startswith((f"{entry}[", f"{entry}::"))


class QuarantinedTests:
    """In every process: which collected tests are quarantined; their reports."""

    def __init__(self, config: pytest.Config, quarantine: Quarantine) -> None:
        self.config = config
        self.quarantine = quarantine
        self.tests: dict[str, Entry] = {}
        self.matched: set[str] = set()
        self.collected = False

    @pytest.hookimpl(tryfirst=True)  # the whole suite, before -k/-m and the shard gate
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected = True
        entries = self.quarantine.entries
        exact = {entry.nodeid: entry for entry in entries}
        for item in items:
            entry = exact.get(item.nodeid)
            if entry is None:
                entry = next((e for e in entries if _matches(e.nodeid, item.nodeid)), None)
            if entry is not None:
                self.tests[item.nodeid] = entry
                self.matched.add(entry.nodeid)
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_WORKER_OUTPUT] = sorted(self.matched)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        matched = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
        if matched is not None:
            self.collected = True
            self.matched.update(matched)

    # tryfirst: before pytest's session counts a failure (and -x stops), before xdist
    # sends the report to the controller and before the failures gate records it.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.tests.get(report.nodeid)
        if entry is None or report.outcome == "rerun":  # type: ignore[comparison-overlap]
            return
        if any(section == SECTION for section, _ in attached(report)):
            return  # done where the test ran (this is the xdist controller)
        found: dict[str, Any] = {"nodeid": report.nodeid, "entry": entry.nodeid}
        if report.failed:
            expired = entry.expired(self.quarantine.today)
            failure = next((e for s, e in attached(report) if s == categories.SECTION), None)
            if failure is None:
                categoriser = categories.plugin(self.config)
                failure = (
                    categoriser.entry(report) if categoriser else categories.entry_for(report, None)
                )
                attach(report, categories.SECTION, failure)
            if not expired:
                failure["quarantined"] = True
                report.outcome = "skipped"
                report.wasxfail = f"quarantined until {entry.until}: {entry.reason}"
            found.update(status="failed", when=failure["when"], category=failure["category"])
            found.update(exception=failure["exception"], message=failure["message"])
            attach(report, SECTION, found)
        elif report.when == "call" and report.passed:
            attach(report, SECTION, {**found, "status": "passed"})


def _gate(config: pytest.Config) -> QuarantinedTests | None:
    plugin = config.pluginmanager.get_plugin("gridgate-quarantine")
    return plugin if isinstance(plugin, QuarantinedTests) else None


def _results(
    quarantine: Quarantine, ran: list[dict[str, Any]], matched: set[str] | None
) -> list[dict[str, Any]]:
    """One entry per line of the file: what became of it in this run."""
    by_entry: dict[str, list[dict[str, Any]]] = {}
    for found in ran:
        by_entry.setdefault(found.get("entry", found["nodeid"]), []).append(found)
    results = []
    for entry in quarantine.entries:
        result: dict[str, Any] = {
            "nodeid": entry.nodeid,
            "reason": entry.reason,
            "until": entry.until.isoformat(),
            "expired": entry.expired(quarantine.today),
        }
        seen = by_entry.get(entry.nodeid, [])
        failed = [f for f in seen if f["status"] == "failed"]
        if failed:
            result["status"] = "failed"
            result["failures"] = [
                {k: f[k] for k in ("nodeid", "when", "category", "exception", "message")}
                for f in failed
            ]
        elif seen:
            result["status"] = "passed"
        elif matched is not None and entry.nodeid not in matched:
            result["status"] = "stale"
        else:
            result["status"] = "not run"
        results.append(result)
    return results


def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    quarantine = config.stash.get(_KEY, None)
    # What the tests' reports carried is replaced by one entry per line of the file.
    ran = report.sections.get(SECTION, [])
    report.sections[SECTION] = []
    if quarantine is None or not quarantine.entries:
        where = f" ({quarantine.shown} not found)" if quarantine and quarantine.shown else ""
        report.add_verdict(SECTION, True, f"no quarantined tests{where}")
        return
    gate = _gate(config)
    matched = gate.matched if gate is not None and gate.collected else None
    results = _results(quarantine, ran, matched)
    report.add_section(SECTION, results)
    expired = [r for r in results if r["expired"]]
    details = [f"EXPIRED {r['nodeid']}: until {r['until']}, {r['reason']}" for r in expired]
    for r in results:
        if r["status"] == "failed":
            kinds = ", ".join(sorted({f["category"] for f in r["failures"]}))
            details.append(f"failed ({kinds}): {r['nodeid']}: {r['failures'][0]['message']}")
    details += [
        f"can leave quarantine (passed): {r['nodeid']}" for r in results if r["status"] == "passed"
    ]
    details += [f"stale (no such test): {r['nodeid']}" for r in results if r["status"] == "stale"]
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    summary = f"{len(results)} quarantined ({', '.join(parts)}) in {quarantine.shown}"
    if expired:
        summary = f"{len(expired)} expired; " + summary
    report.add_verdict(SECTION, not expired, summary, details)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # A verdict does not change the exit status: an expired entry fails the run here,
    # before the report writer (trylast) reads the status.
    config = session.config
    quarantine = config.stash.get(_KEY, None)
    if hasattr(config, "workerinput") or quarantine is None:
        return
    if session.exitstatus == pytest.ExitCode.OK and any(
        e.expired(quarantine.today) for e in quarantine.entries
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
