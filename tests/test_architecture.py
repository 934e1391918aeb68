"""The architecture as a contract: layers (import-linter, ``pyproject.toml``), who touches files, sizes.

A test that cannot fail is a defect: each check here is run against a deliberately broken
fixture too, so a check that stopped looking would be caught.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "sleepspindles"

#: Calls that read a file; only the io package reads (config files included); the writers may open
#: what they write.
READS = {"read_text", "read_bytes", "read_csv", "read_parquet", "read_raw_edf", "read_raw_bdf", "read_annotations",
         "loadmat", "safe_load"}
#: Calls that write a file; only output and report write.
WRITES = {"write_text", "write_bytes", "to_csv", "to_parquet", "savefig", "write", "dump"}
_MAX_LINES = 500
_MAX_ROOT_MODULES = 10


def _calls(path: Path) -> set[str]:
    """Names of the functions and methods called in a module (``x.read_csv(...)`` -> ``read_csv``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _file_access_violations(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        part = path.relative_to(package).parts[0].removesuffix(".py")
        calls = _calls(path)
        reads = (READS | {"open"}) & calls
        if part not in ("io", "output", "report") and reads:
            found += [f"{path.relative_to(package)} reads with {sorted(reads)}"]
        if part not in ("io", "output", "report") and WRITES & calls:
            found += [f"{path.relative_to(package)} writes with {sorted(WRITES & calls)}"]
    return found


def _lint(src: Path) -> subprocess.CompletedProcess:
    """import-linter on the package found under ``src``, with the contracts of pyproject.toml."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-c", code, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          capture_output=True, text=True, env=env, cwd=src, timeout=120)


def test_import_layers_are_kept():
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout[-3000:]


def test_import_contract_catches_a_layer_violation(tmp_path):
    """The same contract on a copy of the package where io imports analysis must fail."""
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "sleepspindles", ignore=shutil.ignore_patterns("__pycache__"))
    edf = copy / "sleepspindles" / "io" / "edf.py"
    edf.write_text(edf.read_text(encoding="utf-8") + "\nfrom ..analysis import summary  # noqa\n", encoding="utf-8")
    result = _lint(copy)
    assert result.returncode != 0 and "sleepspindles.io.edf -> sleepspindles.analysis" in result.stdout


def test_only_io_reads_and_only_output_and_report_write():
    assert _file_access_violations(PACKAGE) == []


def test_file_access_check_sees_a_violation(tmp_path):
    bad = tmp_path / "pkg" / "analysis"
    bad.mkdir(parents=True)
    (bad / "x.py").write_text("import pandas as pd\n\ndef f(p):\n    pd.read_csv(p).to_csv(p)\n")
    assert len(_file_access_violations(tmp_path / "pkg")) == 2


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_500_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= _MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by theme"


def test_few_modules_at_the_package_root():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= _MAX_ROOT_MODULES, modules
