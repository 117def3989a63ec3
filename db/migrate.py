"""Runs RedGrid's Alembic migrations against a database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

MIGRATIONS = Path(__file__).with_name("migrations")
# PostGIS's own tables are not ours to manage.
FOREIGN_TABLES = frozenset({"spatial_ref_sys"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool,
                   compare_to: object) -> bool:
    """Alembic's filter: everything but the tables PostGIS owns."""
    return not (type_ == "table" and name in FOREIGN_TABLES)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """Returns the revision the database is at, or None before the first migration."""
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def differences(url: str) -> list[Any]:
    """What Alembic's autogenerate would change to make the database at `url` equal the
    models (`db/models.py`): empty when models and migrations agree."""
    from db.models import Base  # the models import geoalchemy2; only this needs them

    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": include_object, "compare_type": True,
            "compare_server_default": True})
        diff: list[Any] = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff
