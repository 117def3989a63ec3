"""The architecture as the README draws it: data flows one way, web → schema → resolvers → db
→ geo, and no module imports itself back through others (no import circle)."""

from __future__ import annotations

import ast
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


def test_planner_and_feature_sql_is_composed_not_formatted() -> None:
    """No f-string builds a statement in db/queries/planning.py or features.py."""
    formatted = []
    for name in ("planning.py", "features.py"):
        tree = ast.parse((ROOT / "db" / "queries" / name).read_text(encoding="utf-8"))
        formatted += [f"{name}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, ast.JoinedStr)]
    assert formatted == []
