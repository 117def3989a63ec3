"""The grid worker's phone app at /field/ in headless Chromium with a phone viewport: install
criteria, reading offline, a report made offline that survives closing the page and reaches
the server exactly once, and a queued move that meets a conflict.

Each test has a browser context of its own (its own service worker, caches and IndexedDB).
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, Route, expect, sync_playwright

from db.catalogue import load_catalogue
from db.vocabulary import OPEN_STATUSES, TICKET_STATUSES
from geo.datum import wgs84_to_gcj02
from resolvers import policy
from resolvers.actor import Actor, Role
from resolvers.lifecycle import MOVES
from resolvers.policy import Operation
from tests.conftest import GraphQLClient, Minter, serving
from tests.web.test_map_page import CHROMIUM, CHROMIUM_ARGS
from web.settings import Settings

FIELD = Path(__file__).resolve().parents[2] / "web" / "field"
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:  # closes the browser on the way out
        yield pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def phone(browser: Browser, lon: float, lat: float) -> BrowserContext:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  permissions=["geolocation"],
                                  geolocation={"longitude": lon, "latitude": lat})
    context.set_default_timeout(TIMEOUT_MS)
    return context


def open_app(context: BrowserContext, base: str) -> Page:
    """The app opened and ready, its service worker controlling the page."""
    page = context.new_page()
    page.goto(base + "/field/")
    page.wait_for_function("document.body.dataset.ready === 'true'")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    return page


def sign_in(page: Page, role: str, scope: str, sub: str) -> None:
    page.select_option("#signin-role", role)
    page.fill("#signin-scopes", scope)
    page.fill("#signin-sub", sub)
    page.click("#signin-submit")
    expect(page.locator("#who")).to_contain_text(sub)


def listed(page: Page) -> list[str]:
    expect(page.locator("#mine-source")).not_to_have_text("正在加载…")
    codes: list[str] = page.locator("#ticket-list .ticket").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.code)")
    return codes


def cell_with_a_point(db: psycopg.Connection) -> tuple[str, float, float]:
    """A grid cell with open tickets, and a point inside it."""
    row = db.execute(
        "SELECT g.code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) "
        "FROM grid_cells g WHERE EXISTS (SELECT 1 FROM tickets t WHERE t.cell_code = g.code "
        "AND t.status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS')) ORDER BY g.code LIMIT 1"
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def add_photos(page: Page, picker: str, photos: Sequence[FilePayload]) -> None:
    """Picks `photos` in the photo picker `picker` (a fieldset) and waits for their
    thumbnails."""
    before = page.locator(f"{picker} .thumbs li").count()
    page.set_input_files(f"{picker} input[type=file]", files=list(photos))
    expect(page.locator(f"{picker} .thumbs li img")).to_have_count(before + len(photos))


def point_in_a_compound(db: psycopg.Connection) -> tuple[str, float, float]:
    """A point in 翡翠星城 and its community's code. A point of its own (other tests file at
    the compound's ST_PointOnSurface), so a ticket filed there is the nearest to the phone
    whatever else the suite has filed there."""
    row = db.execute(
        "SELECT m.code, ST_X(p), ST_Y(p) FROM compounds c "
        "JOIN communities m ON m.code = c.community_code, "
        "ST_PointOnSurface(ST_Buffer(c.geom, -0.0001)) AS p "
        "WHERE c.name = '翡翠星城'").fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def report_elevator(page: Page, description: str, photos: Sequence[FilePayload] = ()) -> None:
    """Reports 电梯故障或困人 (P11), found by its pinyin initials, at the phone's position,
    with `photos` picked in the report's photo picker."""
    page.click("#tabs [data-tab=report]")
    page.fill("#item-search", "dtgz")
    options = page.locator("#item-options li")
    expect(options).to_have_count(1)
    options.first.click()
    expect(page.locator("#item-chosen")).to_contain_text("P11")
    page.fill("#description", description)
    if photos:
        add_photos(page, "#report-photos", photos)
    page.click("#report-submit")


def distance_m(db: psycopg.Connection, description: str, lon: float, lat: float) -> list[Any]:
    """The tickets with this description: code, item, channel, cell and metres from lon/lat."""
    return db.execute(
        "SELECT code, item_code, channel, cell_code, ST_Distance(geom::geography, "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) FROM tickets "
        "WHERE description = %s", (lon, lat, description)).fetchall()


