"""Live updates in a browser: the `graphql-ws` npm client (the standard graphql-transport-ws
client) in headless Chromium receives ticket events from the server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from playwright.sync_api import sync_playwright

from tests.conftest import Minter
from tests.web.test_map_page import CHROMIUM, CHROMIUM_ARGS

CLIENT = Path(__file__).resolve().parents[2] / "node_modules/graphql-ws/umd/graphql-ws.min.js"
SUBSCRIBE_JS = """async ([url, token, query, cell]) => {
  window.received = [];
  const client = graphqlWs.createClient({
    url, lazy: false, retryAttempts: 0,
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  await new Promise((resolve, reject) => {
    client.on('connected', resolve);
    client.on('closed', (event) => reject(new Error(`closed ${event.code} ${event.reason}`)));
    setTimeout(() => reject(new Error('no connection_ack in 10 s')), 10000);
  });
  client.subscribe({ query, variables: { cell } }, {
    next: (value) => window.received.push(value),
    error: (error) => window.received.push({ error: String(error?.reason ?? error) }),
    complete: () => {},
  });
}"""
EVENTS = """subscription ($cell: String) { ticketEvents(cellCode: $cell) { code action } }"""
CREATE = """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
  ticket { code } errors { code } } }"""


def test_the_graphql_ws_client_in_chromium_receives_ticket_events(
        live_server: str, token: Minter, db: psycopg.Connection) -> None:
    cell, lon, lat = db.execute(
        "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
        "FROM grid_cells ORDER BY code DESC LIMIT 1").fetchone()  # type: ignore[misc]
    worker = token("GRID_WORKER", cell, sub="browser-worker")
    county = {"Authorization": f"Bearer {token('COUNTY_OFFICE')}"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(live_server + "/healthz")
        page.add_script_tag(path=str(CLIENT))
        page.evaluate(SUBSCRIBE_JS, [live_server.replace("http", "ws") + "/graphql", worker,
                                     EVENTS, cell])
        codes: list[str] = []
        received: list[dict[str, Any]] = []
        # The subscription starts just after the acknowledgement: file until one is seen.
        for _ in range(5):
            out = httpx.post(live_server + "/graphql", headers=county, json={
                "query": CREATE, "variables": {"input": {
                    "point": {"lon": lon, "lat": lat}, "itemCode": "P12",
                    "description": "楼道灯坏了", "channel": "HOTLINE_12345"}}}).json()
            codes.append(out["data"]["createTicket"]["ticket"]["code"])
            deadline = time.monotonic() + 3
            while not received and time.monotonic() < deadline:
                page.wait_for_timeout(100)
                received = page.evaluate("window.received")
            if received:
                break
        browser.close()
    assert received, "no event reached the browser"
    assert "error" not in received[0], received[0]
    event = received[0]["data"]["ticketEvents"]
    assert event["code"] in codes and event["action"] in ("CREATED", "DISPATCHED")
