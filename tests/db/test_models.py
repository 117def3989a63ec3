"""The models serve Alembic only (db/models.py's docstring): runtime code takes the
vocabulary from db/vocabulary.py and reads and writes with SQL."""

from __future__ import annotations

import ast
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGES = ("bench", "db", "geo", "resolvers", "schema", "web")
# Alembic's environment and its comparison of models and database (db/migrate.differences).
ALEMBIC = {"db/migrations/env.py", "db/migrate.py"}


def _imports_models(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "db.models":
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "db" and \
                any(alias.name == "models" for alias in node.names):
            return True
        if isinstance(node, ast.Import) and any(a.name == "db.models" for a in node.names):
            return True
    return False


def test_only_alembic_imports_the_models() -> None:
    users = {path.relative_to(CHECKOUT).as_posix()
             for package in PACKAGES for path in (CHECKOUT / package).rglob("*.py")
             if _imports_models(ast.parse(path.read_text("utf-8")))}
    assert users == ALEMBIC
