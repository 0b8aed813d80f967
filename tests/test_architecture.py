"""The layering contract (pyproject.toml, `lint-imports` in scripts/test) holds, and breaks
when a lower package imports bot/ or when modules import each other in a cycle, even inside a
function: run on a copy of the source with the fault put in."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "sop", "crm", "wecom", "store", "charts")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env={"PYTHONPATH": str(tree)},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def tree(tmp_path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_source_keeps_both_contracts(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout
    assert "2 kept, 0 broken" in result.stdout


def test_a_leaf_importing_bot_breaks_the_layers(tree):
    add_line(tree / "store" / "tags.py", "from bot import runtime  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "store.tags -> bot.runtime" in result.stdout


def test_sop_importing_handlers_breaks_the_layers(tree):
    add_line(tree / "sop" / "planner.py", "def f():\n    from handlers import kf  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "sop.planner -> handlers.kf" in result.stdout


def test_a_cycle_hidden_in_a_function_is_found(tree):
    # crm.outbox imports crm.advisors at the top; the way back hides in a function
    add_line(tree / "crm" / "advisors.py", "def f():\n    from crm import outbox  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "No import cycles inside a package BROKEN" in result.stdout
