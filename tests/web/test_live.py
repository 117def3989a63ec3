"""`ticketEvents` over graphql-transport-ws: a change made through one server process reaches
the subscribers of another (one LISTEN per process), filtered and within the caller's scope."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from db import migrate
from db.urls import psycopg_conninfo, server_url
from resolvers.errors import DomainError, ErrorCode
from tests.conftest import Minter, create_database, drop_database, serving
from web.live import APPLICATION_NAME, Broadcaster
from web.settings import Settings

TICKET_EVENTS = """subscription ($cell: String, $community: String, $unit: String,
                                 $compound: String, $bbox: BBoxInput) {
  ticketEvents(cellCode: $cell, communityCode: $community, unitCode: $unit,
               compoundCode: $compound, bbox: $bbox) {
    eventId code action fromStatus toStatus status level at cellCode communityCode unitCode
    geometry } }"""
CREATE = """mutation ($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { code responsibleUnit { code } } errors { code } } }"""
COMMUNITY_ITEM = "P39"  # led by the community itself, so its unit code is the community's
WAIT_S = 10.0


@pytest.fixture(scope="module")
def second_server(settings: Settings) -> Iterator[str]:
    """A second server process's worth of app: its own pool and its own LISTEN connection."""
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def cells(db: psycopg.Connection) -> list[dict[str, Any]]:
    """Two grid cells of different communities, each with a point inside it."""
    rows = db.execute("""
        SELECT DISTINCT ON (community_code) code, community_code,
               ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
        FROM grid_cells ORDER BY community_code, code LIMIT 2""").fetchall()
    return [{"code": r[0], "community": r[1], "point": {"lon": r[2], "lat": r[3]}} for r in rows]


@pytest.fixture(scope="module")
def compounds(db: psycopg.Connection) -> list[dict[str, Any]]:
    """Two compounds of one community, each with a point inside it."""
    rows = db.execute("""
        SELECT code, community_code, ST_X(ST_PointOnSurface(geom)) AS lon,
               ST_Y(ST_PointOnSurface(geom)) AS lat
        FROM compounds WHERE community_code = (
            SELECT community_code FROM compounds GROUP BY community_code
            HAVING count(*) >= 2 ORDER BY community_code LIMIT 1)
        ORDER BY code LIMIT 2""").fetchall()
    return [{"code": r[0], "community": r[1], "point": {"lon": r[2], "lat": r[3]}}
            for r in rows]


async def create_ticket(base: str, point: dict[str, float], token: str) -> dict[str, Any]:
    body = {"query": CREATE, "variables": {"input": {
        "point": point, "itemCode": COMMUNITY_ITEM, "description": "路灯不亮",
        "channel": "GRID_PATROL"}}}
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/graphql", json=body,
                                     headers={"Authorization": f"Bearer {token}"})
    out = response.json()["data"]["createTicket"]
    assert out["errors"] == [], out
    ticket: dict[str, Any] = out["ticket"]
    return ticket


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    return message


