"""Queries over property performance: compounds' monthly tickets, contracts' ticket counts,
and the performance bond 履约保证金 with its append-only ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from db.vocabulary import TIME_ZONE

_MONTHLY = f"""
SELECT m.month::date AS month, count(t.id) AS tickets
FROM generate_series(%(first)s::timestamp, %(last)s::timestamp, interval '1 month') AS m(month)
LEFT JOIN tickets t
       ON t.compound_code = %(compound)s
      AND t.created_at >= (m.month AT TIME ZONE '{TIME_ZONE}')
      AND t.created_at < ((m.month + interval '1 month') AT TIME ZONE '{TIME_ZONE}')
GROUP BY m.month
ORDER BY m.month"""


async def monthly_tickets(conn: AsyncConnection[Any], compound_code: str, *, first: date,
                          last: date) -> list[Any]:
    """Tickets of a compound in each month from `first` to `last` (first days of months,
    Asia/Shanghai), zero months included."""
    cur = await conn.execute(_MONTHLY, {"compound": compound_code, "first": first, "last": last})
    return await cur.fetchall()


_CONTRACT_TICKETS = f"""
WITH c AS (
    SELECT pc.id, pc.compound_code, pc.company_code, pc.manager_name, k.households,
           greatest(pc.start_date, %(start)s::date) AS s,
           least(coalesce(pc.end_date, %(end)s::date), %(end)s::date) AS e
    FROM property_contracts pc JOIN compounds k ON k.code = pc.compound_code
    WHERE pc.start_date < %(end)s::date AND (pc.end_date IS NULL OR pc.end_date > %(start)s::date)
)
SELECT c.id AS contract_id, c.compound_code, c.company_code, u.name AS company_name,
       c.manager_name, c.households, (c.e - c.s) AS days, count(t.id) AS tickets,
       count(t.rating) AS rated, coalesce(sum(t.rating), 0) AS rating_sum,
       (SELECT count(*) FROM supervisor_findings f
        WHERE f.compound_code = c.compound_code AND f.company_code = c.company_code
          AND f.found_at >= (c.s::timestamp AT TIME ZONE '{TIME_ZONE}')
          AND f.found_at < (c.e::timestamp AT TIME ZONE '{TIME_ZONE}')) AS findings
FROM c
JOIN units u ON u.code = c.company_code
LEFT JOIN tickets t
       ON t.compound_code = c.compound_code
      AND t.created_at >= (c.s::timestamp AT TIME ZONE '{TIME_ZONE}')
      AND t.created_at < (c.e::timestamp AT TIME ZONE '{TIME_ZONE}')
GROUP BY c.id, c.compound_code, c.company_code, u.name, c.manager_name, c.households, c.s, c.e
ORDER BY c.id"""


async def contract_tickets(conn: AsyncConnection[Any], *, start: date, end: date) -> list[Any]:
    """Each contract in force during [start, end) with its days in force there, its
    compound's households, the tickets (and ratings) of its compound in those days, and the
    supervisors' findings against its company there."""
    cur = await conn.execute(_CONTRACT_TICKETS, {"start": start, "end": end})
    return await cur.fetchall()


CONTRACT_COLUMNS = (
    "pc.id, pc.compound_code, k.community_code, pc.company_code, pc.manager_name, "
    "pc.start_date, pc.end_date, pc.annual_fee_receivable, pc.bond_rate, pc.bond_amount, "
    "pc.bond_balance"
)
_CONTRACTS = (f"SELECT {CONTRACT_COLUMNS} FROM property_contracts pc "
              "JOIN compounds k ON k.code = pc.compound_code")


async def contract(conn: AsyncConnection[Any], contract_id: int) -> Any | None:
    cur = await conn.execute(_CONTRACTS + " WHERE pc.id = %(id)s",
                             {"id": contract_id})
    return await cur.fetchone()


async def contracts_of_compound(conn: AsyncConnection[Any], compound_code: str) -> list[Any]:
    """A compound's contracts, newest first."""
    cur = await conn.execute(
        _CONTRACTS + " WHERE pc.compound_code = %(code)s "
        "ORDER BY pc.start_date DESC, pc.id DESC", {"code": compound_code})
    return await cur.fetchall()


