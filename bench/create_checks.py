"""What the createTicket benchmark wrote, checked in the database afterwards."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from _db import one
from create_jobs import FLOOR_SUBJECT, HTTP_SUBJECT, Job
from psycopg.rows import namedtuple_row

from db.queries.tickets import status_list
from db.vocabulary import OPEN_STATUSES, TicketStatus


def http_notifications(conninfo: str) -> int:
    """Notification rows of the HTTP side's tickets written so far (by the webhook worker)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return int(one(conn.execute(
            "SELECT count(*) FROM notifications n JOIN tickets t ON t.id = n.ticket_id "
            "WHERE t.idempotency_caller = %s", (HTTP_SUBJECT,)))[0])


def verify(conninfo: str, jobs: dict[str, list[Job]], created: dict[str, int],
           wait_s: float) -> dict[str, Any]:
    """What the runs wrote: per side and phase, tickets (one per successful request, each key
    once), events, units and notifications (waiting for the webhook worker's pass on the HTTP
    side); and whether each HTTP ticket was routed like its floor twin."""
    out: dict[str, Any] = {"phases": {}}
    # Connection[Any]: psycopg types named-tuple rows as bare NamedTuple, without their fields.
    with psycopg.Connection[Any].connect(conninfo, autocommit=True,
                                         row_factory=namedtuple_row) as conn:
        def counts(side: str, phase: str) -> Any:
            subject = HTTP_SUBJECT if side == "http" else FLOOR_SUBJECT
            keys = [j.key(side) for j in jobs[phase]]
            return one(conn.execute("""
                WITH t AS MATERIALIZED (
                    SELECT * FROM tickets WHERE idempotency_caller = %(s)s
                                            AND idempotency_key LIKE %(prefix)s)
                SELECT (SELECT count(*) FROM t) AS tickets,
                       (SELECT count(DISTINCT idempotency_key) FROM t) AS keys,
                       (SELECT count(*) FROM t JOIN unnest(%(keys)s::text[]) AS k (key)
                                               ON k.key = t.idempotency_key) AS expected_keys,
                       (SELECT count(*) FROM t WHERE status = %(dispatched)s) AS dispatched,
                       (SELECT count(*) FROM ticket_events e JOIN t ON t.id = e.ticket_id) AS events,
                       (SELECT count(*) FROM ticket_units u JOIN t ON t.id = u.ticket_id) AS units,
                       (SELECT count(*) FROM t CROSS JOIN LATERAL (
                            SELECT t.unit_code WHERE t.unit_code IS NOT NULL
                            UNION SELECT tu.unit_code FROM ticket_units tu
                                  WHERE tu.ticket_id = t.id AND tu.role = 'COOPERATING') u
                        WHERE t.status = %(dispatched)s) AS notifications_expected,
                       (SELECT count(*) FROM notifications n JOIN t ON t.id = n.ticket_id
                        WHERE n.kind = 'DISPATCHED') AS notifications
                """, {"s": subject, "prefix": f"{side}-{phase}-%", "keys": keys,
                      "dispatched": TicketStatus.DISPATCHED}))

        # The HTTP side's notifications come from the worker's next pass after the run.
        t0 = time.monotonic()
        while True:
            http = {p: counts("http", p) for p in jobs}
            if all(c.notifications >= c.notifications_expected for c in http.values()):
                break
            if time.monotonic() - t0 > wait_s:
                break
            time.sleep(0.5)
        out["notifications_wait_s"] = round(time.monotonic() - t0, 1)
        ok = True
        for phase in jobs:
            for side in ("floor", "http"):
                c = http[phase] if side == "http" else counts(side, phase)
                want = created.get(f"{side}-{phase}")
                good = (want is not None and c.tickets == want == c.keys == c.expected_keys
                        and c.events == c.tickets + c.dispatched
                        and c.notifications == c.notifications_expected
                        and c.units >= c.dispatched)
                ok &= good
                out["phases"][f"{side}-{phase}"] = {**c._asdict(), "successful_requests": want,
                                                    "ok": good}
        twins = one(conn.execute("""
            WITH mine AS (
                SELECT t.*, split_part(idempotency_key, '-', 1) AS side,
                       split_part(idempotency_key, '-', 2) || '-'
                       || split_part(idempotency_key, '-', 3) AS k
                FROM tickets t
                WHERE (idempotency_caller = %(fs)s AND idempotency_key LIKE 'floor-%%')
                   OR (idempotency_caller = %(hs)s AND idempotency_key LIKE 'http-%%')),
            units AS (
                SELECT tu.ticket_id,
                       array_agg(tu.unit_code || ' ' || tu.role ORDER BY tu.unit_code, tu.role) AS u
                FROM ticket_units tu JOIN mine ON mine.id = tu.ticket_id GROUP BY 1),
            notes AS (
                SELECT n.ticket_id, array_agg(n.unit_code || ' ' || n.kind || ' '
                                            || (n.payload #>> '{ticket,unitCode}')
                                            ORDER BY n.unit_code, n.kind) AS n
                FROM notifications n JOIN mine ON mine.id = n.ticket_id GROUP BY 1),
            x AS (
                SELECT mine.*, units.u, notes.n FROM mine
                LEFT JOIN units ON units.ticket_id = mine.id
                LEFT JOIN notes ON notes.ticket_id = mine.id),
            f AS (SELECT * FROM x WHERE side = 'floor'),
            h AS (SELECT * FROM x WHERE side = 'http')
            SELECT count(*) AS pairs,
                   count(*) FILTER (WHERE
                       (f.item_code, f.status, f.cell_code, f.compound_code, f.community_code,
                        f.zone_code, f.street_code, f.unit_code, f.due_at - f.created_at,
                        f.description, f.request_hash, f.version, ST_AsText(f.geom))
                       IS DISTINCT FROM
                       (h.item_code, h.status, h.cell_code, h.compound_code, h.community_code,
                        h.zone_code, h.street_code, h.unit_code, h.due_at - h.created_at,
                        h.description, h.request_hash, h.version, ST_AsText(h.geom)))
                       AS differing,
                   count(*) FILTER (WHERE f.u IS DISTINCT FROM h.u) AS units_differing,
                   count(*) FILTER (WHERE f.n IS DISTINCT FROM h.n) AS notifications_differing
            FROM f JOIN h USING (k)
            """, {"fs": FLOOR_SUBJECT, "hs": HTTP_SUBJECT}))
        out["twins"] = twins._asdict()
        ok &= twins.pairs == sum(len(v) for v in jobs.values()) and twins.differing == 0 \
            and twins.units_differing == 0 and twins.notifications_differing == 0
        dup = one(conn.execute("""SELECT count(*) AS n FROM (
            SELECT idempotency_caller, idempotency_key FROM tickets
            WHERE idempotency_key IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d"""))
        out["duplicate_keys"] = dup.n
        ok &= dup.n == 0
    out["ok"] = ok
    return out


def dataset(conninfo: str) -> dict[str, Any]:
    with psycopg.connect(conninfo, row_factory=namedtuple_row) as conn:
        r = one(conn.execute("""SELECT current_database() AS database,
            (SELECT count(*) FROM tickets) AS tickets,
            (SELECT count(*) FROM tickets WHERE status IN """ + status_list(OPEN_STATUSES) + """)
              AS open_tickets,
            (SELECT count(*) FROM ticket_events) AS ticket_events,
            (SELECT count(*) FROM notifications) AS notifications,
            (SELECT count(*) FROM compounds) AS compounds,
            (SELECT count(*) FROM grid_cells) AS grid_cells,
            (SELECT count(*) FROM communities) AS communities,
            (SELECT count(*) FROM units) AS units,
            (SELECT count(*) FROM property_contracts) AS property_contracts,
            (SELECT count(*) FROM demand_items) AS demand_items,
            pg_size_pretty(pg_database_size(current_database())) AS database_size"""))
    return r._asdict()
