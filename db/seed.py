"""Loads the deterministic synthetic demo dataset, and bulk tickets for benchmarks, with COPY."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

import psycopg
import shapely
from psycopg import sql
from shapely.geometry import LineString, MultiLineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

from db import labels
from db.catalogue import load_catalogue
from db.demo import DEFAULT_SEED
from db.demo.activity import seed_activity
from db.demo.basemap import plan_roads, plan_waters
from db.demo.cadres import ASSESSMENT_WEIGHTS, RULES, plan_cadres, plan_zone_staff
from db.demo.committees import RECORDER, CommitteePlan, at_ten, plan_committees
from db.demo.community_life import RECORDER as LIFE_RECORDER
from db.demo.community_life import (
    plan_market_fairs,
    plan_room_applications,
    plan_room_rents,
    plan_social_organisations,
)
from db.demo.patrols import plan_patrols
from db.demo.places import Places, plan_places
from db.demo.services import (
    COUNTY_UNITS,
    FacilityPlan,
    plan_contracts,
    plan_facilities,
    plan_operations,
    plan_units,
    plan_volunteers,
)
from db.demo.tickets import Item, TicketFactory, TicketRow, bulk_tickets, demo_tickets
from db.demo.timeline import Timeline, today
from db.demo.workflow import derive_workflow
from geo.frame import LocalFrame

# The county seat's centre (WGS-84).
CENTRE = LocalFrame(lon0=118.657, lat0=34.918)
Progress = Callable[[str, int, int], None]


class SeedError(RuntimeError):
    """The database is not in a state to seed, with what to do next."""


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _wkb(geom: BaseGeometry, frame: LocalFrame = CENTRE) -> str:
    g = shapely.set_srid(frame.geometry_to_lonlat(geom), 4326)
    return shapely.to_wkb(g, hex=True, include_srid=True)


def _multi(geom: BaseGeometry) -> BaseGeometry:
    if isinstance(geom, LineString):
        return MultiLineString([geom])
    return geom if isinstance(geom, MultiPolygon | MultiLineString) else MultiPolygon([geom])


def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> int:
    n = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def dataset_seed(conn: psycopg.Connection) -> int | None:
    row = conn.execute("SELECT value FROM dataset_info WHERE key = 'seed'").fetchone()
    return int(row[0]) if row else None


def holds_data(conn: psycopg.Connection) -> bool:
    """Whether the database holds the demo or places of its own (`redgrid import`)."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM streets)").fetchone()
    return dataset_seed(conn) is not None or bool(row and row[0])


def _items() -> list[Item]:
    return [Item(i.code, i.category_code, i.lead_unit_kind, i.deadline_class, i.name_zh,
                 i.cooperating_unit_kinds) for i in load_catalogue()]


def _factory(places: Places, seed: int, salt: int = 0,
             timeline: Timeline | None = None) -> TicketFactory:
    rng = random.Random(seed)
    contracts = plan_contracts(rng, places, timeline)
    county = {kind: f"U-{kind}" for kind in COUNTY_UNITS}
    return TicketFactory(places, CENTRE, _items(), contracts, county, seed * 1000 + salt)