async def ledger(conn: AsyncConnection[Any], contract_ids: Sequence[int]) -> list[Any]:
    """Ledger entries of contracts, oldest first, with their tickets' codes."""
    cur = await conn.execute(
        "SELECT b.id, b.contract_id, b.at, b.kind, b.amount, b.balance_after, b.reason, "
        "t.code AS ticket_code, b.actor FROM bond_ledger b "
        "LEFT JOIN tickets t ON t.id = b.ticket_id "
        "WHERE b.contract_id = ANY(%(ids)s) ORDER BY b.contract_id, b.id",
        {"ids": list(contract_ids)})
    return await cur.fetchall()


async def move_balance(conn: AsyncConnection[Any], contract_id: int,
                       change: Decimal) -> Decimal | None:
    """Moves the balance by `change` (negative: a drawdown, positive: a top-up) if it stays
    between 0 and the bond amount; the new balance, or None.

    One conditional UPDATE: a concurrent move waits on the row lock and then re-checks the
    condition against the committed balance, so two can never overdraw (or overfill) it.
    """
    cur = await conn.execute(
        "UPDATE property_contracts SET bond_balance = bond_balance + %(change)s "
        "WHERE id = %(id)s AND bond_balance + %(change)s BETWEEN 0 AND bond_amount "
        "RETURNING bond_balance", {"id": contract_id, "change": change})
    row = await cur.fetchone()
    return None if row is None else Decimal(row.bond_balance)


@dataclass(frozen=True)
class NewEntry:
    contract_id: int
    at: datetime
    kind: str
    amount: Decimal
    balance_after: Decimal
    reason: str
    ticket_id: int | None
    actor: str


async def append_entry(conn: AsyncConnection[Any], e: NewEntry) -> None:
    """Appends a ledger entry; the ledger is never updated or deleted."""
    await conn.execute(
        "INSERT INTO bond_ledger (contract_id, at, kind, amount, balance_after, reason, "
        "ticket_id, actor) VALUES (%(contract_id)s, %(at)s, %(kind)s, %(amount)s, "
        "%(balance_after)s, %(reason)s, %(ticket_id)s, %(actor)s)",
        {"contract_id": e.contract_id, "at": e.at, "kind": e.kind, "amount": e.amount,
         "balance_after": e.balance_after, "reason": e.reason, "ticket_id": e.ticket_id,
         "actor": e.actor})


async def summons_in(conn: AsyncConnection[Any], *, start: datetime, end: datetime,
                     units: Sequence[str] | None, limit: int) -> list[Any]:
    """Summonses in [start, end), of some units (None: any), oldest first, at most `limit`."""
    cur = await conn.execute(
        "SELECT s.id, s.at, s.reason, s.unit_code, u.name AS unit_name, u.kind AS unit_kind "
        "FROM summons s JOIN units u ON u.code = s.unit_code "
        "WHERE s.at >= %(start)s AND s.at < %(end)s "
        "AND (%(units)s::text[] IS NULL OR s.unit_code = ANY(%(units)s)) "
        "ORDER BY s.at, s.id LIMIT %(limit)s",
        {"start": start, "end": end, "units": None if units is None else list(units),
         "limit": limit})
    return await cur.fetchall()


async def insert_summons(conn: AsyncConnection[Any], *, unit_code: str, at: datetime,
                         reason: str, actor: str) -> Any:
    cur = await conn.execute(
        "WITH s AS (INSERT INTO summons (unit_code, at, reason, summoned_by) "
        "VALUES (%s, %s, %s, %s) RETURNING *) "
        "SELECT s.id, s.at, s.reason, s.unit_code, u.name AS unit_name, u.kind AS unit_kind "
        "FROM s JOIN units u ON u.code = s.unit_code", (unit_code, at, reason, actor))
    row = await cur.fetchone()
    assert row is not None
    return row


async def manager_replacements(conn: AsyncConnection[Any], *, start: date, end: date) -> list[Any]:
    """Managers replaced in [start, end): a contract followed on its last day by one of the
    same company for the same compound naming another manager."""
    cur = await conn.execute(
        """SELECT n.compound_code, k.name AS compound_name, n.company_code,
                  u.name AS company_name, o.manager_name AS old_manager,
                  n.manager_name AS new_manager, n.start_date AS replaced_on
           FROM property_contracts n
           JOIN property_contracts o ON o.compound_code = n.compound_code
                AND o.company_code = n.company_code AND o.end_date = n.start_date
                AND o.manager_name <> n.manager_name
           JOIN compounds k ON k.code = n.compound_code JOIN units u ON u.code = n.company_code
           WHERE n.start_date >= %(start)s AND n.start_date < %(end)s
           ORDER BY n.start_date, n.compound_code""", {"start": start, "end": end})
    return await cur.fetchall()
