"""The architecture as the README draws it: data flows one way, web → schema → resolvers → db
→ geo, and no module imports itself back through others (no import circle)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("web", "schema", "resolvers", "db", "geo")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Every project module and the project modules it imports (anywhere in its body)."""
    modules = {_module(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")
               if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def test_imports_only_run_down_the_layers() -> None:
    upward = []
    for module, imports in _graph().items():
        rank = LAYERS.index(module.split(".")[0])
        upward += [f"{module} → {target}" for target in imports
                   if LAYERS.index(target.split(".")[0]) < rank]
    assert upward == []


def test_the_schema_asks_resolvers_not_the_data_layer() -> None:
    """schema/ imports resolvers (and geo types), never db/: its DataLoaders batch through
    resolvers/loaders.py and the vocabulary it exposes comes through resolvers/vocabulary.py."""
    direct = [f"{module} → {target}" for module, imports in _graph().items()
              if module.split(".")[0] == "schema"
              for target in sorted(imports) if target.split(".")[0] == "db"]
    assert direct == []


def test_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert circles == []


def test_the_data_layer_needs_no_type_ignore() -> None:
    """db/ composes its SQL with psycopg.sql, which the type checker accepts as it is."""
    ignored = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "db").rglob("*.py")
               if "migrations" not in p.parts
               for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
               if "type: ignore" in line]
    assert ignored == []


# SQL in an f-string: a statement's keywords or a named parameter among its literal parts.
_SQL = re.compile(r"\b(SELECT|FROM|JOIN|WHERE|UPDATE|INSERT|DELETE|COPY)\b|%\(\w+\)s")
# Where a formatted value stands for a name: after FROM, JOIN, INTO, UPDATE, TABLE or COPY, in
# double quotes, or qualified by or qualifying another name (`base.{via}`, `{table}.id`).
_NAME_BEFORE = re.compile(r"(\b(FROM|JOIN|INTO|UPDATE|TABLE|COPY)\s+|\w\.|\")$", re.IGNORECASE)
_NAME_AFTER = re.compile(r"^(\.[\w\"]|\")")


def _formatted_names(tree: ast.AST) -> list[tuple[int, str]]:
    """Values formatted into SQL f-strings where a table or column name stands. A module
    constant (an UPPER_CASE name: SQL text fixed at import, such as a subquery) may stand
    there; so may anything in an exception's message, which is not SQL."""
    messages = {id(n) for r in ast.walk(tree) if isinstance(r, ast.Raise) for n in ast.walk(r)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr) or id(node) in messages:
            continue
        parts = node.values
        literal = "".join(v.value for v in parts if isinstance(v, ast.Constant))
        if not _SQL.search(str(literal)):
            continue
        for i, value in enumerate(parts):
            if not isinstance(value, ast.FormattedValue) or (
                    isinstance(value.value, ast.Name) and value.value.id.isupper()):
                continue
            before = parts[i - 1] if i > 0 else None
            after = parts[i + 1] if i + 1 < len(parts) else None
            text_before = before.value if isinstance(before, ast.Constant) else ""
            text_after = after.value if isinstance(after, ast.Constant) else ""
            if _NAME_BEFORE.search(str(text_before)) or _NAME_AFTER.search(str(text_after)):
                found.append((node.lineno, ast.unparse(value.value)))
    return found


def test_sql_names_are_composed_not_formatted() -> None:
    """No file of db/ formats a table or column name into SQL with an f-string: names go
    through psycopg.sql.Identifier (statements built once stay built once)."""
    formatted = [f"{p.relative_to(ROOT)}:{line}: {{{name}}}" for p in sorted((ROOT / "db").rglob("*.py"))
                 if "migrations" not in p.parts
                 for line, name in _formatted_names(ast.parse(p.read_text(encoding="utf-8")))]
    assert formatted == []


def test_planner_and_feature_sql_is_composed_not_formatted() -> None:
    """No f-string builds a statement in db/queries/planning.py or features.py."""
    formatted = []
    for name in ("planning.py", "features.py"):
        tree = ast.parse((ROOT / "db" / "queries" / name).read_text(encoding="utf-8"))
        formatted += [f"{name}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, ast.JoinedStr)]
    assert formatted == []
