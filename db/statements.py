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
parameter types; a connection keeps its 100 most recently used, as psycopg keeps its own.
Inside a transaction (or a pipeline) a read goes through a cursor, as before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from psycopg import AsyncConnection, ProgrammingError, abc, errors, pq
from psycopg.adapt import PyFormat, Transformer

# Internal to psycopg (pinned in requirements.lock): the generator a cursor's execute runs,
# and the row classes namedtuple_row makes (so a row here is the cursor's, names and all).
# An upgrade that moves them fails here, at import, not in a request.
from psycopg.generators import execute
from psycopg.pq.abc import PGresult
from psycopg.rows import _make_nt, namedtuple_row, tuple_row

# The most statements a connection keeps prepared (psycopg's own default for its cache);
# the least recently used one goes first. Statement texts vary with a request's statuses and
# selected columns, so they are not a closed set.
MAX_PREPARED = 100

_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%|%")
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_OK = pq.ConnStatus.OK
_IDLE = pq.TransactionStatus.IDLE
_PIPELINE_OFF = pq.PipelineStatus.OFF
# Where the statements of this module live on a connection (see `_held`).
_HELD = "_redgrid_statements"

RowMaker = Callable[[Sequence[Any]], Any]


class Converted(NamedTuple):
    """A statement's text with `$n` for psycopg's `%(name)s`, and the names in `$n` order."""

    text: bytes
    names: tuple[str, ...]


@functools.lru_cache(maxsize=1024)
def convert(query: str | bytes) -> Converted:
    """`query` as PostgreSQL takes it with parameters. Only named placeholders (`%(name)s`, a
    name used twice is one parameter) and `%%`; anything else after a `%` is a programming
    error."""
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


class _Prepared:
    """A statement prepared on one connection, and once its first result is seen, its
    columns' names and what makes its named tuples."""

    __slots__ = ("columns", "make", "name")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.columns: tuple[str, ...] = ()
        self.make: RowMaker | None = None

    def seen(self, result: PGresult, encoding: str, *, tuples: bool) -> RowMaker:
        """What makes its rows; made once (a joined statement's names repeat, so they make
        no named tuple: it is read as tuples only)."""
        if not self.columns:
            self.columns = tuple((result.fname(i) or b"").decode(encoding)
                                 for i in range(result.nfields))
        if tuples:
            return tuple
        if self.make is None:
            self.make = _make_nt(encoding, *(
                result.fname(i) or b"" for i in range(result.nfields)))._make
        return self.make


class _Held:
    """What a connection holds for this module: its prepared statements, least recently used
    first, and a Transformer that remembers each parameter type's dumper (the adapters are the
    connection's; RedGrid registers none later)."""

    __slots__ = ("count", "encoding", "prepared", "tx")

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.prepared: dict[tuple[bytes, tuple[int, ...]], _Prepared] = {}
        self.count = 0
        self.tx: abc.Transformer = Transformer(conn)
        self.encoding = conn.info.encoding


def _held(conn: AsyncConnection[Any]) -> _Held:
    # Kept on the connection itself, so that it goes with it: in a WeakKeyDictionary the
    # Transformer, which refers to its connection, would keep every connection ever used.
    held: _Held | None = conn.__dict__.get(_HELD)
    if held is None:
        held = conn.__dict__[_HELD] = _Held(conn)
    return held


async def rows(conn: AsyncConnection[Any], query: str | bytes,
               params: Mapping[str, Any] | None = None) -> list[Any]:
    """The rows of a read, as named tuples (namedtuple_row's)."""
    return (await _run(conn, query, params, tuples=False))[1]


