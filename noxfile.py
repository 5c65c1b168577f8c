"""The compatibility matrix: gridgate beside each widely used pytest plugin, one venv each.

    nox -t compat          # every environment, then docs/compatibility.md from the results
    nox -t fast            # the subset .ci/run runs (pytest-rerunfailures, xdist, pytest-env)
    nox -s compat-django   # one environment
    nox -l                 # the list

Each session installs gridgate (editable) and one plugin, and runs the gated-behaviour tests
(``tests/compat/test_compat_gates.py``) with ``GRIDGATE_COMPAT_ENV`` naming the environment;
the environments are defined in ``tests/compat/compat_environments.py``. Results (junit XML
and the installed versions) go to ``compat-results/``, from which ``compat-docs`` writes
``docs/compatibility.md``. Virtual environments are kept in ``.nox/`` and reused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "tests" / "compat"))
from compat_environments import ENV_VARIABLE, ENVIRONMENTS  # noqa: E402

RESULTS = ROOT / "compat-results"
FAST = ("rerunfailures", "xdist", "pytest-env")

nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.tags = ["compat"]  # plain `nox` is the whole matrix


def _compat(session: nox.Session, name: str) -> None:
    environment = ENVIRONMENTS[name]
    # jsonschema: tests/conftest.py checks every gate report against docs/report.schema.json.
    session.install("-e", ".", "jsonschema", *environment.packages)
    RESULTS.mkdir(exist_ok=True)
    packages = session.run("python", "-m", "pip", "list", "--format=json", silent=True)
    python = session.run(
        "python", "-c", "import platform; print(platform.python_version())", silent=True
    )
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"python": str(python).strip(), "packages": json.loads(str(packages))}) + "\n"
    )
    junit = RESULTS / f"{name}.xml"
    junit.unlink(missing_ok=True)  # a session that fails to start leaves no stale result
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/compat/test_compat_gates.py",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
        *session.posargs,
        env={ENV_VARIABLE: name},
    )


for _name in ENVIRONMENTS:
    tags = ["compat", *(["fast"] if _name in FAST else [])]

    def _session(session: nox.Session, name: str = _name) -> None:
        _compat(session, name)

    _session.__doc__ = f"gridgate beside {ENVIRONMENTS[_name].plugin}"
    nox.session(name=f"compat-{_name}", tags=tags)(_session)


@nox.session(name="compat-docs", python=False, tags=["compat"])
def compat_docs(session: nox.Session) -> None:
    """docs/compatibility.md from compat-results/ (run after the environments)."""
    session.run(sys.executable, str(ROOT / "tests" / "compat" / "compat_table.py"))
