"""Database URLs: the settings' SQLAlchemy URLs (`postgresql+psycopg://...`, which migrations
use) and the libpq conninfo strings the runtime connects with (psycopg, COPY, LISTEN).

A URL is read as SQLAlchemy reads it (the same pattern, user, password and database
percent-decoded, a raw `/` or space in a password accepted), with the standard library: the
server's processes would otherwise load SQLAlchemy (about 15 MB each) to read one URL. What
SQLAlchemy hands the driver as keywords, its query (`?host=` a socket folder, `?sslmode=`,
`?connect_timeout=`, ...), goes to libpq too, over the authority's host and port (repeated,
`?host=a&host=b`, they are libpq's list of hosts). Messages about a URL never repeat it: it
may hold a password.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote

SCHEMES = ("postgresql", "postgres")
_SHAPE = "postgresql://user:password@host:port/database"
# SQLAlchemy's own pattern (sqlalchemy.engine.url._parse_url), matched in full.
_URL = re.compile(r"""
    (?P<scheme>[\w+]+)://
    (?:(?P<user>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6>[^/?]+)\]|(?P<ipv4>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """, re.X | re.S)


class _Parts(NamedTuple):
    match: re.Match[str]
    parameters: dict[str, str]


def _read(url: str) -> _Parts:
    match = _URL.fullmatch(url)
    if match is None:
        raise ValueError(f"cannot be read as a database URL ({_SHAPE})")
    if match["scheme"].split("+", 1)[0] not in SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: its scheme is {match['scheme']!r} ({_SHAPE})")
    if match["port"] and not match["port"].isdigit():
        raise ValueError("the port is not a number (several hosts go in the query: "
                         "?host=h1,h2&port=5432,5433)")
    found = {"host": match["ipv4"] or match["ipv6"], "port": match["port"],
             "user": match["user"] and unquote(match["user"]),
             "password": match["password"] and unquote(match["password"]),
             "dbname": match["database"] and unquote(match["database"])}
    given: dict[str, list[str]] = {}
    for key, value in parse_qsl(match["query"] or ""):
        given.setdefault(key, []).append(value)
    found.update({key: ",".join(values) for key, values in given.items()})
    return _Parts(match, {key: value for key, value in found.items() if value})


def check_url(url: str) -> None:
    """Raises ValueError, naming what is wrong but not the URL, unless `url` reads as a
    PostgreSQL URL."""
    _read(url)


def parameters(url: str) -> dict[str, str]:
    """libpq's connection parameters in `url` (`host`, `port`, `user`, `dbname`, ...)."""
    return _read(url).parameters


def psycopg_conninfo(url: str) -> str:
    """A libpq conninfo string (`host=... dbname=...`, quoted where needed) for a URL; a
    parameter libpq does not know is refused here (psycopg.ProgrammingError naming it)."""
    # psycopg is loaded by whoever connects; the server's supervising process, which reads
    # settings but never connects, does without it.
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", **parameters(url))


def database_name(url: str) -> str:
    """The database `url` names ("" when it names none: libpq then takes the user's name)."""
    return parameters(url).get("dbname", "")


def server_url(url: str, database: str = "postgres") -> str:
    """The same server's URL for another database (to create or drop databases): the
    path replaced, a `dbname` in the query (which libpq would take over the path) dropped."""
    match = _read(url).match
    query = "&".join(piece for piece in (match["query"] or "").split("&")
                     if piece and unquote(piece.split("=", 1)[0]) != "dbname")
    # What comes before the path ("/database"), or before the query where there is no path.
    head = url[:match.start("database") - 1 if match["database"] is not None else
               match.start("query") - 1 if match["query"] is not None else len(url)]
    return head + "/" + quote(database, safe="") + ("?" + query if query else "")
