"""The history page in a real browser: Debian's headless chromium (installed by .ci/run),
driven by Playwright's Python API through ``executable_path`` (Playwright's own browser
download is never used). The charts draw one point per run, the page logs no error and
asks the network for nothing. The screenshot is docs/images/history-page.png."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import cli

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "images" / "history-page.png"
# Read at import: the suite's autouse fixture takes CI out of each test's environment.
IN_CI = bool(os.environ.get("CI"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = 7
# Set to write the screenshot into docs/images (then commit it).
UPDATE = "GG_UPDATE_PICTURES"


def _browser_or_skip() -> str:
    missing = []
    if CHROMIUM is None:
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (the test extra)")
    if missing:
        why = "the browser test needs " + " and ".join(missing)
        if IN_CI:
            pytest.fail(f"{why}; .ci/run installs them")
        pytest.skip(why)
    assert CHROMIUM is not None
    return CHROMIUM


def _report(path: Path, run: int) -> str:
    """Run ``run`` of a small suite whose numbers change from run to run."""
    ids = [f"tests/test_shop.py::test_{i}" for i in range(40 - 3 * (run == 6))]
    failures = [
        {"nodeid": ids[i], "when": "call", "category": c, "exception": "E", "message": ""}
        for i, c in enumerate(["assertion"] * (run % 3) + ["timeout"] * (run == 4))
    ]
    data = {
        "version": 1,
        "outcome": "failed" if failures else "passed",
        "exit_code": 1 if failures else 0,
        "counts": {
            "collected": len(ids),
            "passed": len(ids) - len(failures),
            "failed": len(failures),
        },
        "shard": {"collected_ids": ids, "ran": ids, "collected_digest": f"d{run}"},
        "durations": [
            {"nodeid": n, "seconds": 0.05 * (i % 7) + 0.01 * run} for i, n in enumerate(ids)
        ],
        "run": {"started": f"2026-12-0{run}T10:00:00+00:00", "wall_seconds": 20 + 2 * run},
        "failures": failures,
        "flaky": [{"nodeid": ids[5], "attempts": ["failed", "passed"]}] * (run in (3, 5, 7)),
        "leaks": [{"nodeid": ids[1], "kind": "thread"}] * (run == 5),
        "timeouts": [{"nodeid": ids[0], "seconds": 60, "phase": "call"}] * (run == 4),
        "memory": [{"nodeid": "session", "kind": "process", "bytes": (300 + 15 * run) * 10**6}],
    }
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def page_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, int]:
    monkeypatch.chdir(tmp_path)  # the page names the history as given: history.jsonl
    history = Path("history.jsonl")
    runs = 8
    for run in range(1, runs + 1):
        report = _report(tmp_path / f"r{run}.json", run)
        args = ["history", "add", report, "--history", str(history), "--branch", "main"]
        cli.main([*args, "--commit", f"{run:07x}ab"])
    out = tmp_path / "history.html"
    assert cli.main(["history", "show", "--history", str(history), "--html", str(out)]) == 0
    capsys.readouterr()
    return out, runs


_POINTS = """
() => [...document.querySelectorAll('div.chart')].map(chart => {
  const svg = chart.querySelector('svg');
  const box = svg.getBoundingClientRect();
  const plot = svg.querySelector('g.plot:not(.overlay):not(.tooltip-overlay)');
  const overlay = svg.querySelector('g.plot.overlay');
  return {
    chart: chart.dataset.chart, width: box.width, height: box.height,
    lines: [...plot.querySelectorAll('g.series path.line')].map(
      p => (p.getAttribute('d').match(/-?[0-9.]+/g) || []).length / 2),
    dots: [...overlay.querySelectorAll('g.series')].map(
      s => s.querySelectorAll('circle.dot').length),
  };
})
"""


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_page_in_chromium_one_point_per_run_no_errors_no_network(
    page_file: tuple[Path, int], tmp_path: Path
) -> None:
    chromium = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    path, runs = page_file
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where chromium refuses its sandbox.
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            charts: list[dict[str, Any]] = page.evaluate(_POINTS)
            page.screenshot(path=str(tmp_path / "shot.png"), full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert requests == [path.as_uri()]  # the page itself, nothing else
    assert [c["chart"] for c in charts] == [
        "tests-collected",
        "suite-wall-time",
        "p95-test-time",
        "failures-by-category",
        "flaky-rate",
        "leaks-and-timeouts",
        "peak-memory",
    ]
    for chart in charts:
        assert chart["width"] > 300, chart
        assert chart["height"] > 100, chart
        # One series or more, each a line of one vertex and one dot per run.
        assert chart["lines"], chart
        assert chart["lines"] == [runs] * len(chart["lines"]), chart
        assert chart["dots"] == [runs] * len(chart["lines"]), chart
    # failures by category: one series per category seen (assertion, timeout).
    assert len(charts[3]["lines"]) == 2
    shot = tmp_path / "shot.png"
    if os.environ.get(UPDATE):
        shutil.copyfile(shot, PICTURE)
    # The committed picture is this page as drawn now: same width, and the same height
    # give or take what another machine's fonts change.
    (width, height), (new_width, new_height) = _png_size(PICTURE), _png_size(shot)
    assert width == new_width, f"run with {UPDATE}=1 and commit {PICTURE}"
    assert abs(height - new_height) < 0.15 * new_height, f"run with {UPDATE}=1 and commit it"


def test_many_runs_drop_the_dots_and_keep_one_vertex_per_run(tmp_path: Path) -> None:
    pytest.importorskip("pygal")
    from pytest_gridgate.history import page

    line = {"v": 1, "branch": "main", "commit": "c", "collected": 10, "wall": 3.0, "p95": 0.1}
    lines = [dict(line, collected=10 + i % 3) for i in range(page.DOTS_UP_TO + 20)]
    text = page.render(lines, "h.jsonl")
    svgs = re.findall(r"<svg.*?</svg>", text, re.DOTALL)
    assert len(svgs) == CHARTS
    for svg in svgs:
        root = ET.fromstring(svg)
        paths = [
            p
            for p in root.iter("{http://www.w3.org/2000/svg}path")
            if p.get("class", "").startswith("line ")
        ]
        assert paths
        for p in paths:
            assert len(re.findall(r"-?[0-9.]+", p.get("d", ""))) == 2 * len(lines)
        assert not [c for c in root.iter("{http://www.w3.org/2000/svg}circle")]
    assert "http://" not in text.replace("http://www.w3.org/", "").replace("<!--http://", "")
