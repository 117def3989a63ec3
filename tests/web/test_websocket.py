"""Operations over graphql-transport-ws get the checks HTTP requests get, message by message:
token expiry, the rate limit, the message size and cost limits, and one personal-data
access-log row per unmasked read."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import Minter, serving
from web.settings import RateBudget, Settings

WAIT_S = 10.0
MAX_MESSAGE_BYTES = 4096
BURST = 5
MAX_COST = 200
QUERY = "{ zones { code } }"
COSTLY = "{ zones { code communities { code compounds { code } } } }"  # 20 × 100 × 20 fields
MUTATION = """mutation ($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { code } errors { code } } }"""
SUBSCRIPTION = "subscription ($cell: String) { ticketEvents(cellCode: $cell) { code } }"
REPORTER = "query ($code: String!) { ticket(code: $code) { reporterName reporterPhone } }"


@pytest.fixture(scope="module")
def guarded_server(settings: Settings) -> Iterator[str]:
    """The app with small limits; the bucket refills too slowly to matter within a test."""
    budgets = {**settings.rate_limits, "graphql": RateBudget(0.001, BURST)}
    with serving(replace(settings, max_body_bytes=MAX_MESSAGE_BYTES, rate_limits=budgets,
                         max_query_cost=MAX_COST)) as url:
        yield url


@pytest.fixture(scope="module")
def reported(db: psycopg.Connection) -> dict[str, Any]:
    """A ticket with a reporter name, and a point inside a grid cell for new tickets."""
    row = db.execute("SELECT code, cell_code, ST_X(geom), ST_Y(geom) FROM tickets "
                     "WHERE reporter_name IS NOT NULL AND reporter_phone IS NOT NULL "
                     "ORDER BY code LIMIT 1").fetchone()
    assert row is not None
    return {"code": row[0], "cell": row[1], "point": {"lon": row[2], "lat": row[3]}}


@asynccontextmanager
async def socket(base: str, token: str | None) -> AsyncIterator[ClientConnection]:
    """An acknowledged graphql-transport-ws connection."""
    url = base.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")],
                       max_size=None) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"token": token} if token else {}}))
        assert (await receive(ws))["type"] == "connection_ack"
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    return message


async def run(ws: ClientConnection, op: str, query: str,
              variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sends one operation; returns its first `next` payload or its `error` as `{errors}`."""
    await ws.send(json.dumps({"id": op, "type": "subscribe",
                              "payload": {"query": query, "variables": variables or {}}}))
    while (message := await receive(ws)).get("id") != op:
        pass
    if message["type"] == "error":
        return {"errors": message["payload"]}
    assert message["type"] == "next", message
    payload: dict[str, Any] = message["payload"]
    return payload


def codes(result: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


async def test_every_operation_after_token_expiry_is_unauthenticated(
        guarded_server: str, token: Minter, reported: dict[str, Any],
        db: psycopg.Connection) -> None:
    minted = time.time()
    short = token("COUNTY_OFFICE", sub="ws-expiry", ttl_s=2)
    async with socket(guarded_server, short) as ws:
        assert "errors" not in await run(ws, "before", QUERY)
        await asyncio.sleep(max(0.0, minted + 2.1 - time.time()))
        query = await run(ws, "query", QUERY)
        created = await run(ws, "mutation", MUTATION, {"input": {
            "point": reported["point"], "itemCode": "P39", "description": "过期后提交",
            "channel": "GRID_PATROL"}})
        watched = await run(ws, "subscription", SUBSCRIPTION, {"cell": reported["cell"]})
    for result in (query, created, watched):
        assert codes(result) == ["UNAUTHENTICATED"], result
        assert result.get("data") is None
    written = db.execute("SELECT count(*) FROM tickets WHERE description = '过期后提交'").fetchone()
    assert written == (0,)


async def test_an_over_size_message_closes_the_socket(guarded_server: str,
                                                     token: Minter) -> None:
    padding = "#" + "x" * MAX_MESSAGE_BYTES + "\n"
    async with socket(guarded_server, token("COUNTY_OFFICE", sub="ws-size")) as ws:
        assert "errors" not in await run(ws, "small", QUERY)
        await ws.send(json.dumps({"id": "big", "type": "subscribe",
                                  "payload": {"query": padding + QUERY}}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # the small query's `complete`, then the close
                assert (await receive(ws)).get("id") != "big"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4413


async def test_an_over_cost_query_is_refused(guarded_server: str, token: Minter) -> None:
    async with socket(guarded_server, token("COUNTY_OFFICE", sub="ws-cost")) as ws:
        result = await run(ws, "1", COSTLY)
    assert codes(result) == ["QUERY_TOO_COSTLY"], result


@pytest.mark.parametrize("sub", ["ws-rate", None])
async def test_the_rate_limit_hits_on_a_socket(guarded_server: str, token: Minter,
                                               sub: str | None) -> None:
    bearer = token("GRID_WORKER", "371329001001", sub=sub) if sub else None
    async with socket(guarded_server, bearer) as ws:
        results = [await run(ws, str(n), QUERY) for n in range(BURST + 1)]
        # The same caller on a second socket draws on the same bucket.
        async with socket(guarded_server, bearer) as again:
            refused = await run(again, "next", QUERY)
    assert [codes(r) for r in results] == [[]] * BURST + [["RATE_LIMITED"]]
    assert codes(refused) == ["RATE_LIMITED"]


async def test_each_unmasked_read_on_one_socket_is_logged(
        guarded_server: str, token: Minter, reported: dict[str, Any],
        db: psycopg.Connection) -> None:
    async with socket(guarded_server, token("COUNTY_OFFICE", sub="ws-reader")) as ws:
        for op in ("1", "2"):
            result = await run(ws, op, REPORTER, {"code": reported["code"]})
            assert result["data"]["ticket"]["reporterName"] is not None, result
            assert "*" not in result["data"]["ticket"]["reporterName"]
    rows = db.execute("SELECT t.code, l.fields FROM personal_data_access l "
                      "JOIN tickets t ON t.id = l.ticket_id WHERE l.subject = 'ws-reader'"
                      ).fetchall()
    assert rows == [(reported["code"], ["reporterName", "reporterPhone"])] * 2


async def test_the_legacy_graphql_ws_protocol_is_refused(guarded_server: str) -> None:
    # Its handler would run operations without the checks above.
    url = guarded_server.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-ws")]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406
