"""Reads through libpq directly (`db.statements`) give what psycopg's cursor gives: the same
rows, errors and connection state, with each statement prepared once per connection."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row

from db import statements
from db.database import Database
from db.statements import convert, records, rows

# Reads over the demo data with parameters of many types: each as rows() and as a cursor.
READS: list[tuple[str, dict[str, Any]]] = [
    ("SELECT code, name, zone_code, households, population, ST_AsGeoJSON(geom, 7) AS gj "
     "FROM communities WHERE ST_Intersects(geom, ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, "
     "4326)) ORDER BY code", {"w": 118.2, "s": 34.9, "e": 118.5, "n": 35.1}),
    ("SELECT id, code, status, created_at, priority, rating, ST_X(geom) AS lon FROM tickets "
     "WHERE id = ANY(%(ids)s) ORDER BY id", {"ids": [1, 2, 3, -1]}),
    ("SELECT code, name FROM zones WHERE code = ANY(%(codes)s) ORDER BY code",
     {"codes": ["Z1", "Z3", "nowhere"]}),
    ("SELECT id, code, status, created_at FROM tickets WHERE id > %(after)s ORDER BY id "
     "LIMIT %(n)s", {"after": 0, "n": 5}),
    ("SELECT id, code FROM tickets WHERE id > %(after)s ORDER BY id LIMIT %(n)s",
     {"after": 2**40, "n": 5}),  # an int8 parameter: prepared apart from the int2 one
    ("SELECT %(d)s::date + 1 AS next, %(x)s::numeric * 2 AS twice, %(t)s AS t, "
     "%(none)s::text IS NULL AS empty, %(b)s AS b, '100%%' AS pct",
     {"d": date(2026, 3, 1), "x": Decimal("1.25"), "t": "网格", "none": None, "b": True}),
    ("SELECT code FROM grid_cells WHERE code LIKE %(p)s || '%%' ORDER BY code LIMIT 3",
     {"p": "3713"}),
    ("SELECT %(a)s::int + %(a)s::int AS doubled, %(b)s::text AS b", {"a": 21, "b": "x"}),
    # Names that are no Python identifiers, as namedtuple_row mends them.
    ('SELECT 1 AS "zone code", 2 AS "_x", 3, %(n)s::int AS "2nd"', {"n": 4}),
]


@pytest.fixture()
async def conn(conninfo: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, row_factory=namedtuple_row,
            prepare_threshold=1) as connection:
        yield connection


async def _prepared(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE "
                             "'\\_rg\\_%%' ORDER BY name", prepare=False)
    return [r.name for r in await cur.fetchall()]


async def test_rows_are_the_cursors_rows(conn: psycopg.AsyncConnection[Any]) -> None:
    for query, params in READS:
        for _ in range(2):  # prepared on the first run, executed as prepared on the second
            expected = await (await conn.execute(query, params)).fetchall()
            got = await rows(conn, query, params)
            assert got == expected, query
            assert [type(r) for r in got] == [type(r) for r in expected]  # the same class
            assert [type(v) for r in got for v in r] == [type(v) for r in expected for v in r]
            names, plain = await records(conn, query.encode(), params)
            assert plain == [tuple(r) for r in expected]
            described = (await conn.execute(query, params)).description or []
            assert names == tuple(c.name for c in described)
    assert [len(await rows(conn, query, params)) for query, params in READS[1:3]] == [3, 2]
    # Without parameters a statement goes as it is, `%%` and all, as psycopg sends it.
    plain = "SELECT '100%%' AS pct, code FROM zones ORDER BY code"
    assert await rows(conn, plain) == await (await conn.execute(plain)).fetchall()


async def test_repeated_column_names_read_as_tuples_not_as_named_ones(
        conn: psycopg.AsyncConnection[Any]) -> None:
    """A joined statement repeats its relations' names (`code` of each): fine as tuples, and
    as named tuples the cursor's error."""
    query = 'SELECT code, name AS "|x", code FROM zones WHERE code = %(c)s'
    for _ in range(2):
        names, found = await records(conn, query, {"c": "Z1"})
        assert names == ("code", "|x", "code") and found[0][0] == found[0][2] == "Z1"
        with pytest.raises(psycopg.DataError):
            await (await conn.execute(query, {"c": "Z1"})).fetchall()
        with pytest.raises(psycopg.DataError):
            await rows(conn, query, {"c": "Z1"})


async def test_a_statement_is_prepared_once_per_connection_and_parameter_types(
        conn: psycopg.AsyncConnection[Any]) -> None:
    query = "SELECT id FROM tickets WHERE id > %(after)s ORDER BY id LIMIT 2"
    for _ in range(3):
        await rows(conn, query, {"after": 1})
    assert len(await _prepared(conn)) == 1
    await rows(conn, query, {"after": 2**40})  # int8 rather than int2: a statement of its own
    assert len(await _prepared(conn)) == 2
    assert convert(query).text == b"SELECT id FROM tickets WHERE id > $1 ORDER BY id LIMIT 2"


async def test_a_connection_that_lost_its_statements_prepares_them_again(
        conn: psycopg.AsyncConnection[Any]) -> None:
    query = "SELECT code FROM zones WHERE code = %(code)s"
    assert [r.code for r in await rows(conn, query, {"code": "Z1"})] == ["Z1"]
    await conn.execute("DEALLOCATE ALL")
    assert await _prepared(conn) == []
    assert [r.code for r in await rows(conn, query, {"code": "Z2"})] == ["Z2"]
    assert len(await _prepared(conn)) == 1


