"""Imports point one way (docs/layout.md): toycorewar ← environment ← agents ← training ← the commands;
synthesis needs the machine and the reward, not an agent (agents may use it: expert iteration searches);
sweeps sit on training."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What each package may import from the project (besides itself).
ALLOWED = {
    "toycorewar": set(),
    "environment": {"toycorewar"},
    "synthesis": {"toycorewar", "environment"},
    # agents/expert_iteration.py searches with the agent's network (synthesis imports no agent: no cycle).
    "agents": {"toycorewar", "environment", "synthesis"},
    "training": {"toycorewar", "environment", "agents", "synthesis"},
    "sweeps": {"toycorewar", "environment", "agents", "training"},
}
PROJECT = set(ALLOWED) | {"benchmarks", "tests", "main", "parameter_search", "synthesize"}


def project_imports(path: Path) -> set[str]:
    """The top-level project packages a module imports, anywhere in it (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_floors_below_it(package):
    wrong = {}
    for path in sorted((ROOT / package).glob("*.py")):
        outside = project_imports(path) - ALLOWED[package] - {package}
        if outside:
            wrong[path.name] = sorted(outside)
    assert not wrong, f"{package}/ imports upward: {wrong}"


def test_the_environment_and_the_search_do_not_import_torch():
    for package in ("toycorewar", "environment", "synthesis"):
        for path in (ROOT / package).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
            assert not any(m.split(".")[0] == "torch" for m in modules), f"{package}/{path.name} imports torch"
