"""Backups: `pg_dump` in its custom format, with what is needed to restore it safely.

Beside every dump `FILE` goes `FILE.json`, describing it: the PostGIS and PostgreSQL versions
it was taken from, the migration revision and the time. PostGIS objects in a dump (types,
functions the tables depend on) belong to one PostGIS major version, so a restore refuses a
dump from another major version before it writes anything, and says what to do instead.

A dump is written to `FILE.partial` and renamed when pg_dump has succeeded, so a file named
`FILE` is always complete; a restore that fails drops the database it created.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from db.embedded import ClusterError, pg_bin
from db.urls import database_name, parameters, psycopg_conninfo, server_url

# Progress: (tables done, tables in all, the table being copied).
Progress = Callable[[int, int, str], None]
DESCRIPTION_FORMAT = "redgrid-dump/1"
_DUMPING = re.compile(r'dumping contents of table "?([^"\s]+)"?')
_RESTORING = re.compile(r'processing data for table "?([^"\s]+)"?')


class BackupError(RuntimeError):
    """A dump or restore that cannot go on, with what to do next."""


@dataclass(frozen=True)
class DumpDescription:
    """What `FILE.json` records about a dump."""

    format: str
    database: str
    postgis: str
    postgresql: str
    migration: str | None
    created_at: str

    @property
    def postgis_major(self) -> str:
        return self.postgis.split(".")[0]


def description_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".json")


def _tool(name: str) -> str:
    try:
        return str(pg_bin() / name)
    except ClusterError:
        found = shutil.which(name)
        if found is None:
            raise BackupError(f"{name} not found: install the PostgreSQL 15 client "
                              f"(`apt-get install postgresql-client-15`)") from None
        return found


# libpq's environment variables by connection parameter (PostgreSQL 15 docs, "Environment
# Variables"): the URL's parameters reach pg_dump and pg_restore through them, so that none
# (a password least of all) appears on a command line. Those without one (keepalives, ...)
# only tune the connection.
_LIBPQ_ENVIRONMENT = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE",
    "channel_binding": "PGCHANNELBINDING", "service": "PGSERVICE", "options": "PGOPTIONS",
    "application_name": "PGAPPNAME", "sslmode": "PGSSLMODE",
    "sslcompression": "PGSSLCOMPRESSION", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT", "sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI", "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION", "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB", "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING", "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}


def _environment(url: str) -> dict[str, str]:
    """libpq's variables for `url`, so no password appears on a command line."""
    given = parameters(url)
    return {**os.environ, **{_LIBPQ_ENVIRONMENT[name]: value for name, value in given.items()
                             if name in _LIBPQ_ENVIRONMENT}}


