"""Database URLs: SQLAlchemy URLs (migrations) and libpq conninfo strings (runtime, COPY)."""

from __future__ import annotations

from sqlalchemy import make_url


def psycopg_conninfo(url: str) -> str:
    """A libpq conninfo string for a SQLAlchemy URL (for psycopg, COPY and LISTEN)."""
    u = make_url(url)
    parts = {
        "host": u.query.get("host") or u.host,
        "port": u.query.get("port") or u.port,
        "user": u.username,
        "password": u.password,
        "dbname": u.database,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def server_url(url: str, database: str = "postgres") -> str:
    """The same server's URL for another database (to create or drop databases)."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)
