"""The workflow corpus: real GitHub workflows read from pinned PyPI source distributions.

``workflow_corpus.toml`` pins each sdist (name, version, file name, sha256). The archives
are downloaded from PyPI's simple index (the JSON form pip reads, PEP 691) into a cache
directory and checked against their sha256; the ``.github/workflows/*.yml`` files inside
them are scanned with the workflow rules. ``workflow_corpus.csv`` labels every finding
(``TP``/``FP`` and why), written by reading each one.

Run as a script to list the current findings as CSV rows, keeping the labels of rows that
are already in the table and marking new ones ``?`` for labelling::

    python tests/data/workflow_corpus.py [--cache DIR] [--write]

``--write`` rewrites ``workflow_corpus.csv`` (labelled rows kept, new ones ``?``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
PINS = HERE / "workflow_corpus.toml"
TABLE = HERE / "workflow_corpus.csv"
INDEX = os.environ.get("WORKFLOW_CORPUS_INDEX", "https://pypi.org/simple/")
FIELDS = ["sdist", "file", "line", "rule", "label", "reason"]


@dataclass(frozen=True)
class Sdist:
    name: str
    version: str
    filename: str
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True, order=True)
class CorpusFinding:
    sdist: str
    file: str
    line: int
    rule: str
    message: str = ""
    severity: str = "error"

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.sdist, self.file, self.line, self.rule)


def pins() -> list[Sdist]:
    data = tomllib.loads(PINS.read_text(encoding="utf-8"))
    return [Sdist(**entry) for entry in data["sdist"]]


def _get(url: str, accept: str | None = None) -> tuple[bytes, str]:
    headers = {"Accept": accept} if accept else {}
    for attempt in range(3):
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=60
            ) as r:
                return r.read(), r.geturl()
        except OSError:
            if attempt == 2:
                raise
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def download(sdist: Sdist, cache: Path) -> Path:
    """The sdist in ``cache``, downloaded from the index when missing; sha256 checked."""
    target = cache / sdist.filename
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sdist.sha256:
        return target
    body, base = _get(f"{INDEX.rstrip('/')}/{sdist.name}/", "application/vnd.pypi.simple.v1+json")
    files = {f["filename"]: f for f in json.loads(body)["files"]}
    if sdist.filename not in files:
        raise LookupError(f"{sdist.filename} is not on the index {INDEX}")
    blob, _ = _get(urljoin(base, files[sdist.filename]["url"]))
    digest = hashlib.sha256(blob).hexdigest()
    if digest != sdist.sha256:
        raise ValueError(f"{sdist.filename}: sha256 {digest} is not the pinned {sdist.sha256}")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, delete=False) as tmp:
        tmp.write(blob)
    os.replace(tmp.name, target)  # atomic: a parallel run never reads half a file
    return target


def workflows(archive: Path) -> Iterator[tuple[str, bytes]]:
    """(path inside the sdist, content) of every GitHub workflow file in it."""
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            inner = member.name.split("/", 1)[-1]
            if "/.github/workflows/" not in "/" + inner or not member.isfile():
                continue
            if inner.endswith((".yml", ".yaml")):
                handle = tar.extractfile(member)
                if handle is not None:
                    yield inner, handle.read()


def scan(cache: Path) -> tuple[list[CorpusFinding], int]:
    """Every workflow finding in the corpus, and the number of workflow files scanned.

    Files that are not YAML (templates such as ``ci/templates/...`` with Jinja tags) are
    left out: the scanner reports them as GG000, which says nothing about the GW rules.
    """
    from pytest_gridgate.settings import ScanSettings
    from scanners.finding import ParseFailure
    from scanners.workflow import check_workflow

    found: list[CorpusFinding] = []
    files = 0
    for sdist in pins():
        for inner, source in workflows(download(sdist, cache)):
            try:
                hits = check_workflow(inner, source, ScanSettings(), lambda code: True)
            except ParseFailure:
                continue
            files += 1
            for f in hits:
                found.append(
                    CorpusFinding(sdist.label, inner, f.line, f.rule, f.message, f.severity)
                )
    return sorted(found), files


def read_table(path: Path = TABLE) -> dict[tuple[str, str, int, str], dict[str, str]]:
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {(r["sdist"], r["file"], int(r["line"]), r["rule"]): r for r in rows}


def candidate_rows(found: list[CorpusFinding]) -> list[dict[str, str]]:
    table = read_table()
    rows = []
    for finding in found:
        known = table.get(finding.key)
        if known is not None and known["label"] == "?":
            known = None  # not labelled yet: show the current message
        rows.append(
            {
                "sdist": finding.sdist,
                "file": finding.file,
                "line": str(finding.line),
                "rule": finding.rule,
                "label": known["label"] if known else "?",
                "reason": known["reason"] if known else f"NEW: {finding.message}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".pytest_cache/workflow-corpus"))
    parser.add_argument("--write", action="store_true", help="rewrite workflow_corpus.csv")
    args = parser.parse_args(argv)
    found, files = scan(args.cache)
    rows = candidate_rows(found)
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if args.write:
        TABLE.write_text(out.getvalue(), encoding="utf-8")
    else:
        sys.stdout.write(out.getvalue())
    unlabelled = sum(r["label"] == "?" for r in rows)
    print(f"{files} workflow files, {len(rows)} findings, {unlabelled} to label", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent.parent))
    sys.exit(main())
