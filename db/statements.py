"""Reads sent as server-prepared statements straight through libpq.

`rows` gives what `(await conn.execute(query, params)).fetchall()` gives on a connection with
`namedtuple_row` and `prepare_threshold=1`, and `records` the rows as tuples with the column
names, without psycopg's cursor: its per-execute cursor, adapters map, query conversion and
prepared-statement bookkeeping cost 30 of the 77 µs a short read costs its client (communities
in a 1 km box; through the whole server, 0.39 → 0.32 ms of CPU per GraphQL request). What
stays is psycopg's: its Transformer dumps the parameters and loads the rows with the
connection's adapters, and `AsyncConnection.wait` drives libpq's `execute` generator (a
cancelled read is cancelled on the server, as a cursor's is).

For the hot reads (places, tickets near a point or by code, a row with its relations). Each
statement text is converted once per process and prepared once per connection and set of
parameter types. Inside a transaction a read goes through a cursor, as before.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from psycopg import AsyncConnection, ProgrammingError, abc, errors, pq
from psycopg.adapt import PyFormat, Transformer

# Internal to psycopg (pinned in requirements.lock): the generator a cursor's execute runs.
# An upgrade that moves it fails here, at import, not in a request.
from psycopg.generators import execute
from psycopg.pq.abc import PGresult
from psycopg.rows import tuple_row

# The most statements one connection keeps prepared; past them, a statement runs unprepared.
MAX_PREPARED = 256

_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%|%")
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_OK = pq.ConnStatus.OK
_IDLE = pq.TransactionStatus.IDLE


class Converted(NamedTuple):
    """A statement's text with `$n` for psycopg's `%(name)s`, and the names in `$n` order."""

    text: bytes
    names: tuple[str, ...]


@functools.lru_cache(maxsize=1024)
def convert(query: str | bytes) -> Converted:
    """`query` as PostgreSQL takes it. Only named placeholders (`%(name)s`, a name used twice
    is one parameter) and `%%`; anything else after a `%` is a programming error."""
    text = query.decode() if isinstance(query, bytes) else query
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            if match.group(0) == "%%":
                return "%"
            raise ProgrammingError(f"only %(name)s placeholders are allowed: {text[:80]!r}")
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return Converted(_PLACEHOLDER.sub(number, text).encode(), tuple(names))


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
    """What makes a row of these columns, as namedtuple_row's."""
    return cast(Callable[[Sequence[Any]], Any], _named(names)._make)


def _named(names: tuple[str, ...]) -> Any:
    # A column name that is no identifier gets a positional one.
    return namedtuple("Row", names, rename=True)  # noqa: PYI024


class _Prepared:
    """A statement prepared on one connection, and the names of its result's columns."""

    __slots__ = ("name", "columns")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.columns: tuple[str, ...] | None = None


class _Connection:
    """What a connection holds for this module: its statements and its Transformer."""

    __slots__ = ("prepared", "count", "tx")

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.prepared: dict[tuple[bytes, tuple[int, ...]], _Prepared] = {}
        self.count = 0
        # One per connection: the adapters are the connection's (RedGrid registers none
        # later), and it remembers each parameter type's dumper.
        self.tx: abc.Transformer = Transformer(conn)


_CONNECTIONS: weakref.WeakKeyDictionary[AsyncConnection[Any], _Connection] = \
    weakref.WeakKeyDictionary()


async def rows(conn: AsyncConnection[Any], query: str | bytes,
               params: Mapping[str, Any] | None = None) -> list[Any]:
    """The rows of a read, as named tuples."""
    return (await _run(conn, query, params, _row_class))[1]


