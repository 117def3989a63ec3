"""The personal-data access log: who read which ticket's reporter fields, and when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from db.queries.conditions import Conditions


@dataclass(frozen=True)
class Access:
    """One unmasked read of a ticket's reporter fields."""

    subject: str
    role: str
    ticket_id: int
    fields: tuple[str, ...]


async def record_accesses(conn: AsyncConnection[Any], accesses: Sequence[Access]) -> None:
    """Writes one log row per access, in one statement, stamped with the database clock."""
    if not accesses:
        return
    await conn.execute(
        "INSERT INTO personal_data_access (at, subject, role, ticket_id, fields) "
        "SELECT now(), a.subject, a.role, a.ticket_id, "
        "       string_to_array(a.fields, ',') "
        "FROM unnest(%(subjects)s::varchar[], %(roles)s::varchar[], %(ids)s::bigint[], "
        "            %(fields)s::text[]) AS a (subject, role, ticket_id, fields)",
        {"subjects": [a.subject for a in accesses], "roles": [a.role for a in accesses],
         "ids": [a.ticket_id for a in accesses],
         "fields": [",".join(a.fields) for a in accesses]})


@dataclass(frozen=True)
class AccessFilter:
    subject: str | None = None
    ticket_code: str | None = None


_SOURCE = sql.SQL("personal_data_access l JOIN tickets t ON t.id = l.ticket_id")


async def access_page(conn: AsyncConnection[Any], f: AccessFilter, *, limit: int,
                      after: tuple[datetime, int] | None) -> tuple[list[Any], int]:
    """A page of log rows, newest first, after an (at, id) keyset; and the total count."""
    where = Conditions()
    where.add("l.subject = %(subject)s", "subject", f.subject)
    where.add("t.code = %(ticket_code)s", "ticket_code", f.ticket_code)
    params = where.params
    count = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(_SOURCE, where.clause())
    total = await (await conn.execute(count, params)).fetchone()
    if after is not None:
        where.parts.append(sql.SQL("(l.at, l.id) < (%(after_at)s, %(after_id)s)"))
        params.update(after_at=after[0], after_id=after[1])
    params["limit"] = limit + 1
    page = sql.SQL("SELECT l.id, l.at, l.subject, l.role, t.code AS ticket_code, l.fields "
                   "FROM {} WHERE {} ORDER BY l.at DESC, l.id DESC LIMIT %(limit)s").format(
        _SOURCE, where.clause())
    rows = await (await conn.execute(page, params)).fetchall()
    return rows, int(total.n) if total else 0
