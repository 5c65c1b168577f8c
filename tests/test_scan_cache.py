"""The result cache answers a file whose ``os.stat`` is unchanged without reading it, and
never answers a changed file from the cache."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_gridgate.settings import ScanSettings
from scanners.cache import Cache
from scanners.discovery import SourceFile
from scanners.engine import scan
from scanners.selection import Selector

SETTINGS = ScanSettings()


def run(root: Path, names: list[str]) -> tuple[dict[str, list[str]], set[str]]:
    """``(findings by file, files that were read)`` of a scan with the cache in ``root``."""
    files = [SourceFile(str(root / name), str(root / name), name, "python") for name in names]
    cache = Cache(root, "key")
    outcome = scan(
        files,
        settings=SETTINGS,
        selector=Selector(SETTINGS.select, SETTINGS.ignore),
        jobs=1,
        cache=cache,
    )
    cache.save()
    found = {
        Path(path).name: [f"{f.rule}:{f.line}" for f in result.findings]
        for path, result in outcome.results.items()
    }
    return found, {Path(path).name for path in outcome.sources}


def test_an_unchanged_file_is_not_read_and_a_changed_one_is(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import os\nos.system('ls')\n")
    (tmp_path / "b.py").write_text("import os\nos.system('id')\n")
    # A file changed in the last two seconds is always read: a second write in the same
    # clock tick would leave its stat as it was.
    time.sleep(2.1)
    first = run(tmp_path, ["a.py", "b.py"])
    assert first == ({"a.py": ["GG005:2"], "b.py": ["GG005:2"]}, {"a.py", "b.py"})
    assert run(tmp_path, ["a.py", "b.py"]) == (first[0], set())  # answered by stat alone
    # Same size, other bytes: its ctime moved, so it is read again and checked again.
    (tmp_path / "b.py").write_text("import os\nos.getpid('id')\n")
    assert run(tmp_path, ["a.py", "b.py"]) == ({"a.py": ["GG005:2"], "b.py": []}, {"b.py"})


def test_a_new_init_file_is_seen_through_an_unchanged_stat(tmp_path: Path) -> None:
    """GG004 depends on the package around the file: the stat of the file itself does not
    change when an ``__init__.py`` appears beside it."""
    (tmp_path / "tool.py").write_text(
        "import sys\ndef main():\n    sys.exit(1)\nif __name__ == '__main__':\n    main()\n"
    )
    time.sleep(2.1)
    assert run(tmp_path, ["tool.py"])[0] == {"tool.py": []}  # a script
    assert run(tmp_path, ["tool.py"]) == ({"tool.py": []}, set())
    (tmp_path / "__init__.py").write_text("")
    assert run(tmp_path, ["tool.py"]) == ({"tool.py": ["GG004:3"]}, {"tool.py"})