@asynccontextmanager
async def websocket(base: str, params: dict[str, Any]) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, initialised with `params`."""
    url = base.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        yield ws


async def subscribe(ws: ClientConnection, variables: dict[str, Any],
                    op: str = "1") -> list[dict[str, Any]]:
    """Starts a subscription; returns what came back before the pong (errors, if any)."""
    assert (await receive(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": op, "type": "subscribe",
                              "payload": {"query": TICKET_EVENTS, "variables": variables}}))
    # The server handles messages in order: once the pong is back the subscription is running.
    await ws.send(json.dumps({"type": "ping"}))
    early = []
    while (message := await receive(ws))["type"] != "pong":
        early.append(message)
    return early


async def next_events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        message = await receive(ws)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        out.append(message["payload"]["data"]["ticketEvents"])
    return out


async def test_a_cell_subscriber_on_one_process_sees_changes_made_on_another(
        live_server: str, second_server: str, cells: list[dict[str, Any]],
        token: Minter) -> None:
    mine, other = cells
    worker = token("GRID_WORKER", mine["code"], sub="w1")
    async with websocket(live_server, {"Authorization": f"Bearer {worker}"}) as ws:
        assert await subscribe(ws, {"cell": mine["code"]}) == []
        await create_ticket(second_server, other["point"], token("COUNTY_OFFICE"))
        ticket = await create_ticket(second_server, mine["point"], token("COUNTY_OFFICE"))
        created, dispatched = await next_events(ws, 2)
    # The other cell's ticket was written first: had it passed the filter, it would be first.
    assert created["code"] == dispatched["code"] == ticket["code"]
    assert (created["action"], created["fromStatus"], created["toStatus"]) == (
        "CREATED", None, "SUBMITTED")
    assert (dispatched["action"], dispatched["toStatus"], dispatched["status"]) == (
        "DISPATCHED", "DISPATCHED", "DISPATCHED")
    assert int(dispatched["eventId"]) > int(created["eventId"])
    assert dispatched["cellCode"] == mine["code"] and dispatched["level"] == "COMMUNITY"
    assert dispatched["communityCode"] == mine["community"]
    assert dispatched["unitCode"] == ticket["responsibleUnit"]["code"]
    assert dispatched["geometry"]["type"] == "Point"
    assert dispatched["geometry"]["coordinates"] == pytest.approx(
        [mine["point"]["lon"], mine["point"]["lat"]], abs=1e-9)


async def test_unit_and_box_subscribers_get_only_their_tickets(
        live_server: str, second_server: str, cells: list[dict[str, Any]],
        token: Minter) -> None:
    mine, other = cells
    lon, lat = mine["point"]["lon"], mine["point"]["lat"]
    box = {"west": lon - 1e-4, "south": lat - 1e-4, "east": lon + 1e-4, "north": lat + 1e-4}
    unit = token("UNIT", mine["community"], sub="unit-1")
    async with websocket(live_server, {"token": unit}) as by_unit, \
            websocket(live_server, {"token": token("COUNTY_OFFICE")}) as by_box:
        await subscribe(by_unit, {"unit": mine["community"]})
        await subscribe(by_box, {"bbox": box})
        await create_ticket(second_server, other["point"], token("COUNTY_OFFICE"))
        ticket = await create_ticket(second_server, mine["point"], token("COUNTY_OFFICE"))
        for ws in (by_unit, by_box):
            events = await next_events(ws, 2)
            assert [(e["code"], e["action"]) for e in events] == [
                (ticket["code"], "CREATED"), (ticket["code"], "DISPATCHED")]


async def test_a_supervisor_sees_the_events_of_its_compound_only(
        live_server: str, second_server: str, compounds: list[dict[str, Any]],
        token: Minter) -> None:
    mine, neighbour = compounds
    supervisor = token("SUPERVISOR", mine["code"], sub="supervisor-1")
    async with websocket(live_server, {"token": supervisor}) as ws:
        assert await subscribe(ws, {"compound": mine["code"]}) == []
        # The neighbour's ticket is in the same community, and written first.
        await create_ticket(second_server, neighbour["point"], token("COUNTY_OFFICE"))
        ticket = await create_ticket(second_server, mine["point"], token("COUNTY_OFFICE"))
        events = await next_events(ws, 2)
    assert [(e["code"], e["action"]) for e in events] == [
        (ticket["code"], "CREATED"), (ticket["code"], "DISPATCHED")]
    assert events[0]["communityCode"] == mine["community"]


@pytest.mark.parametrize("variables", [
    {"compound": "neighbour"},  # another compound of the same community
    {"community": "community"},  # wider than the supervisor's compound
    {"cell": "cell"},  # a cell may hold several compounds
])
async def test_a_supervisor_outside_its_compound_is_forbidden(
        live_server: str, compounds: list[dict[str, Any]], db: psycopg.Connection,
        token: Minter, variables: dict[str, str]) -> None:
    mine, neighbour = compounds
    cell = db.execute("SELECT cell_code FROM tickets WHERE compound_code = %s LIMIT 1",
                      (mine["code"],)).fetchone()
    assert cell is not None
    codes = {"neighbour": neighbour["code"], "community": mine["community"], "cell": cell[0]}
    error = await subscription_error(
        live_server, {"token": token("SUPERVISOR", mine["code"])},
        {k: codes[v] for k, v in variables.items()})
    assert error["extensions"]["code"] == "FORBIDDEN", error


async def test_events_missed_while_the_listener_reconnects_are_caught_up(
        live_server: str, second_server: str, cells: list[dict[str, Any]], token: Minter,
        conninfo: str) -> None:
    mine = cells[0]
    async with websocket(live_server, {"token": token("COUNTY_OFFICE")}) as ws:
        await subscribe(ws, {"cell": mine["code"]})
        with psycopg.connect(conninfo, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (APPLICATION_NAME,)).fetchone()
        assert killed is not None and killed[0] >= 2  # both processes' listeners
        ticket = await create_ticket(second_server, mine["point"], token("COUNTY_OFFICE"))
        events = await next_events(ws, 2)
    assert [(e["code"], e["action"]) for e in events] == [
        (ticket["code"], "CREATED"), (ticket["code"], "DISPATCHED")]


async def test_the_listener_is_back_within_seconds_of_the_database_after_a_long_outage(
        base_settings: Settings) -> None:
    name = f"redgrid_test_live_away_{os.getpid()}"
    away = create_database(base_settings, name)
    migrate.upgrade(away.database_url)
    admin = psycopg.connect(psycopg_conninfo(server_url(base_settings.database_url)),
                            autocommit=True)

    def accepting(on: bool) -> None:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.SQL("true" if on else "false")))
        if not on:  # as a stopped server: connections refused, the open ones ended
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s", (name,))

    live = Broadcaster(psycopg_conninfo(away.database_url))
    await live.start()
    try:
        accepting(False)
        await asyncio.sleep(10)  # the listener keeps trying meanwhile
        assert not live.listening.is_set()
        accepting(True)
        back = time.monotonic()
        await asyncio.wait_for(live.listening.wait(), timeout=30)
        # Within about the longest pause between attempts, not the backoff's 16 s or more.
        assert time.monotonic() - back < 3.0
    finally:
        await live.stop()
        accepting(True)
        admin.close()
        drop_database(base_settings, name)


async def subscription_error(base: str, params: dict[str, Any],
                             variables: dict[str, Any]) -> dict[str, Any]:
    async with websocket(base, params) as ws:
        early = await subscribe(ws, variables)
        message = early[0] if early else await receive(ws)
    assert message["type"] == "error" or "errors" in message.get("payload", {}), message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    first: dict[str, Any] = errors[0]
    return first


async def test_the_public_is_forbidden(live_server: str, cells: list[dict[str, Any]]) -> None:
    error = await subscription_error(live_server, {}, {"cell": cells[0]["code"]})
    assert error["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("role", "scope", "variables"), [
    ("GRID_WORKER", "cell", {"community": "community"}),
    ("GRID_WORKER", "cell", {"cell": "other-cell"}),
    ("UNIT", "community", {"unit": "other-community"}),
    ("UNIT", "community", {"cell": "cell"}),
    ("COMMUNITY_STAFF", "community", {"bbox": {"west": 118, "south": 34, "east": 119,
                                               "north": 35}}),
    ("RESIDENT", "cell", {"cell": "cell"}),
])
async def test_a_filter_outside_the_callers_scope_is_forbidden(
        live_server: str, cells: list[dict[str, Any]], token: Minter, role: str, scope: str,
        variables: dict[str, Any]) -> None:
    mine, other = cells
    codes = {"cell": mine["code"], "community": mine["community"], "other-cell": other["code"],
             "other-community": other["community"]}
    variables = {k: codes.get(v, v) if isinstance(v, str) else v for k, v in variables.items()}
    error = await subscription_error(live_server, {"token": token(role, codes[scope])}, variables)
    assert error["extensions"]["code"] == "FORBIDDEN", error


@pytest.mark.parametrize(("variables", "field"), [
    ({}, None),
    ({"cell": "37132900100"}, "cellCode"),
    ({"compound": "371329001001"}, "compoundCode"),
    ({"bbox": {"west": 119, "south": 34, "east": 118, "north": 35}}, "bbox.west"),
])
async def test_bad_filters_are_bad_user_input(live_server: str, token: Minter,
                                              variables: dict[str, Any], field: str | None) -> None:
    error = await subscription_error(live_server, {"token": token("COUNTY_OFFICE")}, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"].get("field") == field


@pytest.mark.parametrize("params", [
    {"Authorization": "Bearer not-a-jwt"},
    {"token": "forged.token.value"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
])
async def test_an_untrusted_token_closes_the_connection(live_server: str,
                                                        params: dict[str, Any]) -> None:
    async with websocket(live_server, params) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_an_expired_token_closes_the_connection(live_server: str, token: Minter) -> None:
    async with websocket(live_server, {"token": token("COUNTY_OFFICE", ttl_s=-10)}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_subscription_ends_when_its_token_expires(live_server: str, token: Minter,
                                                         cells: list[dict[str, Any]]) -> None:
    short = token("COUNTY_OFFICE", sub="short-lived", ttl_s=2)
    async with websocket(live_server, {"token": short}) as ws:
        assert await subscribe(ws, {"cell": cells[0]["code"]}) == []
        ended = await receive(ws)  # within WAIT_S: the token lives 1–2 s
        errors = ended["payload"] if ended["type"] == "error" else ended["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", ended
        assert "expired" in errors[0]["message"]
        # A new subscription on the same connection is refused at once.
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
            "query": TICKET_EVENTS, "variables": {"cell": cells[0]["code"]}}}))
        again = await receive(ws)
        while again.get("id") != "2":
            again = await receive(ws)
        errors = again["payload"] if again["type"] == "error" else again["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", again


def event(event_id: int, cell: str = "371329001001001") -> str:
    return json.dumps({"eventId": event_id, "cellCode": cell, "code": f"T{event_id}"})


async def test_fan_out_filters_dedupes_and_ends_a_lagging_subscriber() -> None:
    live = Broadcaster("", queue_size=2)
    async with live.subscribe(lambda e: e["cellCode"] == "371329001001001") as mine, \
            live.subscribe(lambda e: True) as slow:
        for payload in (event(1), event(1), event(2, "371329001001002"), event(3)):
            live.publish(payload)
        assert [(await anext(mine))["eventId"] for _ in range(2)] == [1, 3]
        live.publish(event(4))  # `slow` holds 2 events already: it is ended, not left behind
        with pytest.raises(DomainError) as lagged:
            await anext(slow)
        assert lagged.value.code is ErrorCode.CONFLICT
        assert (await anext(mine))["eventId"] == 4
        await live.stop()
        with pytest.raises(StopAsyncIteration):
            await anext(mine)