async def records(conn: AsyncConnection[Any], query: str | bytes,
                  params: Mapping[str, Any] | None = None,
                  ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The column names and rows of a read, as tuples."""
    return await _run(conn, query, params, _tuples)


def _tuples(columns: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
    return tuple


async def _run(conn: AsyncConnection[Any], query: str | bytes,
               params: Mapping[str, Any] | None,
               maker: Callable[[tuple[str, ...]], Callable[[Sequence[Any]], Any]],
               ) -> tuple[tuple[str, ...], list[Any]]:
    if conn.pgconn.status != _OK:
        raise errors.OperationalError("the connection is closed")
    if not conn.autocommit or conn.pgconn.transaction_status != _IDLE:
        # In a transaction, psycopg deallocates every prepared statement after a rollback (a
        # savepoint's too) or a DROP, and a statement found missing there fails the whole
        # transaction; a cursor also opens the transaction of a connection without autocommit.
        return await _by_cursor(conn, query, params, maker)
    converted = convert(query)
    for observe in getattr(conn, "observers", ()):  # db.database's connections carry them
        observe(query if isinstance(query, str) else query.decode())
    try:
        values = [params[name] for name in converted.names] if params is not None else []
    except (KeyError, TypeError) as exc:
        raise ProgrammingError(f"query parameter missing: {exc}") from exc
    held = _CONNECTIONS.get(conn)
    if held is None:
        held = _CONNECTIONS[conn] = _Connection(conn)
    tx = held.tx
    async with conn.lock:  # the connection's Transformer holds one statement's types
        dumped = tx.dump_sequence(values, [PyFormat.AUTO] * len(values))
        key = (converted.text, tx.types or ())
        try:
            result = await _send(conn, held, key, dumped)
        except errors.InvalidSqlStatementName:
            # The connection lost its prepared statements (psycopg's DEALLOCATE ALL after a
            # rollback; DISCARD ALL): all of them went, so prepare again.
            held.prepared.clear()
            result = await _send(conn, held, key, dumped)
        if result.status != _TUPLES_OK:
            if result.status == _COMMAND_OK:
                return (), []
            raise errors.error_from_result(result, encoding=conn.info.encoding)
        prepared = held.prepared.get(key)
        columns = prepared.columns if prepared is not None else None
        if columns is None:
            columns = tuple((result.fname(i) or b"").decode() for i in range(result.nfields))
            if prepared is not None:
                prepared.columns = columns
        tx.set_pgresult(result)
        found = tx.load_rows(0, result.ntuples, maker(columns))
        tx.set_pgresult(None)  # the result's memory goes now, not at the next read
    return columns, found


async def _by_cursor(conn: AsyncConnection[Any], query: str | bytes,
                     params: Mapping[str, Any] | None,
                     maker: Callable[[tuple[str, ...]], Callable[[Sequence[Any]], Any]],
                     ) -> tuple[tuple[str, ...], list[Any]]:
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(query.encode() if isinstance(query, str) else query, params)
    columns = tuple(c.name for c in cur.description or ())
    if not columns:
        return (), []
    make = maker(columns)
    return columns, [make(record) for record in await cur.fetchall()]


async def _send(conn: AsyncConnection[Any], held: _Connection,
                key: tuple[bytes, tuple[int, ...]], dumped: Sequence[Any]) -> PGresult:
    """Sends a statement (`key`: its text and parameter types) prepared, preparing it first
    on this connection if need be; its result."""
    pgconn, tx, text = conn.pgconn, held.tx, key[0]
    prepared = held.prepared.get(key)
    if prepared is None and len(held.prepared) >= MAX_PREPARED:
        pgconn.send_query_params(text, dumped, param_types=tx.types,
                                 param_formats=tx.formats)
        return await _last(conn)
    if prepared is None:
        held.count += 1
        name = b"_rg_%d" % held.count
        pgconn.send_prepare(name, text, param_types=key[1])
        await _last(conn)
        held.prepared[key] = prepared = _Prepared(name)
    pgconn.send_query_prepared(prepared.name, dumped, param_formats=tx.formats)
    return await _last(conn)


async def _last(conn: AsyncConnection[Any]) -> PGresult:
    """The last result of what was sent; a failed one raised as psycopg raises it."""
    results = await conn.wait(execute(conn.pgconn))
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise errors.error_from_result(result, encoding=conn.info.encoding)
    return results[-1]


