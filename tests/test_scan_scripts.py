"""GG004 on scripts (issue 13 item 17): exits are how scripts end, not library code.

pluggy's ``downstream/run_downstream.py`` had four findings: a script outside any package,
``main()`` under ``if __name__ == "__main__":``, helpers ending it with ``sys.exit``. The
project is laid out on disk and scanned by the real command, since "is it in a package"
is a question about the directories around the file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

DOWNSTREAM = """\
    import subprocess
    import sys


    def run(cmd):
        returncode = subprocess.call(cmd, timeout=600)
        if returncode:
            sys.exit(returncode)


    def main():
        run(["pytest"])


    if __name__ == "__main__":
        main()
    """

FILES = {
    "downstream/run_downstream.py": DOWNSTREAM,
    # Under a configured script directory, even without a guard and at module level.
    "tools/release.py": "import sys\n\nif len(sys.argv) < 2:\n    sys.exit('usage: release V')\n",
    "bin/check.py": "import sys\n\n\ndef fail():\n    sys.exit(1)\n",
    # Package code with a guard is still library code.
    "src/lib/__init__.py": "",
    "src/lib/cli.py": DOWNSTREAM,
    # A package directory named tools/ is package code too.
    "src/lib/tools/__init__.py": "",
    "src/lib/tools/helpers.py": "import sys\n\n\ndef fail():\n    sys.exit(1)\n",
    # A test module is imported by pytest: an exit in it is never a script's.
    "tests/test_cli.py": DOWNSTREAM,
    # A standalone file without a guard is a module someone imports.
    "standalone/util.py": "import sys\n\n\ndef fail():\n    sys.exit(1)\n",
    # A script whose module level exits runs that exit on import.
    "downstream/early.py": "import sys\n\nif not sys.argv[1:]:\n    sys.exit(2)\n\n"
    "if __name__ == '__main__':\n    print(sys.argv)\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def gg004(root: Path, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--select", "GG004", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return [line.split(": GG004")[0] for line in result.stdout.splitlines() if ": GG004" in line]


def test_scripts_may_exit_library_code_may_not(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    assert gg004(tmp_path) == [
        "downstream/early.py:4:5",
        "src/lib/cli.py:8:9",
        "src/lib/tools/helpers.py:5:5",
        "standalone/util.py:5:5",
        "tests/test_cli.py:8:9",
    ]


def test_script_directories_are_configurable(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    (tmp_path / "pyproject.toml").write_text('[tool.gridgate.scan]\nscripts = ["standalone"]\n')
    found = gg004(tmp_path)
    assert "standalone/util.py:5:5" not in found
    assert "tools/release.py:4:5" in found  # the defaults are replaced, not extended
    assert "downstream/run_downstream.py:8:9" not in found  # guarded scripts need no setting


def test_a_new_init_file_is_not_answered_from_the_cache(tmp_path: Path) -> None:
    write(tmp_path, {"downstream/run_downstream.py": DOWNSTREAM})
    assert gg004(tmp_path) == []
    # The directory becomes a package: the same bytes are library code now.
    (tmp_path / "downstream" / "__init__.py").write_text("")
    assert gg004(tmp_path, "downstream/run_downstream.py") == ["downstream/run_downstream.py:8:9"]