async def records(conn: AsyncConnection[Any], query: str | bytes,
                  params: Mapping[str, Any] | None = None,
                  ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The column names and rows of a read, as tuples."""
    return await _run(conn, query, params, tuples=True)


async def _run(conn: AsyncConnection[Any], query: str | bytes,
               params: Mapping[str, Any] | None, *, tuples: bool,
               ) -> tuple[tuple[str, ...], list[Any]]:
    pgconn = conn.pgconn
    if pgconn.status != _OK:
        raise errors.OperationalError("the connection is closed")
    if not conn.autocommit or pgconn.transaction_status != _IDLE \
            or pgconn.pipeline_status != _PIPELINE_OFF:
        # In a transaction, psycopg deallocates every prepared statement after a rollback (a
        # savepoint's too) or a DROP, and a statement found missing there fails the whole
        # transaction; a cursor also opens the transaction of a connection without autocommit.
        return await _by_cursor(conn, query, params, tuples=tuples)
    if params is None:  # as psycopg sends a statement without parameters: as it is
        converted = Converted(query.encode() if isinstance(query, str) else query, ())
    else:
        converted = convert(query)
    for observe in getattr(conn, "observers", ()):  # db.database's connections carry them
        observe(query if isinstance(query, str) else query.decode())
    try:
        values = [params[name] for name in converted.names] if params is not None else []
    except KeyError as exc:
        raise ProgrammingError(f"query parameter missing: {exc}") from exc
    held = _held(conn)
    tx = held.tx
    async with conn.lock:  # the connection's Transformer holds one statement's types
        dumped = tx.dump_sequence(values, [PyFormat.AUTO] * len(values))
        key = (converted.text, tx.types or ())
        try:
            result, prepared = await _send(conn, held, key, dumped)
        except errors.InvalidSqlStatementName:
            # The connection lost its prepared statements (psycopg's DEALLOCATE ALL after a
            # rollback; DISCARD ALL): all of them went, so prepare again.
            held.prepared.clear()
            result, prepared = await _send(conn, held, key, dumped)
        except errors.FeatureNotSupported as exc:
            if "cached plan must not change result type" not in str(exc):
                raise
            # A table's columns changed under a statement prepared before (a migration).
            await _forget(conn, held, key)
            result, prepared = await _send(conn, held, key, dumped)
        if result.status != _TUPLES_OK:
            if result.status == _COMMAND_OK:
                return (), []
            raise errors.error_from_result(result, encoding=held.encoding)
        make = prepared.seen(result, held.encoding, tuples=tuples)
        tx.set_pgresult(result)
        try:
            found = tx.load_rows(0, result.ntuples, make)
        finally:
            tx.set_pgresult(None)  # the result's memory goes now, not at the next read
    return prepared.columns, found


async def _by_cursor(conn: AsyncConnection[Any], query: str | bytes,
                     params: Mapping[str, Any] | None, *, tuples: bool,
                     ) -> tuple[tuple[str, ...], list[Any]]:
    cur = conn.cursor(row_factory=tuple_row if tuples else namedtuple_row)
    await cur.execute(query.encode() if isinstance(query, str) else query, params)
    if not cur.description:
        return (), []
    return tuple(c.name for c in cur.description), await cur.fetchall()


async def _send(conn: AsyncConnection[Any], held: _Held, key: tuple[bytes, tuple[int, ...]],
                dumped: Sequence[Any]) -> tuple[PGresult, _Prepared]:
    """Runs a statement (`key`: its text and parameter types) prepared, preparing it on this
    connection first if need be (and deallocating the least recently used one past
    MAX_PREPARED); its result and the statement."""
    pgconn, tx, text = conn.pgconn, held.tx, key[0]
    prepared = held.prepared.pop(key, None)
    if prepared is None:
        while len(held.prepared) >= MAX_PREPARED:
            await _forget(conn, held, next(iter(held.prepared)))
        held.count += 1
        prepared = _Prepared(b"_rg_%d" % held.count)
        # Kept before the server answers: cancelled meanwhile, the statement may exist or not
        # (a missing one is prepared again, see `_run`); refused, it does not.
        held.prepared[key] = prepared
        pgconn.send_prepare(prepared.name, text, param_types=key[1])
        try:
            await _last(conn, held)
        except errors.Error:
            del held.prepared[key]
            raise
    else:
        held.prepared[key] = prepared  # now the most recently used
    pgconn.send_query_prepared(prepared.name, dumped, param_formats=tx.formats)
    return await _last(conn, held), prepared


async def _forget(conn: AsyncConnection[Any], held: _Held,
                  key: tuple[bytes, tuple[int, ...]]) -> None:
    """Deallocates a statement on the server and forgets it."""
    prepared = held.prepared.pop(key, None)
    if prepared is not None:
        conn.pgconn.send_query(b"DEALLOCATE " + prepared.name)
        await _last(conn, held)


async def _last(conn: AsyncConnection[Any], held: _Held) -> PGresult:
    """The last result of what was sent; a failed one raised as psycopg raises it."""
    results = await conn.wait(execute(conn.pgconn))
    for result in results:
        if result.status == _FATAL_ERROR:
            raise errors.error_from_result(result, encoding=held.encoding)
    return results[-1]