def seed_demo(conninfo: str, seed: int = DEFAULT_SEED, progress: Progress = _noop,
              as_of: date | None = None) -> dict[str, int]:
    """Writes the whole demo dataset in one transaction, its history ending on `as_of` (default
    today, Asia/Shanghai); returns the row count per table. Deterministic for a seed and
    date."""
    timeline = Timeline(as_of or today())
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        if holds_data(conn):
            raise SeedError("the database already holds data; seed a fresh database "
                            "(or drop this one) to load the demo again")
        progress("places", 0, 7)
        places = plan_places(seed)
        rng = random.Random(seed)
        contracts = plan_contracts(rng, places, timeline)
        conn.execute("INSERT INTO dataset_info (key, value) VALUES "
                     "('synthetic', 'true'), ('seed', %s), ('as_of', %s), "
                     "('first_month', %s), ('last_month', %s), "
                     "('note', 'Synthetic demo data modelled on Linshu County; not real records.')",
                     (str(seed), timeline.as_of.isoformat(),
                      timeline.first_month.strftime("%Y-%m"),
                      timeline.last_month.strftime("%Y-%m")))
        counts["streets"] = _copy(conn, "streets", ("code", "name", "geom"),
                                  ((c, n, _wkb(_multi(g))) for c, n, g in places.streets))
        counts["zones"] = _copy(
            conn, "zones", ("code", "name", "street_code", "secretary_name", "geom"),
            ((c, n, s, f"{'王李张刘陈'[i]}书记", _wkb(_multi(g)))
             for i, (c, n, s, g) in enumerate(places.zones)))
        counts["communities"] = _copy(
            conn, "communities",
            ("code", "name", "zone_code", "street_code", "households", "population", "geom"),
            ((c.code, c.name, c.zone_code, c.code[:9], c.households, c.population,
              _wkb(c.polygon)) for c in places.communities))
        progress("places", 1, 7)
        counts["grid_cells"] = _copy(
            conn, "grid_cells", ("code", "community_code", "households", "geom"),
            ((c.code, c.community_code, c.households, _wkb(c.polygon)) for c in places.cells))
        counts["compounds"] = _copy(
            conn, "compounds",
            ("code", "name", "community_code", "households", "population", "elderly",
             "children", "geom"),
            ((c.code, c.name, c.community_code, c.households, c.population, c.elderly,
              c.children, _wkb(c.polygon)) for c in places.compounds))
        counts["buildings"] = _copy(
            conn, "buildings",
            ("code", "compound_code", "cell_code", "floors", "households", "geom"),
            ((b.code, b.compound_code, b.cell_code, b.floors, b.households, _wkb(b.polygon))
             for c in places.compounds for b in c.buildings))
        roads = plan_roads(places)
        counts["roads"] = _copy(conn, "roads", ("code", "name", "kind", "geom"),
                                ((r.code, r.name, r.kind, _wkb(_multi(r.geom))) for r in roads))
        counts["waters"] = _copy(
            conn, "waters", ("code", "name", "kind", "geom"),
            ((w.code, w.name, w.kind, _wkb(_multi(w.geom))) for w in plan_waters(places, roads,
                                                                             seed)))
        progress("places", 2, 7)
        counts["units"] = _copy(conn, "units",
                                ("code", "name", "kind", "community_code", "street_code"),
                                plan_units(places))
        counts["property_contracts"] = _copy(
            conn, "property_contracts",
            ("compound_code", "company_code", "manager_name", "start_date", "end_date",
             "annual_fee_receivable", "bond_rate", "bond_amount", "bond_balance"),
            ((c.compound_code, c.company_code, c.manager_name, c.start_date, c.end_date,
              c.annual_fee_receivable, c.bond_rate, c.bond_amount, c.bond_amount)
             for c in contracts))
        catalogue = load_catalogue()
        categories = {(i.category_code, i.category_zh, i.category_en) for i in catalogue}
        counts["demand_categories"] = _copy(conn, "demand_categories",
                                            ("code", "name_zh", "name_en"), sorted(categories))
        counts["demand_items"] = _copy(
            conn, "demand_items",
            ("code", "category_code", "name_zh", "name_en", "lead_unit_kind",
             "cooperating_unit_kinds", "deadline_class", "legal_basis"),
            ((i.code, i.category_code, i.name_zh, i.name_en, i.lead_unit_kind,
              list(i.cooperating_unit_kinds), i.deadline_class, i.legal_basis)
             for i in catalogue))
        progress("services", 3, 7)
        facilities = plan_facilities(rng, places)
        plan_operations(seed, places, facilities)
        counts["facilities"] = _copy(
            conn, "facilities",
            ("code", "name", "kind", "subtype", "community_code", "compound_code", "area_m2",
             "capacity", "operator", "status", "geom"),
            ((f.code, f.name, f.kind, f.subtype, f.community_code, f.compound_code, f.area_m2,
              f.capacity, f.operator, f.status, _wkb(f.point)) for f in facilities))
        counts["volunteers"] = _copy(
            conn, "volunteers",
            ("code", "name", "role", "party_member", "employer", "building_code", "cell_code",
             "compound_code", "community_code"),
            ((v.code, v.name, v.role, v.party_member, v.employer, v.building_code, v.cell_code,
              v.compound_code, v.community_code) for v in plan_volunteers(rng, places)))
        counts.update(_write_community_life(conn, places, facilities, seed, timeline))
        counts.update(_write_cadres(conn, places, seed, timeline))
        counts.update(_write_committees(conn, plan_committees(seed, places, timeline)))
        progress("tickets", 4, 7)
        rows = demo_tickets(_factory(places, seed, timeline=timeline), timeline)
        counts["tickets"], counts["ticket_events"] = _write_tickets(conn, rows)
        derive_workflow(conn)
        seed_activity(conn, rng_seed=seed, timeline=timeline)
        counts["patrol_visits"] = _write_patrols(conn, places, seed, timeline, rows)
        progress("indexes", 6, 7)
        conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), "
                     "(SELECT max(id) FROM tickets))")
        conn.commit()
        progress("done", 7, 7)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return counts


