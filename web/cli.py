"""The `redgrid` command line: serve, run the embedded database, migrate, seed, export."""

from __future__ import annotations

import dataclasses
import re
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from db.demo import DEFAULT_SEED
from db.embedded import ClusterError, ReplicaCluster
from db.urls import database_name, psycopg_conninfo, server_url
from resolvers.actor import Actor, Role
from web.settings import ConfigError, Settings

if TYPE_CHECKING:
    from rich.progress import Progress

# Each command imports what it needs when it runs: `redgrid serve` stays the small process
# that supervises the server's workers, and every other command starts quickly.

# The commands in the order a newcomer meets them: a database, its tables, the demo, the
# server, a token to call it with; then the tools.
NEWCOMER_ORDER = ("db", "migrate", "seed", "serve", "token", "export-schema", "escalate-overdue")


class _NewcomerOrder(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: NEWCOMER_ORDER.index(n) if n in NEWCOMER_ORDER
                      else len(NEWCOMER_ORDER))


app = typer.Typer(help="RedGrid: map-based community governance over GraphQL.",
                  no_args_is_help=True, cls=_NewcomerOrder)
db_app = typer.Typer(help="The embedded PostgreSQL + PostGIS cluster.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def ensure_database(url: str) -> bool:
    """Creates the database (with PostGIS) when missing; returns whether it did."""
    import psycopg

    name = database_name(url)
    with psycopg.connect(psycopg_conninfo(server_url(url)), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return not exists


@db_app.command("up")
def db_up(replica: Annotated[bool, typer.Option(
        "--replica", help="also start a hot standby (streaming replication) in "
                          ".data/replica for map, tile and analytics reads")] = False) -> None:
    """Starts the embedded cluster (initialising it on first use) and creates the database."""
    settings = Settings.from_env()
    if not settings.embedded:
        _fail("DATABASE_URL is set: RedGrid uses that server and runs no cluster of its own")
    try:
        if settings.cluster.init():
            console.print(f"initialised a cluster in {settings.cluster.pgdata}")
        started = settings.cluster.start()
    except ClusterError as exc:
        _fail(str(exc))
    created = ensure_database(settings.database_url)
    console.print(("started" if started else "already running") + f" at {settings.cluster.socket_dir}"
                  + ("; created database" if created else ""))
    if replica:
        standby = ReplicaCluster.of(settings.cluster)
        try:
            if standby.init():
                console.print(f"copied the primary into {standby.pgdata} (pg_basebackup)")
            started = standby.start()
        except ClusterError as exc:
            _fail(str(exc))
        console.print(("replica started" if started else "replica already running")
                      + f" at {standby.socket_dir}; map, tile and analytics reads go to it")


@db_app.command("down")
def db_down() -> None:
    """Stops the embedded cluster (and its replica)."""
    settings = Settings.from_env()
    try:
        if ReplicaCluster.of(settings.cluster).stop():
            console.print("replica stopped")
        stopped = settings.cluster.stop()
    except ClusterError as exc:
        _fail(str(exc))
    console.print("stopped" if stopped else "not running")


@db_app.command("status")
def db_status() -> None:
    """Tells whether the database is reachable, and its migration revision."""
    from db import migrate as migrations

    settings = Settings.from_env()
    if settings.embedded:
        running = settings.cluster.running()
        console.print(f"embedded cluster in {settings.cluster.pgdata}: "
                      + ("running" if running else "stopped"))
        if not running:
            raise typer.Exit(3)
    try:
        rev = migrations.current(settings.database_url)
    except Exception as exc:  # noqa: BLE001 - report any connection failure plainly
        _fail(f"cannot reach the database: {exc}")
    console.print(f"revision: {rev or 'none (run `redgrid migrate`)'} (head {migrations.head()})")


@db_app.command("dump")
def db_dump(file: Annotated[Path, typer.Argument(help="the dump file to write")]) -> None:
    """Dumps the database (pg_dump custom format), with FILE.json recording its PostGIS
    version."""
    from db.backup import BackupError, dump

    settings = Settings.from_env()
    with _progress() as bar:
        task = bar.add_task("dump", total=None)
        try:
            described = dump(settings.database_url, file, lambda done, total, table: bar.update(
                task, completed=done, total=total, description=f"dump: {table}"))
        except BackupError as exc:
            bar.stop()
            _fail(str(exc))
    console.print(f"dumped {described.database} (PostGIS {described.postgis}, migration "
                  f"{described.migration}) to {file}; restore with `redgrid db restore {file}`")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="a dump written by `redgrid db dump`")],
    database: Annotated[str | None, typer.Option(
        help="the database to restore into (default: the configured one); created when "
             "missing, refused when not empty")] = None,
) -> None:
    """Restores a dump into a new or empty database; refuses a dump of another PostGIS
    major version."""
    from db.backup import BackupError, restore

    settings = Settings.from_env()
    if database:
        settings = settings.with_database(database)
    target = database_name(settings.database_url)
    with _progress() as bar:
        task = bar.add_task("restore", total=None)
        try:
            described = restore(settings.database_url, file,
                                lambda done, total, table: bar.update(
                                    task, completed=done, total=total,
                                    description=f"restore: {table}"))
        except BackupError as exc:
            bar.stop()
            _fail(str(exc))
    console.print(f"restored {file} (taken {described.created_at} from {described.database}, "
                  f"migration {described.migration}) into {target}; run `redgrid migrate` if "
                  f"this code is newer")


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head",
            down: Annotated[bool, typer.Option(help="downgrade to the revision")] = False) -> None:
    """Applies the Alembic migrations (or, with --down, reverts to REVISION)."""
    from db import migrate as migrations

    settings = Settings.from_env()
    if down:
        migrations.downgrade(settings.database_url, "base" if revision == "head" else revision)
    else:
        migrations.upgrade(settings.database_url, revision)
    console.print(f"at revision {migrations.current(settings.database_url)}")


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _holds_data(conninfo: str) -> bool:
    import psycopg

    from db.seed import holds_data

    with psycopg.connect(conninfo) as conn:
        return holds_data(conn)


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="load the synthetic Linshu demo")] = False,
    seed: Annotated[int, typer.Option(help="random seed of the demo data")] = DEFAULT_SEED,
    tickets: Annotated[int, typer.Option(help="extra bulk tickets for benchmarks")] = 0,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="skip when data exists")] = False,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="the demo's last day, YYYY-MM-DD: its history ends here",
        show_default="today (Asia/Shanghai)")] = None,
) -> None:
    """Loads the demo dataset and/or bulk tickets."""
    from db.seed import SeedError, seed_bulk_tickets, seed_demo

    settings = Settings.from_env()
    conninfo = psycopg_conninfo(settings.database_url)
    if not demo and not tickets:
        _fail("say what to load: --demo, --tickets N, or both")
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(f"--as-of must be a date YYYY-MM-DD, got {as_of!r}")
    if demo and if_empty and _holds_data(conninfo):  # a restart: say so, with no progress bar
        console.print("demo data already loaded")
        demo = False
        if not tickets:
            return
    with _progress() as bar:
        if demo:
            task = bar.add_task("demo data", total=7)
            try:
                counts = seed_demo(conninfo, seed,
                                   lambda stage, done, total: bar.update(
                                       task, completed=done, description=f"demo: {stage}"),
                                   as_of=day)
                bar.stop()
                console.print(", ".join(f"{k} {v:,}" for k, v in counts.items()))
            except SeedError as exc:
                if not if_empty:
                    _fail(str(exc))
                console.print("demo data already loaded")
        if tickets:
            task = bar.add_task("bulk tickets", total=tickets)
            try:
                seed_bulk_tickets(conninfo, tickets,
                                  lambda stage, done, total: bar.update(task, completed=done))
            except SeedError as exc:
                _fail(str(exc))


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="GeoPackage, Shapefile or GeoJSON files")],
    mapping: Annotated[Path, typer.Option(help="the field mapping (TOML); see the README")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and report, write nothing")]
    = False,
) -> None:
    """Imports the county's own places, replacing those in the database, in one transaction."""
    import pyogrio.errors

    from db.import_mapping import MappingError, load_mapping
    from db.place_import import import_places

    conninfo = psycopg_conninfo(Settings.from_env().database_url)
    try:
        with _progress() as bar:
            task = bar.add_task("import", total=1)
            report = import_places(conninfo, load_mapping(mapping, paths), dry_run=dry_run,
                                   progress=lambda stage, done, total: bar.update(
                                       task, completed=done, total=total,
                                       description=f"import: {stage}"))
    except (MappingError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        _fail(str(exc))
    for line in report.lines():
        sys.stdout.write(line + "\n")
    places = ", ".join(f"{k} {v:,}" for k, v in report.places.items())
    if report.errors:
        _fail(f"{len(report.errors)} error(s): nothing written ({places})")
    done = "dry run, nothing written" if dry_run else "written"
    console.print(f"{done}: {places}; {report.moved:,} open ticket(s) moved to new cells")


@app.command("export-schema")
def export_schema(
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Prints the GraphQL schema (SDL), as committed in schema.graphql."""
    from schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if out:
        out.write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)


@app.command("escalate-overdue")
def escalate_overdue(
    now: Annotated[str | None, typer.Option(help="ISO 8601 time to run as (default: now)")] = None,
) -> None:
    """Escalates overdue open tickets one level and closes tickets resolved 7+ days ago."""
    import asyncio
    from datetime import UTC, datetime

    from db.database import Database
    from resolvers.jobs import run_jobs

    settings = Settings.from_env()
    at = datetime.fromisoformat(now) if now else datetime.now(UTC)
    if at.tzinfo is None:
        _fail("give --now with an offset, e.g. 2024-07-01T09:00:00+08:00")

    async def once() -> None:
        db = Database(psycopg_conninfo(settings.database_url), min_size=1, max_size=4)
        await db.open()
        try:
            total = escalated = closed = 0
            while True:  # in batches, until a pass finds nothing more to do
                report = await run_jobs(db, at)
                escalated += report.escalated
                closed += report.closed
                total += 1
                if report.escalated + report.closed == 0 or total >= 1000:
                    break
            console.print(f"escalated {escalated}, closed {closed} (as of {at.isoformat()})")
        finally:
            await db.close()

    asyncio.run(once())


@app.command()
def token(
    role: Annotated[str, typer.Option(help="RESIDENT, GRID_WORKER, SUPERVISOR, "
                                           "COMMUNITY_STAFF, ZONE_OFFICER (scope: zone codes), "
                                           "STREET_OFFICER, COUNTY_OFFICE, PLANNER or UNIT")],
    scope: Annotated[list[str] | None, typer.Option(
        help="codes the caller answers for: --scope A B C, --scope A,B or --scope A --scope B",
        show_default=False)] = None,
    more: Annotated[list[str] | None, typer.Argument(
        help="more scope codes (those after --scope A)", show_default=False)] = None,
    sub: Annotated[str | None, typer.Option(
        help="the caller's subject", show_default="dev-<role>")] = None,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 12 * 3600,
) -> None:
    """Mints a development token for a role and scope codes, checked as /auth/dev-token checks.

    Signed with this checkout's secret; the scope codes must exist in the database."""
    import asyncio

    import psycopg
    from psycopg.rows import namedtuple_row

    from db.queries.places import KnownScopes, known_codes
    from web.auth import mint
    from web.signin import SignInError, dev_grant

    settings = Settings.from_env()
    if settings.production:
        _fail("production tokens come from the county's identity provider, not this command "
              "(REDGRID_ENV=development mints development tokens)")
    codes = [code for value in [*(scope or []), *(more or [])]
             for code in re.split(r"[\s,]+", value) if code]

    async def known(wanted: list[str]) -> KnownScopes:
        async with await psycopg.AsyncConnection.connect(
                psycopg_conninfo(settings.database_url), row_factory=namedtuple_row) as conn:
            return await known_codes(conn, wanted)

    try:
        grant = asyncio.run(dev_grant({"role": role, "scopes": codes, "sub": sub}, known))
    except SignInError as exc:
        _fail(f"{exc.code.value} ({exc.field}): {exc.message}")
    except psycopg.OperationalError as exc:
        _fail(f"the database is needed to check the scope codes: {exc}")
    sys.stdout.write(mint(settings.jwt_secret, subject=grant.subject, role=grant.role,
                          scopes=grant.scopes, ttl_s=ttl) + "\n")


def _default(name: str) -> object:
    """A setting's default as `web/settings.py` writes it (or makes it here), for --help."""
    spec = Settings.__dataclass_fields__[name]
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return spec.default


# --- Open311 GeoReport v2 clients ------------------------------------------------------------
open311_app = typer.Typer(help="Open311 GeoReport v2 clients.", no_args_is_help=True)
app.add_typer(open311_app, name="open311")


@open311_app.command("key")
def open311_key(
    name: Annotated[str, typer.Option(help="the client's name, e.g. the civic app")],
    role: Annotated[str, typer.Option(help="the role it files and reads as, e.g. RESIDENT")],
    channel: Annotated[str, typer.Option(help="the channel its tickets arrive on, e.g. ONLINE")],
    scope: Annotated[list[str] | None, typer.Option(help="a code the client answers for")] = None,
) -> None:
    """Registers an Open311 client and prints its api_key (once: only its hash is stored)."""
    import asyncio

    from db.database import Database
    from db.queries.places import scope_codes
    from resolvers import open311
    from resolvers.errors import DomainError
    from web.auth import AuthError, check_scopes

    try:
        chosen = Role(role.upper())
    except ValueError:
        chosen = Role.SYSTEM  # refused just below, with the list of roles
    if chosen is Role.SYSTEM:
        _fail(f"unknown role {role!r}; one of: "
              f"{', '.join(r.value for r in Role if r is not Role.SYSTEM)}")
    settings = Settings.from_env()

    async def register() -> str:
        db = Database(psycopg_conninfo(settings.database_url), min_size=1, max_size=2)
        await db.open()
        try:
            async with db.connection() as conn:
                known = await scope_codes(conn)
            check_scopes(Actor(name, chosen, tuple(scope or [])), known)
            return await open311.register_client(db, name=name, role=chosen,
                                                 channel=channel.upper(), scopes=scope or [])
        finally:
            await db.close()

    try:
        api_key = asyncio.run(register())
    except (AuthError, DomainError) as exc:
        _fail(str(exc))
    sys.stdout.write(api_key + "\n")


# --- Web Push ----------------------------------------------------------------------------
push_app = typer.Typer(help="Web Push to field workers' phones.", no_args_is_help=True)
app.add_typer(push_app, name="push")


@push_app.command("keys")
def push_keys(
    subject: Annotated[str, typer.Option(
        help="the contact push services see, e.g. mailto:ops@example.org")],
) -> None:
    """Prints a new VAPID key pair as the settings that turn push on (keep the private key
    secret: whoever holds it can push to every subscribed phone)."""
    from web.vapid import new_key_pair

    private, public = new_key_pair()
    sys.stdout.write(f"REDGRID_VAPID_PRIVATE_KEY={private}\n"
                     f"REDGRID_VAPID_SUBJECT={subject}\n"
                     f"# the public key the field app subscribes with (served in "
                     f"/field/config.json): {public}\n")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(
        help="bind address (REDGRID_HOST)", show_default=str(_default("host")))] = None,
    port: Annotated[int | None, typer.Option(
        help="port (REDGRID_PORT)", show_default=str(_default("port")))] = None,
    workers: Annotated[int | None, typer.Option(
        help="worker processes (REDGRID_WORKERS)", show_default=str(_default("workers")))] = None,
) -> None:
    """Serves GraphQL at /graphql and the map at / (uvicorn); SIGTERM drains and stops."""
    from web.serving import WorkerStartError
    from web.serving import serve as run

    settings = Settings.from_env()
    count = workers or settings.workers
    if count < 1:
        _fail("--workers must be 1 or more")
    settings.check_serving()  # before the workers start: a bad setting ends the command
    try:
        run(settings, host or settings.host, port or settings.port, count)
    except WorkerStartError as exc:
        sys.stderr.write(exc.detail + "\n")
        _fail(f"a worker cannot start ({exc.summary}); nothing was served. Fix what the lines "
              "above name (`make setup` reinstalls the dependencies) and start again")


def main() -> None:
    """The `redgrid` entry point: configuration errors are a message, not a traceback."""
    try:
        app()
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
