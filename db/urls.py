"""Database URLs: the settings' SQLAlchemy URLs (`postgresql+psycopg://...`, which migrations
use) and the libpq conninfo strings the runtime connects with (psycopg, COPY, LISTEN).

A SQLAlchemy URL of PostgreSQL is a libpq connection URI with a driver in its scheme, so libpq
reads it (psycopg's `conninfo_to_dict`): user and password percent-decoded, `?host=` (a
socket folder) and `?port=` over the authority's, and libpq's other parameters (`sslmode`,
`connect_timeout`, ...) kept. Not SQLAlchemy's parser: importing SQLAlchemy to read one URL
cost every server process about 15 MB.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def libpq_uri(url: str) -> str:
    """`url` as libpq takes it: the scheme without SQLAlchemy's `+driver`."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r} (expected postgresql://user@host/db)")
    return "postgresql://" + rest


def parameters(url: str) -> dict[str, str | int | None]:
    """libpq's connection parameters in `url` (`host`, `port`, `user`, `dbname`, ...)."""
    # psycopg (and libpq behind it) is loaded by whoever connects; the server's supervising
    # process, which reads settings but never connects, does without it.
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(libpq_uri(url))


def psycopg_conninfo(url: str) -> str:
    """A libpq conninfo string (`host=... dbname=...`) for a SQLAlchemy URL."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", **parameters(url))


def database_name(url: str) -> str:
    """The database `url` names ("" when it names none: libpq then takes the user's name)."""
    return str(parameters(url).get("dbname", ""))


def server_url(url: str, database: str = "postgres") -> str:
    """The same server's URL for another database (to create or drop databases)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(database, safe="")))