def _connect(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(psycopg_conninfo(url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackupError(f"cannot reach the database ({first}); start the embedded cluster "
                          f"with `redgrid db up`, or check DATABASE_URL") from None


def _run(command: list[str], url: str, pattern: re.Pattern[str], total: int,
         progress: Progress) -> None:
    """Runs a pg_dump/pg_restore with --verbose, reporting each table it reaches."""
    process = subprocess.Popen(command, env=_environment(url), stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    assert process.stderr is not None
    done, tail = 0, list[str]()
    for line in process.stderr:
        tail = [*tail[-9:], line.rstrip()]
        if match := pattern.search(line):
            done += 1
            progress(done, max(total, done), match.group(1))
    if process.wait() != 0:
        errors = [t for t in tail if "error" in t.lower()] or tail
        raise BackupError(f"{Path(command[0]).name} failed: " + " | ".join(errors[-3:]))


def dump(url: str, path: Path, progress: Progress = lambda done, total, table: None
         ) -> DumpDescription:
    """Dumps the database of `url` to `path` (custom format) and describes it beside."""
    if path.exists():
        raise BackupError(f"{path} exists; remove it or name another file")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a folder; create it first")
    with _connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'postgis'), "
            "current_setting('server_version'), current_database(), "
            "(SELECT count(*) FROM pg_tables "
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))").fetchone()
        assert row is not None
        postgis, postgresql, database, tables = row
        if postgis is None:
            raise BackupError(f"database {database} has no PostGIS: not a RedGrid database "
                              f"(run `redgrid migrate` to create one)")
        revision = None
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone() != (None,):
            found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = found[0] if found else None
    partial = path.with_name(path.name + ".partial")
    try:
        _run([_tool("pg_dump"), "--format=custom", "--verbose", f"--file={partial}"],
             url, _DUMPING, tables, progress)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    described = DumpDescription(DESCRIPTION_FORMAT, database, postgis, postgresql, revision,
                                datetime.now(UTC).isoformat(timespec="seconds"))
    partial.rename(path)
    description_path(path).write_text(json.dumps(asdict(described), indent=2) + "\n")
    return described


def describe(path: Path) -> DumpDescription:
    """The description written beside a dump; BackupError when it is missing or unreadable."""
    if not path.is_file():
        raise BackupError(f"{path} not found")
    beside = description_path(path)
    if not beside.is_file():
        raise BackupError(f"{beside} is missing: it records the PostGIS version the dump was "
                          f"taken with, and a dump is restored only onto the same PostGIS "
                          f"major version; make dumps with `redgrid db dump`")
    try:
        fields = json.loads(beside.read_text())
        described = DumpDescription(**fields)
    except (ValueError, TypeError) as exc:
        raise BackupError(f"{beside} cannot be read ({exc}); it is not a RedGrid dump "
                          f"description") from None
    if described.format != DESCRIPTION_FORMAT:
        raise BackupError(f"{beside} is of format {described.format!r}, not "
                          f"{DESCRIPTION_FORMAT!r}")
    return described


def _table_data(path: Path) -> Iterator[str]:
    listing = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True,
                             text=True)
    if listing.returncode != 0:
        raise BackupError(f"{path} is not a pg_dump custom-format file: "
                          f"{listing.stderr.strip()}")
    return (line for line in listing.stdout.splitlines() if " TABLE DATA " in line)


def restore(url: str, path: Path, progress: Progress = lambda done, total, table: None
            ) -> DumpDescription:
    """Restores the dump at `path` into the database of `url`, which must be new or empty;
    refuses a dump of another PostGIS major version before writing anything."""
    described = describe(path)
    tables = sum(1 for _ in _table_data(path))
    name = database_name(url)
    assert name
    with _connect(server_url(url)) as conn:
        row = conn.execute("SELECT default_version FROM pg_available_extensions "
                           "WHERE name = 'postgis'").fetchone()
        if row is None:
            raise BackupError("this server has no PostGIS; install postgresql-15-postgis-3")
        here = str(row[0])
        if here.split(".")[0] != described.postgis_major:
            raise BackupError(
                f"{path} was taken with PostGIS {described.postgis}; this server has PostGIS "
                f"{here}. Restore it onto a server with PostGIS {described.postgis_major}.x, "
                f"upgrade PostGIS there (`SELECT postgis_extensions_upgrade();`), and take a "
                f"new dump")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (name,)).fetchone() is not None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if exists:
        with _connect(url) as target:
            row = target.execute("SELECT count(*) FROM pg_tables "
                                 "WHERE schemaname = 'public'").fetchone()
            if row and row[0] > 0:
                raise BackupError(f"database {name} is not empty; restore into a new one "
                                  f"(`redgrid db restore FILE --database NEW`) or drop it first")
    try:
        _run([_tool("pg_restore"), "--no-owner", "--exit-on-error", "--verbose",
              f"--dbname=dbname={name}", str(path)], url, _RESTORING, tables, progress)
    except BackupError:
        if not exists:  # what this restore wrote goes again
            with _connect(server_url(url)) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
        raise
    return described
