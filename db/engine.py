"""Engines and connection helpers; the one place that turns a URL into connections."""

from __future__ import annotations

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An async engine on psycopg 3 with a bounded pool."""
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False,
        connect_args={"prepare_threshold": 1}, pool_recycle=3600,
    )


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
