"""Database helpers of the benchmark, usable from scripts/bench.sh as `python bench/_db.py CMD`.

The database is the one `redgrid` itself would use (REDGRID_DATABASE / DATABASE_URL), so the
benchmark and the server it starts always agree. Commands:

    running   exit 0 when the embedded cluster is running, 1 otherwise
    url NAME  print the URL of database NAME on the configured server
    ensure    create the configured database when missing
    counts    print "<tickets> <demo seeded: 0|1>" (0 0 before migrations)
    drop      drop the configured database (the benchmark's own; never the default one)
"""

from __future__ import annotations

import sys
from typing import TypeVar

import psycopg
from sqlalchemy import make_url

from web.settings import Settings

try:  # the helper moved from db.engine to db.urls; accept either
    from db.urls import psycopg_conninfo, server_url
except ImportError:  # pragma: no cover - older layout
    from db.engine import psycopg_conninfo, server_url  # type: ignore[no-redef]

PROTECTED = {"redgrid", "postgres", "template0", "template1"}

R = TypeVar("R")


def one(cur: psycopg.Cursor[R]) -> R:
    """The row of a query that always returns one (an aggregate, SHOW, ...); an error if none."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError(f"expected a row, the query returned none ({cur.statusmessage})")
    return row


def conninfo(settings: Settings | None = None) -> str:
    return psycopg_conninfo((settings or Settings.from_env()).database_url)


def server_conninfo(settings: Settings) -> str:
    return psycopg_conninfo(server_url(settings.database_url))


def database_name(settings: Settings) -> str:
    return str(make_url(settings.database_url).database)


def ensure(settings: Settings) -> bool:
    name = database_name(settings)
    with psycopg.connect(server_conninfo(settings), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return not exists


def counts(settings: Settings) -> tuple[int, int]:
    with psycopg.connect(conninfo(settings)) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        if not {"tickets", "dataset_info"} <= tables:
            return 0, 0
        seeded = one(conn.execute("SELECT count(*) FROM dataset_info WHERE key = 'seed'"))
        n = one(conn.execute("SELECT count(*) FROM tickets"))
    return int(n[0]), int(bool(seeded[0]))


def drop(settings: Settings) -> None:
    name = database_name(settings)
    if name in PROTECTED:
        raise SystemExit(f"refusing to drop database {name!r}")
    with psycopg.connect(server_conninfo(settings), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    settings = Settings.from_env()
    cmd = argv[0] if argv else ""
    if cmd == "running":
        return 0 if settings.cluster.running() else 1
    if cmd == "url" and len(argv) == 2:
        print(settings.with_database(argv[1]).database_url)
    elif cmd == "ensure":
        print("created" if ensure(settings) else "exists")
    elif cmd == "counts":
        print(*counts(settings))
    elif cmd == "drop":
        drop(settings)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
