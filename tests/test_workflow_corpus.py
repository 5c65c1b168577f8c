"""The workflow rules on real workflows: every finding labelled, precision >= 95 % per rule.

The corpus is read from pinned PyPI source distributions (``tests/data/workflow_corpus.toml``,
about 25 MB), downloaded once into pytest's cache and checked against their sha256. Every
finding must be in ``tests/data/workflow_corpus.csv`` with a label written by reading it,
and every row there must still be found: a rule change that adds or removes findings
must relabel (``python tests/data/workflow_corpus.py --write``, then read the ``?`` rows).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from scanners.workflow import RULES

DATA = Path(__file__).resolve().parent / "data"
MIN_PRECISION = 0.95


def _corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("workflow_corpus", DATA / "workflow_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("workflow_corpus", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus() -> ModuleType:
    return _corpus_module()


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("workflow-corpus"))
    return tmp_path_factory.mktemp("workflow-corpus")


def test_every_finding_is_labelled_and_precision_holds(corpus: ModuleType, cache_dir: Path) -> None:
    found, files = corpus.scan(cache_dir)
    assert files >= 30, f"only {files} workflow files in the corpus"
    table = corpus.read_table()
    keys = {f.key for f in found}
    unlabelled = [f for f in found if f.key not in table or table[f.key]["label"] == "?"]
    assert not unlabelled, (
        "findings to label (python tests/data/workflow_corpus.py):\n"
        + "\n".join(f"{f.sdist} {f.file}:{f.line} {f.rule} {f.message}" for f in unlabelled)
    )
    stale = sorted(key for key in table if key not in keys)
    assert not stale, f"rows no longer found, relabel the table: {stale}"
    assert {row["label"] for row in table.values()} <= {"TP", "FP"}
    assert all(row["reason"].strip() for row in table.values())

    counts: Counter[tuple[str, str]] = Counter(
        (row["rule"], row["label"]) for row in table.values()
    )
    for code in RULES:
        tp, fp = counts[(code, "TP")], counts[(code, "FP")]
        if tp + fp:
            assert tp / (tp + fp) >= MIN_PRECISION, f"{code}: {tp} TP, {fp} FP"


def test_a_tampered_download_is_refused(
    corpus: ModuleType, cache_dir: Path, tmp_path: Path
) -> None:
    pin = corpus.pins()[-1]
    corpus.download(pin, cache_dir)  # the real file, from the cache or the index
    forged = corpus.Sdist(pin.name, pin.version, pin.filename, "0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        corpus.download(forged, tmp_path)
