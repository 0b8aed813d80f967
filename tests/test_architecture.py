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
    command = [str(LINT_IMPORTS), "--no-cache"]
    return subprocess.run(command, cwd=tree, env={"PYTHONPATH": str(tree)}, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


@pytest.fixture
def tree(tmp_path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_source_keeps_both_contracts(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "fault", "report"),
    [
        ("store/tags.py", "from bot import runtime  # noqa", "store.tags -> bot.runtime"),
        ("sop/planner.py", "def f():\n    from handlers import kf  # noqa",
         "sop.planner -> handlers.kf"),
        # crm.outbox imports crm.advisors at the top; the way back hides in a function
        ("crm/advisors.py", "def f():\n    from crm import outbox  # noqa",
         "No import cycles inside a package BROKEN"),
    ],
    ids=["leaf imports bot", "sop imports handlers", "cycle inside a function"],
)  # fmt: skip
def test_a_fault_breaks_a_contract(tree, module, fault, report):
    path = tree / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{fault}\n", encoding="utf-8")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert report in result.stdout
