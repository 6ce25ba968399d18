"""The package keeps its shape: layers without back edges, small modules, one of each helper.

See docs/architecture.md. These tests read the source; they run in about a second.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "microdl"
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def test_import_linter_layers_contract_holds(capsys):
    pytest.importorskip("importlinter", reason="import-linter is a test dependency: pip install -e '.[test]'")
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    broken = out[out.find("Broken contracts"):] if "Broken contracts" in out else out[-3000:]
    assert code == 0, f"a lower layer imports a higher one (docs/architecture.md):\n{broken}"


def test_no_module_is_too_long():
    long = {_rel(p): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by responsibility): {long}"


def test_no_matplotlib_backend_or_pyplot_in_the_library():
    bad = []
    for p in _modules():
        text = p.read_text()
        if re.search(r"matplotlib\.use\(", text) or re.search(r"import matplotlib\.pyplot|from matplotlib import pyplot", text):
            bad.append(_rel(p))
    assert not bad, f"use microdl.analysis.plots.figure() instead of pyplot / matplotlib.use in {bad}"


def test_one_atomic_write_helper():
    allowed = {"io/_atomic.py", "data/jobs.py", "data/_jobs_backends.py"}
    bad = []
    for p in _modules():
        if _rel(p) in allowed:
            continue
        text = p.read_text()
        if "os.replace(" in text or re.search(r"""["']\.tmp["'(]|\.tmp\.""", text):
            bad.append(_rel(p))
    assert not bad, f"write files through microdl.io._atomic, not by hand, in {bad}"


def test_library_never_seeds_global_random_state():
    pattern = re.compile(r"np\.random\.seed\(|seed_everything\(|^\s*random\.seed\(", re.M)
    bad = [_rel(p) for p in _modules() if pattern.search(p.read_text())]
    assert not bad, f"randomness only through arguments; global seeding in {bad}"
