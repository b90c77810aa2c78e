"""Dependencies point inward (house style, habit 1).

The test parses every module with ``ast`` (it imports nothing), so a violation hidden in an
unused branch or under ``TYPE_CHECKING`` is still caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"bot", "conversations", "domain", "payments", "storage", "sandbox"}
FRAMEWORKS = {
    "aiogram",
    "sqlalchemy",
    "alembic",
    "httpx",
    "aiohttp",
    "redis",
    "asyncpg",
    "aiosqlite",
}

# package -> the packages of ours it may import
ALLOWED = {
    "domain": {"domain"},
    "conversations": {"conversations", "domain"},
    "payments": {"payments", "domain"},
    "storage": {"storage", "domain"},
    "sandbox": {"sandbox"},
}
NO_FRAMEWORKS = {"domain", "conversations"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_inward(package: str) -> None:
    files = modules(package)
    assert files, f"{package}/ has no modules"
    violations = []
    for path in files:
        roots = imported_roots(path)
        bad = (roots & OURS) - ALLOWED[package]
        if package in NO_FRAMEWORKS:
            bad |= roots & FRAMEWORKS
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import sqlalchemy\nfrom storage.db import x\nfrom . import y\n")
    assert imported_roots(bad) == {"sqlalchemy", "storage"}
