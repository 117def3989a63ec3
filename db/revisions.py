"""The head migration revision, read from the migration files without running them.

`redgrid serve` compares the database's revision with the head on every readiness check.
Alembic finds the head by importing every migration (and so Alembic, Mako, SQLAlchemy and
GeoAlchemy2), about 20 MB in each server process for one string; the files name their
`revision` and `down_revision` as literals, which are read here from their syntax tree.
tests/db/test_migrations.py checks this agrees with Alembic.
"""

from __future__ import annotations

import ast
from pathlib import Path

VERSIONS = Path(__file__).with_name("migrations") / "versions"


def _literal(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            names, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in names):
            try:
                return ast.literal_eval(value)
            except ValueError:
                break
    raise ValueError(f"`{name}` is not set to a literal")


def head(folder: Path = VERSIONS) -> str:
    """The one revision no other revises: what `redgrid migrate` brings a database to."""
    revised: set[str] = set()
    revisions: list[str] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith((".#", "__init__")):  # an editor's lock file; as Alembic skips
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        try:
            revision, down = _literal(tree, "revision"), _literal(tree, "down_revision")
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}") from None
        if not isinstance(revision, str):
            raise ValueError(f"{path.name}: `revision` is not a string")
        revisions.append(revision)
        downs = down if isinstance(down, tuple | list) else (down,)
        revised |= {d for d in downs if isinstance(d, str)}
    heads = [r for r in revisions if r not in revised]
    if len(heads) != 1:
        raise ValueError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); "
                         "merge them into one with `alembic merge`")
    return heads[0]