def _write_community_life(conn: psycopg.Connection, places: Places,
                          facilities: list[FacilityPlan], seed: int,
                          timeline: Timeline) -> dict[str, int]:
    """Social organisations, market fairs and the service rooms' ledger, with a random stream
    of their own."""
    rng = random.Random(seed * 31 + 80)
    counts: dict[str, int] = {}
    orgs = plan_social_organisations(rng, places, timeline)
    counts["social_organisations"] = _copy(
        conn, "social_organisations", ("code", "name", "kind", "field", "home_community_code",
                                       "since"),
        ((o.code, o.name, o.kind, o.field, o.home_community_code, o.since) for o in orgs))
    counts["social_organisation_communities"] = _copy(
        conn, "social_organisation_communities", ("organisation_code", "community_code"),
        ((o.code, c) for o in orgs for c in o.serves))
    counts["market_fairs"] = _copy(
        conn, "market_fairs", ("held_on", "venue_compound_code", "community_codes", "stalls",
                               "attendance"),
        ((f.held_on, f.venue_compound_code, list(f.community_codes), f.stalls, f.attendance)
         for f in plan_market_fairs(rng, places, timeline)))
    rooms = [f for f in facilities if f.kind == "SERVICE_ROOM"]
    counts["service_room_rents"] = _copy(conn, "service_room_rents",
                                         ("room_code", "month", "income"),
                                         plan_room_rents(rng, rooms, timeline))
    applications = plan_room_applications(rng, rooms, timeline)
    counts["service_room_applications"] = _copy(
        conn, "service_room_applications",
        ("id", "room_code", "use", "purpose", "status", "version", "created_at"),
        ((n, a.room_code, a.use, a.purpose, a.status, len(a.steps), a.steps[0][1])
         for n, a in enumerate(applications, start=1)))
    counts["service_room_application_events"] = _copy(
        conn, "service_room_application_events", ("application_id", "at", "action", "actor", "note"),
        ((n, at, action, LIFE_RECORDER, note) for n, a in enumerate(applications, start=1)
         for action, at, note in a.steps))
    conn.execute("SELECT setval(pg_get_serial_sequence('service_room_applications', 'id'), "
                 "(SELECT coalesce(max(id), 1) FROM service_room_applications))")
    return counts


def _write_cadres(conn: psycopg.Connection, places: Places, seed: int,
                  timeline: Timeline) -> dict[str, int]:
    """Community cadres, the rules as data and what was decided under them, trainings,
    mentoring pairs and the scorecard's weights, with a random stream of their own."""
    records = plan_cadres(random.Random(seed * 31 + 90), places, timeline)
    counts = {
        "cadres": _copy(conn, "cadres", ("code", "name", "community_code", "post",
                                         "party_member", "elected_on"),
                        ((c.code, c.name, c.community_code, c.post, c.party_member, c.elected_on)
                         for c in records.cadres)),
        "cadre_rules": _copy(conn, "cadre_rules", ("code", "kind", "name_zh"), RULES),
        "cadre_cases": _copy(conn, "cadre_cases", ("cadre_code", "rule_code", "decided_on",
                                                   "note"), records.cases),
        "cadre_checks": _copy(conn, "cadre_checks", ("cadre_code", "year", "checked_on",
                                                     "passed"), records.checks),
        "cadre_trainings": _copy(conn, "cadre_trainings", ("title", "destination", "started_on",
                                                           "days", "cadre_codes"),
                                 records.trainings),
        "cadre_mentorships": _copy(conn, "cadre_mentorships", ("mentor_code", "mentee_code",
                                                               "since"), records.mentorships),
        "assessment_weights": _copy(conn, "assessment_weights", ("component", "weight",
                                                                 "name_zh"), ASSESSMENT_WEIGHTS),
        "zone_staff": _copy(conn, "zone_staff", ("code", "zone_code", "name", "post"),
                            plan_zone_staff(random.Random(seed * 31 + 91), places)),
    }
    return counts


def _write_patrols(conn: psycopg.Connection, places: Places, seed: int, timeline: Timeline,
                   tickets: list[TicketRow]) -> int:
    """The patrol visits of the weeks up to the as-of day, with a random stream of their own."""
    visits = plan_patrols(random.Random(seed * 31 + 100), places, CENTRE, timeline, tickets)
    return _copy(conn, "patrol_visits",
                 ("at", "worker", "cell_code", "compound_code", "building_code", "geom",
                  "findings", "ticket_id"),
                 ((v.at, v.worker, v.cell_code, v.compound_code, v.building_code,
                   f"SRID=4326;POINT({v.lon!r} {v.lat!r})", v.findings, v.ticket_id)
                  for v in visits))


