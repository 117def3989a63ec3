"""`createTicket`: routing, deadlines, idempotency under concurrency, and nothing written on
bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from db.database import Database
from db.urls import psycopg_conninfo
from geo.types import LonLat
from resolvers.actor import Actor, Role
from resolvers.ticket_create import CreateTicketArgs, create_ticket
from tests.conftest import (
    TEST_DB,
    GraphQLClient,
    Minter,
    demo_database,
    drop_database,
)
from web.settings import Settings


@pytest.fixture(scope="module")
def resident(gql: GraphQLClient, token: Minter) -> GraphQLClient:
    """Residents file tickets online and by QR code."""
    return gql.as_(token("RESIDENT", sub="create-resident"))


CREATE = """mutation ($input: CreateTicketInput!, $key: String) {
  createTicket(input: $input, idempotencyKey: $key) {
    ticket { code status level itemCode createdAt dueAt version
             gridCell { code } compound { code } community { code }
             responsibleUnit { code kind } events { action toStatus } }
    errors { code field message } } }"""


def compound_point(db: psycopg.Connection, name: str = "华丰现代城") -> dict[str, float]:
    lon, lat = db.execute("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                          "FROM compounds WHERE name = %s", (name,)).fetchone()  # type: ignore[misc]
    return {"lon": lon, "lat": lat}


NAMED = """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
    ticket { itemCode itemName categoryCode categoryName responsibleUnit { name }
             events { action note } }
    errors { code } } }"""


@pytest.mark.parametrize("item", ["P11", "P23", "P46"])
def test_ticket_names_its_item_category_and_unit_in_chinese(
        resident: GraphQLClient, db: psycopg.Connection, item: str) -> None:
    out = resident.data(NAMED, {"input": {"point": compound_point(db, "翡翠星城"), "itemCode": item,
                                          "description": "演示", "channel": "ONLINE"}})
    t = out["createTicket"]["ticket"]
    expected = db.execute(
        "SELECT i.name_zh, c.code, c.name_zh FROM demand_items i "
        "JOIN demand_categories c ON c.code = i.category_code WHERE i.code = %s", (item,)).fetchone()
    assert (t["itemName"], t["categoryCode"], t["categoryName"]) == expected
    dispatched = [e["note"] for e in t["events"] if e["action"] == "DISPATCHED"]
    assert dispatched == [f"已派单至{t['responsibleUnit']['name']}"]


def ticket_count(db: psycopg.Connection) -> tuple[int, int]:
    row = db.execute("SELECT (SELECT count(*) FROM tickets), "
                     "(SELECT count(*) FROM ticket_events)").fetchone()
    assert row is not None
    return row[0], row[1]


def test_property_item_goes_to_the_compounds_current_company(resident: GraphQLClient,
                                                             db: psycopg.Connection) -> None:
    point = compound_point(db)
    company = db.execute("""SELECT c.company_code FROM property_contracts c
        JOIN compounds k ON k.code = c.compound_code
        WHERE k.name = '华丰现代城' AND c.end_date IS NULL""").fetchone()[0]  # type: ignore[index]
    out = resident.data(CREATE, {"input": {"point": point, "itemCode": "P11",
                                      "description": " 电梯困人 ", "channel": "QR_CODE"}})
    t = out["createTicket"]["ticket"]
    assert out["createTicket"]["errors"] == []
    assert t["responsibleUnit"] == {"code": company, "kind": "PROPERTY_COMPANY"}
    assert t["status"] == "DISPATCHED" and t["level"] == "COMMUNITY" and t["version"] == 2
    assert [e["action"] for e in t["events"]] == ["CREATED", "DISPATCHED"]
    created, due = datetime.fromisoformat(t["createdAt"]), datetime.fromisoformat(t["dueAt"])
    assert due - created == timedelta(hours=2)  # P11 is an emergency
    assert t["compound"]["code"].startswith(t["community"]["code"])


@pytest.mark.parametrize(("item", "kind", "deadline"), [
    ("P25", "POWER_COMPANY", timedelta(hours=24)), ("P39", "COMMUNITY", timedelta(days=15)),
    ("P42", "STREET", timedelta(days=15)), ("P31", "PUBLIC_SECURITY", timedelta(days=7)),
])
def test_routing_by_lead_unit_kind(resident: GraphQLClient, db: psycopg.Connection, item: str,
                                   kind: str, deadline: timedelta) -> None:
    t = resident.data(CREATE, {"input": {"point": compound_point(db, "翡翠星城"), "itemCode": item,
                                    "description": "测试", "channel": "ONLINE"}})[
        "createTicket"]["ticket"]
    assert t["responsibleUnit"]["kind"] == kind
    if kind == "COMMUNITY":
        assert t["responsibleUnit"]["code"] == t["community"]["code"]
    if kind == "STREET":
        assert t["responsibleUnit"]["code"] == t["community"]["code"][:9]
    assert (datetime.fromisoformat(t["dueAt"]) - datetime.fromisoformat(t["createdAt"])
            == deadline)


BAD = [
    ({"itemCode": "P99"}, "UNKNOWN_ITEM_CODE", "input.itemCode"),
    ({"description": "   "}, "BAD_USER_INPUT", "input.description"),
    ({"description": "x" * 2001}, "BAD_USER_INPUT", "input.description"),
    ({"point": {"lon": 116.4, "lat": 39.9}}, "OUTSIDE_COVERAGE", "input.point"),
    ({"point": {"lon": 118.6, "lat": 95}}, "BAD_USER_INPUT", "input.point.lat"),
    ({"reporterPhone": "call me"}, "BAD_USER_INPUT", "input.reporterPhone"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_input_writes_nothing(resident: GraphQLClient, db: psycopg.Connection,
                                  change: dict[str, Any], code: str, field: str) -> None:
    before = ticket_count(db)
    good = {"point": compound_point(db), "itemCode": "P01", "description": "楼道脏",
            "channel": "ONLINE"}
    out = resident.data(CREATE, {"input": {**good, **change}})["createTicket"]
    assert out["ticket"] is None
    assert [(e["code"], e["field"]) for e in out["errors"]] == [(code, field)]
    assert ticket_count(db) == before


def test_a_10_mb_description_is_refused_unread(client: TestClient,
                                               db: psycopg.Connection) -> None:
    before = ticket_count(db)
    ask = {"point": compound_point(db), "itemCode": "P01", "channel": "ONLINE",
           "description": "长" * (10 * 1024 * 1024 // 3)}
    response = client.post("/graphql", json={"query": CREATE, "variables": {"input": ask}})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert ticket_count(db) == before


def test_same_key_same_ticket_different_input_conflicts(gql: GraphQLClient, token: Minter,
                                                        db: psycopg.Connection) -> None:
    ask = {"point": compound_point(db), "itemCode": "P02", "description": "垃圾未清运",
           "channel": "HOTLINE_12345", "reporterName": "王伟", "reporterPhone": "13800001234"}
    county = gql.as_(token("COUNTY_OFFICE", sub="hotline-desk"))
    first = county.data(CREATE, {"input": ask, "key": "retry-1"})["createTicket"]["ticket"]
    before = ticket_count(db)
    again = county.data(CREATE, {"input": ask, "key": "retry-1"})["createTicket"]["ticket"]
    assert again["code"] == first["code"] and ticket_count(db) == before
    other = county.data(CREATE, {"input": {**ask, "description": "别的事"}, "key": "retry-1"})
    assert other["createTicket"]["ticket"] is None
    assert other["createTicket"]["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert ticket_count(db) == before


def test_50_concurrent_retries_make_one_ticket(live_server: str, db: psycopg.Connection,
                                              token: Minter) -> None:
    ask = {"point": compound_point(db), "itemCode": "P13", "description": "门禁坏了",
           "channel": "ONLINE"}
    body = {"query": CREATE, "variables": {"input": ask, "key": "storm-50"}}
    before = ticket_count(db)

    async def storm() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token('RESIDENT', sub='storm-resident')}"}
        async with httpx.AsyncClient(base_url=live_server, timeout=60, headers=headers) as c:
            responses = await asyncio.gather(*(c.post("/graphql", json=body) for _ in range(50)))
        return [r.json() for r in responses]

    results = asyncio.run(storm())
    codes = {r["data"]["createTicket"]["ticket"]["code"] for r in results}
    assert len(codes) == 1
    assert all(r["data"]["createTicket"]["errors"] == [] for r in results)
    after = ticket_count(db)
    assert after[0] == before[0] + 1 and after[1] == before[1] + 2


# Who files on which channel: (role, scope, channel, allowed). The point is in 华丰现代城,
# so the field and staff scopes below are the ones that cover it (see `_scopes`).
FILING = [
    (None, "ONLINE", False), ("RESIDENT", "ONLINE", True), ("RESIDENT", "QR_CODE", True),
    ("RESIDENT", "HOTLINE_12345", False), ("RESIDENT", "GRID_PATROL", False),
    ("GRID_WORKER", "GRID_PATROL", True), ("GRID_WORKER", "ONLINE", False),
    ("SUPERVISOR", "SUPERVISOR", True), ("SUPERVISOR", "GRID_PATROL", False),
    ("COMMUNITY_STAFF", "RECEPTION_DAY", True), ("COMMUNITY_STAFF", "PLAZA_REPORT", True),
    ("COMMUNITY_STAFF", "DOOR_KNOCKING", True), ("COMMUNITY_STAFF", "HOTLINE_12345", False),
    ("STREET_OFFICER", "DOOR_KNOCKING", True), ("STREET_OFFICER", "ONLINE", False),
    ("COUNTY_OFFICE", "HOTLINE_12345", True), ("COUNTY_OFFICE", "RECEPTION_DAY", True),
    ("PLANNER", "ONLINE", False), ("UNIT", "ONLINE", False),
]


def _scopes(db: psycopg.Connection, role: str | None, point: dict[str, float]) -> list[str]:
    cell, compound, community, street = db.execute(
        "SELECT g.code, k.code, g.community_code, c.street_code FROM grid_cells g "
        "JOIN communities c ON c.code = g.community_code "
        "JOIN compounds k ON ST_Intersects(k.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) "
        "WHERE ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))",
        point).fetchone()  # type: ignore[misc]
    return {"GRID_WORKER": [cell], "SUPERVISOR": [compound], "COMMUNITY_STAFF": [community],
            "STREET_OFFICER": [street], "UNIT": ["U-FIRE_RESCUE"]}.get(role or "", [])


@pytest.mark.parametrize(("role", "channel", "allowed"), FILING,
                         ids=[f"{r}-{c}" for r, c, _ in FILING])
def test_each_role_files_on_its_own_channels(gql: GraphQLClient, token: Minter,
                                             db: psycopg.Connection, role: str | None,
                                             channel: str, allowed: bool) -> None:
    point = compound_point(db)
    caller = gql.as_(token(role, *_scopes(db, role, point))) if role else gql
    before = ticket_count(db)
    body = caller(CREATE, {"input": {"point": point, "itemCode": "P01", "description": "楼道脏",
                                     "channel": channel}})
    if allowed:
        assert body["data"]["createTicket"]["errors"] == [], body
        assert ticket_count(db)[0] == before[0] + 1
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert ticket_count(db) == before


@pytest.mark.parametrize(("role", "channel"), [
    ("GRID_WORKER", "GRID_PATROL"), ("SUPERVISOR", "SUPERVISOR"),
    ("COMMUNITY_STAFF", "DOOR_KNOCKING"),
])
def test_field_and_staff_roles_file_only_inside_their_scope(gql: GraphQLClient, token: Minter,
                                                            db: psycopg.Connection, role: str,
                                                            channel: str) -> None:
    elsewhere = compound_point(db, "翡翠星城")
    scopes = _scopes(db, role, compound_point(db))  # the scope around 华丰现代城, not here
    before = ticket_count(db)
    body = gql.as_(token(role, *scopes))(CREATE, {"input": {
        "point": elsewhere, "itemCode": "P01", "description": "楼道脏", "channel": channel}})
    error = body["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("FORBIDDEN",
                                                                          "input.point")
    assert "outside your scope" in error["message"]
    assert ticket_count(db) == before


@pytest.fixture()
async def own_county(base_settings: Settings) -> AsyncIterator[tuple[Database, str]]:
    """A demo county of its own: this test changes its grid cells."""
    name = f"{TEST_DB}_import_race"
    try:
        s = demo_database(base_settings, name)
        database = Database(psycopg_conninfo(s.database_url), min_size=1, max_size=2)
        await database.open()
        try:
            yield database, psycopg_conninfo(s.database_url)
        finally:
            await database.close()
    finally:
        drop_database(base_settings, name)


async def test_a_ticket_filed_during_a_place_import_lands_in_the_new_cells(
        own_county: tuple[Database, str]) -> None:
    """A place import holds the places and tickets against writers until it commits (as
    `redgrid import` does). A ticket filed meanwhile is located once the import has
    committed, so it lands in the new cells, never in one the import removed or moved."""
    pool, conninfo = own_county
    importer = psycopg.connect(conninfo)
    try:
        lon, lat, cell, community = importer.execute(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), code, "
            "community_code FROM grid_cells ORDER BY code LIMIT 1").fetchone()  # type: ignore[misc]
        importer.execute("LOCK TABLE streets, zones, communities, grid_cells, compounds, "
                         "buildings, tickets IN SHARE ROW EXCLUSIVE MODE")
        filing = asyncio.ensure_future(create_ticket(
            pool, CreateTicketArgs(LonLat(lon, lat), "P01", "导入期间报修", "ONLINE"),
            idempotency_key=None, actor=Actor("import-race", Role.RESIDENT)))
        done, _ = await asyncio.wait({filing}, timeout=1.0)
        assert not done  # waiting for the import
        # the import re-draws the cells: a new cell (lowest code) now holds the point
        new_cell = community + "000"
        importer.execute(
            "INSERT INTO grid_cells (code, community_code, households, geom) "
            "SELECT %s, community_code, households, geom FROM grid_cells WHERE code = %s",
            (new_cell, cell))
        importer.commit()
        code = await asyncio.wait_for(filing, timeout=30)
        row = importer.execute("SELECT cell_code FROM tickets WHERE code = %s",
                               (code,)).fetchone()
        assert row == (new_cell,)
    finally:
        importer.close()