def png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_the_app_meets_the_install_criteria(browser: Browser, live_server: str,
                                            db: psycopg.Connection) -> None:
    manifest_response = httpx.get(live_server + "/field/manifest.webmanifest")
    assert manifest_response.headers["content-type"].startswith("application/manifest+json")
    manifest = manifest_response.json()
    assert manifest["start_url"] == manifest["scope"] == "/field/"
    assert manifest["display"] == "standalone" and manifest["lang"] == "zh-CN"
    assert manifest["name"] and manifest["short_name"]
    sizes = {}
    for icon in manifest["icons"]:
        response = httpx.get(live_server + icon["src"])
        assert response.status_code == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"
        sizes[icon["sizes"]] = png_size(FIELD / icon["src"].removeprefix("/field/"))
    assert sizes == {"192x192": (192, 192), "512x512": (512, 512)}
    worker = httpx.get(live_server + "/field/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"

    _, lon, lat = cell_with_a_point(db)
    context = phone(browser, lon, lat)
    try:
        page = open_app(context, live_server)
        # then: the page links the manifest, and the worker controls it with the app's scope
        assert page.locator("link[rel=manifest]").get_attribute("href") == \
            "/field/manifest.webmanifest"
        scope = page.evaluate("navigator.serviceWorker.getRegistration()"
                              ".then((r) => r.scope)")
        assert scope == live_server + "/field/"
        assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == \
            live_server + "/field/sw.js"
        assert page.title() == "红网 · 网格员"
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
    finally:
        context.close()


def test_the_item_list_is_the_catalogue_with_pinyin_initials() -> None:
    items = json.loads((FIELD / "items.json").read_text(encoding="utf-8"))
    catalogue = load_catalogue()
    assert [(i["code"], i["name"], i["category"]) for i in items] == [
        (c.code, c.name_zh, c.category_code) for c in catalogue]
    assert len(items) == 46
    by_code = {i["code"]: i["initials"] for i in items}
    assert by_code["P11"] == "dtgzhkr"  # 电梯故障或困人
    assert all(len(i["initials"]) == len(i["name"]) for i in items if i["name"].isalpha())


def test_the_config_offers_each_role_the_moves_the_policy_allows(live_server: str) -> None:
    roles = httpx.get(live_server + "/field/config.json").json()["roles"]
    operations = {m.operation.name: m for m in MOVES}
    for role, config in roles.items():
        actor = Actor("x", Role(role))
        for move in config["moves"]:
            assert policy.may(actor, Operation[move["operation"]]), (role, move)
            assert move["to"] == operations[move["operation"]].target
        if config["channel"]:
            assert config["channel"] in policy.FILING_CHANNELS[Role(role)]
    assert {m["operation"] for m in roles["GRID_WORKER"]["moves"]} == {"CLOSE", "REOPEN"}
    assert roles["GRID_WORKER"]["channel"] == "GRID_PATROL"
    assert {m["operation"] for m in roles["COMMUNITY_STAFF"]["moves"]} >= {"START", "RESOLVE"}
    assert roles["PLANNER"] == {"channel": None, "moves": []}


def test_my_cells_list_the_open_tickets_and_those_a_grid_worker_may_check(
        live_server: str) -> None:
    config = httpx.get(live_server + "/field/config.json").json()
    checks = {s for m in config["roles"]["GRID_WORKER"]["moves"] if m["operation"] == "CLOSE"
              for s in m["from"]}
    assert checks and not checks & set(OPEN_STATUSES)
    assert config["listed"] == [*OPEN_STATUSES, *sorted(checks)]
    assert set(config["listed"]) < set(TICKET_STATUSES)
    app = (FIELD / "app.js").read_text(encoding="utf-8")
    assert not [s for s in TICKET_STATUSES if f"'{s}'" in app]


def test_the_ticket_list_is_read_from_the_phone_with_no_network(
        browser: Browser, live_server: str, db: psycopg.Connection) -> None:
    cell, lon, lat = cell_with_a_point(db)
    context = phone(browser, lon, lat)
    try:
        page = open_app(context, live_server)
        sign_in(page, "GRID_WORKER", cell, "field-reader")
        online = listed(page)
        expected = [r[0] for r in db.execute(
            "SELECT code FROM tickets WHERE cell_code = %s AND status IN "
            "('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS', 'RESOLVED')", (cell,))]
        assert online and sorted(online) == sorted(expected)

        # when: the network goes and the app is loaded again
        context.set_offline(True)
        response = page.reload()

        # then: the shell comes from the service worker and the list from the phone
        assert response is not None and response.from_service_worker
        page.wait_for_function("document.body.dataset.ready === 'true'")
        expect(page.locator("#network")).to_have_text("离线")
        expect(page.locator("#mine-source")).to_contain_text("离线数据")
        assert listed(page) == online
        # and a ticket's card with its history opens offline too
        page.locator("#ticket-list .ticket").first.click()
        expect(page.locator("#card")).to_have_attribute("data-code", online[0])
        assert page.locator("#card-body .history li").count() >= 1

        # when: the worker signs out, then: no ticket is left on the phone
        page.click("#signout")
        expect(page.locator("#signin")).to_be_visible()
        kept = page.evaluate("""() => new Promise((done) => {
          indexedDB.open('redgrid-field').onsuccess = (e) => {
            const keys = e.target.result.transaction('cache').objectStore('cache').getAllKeys();
            keys.onsuccess = () => done(keys.result);
          }; })""")
        assert "items" in kept and not [k for k in kept if k.startswith("tickets:")]
    finally:
        context.close()


def test_with_location_refused_the_list_centres_on_the_workers_cell(
        browser: Browser, live_server: str, db: psycopg.Connection) -> None:
    cell, _, _ = cell_with_a_point(db)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = open_app(context, live_server)
        sign_in(page, "GRID_WORKER", cell, "field-no-gps")
        codes = listed(page)
        expect(page.locator("#mine-source")).to_have_text(f"位置：网格中心（{cell}）")
        expected = [r[0] for r in db.execute(
            "SELECT code FROM tickets WHERE cell_code = %s AND status IN "
            "('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS', 'RESOLVED')", (cell,))]
        assert codes and sorted(codes) == sorted(expected)
    finally:
        context.close()

def test_a_report_made_offline_reaches_the_server_exactly_once(
        browser: Browser, live_server: str, db: psycopg.Connection) -> None:
    cell, lon, lat = cell_with_a_point(db)
    description = f"楼道堆物，离线上报 {uuid.uuid4().hex[:8]}"
    context = phone(browser, lon, lat)
    try:
        page = open_app(context, live_server)
        sign_in(page, "GRID_WORKER", cell, "field-w1")
        listed(page)

        # when: offline, a problem is reported, found by its pinyin initials
        context.set_offline(True)
        report_elevator(page, description)
        expect(page.locator("#outbox-list .queued[data-state=pending]")).to_have_count(1)
        assert db.execute("SELECT count(*) FROM tickets WHERE description = %s",
                          (description,)).fetchone() == (0,)
        # and a patrol visit with nothing found is recorded, also offline
        page.click("#tabs [data-tab=mine]")
        page.click("#patrol-submit")
        page.click("#tabs [data-tab=outbox]")
        expect(page.locator("#outbox-list .queued[data-state=pending]")).to_have_count(2)
        visited_before = datetime.now(UTC)

        # and the page is closed and opened again, still offline
        page.close()
        page = open_app(context, live_server)
        expect(page.locator("#signin-error")).to_contain_text("2 条记录待发送")

        # and online again, the first answer is lost on the way back
        lost: list[str] = []

        def lose_first_answer(route: Route) -> None:
            request = route.request
            if "createTicket" in (request.post_data or "") and not lost:
                # The server gets the request and answers; the phone never hears it.
                answer = httpx.post(request.url, content=request.post_data_buffer, headers={
                    "Authorization": request.headers["authorization"],
                    "Content-Type": "application/json"})
                lost.append(answer.text)
                route.abort("connectionreset")
            else:
                route.continue_()

        page.route("**/graphql", lose_first_answer)
        context.set_offline(False)
        with page.expect_event("requestfailed", lambda r: r.url.endswith("/graphql")):
            sign_in(page, "GRID_WORKER", cell, "field-w1")
        page.click("#tabs [data-tab=outbox]")
        # the report's answer was lost, so it and the visit queued after it wait, in order
        expect(page.locator("#outbox-list .queued[data-state=pending]")).to_have_count(2)
        assert lost and '"errors":[]' in lost[0]
        page.unroute_all()
        page.click("#outbox-send")

        # then: the queue empties and the server holds exactly one ticket, where the phone was
        expect(page.locator("#outbox-summary")).to_have_text("没有待发送的记录；本次已发送 2 条")
        rows = distance_m(db, description, lon, lat)
        assert len(rows) == 1, rows
        _, item, channel, ticket_cell, distance = rows[0]
        assert (item, channel, ticket_cell) == ("P11", "GRID_PATROL", cell)
        assert distance < 0.5
        # and one patrol visit, at the time it was made offline, not when it was sent
        visits = db.execute("SELECT at, cell_code, findings FROM patrol_visits "
                            "WHERE worker = 'field-w1'").fetchall()
        assert len(visits) == 1 and visits[0][1:] == (cell, None)
        assert visits[0][0] <= visited_before
    finally:
        context.close()


def test_a_queued_move_that_meets_a_conflict_is_shown_and_can_be_redone(
        browser: Browser, live_server: str, db: psycopg.Connection, gql: GraphQLClient,
        token: Minter) -> None:
    community, lon, lat = point_in_a_compound(db)
    resident = gql.as_(token("RESIDENT", sub="field-resident"))
    created = resident.data(
        """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
          ticket { code status version } errors { code } } }""",
        {"input": {"point": {"lon": lon, "lat": lat}, "itemCode": "P01",
                   "description": "楼道很脏（冲突测试）", "channel": "ONLINE"}})
    ticket: dict[str, Any] = created["createTicket"]["ticket"]
    assert (ticket["status"], ticket["version"]) == ("DISPATCHED", 2)
    context = phone(browser, lon, lat)
    try:
        page = open_app(context, live_server)
        sign_in(page, "COMMUNITY_STAFF", community, "field-staff")
        assert ticket["code"] in listed(page)
        page.locator(f"#ticket-list .ticket[data-code='{ticket['code']}']").click()

        # when: offline, the worker starts the ticket with a photo, and meanwhile the county
        # escalates it
        context.set_offline(True)
        add_photos(page, "#move-photos", [{"name": "start.png", "mimeType": "image/png",
                                           "buffer": (FIELD / "icons" / "icon-192.png").read_bytes()}])
        page.click("#card-actions [data-operation=START]")
        expect(page.locator("#outbox-list .queued[data-state=pending]")).to_have_count(1)
        county = gql.as_(token("COUNTY_OFFICE", sub="field-county"))
        escalated = county.data("""mutation ($code: String!) { escalateTicket(input: {code: $code,
          expectedVersion: 2}) { errors { code } ticket { version } } }""", {"code": ticket["code"]})
        assert escalated["escalateTicket"]["ticket"]["version"] == 3
        context.set_offline(False)

        # then: the move is kept and shown as a conflict with the ticket's current state
        conflict = page.locator("#outbox-list .queued[data-state=conflict]")
        expect(conflict).to_have_count(1)
        expect(conflict).to_contain_text("已派单")
        expect(conflict).to_contain_text("版本 3")
        assert db.execute("SELECT status, version FROM tickets WHERE code = %s",
                          (ticket["code"],)).fetchone() == ("DISPATCHED", 3)

        # when: the worker redoes the step on the current state, its photo still with it
        conflict.locator("[data-redo]").click()
        expect(page.locator("#card")).to_have_attribute("data-status", "DISPATCHED")
        expect(page.locator("#card-body")).to_contain_text("版本 3")
        expect(page.locator("#move-photos .thumbs img")).to_have_count(1)
        page.click("#card-actions [data-operation=START]")

        # then: it goes through once
        expect(page.locator("#outbox-summary")).to_have_text("没有待发送的记录；本次已发送 1 条")
        assert db.execute("SELECT status, version FROM tickets WHERE code = %s",
                          (ticket["code"],)).fetchone() == ("IN_PROGRESS", 4)
        assert db.execute(
            "SELECT count(*), count(p.id) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
            "LEFT JOIN ticket_photos p ON p.event_id = e.id "
            "WHERE t.code = %s AND e.action = 'STARTED'", (ticket["code"],)).fetchone() == (1, 1)
    finally:
        context.close()


def test_on_a_gcj02_basemap_the_phone_position_is_converted_to_wgs84(
        browser: Browser, settings: Settings, db: psycopg.Connection) -> None:
    """A phone on a GCJ-02 map reports GCJ-02 (about 500 m off here); the ticket lands on the
    WGS-84 point."""
    cell, lon, lat = cell_with_a_point(db)
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    description = f"电梯困人，GCJ-02 定位 {uuid.uuid4().hex[:8]}"
    gcj_settings = replace(settings, basemap_url="http://127.0.0.1:9/{z}/{x}/{y}.png",
                           basemap_crs="GCJ02")
    with serving(gcj_settings) as base:
        context = phone(browser, gcj_lon, gcj_lat)
        try:
            page = open_app(context, base)
            sign_in(page, "GRID_WORKER", cell, "field-gcj")
            report_elevator(page, description)
            expect(page.locator("#outbox-summary")).to_have_text("没有待发送的记录；本次已发送 1 条")
        finally:
            context.close()
    ((_, item, channel, ticket_cell, metres),) = distance_m(db, description, lon, lat)
    assert (item, channel, ticket_cell) == ("P11", "GRID_PATROL", cell)
    assert metres < 0.5