def _write_committees(conn: psycopg.Connection, plans: list[CommitteePlan]) -> dict[str, int]:
    """The owners' committees with their members and vettings, ids numbered from 1."""
    members = [(c, m) for c in range(len(plans)) for m in plans[c].members]
    counts = {
        "owners_committees": _copy(
            conn, "owners_committees",
            ("id", "compound_code", "term_start", "term_end", "elected_at", "elected_by"),
            ((i + 1, p.compound_code, p.term_start, p.term_end, at_ten(p.term_start), RECORDER)
             for i, p in enumerate(plans))),
        "committee_members": _copy(
            conn, "committee_members",
            ("id", "committee_id", "name", "role", "party_member", "on_community_committees",
             "removed_at", "removed_for"),
            ((i + 1, c + 1, m.name, m.role, m.party_member, m.on_community_committees,
              at_ten(m.removed_on) if m.removed_on else None, m.removed_for)
             for i, (c, m) in enumerate(members))),
        "committee_vettings": _copy(
            conn, "committee_vettings",
            ("member_id", "vetted_at", "negative_items", "outcome", "vetted_by"),
            ((i + 1, at_ten(m.vetted_on), [m.removed_for] if m.removed_for else [],
              "REMOVED" if m.removed_for else "PASSED", RECORDER)
             for i, (_, m) in enumerate(members) if m.vetted_on)),
    }
    for table in ("owners_committees", "committee_members"):
        conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), "
                             "(SELECT max(id) FROM {}))").format(table, sql.Identifier(table)))
    return counts


TICKET_COLUMNS = (
    "id", "code", "item_code", "channel", "description", "reporter_name", "reporter_phone",
    "status", "level", "geom", "cell_code", "compound_code", "community_code", "zone_code",
    "street_code", "unit_code", "created_at", "due_at", "updated_at", "version", "h3_9", "h3_8",
)


def _write_tickets(conn: psycopg.Connection, rows: list[TicketRow]) -> tuple[int, int]:
    conn.execute("SET LOCAL redgrid.bulk_load = 'on'")
    tickets = _copy(conn, "tickets", TICKET_COLUMNS, (_ticket_tuple(r) for r in rows))
    unit_names: dict[str, str] = dict(conn.execute("SELECT code, name FROM units").fetchall())
    events = _copy(conn, "ticket_events",
                   ("ticket_id", "at", "action", "from_status", "to_status", "actor", "note"),
                   ((r.id, *_dispatch_noted(e, unit_names.get(r.unit_code or "")))
                    for r in rows for e in r.events))
    _copy(conn, "ticket_units", ("ticket_id", "unit_code", "role"),
          ((r.id, u, "COOPERATING") for r in rows for u in r.cooperating_units))
    return tickets, events


def _dispatch_noted(event: tuple[Any, ...], unit_name: str | None) -> tuple[Any, ...]:
    """The routing event with the note the server writes for it (已派单至…)."""
    if event[1] != "DISPATCHED" or unit_name is None:
        return event
    return (*event[:-1], labels.DISPATCHED_TO + unit_name)


def _ticket_tuple(r: TicketRow) -> tuple[Any, ...]:
    return (
        r.id, r.code, r.item.code, r.channel, r.description, r.reporter_name, r.reporter_phone,
        r.status, r.level, f"SRID=4326;POINT({r.lon!r} {r.lat!r})", r.cell_code,
        r.compound_code, r.community_code, r.zone_code, r.street_code, r.unit_code,
        r.created_at, r.due_at, r.events[-1][0], len(r.events), r.h3_9, r.h3_8,
    )


def seed_bulk_tickets(conninfo: str, count: int, progress: Progress = _noop) -> int:
    """Adds `count` tickets to a seeded database in streamed COPY chunks; returns the count."""
    with psycopg.connect(conninfo) as conn:
        seed = dataset_seed(conn)
        if seed is None:
            raise SeedError("no demo data here yet: run `redgrid seed --demo` first")
        places = plan_places(seed)
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM tickets").fetchone()
        assert first is not None
        start = int(first[0])
        factory = _factory(places, seed, salt=start)
        done = 0
        progress("tickets", 0, count)
        for chunk in bulk_tickets(factory, count, start):
            _write_tickets(conn, chunk)
            conn.execute("INSERT INTO ticket_units (ticket_id, unit_code, role) "
                         "SELECT id, unit_code, 'LEAD' FROM tickets WHERE id >= %s "
                         "AND unit_code IS NOT NULL ON CONFLICT DO NOTHING",
                         (chunk[0].id,))
            conn.commit()
            done += len(chunk)
            progress("tickets", done, count)
        conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), "
                     "(SELECT max(id) FROM tickets))")
        conn.commit()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # VACUUM too: fresh rows are not yet all-visible, so every index-only count (the ticket
        # tiles' per-cell counts, the heat map's) would visit the heap until autovacuum came.
        conn.execute("VACUUM ANALYZE tickets")
        conn.execute("ANALYZE ticket_events")
    return done