async def test_past_the_most_statements_the_least_recently_used_goes(
        conn: psycopg.AsyncConnection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements, "MAX_PREPARED", 2)
    for n in (1, 2, 1, 3, 1, 4):
        found = await rows(conn, f"SELECT %(v)s::int + {n} AS v", {"v": 10})
        assert found[0].v == 10 + n
    cur = await conn.execute("SELECT statement FROM pg_prepared_statements WHERE name LIKE "
                             "'\\_rg\\_%%' ORDER BY statement", prepare=False)
    assert [r.statement for r in await cur.fetchall()] == [
        "SELECT $1::int + 1 AS v", "SELECT $1::int + 4 AS v"]


async def test_a_statement_follows_its_table_when_its_columns_change(
        conn: psycopg.AsyncConnection[Any]) -> None:
    """A migration adding a column: the statement prepared before is prepared again."""
    await conn.execute("CREATE TEMPORARY TABLE changing (id int, name text)", prepare=False)
    await conn.execute("INSERT INTO changing VALUES (1, 'a')", prepare=False)
    query = "SELECT * FROM changing WHERE id = %(id)s"
    assert await rows(conn, query, {"id": 1}) == [(1, "a")]
    await conn.execute("ALTER TABLE changing ADD COLUMN extra int DEFAULT 7", prepare=False)
    found = await rows(conn, query, {"id": 1})
    assert (found, found[0]._fields) == ([(1, "a", 7)], ("id", "name", "extra"))


async def test_a_connection_takes_its_statements_with_it(conninfo: str) -> None:
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    await rows(conn, "SELECT 1 AS one")
    gone = weakref.ref(conn)
    await conn.close()
    del conn
    gc.collect()
    assert gone() is None


async def test_errors_are_the_cursors_and_leave_the_connection_usable(
        conn: psycopg.AsyncConnection[Any]) -> None:
    with pytest.raises(psycopg.errors.UndefinedColumn):
        await rows(conn, "SELECT nothing FROM zones WHERE code = %(c)s", {"c": "Z1"})
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        await rows(conn, "SELECT %(n)s::int AS n", {"n": "seven"})
    with pytest.raises(psycopg.ProgrammingError, match="missing"):
        await rows(conn, "SELECT %(a)s::int AS a", {"b": 1})
    with pytest.raises(psycopg.ProgrammingError, match="placeholders"):
        await rows(conn, "SELECT %s::int AS a", {"a": 1})
    assert conn.pgconn.transaction_status == TransactionStatus.IDLE
    assert (await rows(conn, "SELECT 1 AS one"))[0].one == 1
    # The statement PostgreSQL refused to prepare is not kept; the one whose value failed is.
    assert await _prepared(conn) == ["_rg_2", "_rg_3"]


async def test_a_statement_timeout_is_raised_and_the_connection_stays_usable(
        conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("SET statement_timeout = 50")
    with pytest.raises(psycopg.errors.QueryCanceled):
        await rows(conn, "SELECT pg_sleep(%(s)s) AS slept", {"s": 2.0})
    await conn.execute("SET statement_timeout = 0")
    assert (await rows(conn, "SELECT 2 AS two"))[0].two == 2


async def test_a_cancelled_read_is_cancelled_on_the_server(
        conn: psycopg.AsyncConnection[Any], conninfo: str) -> None:
    reading = asyncio.ensure_future(rows(conn, "SELECT pg_sleep(%(s)s) AS slept", {"s": 30}))
    await asyncio.sleep(0.3)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert conn.pgconn.transaction_status == TransactionStatus.IDLE
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as other:
        state = await (await other.execute(
            "SELECT state FROM pg_stat_activity WHERE pid = %s", [conn.pgconn.backend_pid]
        )).fetchone()
    assert state == ("idle",)  # not still sleeping: the statement was cancelled
    assert (await rows(conn, "SELECT 3 AS three"))[0].three == 3


async def test_reads_in_a_transaction_outlive_psycopg_deallocating_every_statement(
        conn: psycopg.AsyncConnection[Any]) -> None:
    """psycopg sends DEALLOCATE ALL after a rollback (a savepoint's too) or a DROP; a missing
    statement inside a transaction would fail the whole transaction."""
    query = "SELECT code FROM zones WHERE code = %(code)s"
    assert [r.code for r in await rows(conn, query, {"code": "Z1"})] == ["Z1"]
    for _ in range(2):  # psycopg prepares it on the second run: it deallocates only then
        await conn.execute("SELECT 1")
    async with conn.transaction():
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with conn.transaction():  # a savepoint, rolled back: DEALLOCATE ALL
                await conn.execute("SELECT 1 / 0")
        assert await _prepared(conn) == []
        assert [r.code for r in await rows(conn, query, {"code": "Z2"})] == ["Z2"]
        names, found = await records(conn, query, {"code": "Z3"})
        assert (names, found) == (("code",), [("Z3",)])
    assert conn.pgconn.transaction_status == TransactionStatus.IDLE
    assert [r.code for r in await rows(conn, query, {"code": "Z4"})] == ["Z4"]


async def test_a_connection_without_autocommit_reads_in_a_transaction(conninfo: str) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        assert (await rows(conn, "SELECT 1 AS one"))[0].one == 1
        assert conn.pgconn.transaction_status == TransactionStatus.INTRANS  # as a cursor's


async def test_a_pools_observers_see_the_reads(conninfo: str) -> None:
    db = Database(conninfo, min_size=1, max_size=1)
    seen: list[str] = []
    db.observers.append(seen.append)
    await db.open()
    try:
        async with db.connection() as conn:
            await rows(conn, b"SELECT code FROM zones WHERE code = %(c)s", {"c": "Z1"})
    finally:
        await db.close()
    assert seen == ["SELECT code FROM zones WHERE code = %(c)s"]


async def test_a_closed_connection_raises_operational_error(
        conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.close()
    with pytest.raises(psycopg.OperationalError):
        await rows(conn, "SELECT 1 AS one")
