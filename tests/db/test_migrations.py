"""Migrations go up and down on an empty database, and the schema keeps its spatial rules."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint

from db import migrate, revisions
from db.models import Base
from db.urls import psycopg_conninfo
from tests.conftest import create_database, drop_database
from web.settings import Settings

GEOMETRY_COLUMNS = """
SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns
WHERE f_table_schema = 'public' ORDER BY 1, 2
"""
GIST_INDEXES = """
SELECT t.relname, a.attname FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_am am ON am.oid = i.relam JOIN pg_attribute a ON a.attrelid = t.oid
  AND a.attnum = ANY(x.indkey)
WHERE am.amname = 'gist'
"""
CHECKS = "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c'"
CHECK_NAMES = """
SELECT conrelid::regclass::text, conname FROM pg_constraint
WHERE contype = 'c' AND connamespace = 'public'::regnamespace
  AND conrelid <> 'spatial_ref_sys'::regclass
"""


def test_upgrade_downgrade_upgrade(base_settings: Settings) -> None:
    name = "redgrid_test_migrations"
    s = create_database(base_settings, name)
    try:
        migrate.upgrade(s.database_url)
        assert migrate.current(s.database_url) == migrate.head()
        migrate.downgrade(s.database_url, "base")
        assert migrate.current(s.database_url) is None
        with psycopg.connect(psycopg_conninfo(s.database_url)) as conn:
            left = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                                "AND tablename <> 'spatial_ref_sys'").fetchone()
        assert left == (1,)  # only alembic_version stays
        migrate.upgrade(s.database_url)
        assert migrate.current(s.database_url) == migrate.head()
    finally:
        drop_database(base_settings, name)


def test_models_equal_the_migrated_schema(base_settings: Settings) -> None:
    """Alembic's autogenerate finds nothing to change, and a drift is found (so the comparison
    is not empty by construction); check constraints, which Alembic does not compare, match by
    name."""
    name = "redgrid_test_models"
    s = create_database(base_settings, name)
    try:
        migrate.upgrade(s.database_url)
        assert migrate.differences(s.database_url) == []
        models = {(t.name, c.name) for t in Base.metadata.tables.values()
                  for c in t.constraints if isinstance(c, CheckConstraint)}
        with psycopg.connect(psycopg_conninfo(s.database_url), autocommit=True) as conn:
            assert set(conn.execute(CHECK_NAMES).fetchall()) == models
            conn.execute("ALTER TABLE tickets ADD COLUMN drift integer")
            conn.execute("DROP INDEX ix_tickets_open_due")
        found = {(d[0], getattr(d[-1], "name", None)) for d in migrate.differences(s.database_url)}
        assert found == {("remove_column", "drift"), ("add_index", "ix_tickets_open_due")}
    finally:
        drop_database(base_settings, name)


def test_every_geometry_column_has_srid_gist_and_validity_check(db: psycopg.Connection) -> None:
    columns = db.execute(GEOMETRY_COLUMNS).fetchall()
    gist = {(t, c) for t, c in db.execute(GIST_INDEXES).fetchall()}
    checks = db.execute(CHECKS).fetchall()
    # every geometry column of the models, and only those (13 with roads and waters)
    modelled = {(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns
                if isinstance(c.type, Geometry)}
    assert {(t, c) for t, c, _, _ in columns} == modelled and len(modelled) >= 13
    for table, column, srid, _type in columns:
        assert srid in (4326, 4549), (table, column, srid)
        assert (table, column) in gist, f"{table}.{column} has no GiST index"
        assert any(t == table and f"st_isvalid({column})" in d.lower() for t, d in checks), \
            f"{table}.{column} has no validity check"


def test_ticket_events_are_append_only(db: psycopg.Connection) -> None:
    event_id = db.execute("SELECT min(id) FROM ticket_events").fetchone()[0]  # type: ignore[index]
    for statement in ("UPDATE ticket_events SET note = 'x' WHERE id = %s",
                      "DELETE FROM ticket_events WHERE id = %s"):
        try:
            db.execute(statement, (event_id,))
        except psycopg.errors.RestrictViolation:
            continue
        raise AssertionError(f"{statement} was allowed")


def test_metric_point_follows_the_point(db: psycopg.Connection) -> None:
    off = db.execute(
        "SELECT count(*) FROM tickets WHERE NOT ST_Equals(geom_metric, ST_Transform(geom, 4549))"
    ).fetchone()
    assert off == (0,)


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert revisions.head() == migrate.head()


def _migration(folder: Path, revision: str, down: str) -> None:
    (folder / f"{revision}.py").write_text(
        f'"""{revision}"""\nrevision = "{revision}"\ndown_revision: str | None = {down}\n',
        encoding="utf-8")


def test_the_head_follows_a_merge_and_refuses_two_heads(tmp_path: Path) -> None:
    _migration(tmp_path, "a", "None")
    _migration(tmp_path, "b", '"a"')
    _migration(tmp_path, "c", '"a"')
    with pytest.raises(ValueError, match=r"2 heads \(b, c\)"):
        revisions.head(tmp_path)
    _migration(tmp_path, "d", '("b", "c")')
    assert revisions.head(tmp_path) == "d"
    # What Alembic does not read either: a package's __init__, an editor's lock (a link to
    # nowhere).
    (tmp_path / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / ".#d.py").symlink_to(tmp_path / "nowhere")
    assert revisions.head(tmp_path) == "d"


def test_a_revision_that_is_not_a_literal_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text('revision = "x"\ndown_revision = compute()\n',
                                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.py: .*down_revision"):
        revisions.head(tmp_path)
