"""Imports go one way: model <- policy <- service; training and benchmarks sit beside them.

``model`` is a pure library that imports nothing from the other packages; ``policy`` holds
rules and may use ``model`` but never ``service``. Checked on the source, without importing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "model": {"policy", "service", "training", "benchmarks"},
    "policy": {"service", "training", "benchmarks"},
    "service": {"benchmarks"},
}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downstream(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_top_levels(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_model_does_no_network_or_subprocess_io() -> None:
    banned = {"socket", "subprocess", "requests", "urllib", "httpx"}
    offenders = []
    for path in sorted((ROOT / "model").rglob("*.py")):
        bad = _imported_top_levels(path) & banned
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)
