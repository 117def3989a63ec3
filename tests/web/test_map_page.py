"""The map page in headless Chromium, against the live app and the seeded demo database.

One browser for the module and one desktop page reused by the tests in file order (they
leave the page as they found it); the phone and the identity-provider tests open their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import h3
import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Response,
    expect,
    sync_playwright,
)

from db.vocabulary import STATUS_LABELS
from tests.conftest import Minter, serving
from web.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
READY_TIMEOUT_MS = 60_000
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ALL_LAYERS = ["streets-line", "zones-line", "communities-fill", "communities-line",
              "grid-cells-line", "compounds-fill", "facilities-circle", "tickets-cells"]
CLICKABLE = ["facilities-circle", "tickets-points", "tickets-cells", "compounds-fill",
             "heat-fill", "grid-cells-hit", "communities-fill", "zones-fill"]
OPEN = ("SUBMITTED", "DISPATCHED", "IN_PROGRESS")

RENDERED_COUNTS_JS = """(layers) => Object.fromEntries(layers.map(
  (id) => [id, window.redgridMap.queryRenderedFeatures({ layers: [id] }).length]))"""

# A rendered compound whose bounding-box centre is on screen, not under the panel, and where
# the compound itself is the topmost clickable feature (no facility dot on top of it).
COMPOUND_TARGET_JS = """(clickable) => {
  const map = window.redgridMap;
  const canvas = map.getCanvas();
  const box = canvas.getBoundingClientRect();
  for (const feature of map.queryRenderedFeatures({ layers: ['compounds-fill'] })) {
    const ring = feature.geometry.type === 'Polygon'
      ? feature.geometry.coordinates[0] : feature.geometry.coordinates[0][0];
    const lons = ring.map((c) => c[0]);
    const lats = ring.map((c) => c[1]);
    const centre = [(Math.min(...lons) + Math.max(...lons)) / 2,
                    (Math.min(...lats) + Math.max(...lats)) / 2];
    const point = map.project(centre);
    const x = box.left + point.x;
    const y = box.top + point.y;
    if (document.elementFromPoint(x, y) !== canvas) continue;
    const layers = clickable.filter((id) => map.getLayoutProperty(id, 'visibility') !== 'none');
    const [top] = map.queryRenderedFeatures(point, { layers });
    if (top?.layer.id === 'compounds-fill' && top.properties.code === feature.properties.code) {
      return { x, y, code: feature.properties.code };
    }
  }
  return null;
}"""

# The screen point of a lon/lat of the map, and the lon/lat there after rounding to pixels.
SCREEN_POINT_JS = """([lon, lat]) => {
  const map = window.redgridMap;
  const box = map.getCanvas().getBoundingClientRect();
  const p = map.project([lon, lat]);
  const x = Math.round(p.x);
  const y = Math.round(p.y);
  const back = map.unproject([x, y]);
  return { x: box.left + x, y: box.top + y, lon: back.lng, lat: back.lat };
}"""

HEAT_CELLS_JS = """() => Object.fromEntries(window.redgridMap.querySourceFeatures('heat')
  .map((f) => [f.properties.id, [f.properties.count, f.properties.fill]]))"""


# The WebGL frame's pixels, copied into a 2D canvas (a JS statement defining `px`).
FRAME_PIXELS = """
  const gl = window.redgridMap.getCanvas();
  const copy = document.createElement('canvas');
  copy.width = gl.width;
  copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const px = ctx.getImageData(0, 0, copy.width, copy.height).data;"""

# How many distinct colours (4 bits per channel) and what share is the plain background.
CANVAS_COLOURS_JS = "() => {" + FRAME_PIXELS + """
  const colours = new Set();
  let background = 0;
  for (let i = 0; i < px.length; i += 4) {
    colours.add((px[i] >> 4) << 8 | (px[i + 1] >> 4) << 4 | px[i + 2] >> 4);
    if (px[i] === 0xf4 && px[i + 1] === 0xf1 && px[i + 2] === 0xea) background++;
  }
  return { distinct: colours.size, backgroundShare: background / (px.length / 4) };
}"""

# A checksum of the frame, to tell two drawings apart.
CANVAS_HASH_JS = "() => {" + FRAME_PIXELS + """
  let hash = 0;
  for (let i = 0; i < px.length; i++) hash = (hash * 31 + px[i]) | 0;
  return hash;
}"""

READY_OR_FAILED_JS = "window.redgridReady === true || !!document.querySelector('#status.error')"


class PageProblems:
    """Console errors, uncaught exceptions, failed requests and requests leaving the machine.

    A request the page itself abandons (a tile of a view already left) is not a failure.
    """

    def __init__(self, *origins: str) -> None:
        self.origins = origins
        self.messages: list[str] = []
        self.requests: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("request", self._request)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text}")

    def _page_error(self, error: Error) -> None:
        self.messages.append(f"pageerror: {error}")

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)
        if not request.url.startswith(self.origins + ("data:", "blob:")):
            self.messages.append(f"request off the machine: {request.url}")

    def _request_failed(self, request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":
            self.messages.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.messages.append(f"HTTP {response.status}: {response.url}")

    def assert_clean(self) -> None:
        assert self.messages == []


def open_map(browser: Browser, base_url: str, width: int, height: int, *origins: str
             ) -> tuple[Page, PageProblems]:
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = PageProblems(base_url, *origins)
    problems.watch(page)
    page.goto(base_url + "/")
    wait_ready(page, problems)
    return page, problems


def wait_ready(page: Page, problems: PageProblems) -> None:
    # A failed data load shows in #status at once: stop waiting then, and say why.
    page.wait_for_function(READY_OR_FAILED_JS, timeout=READY_TIMEOUT_MS)
    ready = page.evaluate("window.redgridReady === true")
    assert ready, f"{page.locator('#status').inner_text()} {problems.messages}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def desktop(browser: Browser, live_server: str) -> Iterator[tuple[Page, PageProblems]]:
    page, problems = open_map(browser, live_server, 1280, 800)
    yield page, problems
    page.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def set_layer(page: Page, label: str, on: bool) -> None:
    box = page.locator("#layers").get_by_label(label, exact=True)
    box.check() if on else box.uncheck()


def wait_idle(page: Page) -> None:
    page.evaluate("() => new Promise((done) => { const map = window.redgridMap;"
                  " map.once('idle', done); map.triggerRepaint(); })")


def heat_loaded(page: Page, key: str) -> dict[str, Any]:
    page.wait_for_function(f"document.querySelector('#heat-controls').dataset.loaded === {key!r}")
    cells: dict[str, Any] = page.evaluate(HEAT_CELLS_JS)
    return cells


def slide_to(page: Page, month_index: int) -> None:
    page.evaluate("(i) => { const s = document.getElementById('heat-month'); s.value = String(i);"
                  " s.dispatchEvent(new Event('input', { bubbles: true })); }", month_index)


def click_map_at(page: Page, lon: float, lat: float) -> dict[str, float]:
    point: dict[str, float] = page.evaluate(SCREEN_POINT_JS, [lon, lat])
    page.mouse.click(point["x"], point["y"])
    return point


def test_the_page_draws_every_layer_from_the_tiles(desktop: tuple[Page, PageProblems]) -> None:
    page, problems = desktop
    assert page.title() == "RedGrid 红网 · 临沭县城市社区网格地图"
    status = page.locator("#status").inner_text()
    assert re.search(r"\b43 个社区", status) and re.search(r"\b230 个小区", status), status

    # when: the layers that start hidden are switched on as well
    for label in ("街道", "片区", "工单"):
        set_layer(page, label, True)
    wait_idle(page)

    # then: every layer draws features from its vector tiles, and the frame is not blank
    # A layer whose style MapLibre refused is missing from the map, not an exception.
    missing = page.evaluate("(ids) => ids.filter((id) => !window.redgridMap.getLayer(id))",
                            sorted(set(ALL_LAYERS) | set(CLICKABLE)))
    assert missing == []
    assert page.evaluate("document.querySelector('#status').dataset.tileError ?? null") is None
    rendered = page.evaluate(RENDERED_COUNTS_JS, ALL_LAYERS)
    assert all(rendered.values()), f"layers with nothing drawn: {rendered}"
    colours = page.evaluate(CANVAS_COLOURS_JS)
    assert colours["distinct"] >= 8 and colours["backgroundShare"] < 0.5, colours
    assert "/tiles/compounds/" in " ".join(problems.requests)
    assert not any("graphql" in u and "geometry" in u for u in problems.requests)
    # the ticket legend names the statuses as the server's vocabulary labels them
    assert page.locator("#ticket-legend li").all_inner_texts() == list(STATUS_LABELS.values())
    screenshot(page, "map.png")
    for label in ("街道", "片区", "工单"):
        set_layer(page, label, False)
    assert page.evaluate("window.redgridMap.getLayoutProperty('streets-line', 'visibility')") \
        == "none"
    problems.assert_clean()


def test_clicking_a_compound_shows_its_details_from_graphql(
        desktop: tuple[Page, PageProblems], db: psycopg.Connection) -> None:
    page, problems = desktop
    target = page.evaluate(COMPOUND_TARGET_JS, CLICKABLE)
    assert target, "no compound could be clicked on screen"
    row = db.execute(
        "SELECT c.name, c.households, m.name FROM compounds c "
        "JOIN communities m ON m.code = c.community_code WHERE c.code = %s",
        (target["code"],)).fetchone()
    assert row is not None
    name, households, community = row

    # when: the compound's middle is clicked
    page.mouse.click(target["x"], target["y"])

    # then: its card names it, with what only GraphQL knows (households, the community's name)
    card = page.locator(".maplibregl-popup .card")
    expect(card).to_have_attribute("data-state", "loaded")
    expect(card).to_have_attribute("data-layer", "compounds-fill")
    for text in (name, target["code"], f"{households:,}", community):
        expect(card).to_contain_text(text)
    page.keyboard.press("Escape")
    page.locator(".maplibregl-popup-close-button").click()
    problems.assert_clean()


def test_the_heat_map_follows_the_time_slider_and_the_category(
        desktop: tuple[Page, PageProblems]) -> None:
    page, problems = desktop
    set_layer(page, "民情气象图", True)
    # The public counts on H3_8 hexagons and is offered nothing else: the server refuses
    # them grid cells, which ticket tiles count for all time, and H3_9 hexagons, whose months
    # an H3_8 hexagon's month would be differenced against.
    expect(page.locator("#heat-resolution")).to_have_value("H3_8")
    grid_cells = page.locator("#heat-resolution option[value='GRID_CELL']")
    small_hexagons = page.locator("#heat-resolution option[value='H3_9']")
    for refused in (grid_cells, small_hexagons):
        expect(refused).to_be_disabled()
        assert refused.evaluate("(o) => o.hidden") is True
    june = heat_loaded(page, "2024-06|2024-06|ALL|H3_8|count|WGS84")
    assert june and all(h3.is_valid_cell(k) and h3.get_resolution(k) == 8 for k in june)
    assert page.evaluate(RENDERED_COUNTS_JS, ["heat-fill"])["heat-fill"] > 0
    frame_june = page.evaluate(CANVAS_HASH_JS)
    expect(page.locator("#heat-period")).to_have_text("2024-06")

    # when: the slider goes to the first demo month
    slide_to(page, 0)
    january = heat_loaded(page, "2023-01|2023-01|ALL|H3_8|count|WGS84")

    # then: other counts and colours are drawn
    assert january.keys() == june.keys() and january != june
    assert page.evaluate(CANVAS_HASH_JS) != frame_june
    expect(page.locator("#heat-period")).to_have_text("2023-01")

    # and: the public has one month and every category, nothing else to choose from
    expect(page.locator("#heat-window")).to_be_disabled()
    expect(page.locator("#heat-window")).to_have_value("1")
    expect(page.locator("#heat-category")).to_be_hidden()

    # when: a planner (exact counts) asks for a 6-month window, then one category only
    page.locator("#signin-button").click()
    page.select_option("#signin-role", "PLANNER")
    page.locator("#signin-submit").click()
    expect(page.locator("#who")).to_contain_text("规划人员")
    expect(page.locator("#heat-window")).to_be_enabled()
    # and: grid cells are offered, and the planner's default
    expect(page.locator("#heat-resolution")).to_have_value("GRID_CELL")
    expect(grid_cells).to_be_enabled()
    expect(small_hexagons).to_be_enabled()
    assert len(heat_loaded(page, "2023-01|2023-01|ALL|GRID_CELL|count|WGS84")) == 429
    page.select_option("#heat-window", "6")
    half_year = heat_loaded(page, "2023-01|2023-06|ALL|GRID_CELL|count|WGS84")
    expect(page.locator("#heat-period")).to_have_text("2023-01 至 2023-06")
    total = sum(c for c, _ in half_year.values() if c)
    page.select_option("#heat-category", "C3")
    heating = heat_loaded(page, "2023-01|2023-06|C3|GRID_CELL|count|WGS84")
    assert heating != half_year
    assert sum(c for c, _ in heating.values() if c) < total
    option = page.locator("#heat-category option[value='C3']")
    expect(option).to_have_text("C3 供热供水供电供气")

    # and coloured by hot/cold-spot class, with its legend
    page.select_option("#heat-colour", "hotspot")
    heat_loaded(page, "2023-01|2023-06|C3|GRID_CELL|hotspot|WGS84")
    expect(page.locator("#heat-legend")).to_contain_text("热点（99% 置信）")
    screenshot(page, "map-heat.png")

    page.select_option("#heat-colour", "count")
    heat_loaded(page, "2023-01|2023-06|C3|GRID_CELL|count|WGS84")
    # and: on H3_9 hexagons, which planners may pick
    page.select_option("#heat-resolution", "H3_9")
    small = heat_loaded(page, "2023-01|2023-06|C3|H3_9|count|WGS84")
    assert small and all(h3.is_valid_cell(k) and h3.get_resolution(k) == 9 for k in small)

    # when: signing out, the window, the category and the cells go back to what the public
    # may ask
    page.locator("#signout-button").click()
    heat_loaded(page, "2023-01|2023-01|ALL|H3_8|count|WGS84")
    expect(page.locator("#heat-window")).to_be_disabled()
    expect(page.locator("#heat-category")).to_be_hidden()
    expect(page.locator("#heat-resolution")).to_have_value("H3_8")
    expect(grid_cells).to_be_disabled()
    expect(small_hexagons).to_be_disabled()
    slide_to(page, 17)
    heat_loaded(page, "2024-06|2024-06|ALL|H3_8|count|WGS84")
    set_layer(page, "民情气象图", False)
    problems.assert_clean()


def test_the_public_is_asked_to_sign_in_for_nearby_tickets(
        desktop: tuple[Page, PageProblems]) -> None:
    page, problems = desktop
    click_map_at(page, 118.657, 34.918)
    action = page.locator(".maplibregl-popup .nearby-action")
    expect(action).to_contain_text("登录后可查看附近待办工单")
    expect(action.locator("button[data-action=nearby]")).to_have_count(0)
    page.locator(".maplibregl-popup-close-button").click()
    problems.assert_clean()


def test_county_office_signs_in_and_lists_open_tickets_near_a_point(
        desktop: tuple[Page, PageProblems], db: psycopg.Connection) -> None:
    page, problems = desktop
    # when: the development sign-in as the county office
    page.locator("#signin-button").click()
    page.select_option("#signin-role", "COUNTY_OFFICE")
    page.locator("#signin-submit").click()
    expect(page.locator("#who")).to_contain_text("县级主管部门")
    expect(page.locator("#signout-button")).to_be_visible()
    assert page.evaluate("!!JSON.parse(sessionStorage.getItem('redgrid.session')).token")

    # then: ticket tiles go with the token
    with page.expect_request(lambda r: "/tiles/tickets/" in r.url
                             and r.headers.get("authorization", "").startswith("Bearer ")):
        set_layer(page, "工单", True)
    set_layer(page, "工单", False)

    # when: "open tickets near here" at a point in the county seat
    point = click_map_at(page, 118.657, 34.918)
    page.locator(".maplibregl-popup button[data-action=nearby]").click()

    # then: the open tickets within 500 m, nearest first, as the database has them
    section = page.locator("#nearby")
    expect(section).to_have_attribute("data-state", "loaded")
    items = section.locator("li")
    distances = [float(d) for d in items.evaluate_all("(li) => li.map((e) => e.dataset.distance)")]
    codes = items.evaluate_all("(li) => li.map((e) => e.dataset.code)")
    expected = db.execute("""
        SELECT code FROM tickets WHERE status = ANY(%s) AND ST_DWithin(geom::geography,
          ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, 500)
        ORDER BY ST_Distance(geom::geography,
          ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography), code LIMIT 50""",
        (list(OPEN), point["lon"], point["lat"], point["lon"], point["lat"])).fetchall()
    assert distances, "no open ticket within 500 m of the county seat centre"
    assert distances == sorted(distances) and all(0 <= d <= 500 for d in distances)
    assert codes == [row[0] for row in expected]
    expect(items.first).to_contain_text("米")
    expect(section).to_contain_text("按距离排序")
    assert page.evaluate("window.redgridMap.querySourceFeatures('nearby').length") >= 2
    screenshot(page, "map-nearby.png")

    # when: signing out
    page.locator(".maplibregl-popup-close-button").click()
    page.locator("#signout-button").click()
    expect(page.locator("#signin-button")).to_be_visible()
    expect(section).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('redgrid.session')") is None
    problems.assert_clean()


def test_the_datum_switch_cuts_tiles_on_the_basemap_grid(
        desktop: tuple[Page, PageProblems]) -> None:
    page, problems = desktop
    centre = page.evaluate("window.redgridMap.getCenter().toArray()")
    with page.expect_request(lambda r: re.search(r"/tiles/communities/\d+/\d+/\d+\.mvt\?crs=GCJ02$",
                                                 r.url) is not None):
        page.select_option("#datum", "GCJ02")
    wait_idle(page)
    shifted = page.evaluate("window.redgridMap.getCenter().toArray()")
    # the view moves with the features: GCJ-02 lies some 500 m away here
    east_m = (shifted[0] - centre[0]) * 111_320 * math.cos(math.radians(centre[1]))
    north_m = (shifted[1] - centre[1]) * 110_574
    assert 300 < math.hypot(east_m, north_m) < 800, (east_m, north_m)
    rendered = page.evaluate(RENDERED_COUNTS_JS, ["compounds-fill", "communities-fill"])
    assert all(rendered.values()), rendered
    with page.expect_request(lambda r: re.search(r"/tiles/compounds/\d+/\d+/\d+\.mvt$", r.url)
                             is not None):
        page.select_option("#datum", "WGS84")
    wait_idle(page)
    problems.assert_clean()


TICKET_CARD_JS = """async (code) => {
  const details = await import('/static/details.js');
  const box = document.createElement('div');
  box.innerHTML = await details.cardOf('tickets-points', { precise: true, code });
  return Object.fromEntries([...box.querySelectorAll('dt')].map(
    (dt) => [dt.textContent, dt.nextElementSibling.textContent]));
}"""


def test_the_ticket_card_shows_who_leads_and_who_cooperates(
        desktop: tuple[Page, PageProblems], db: psycopg.Connection) -> None:
    page, problems = desktop
    code, lead = db.execute(
        "SELECT t.code, u.name FROM tickets t JOIN units u ON u.code = t.unit_code "
        "WHERE t.item_code = 'P02' AND t.compound_code IS NOT NULL ORDER BY t.id LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    cooperating = [r[0] for r in db.execute(
        "SELECT u.name FROM ticket_units tu JOIN units u ON u.code = tu.unit_code "
        "JOIN tickets t ON t.id = tu.ticket_id WHERE t.code = %s AND tu.role = 'COOPERATING' "
        "ORDER BY u.code", (code,))]
    assert len(cooperating) == 2  # P02: urban management and the community
    page.locator("#signin-button").click()
    page.select_option("#signin-role", "COUNTY_OFFICE")
    page.locator("#signin-submit").click()
    expect(page.locator("#signout-button")).to_be_visible()

    # when: the card of one of its tickets is drawn, as a click on the ticket draws it
    card = page.evaluate(TICKET_CARD_JS, code)

    # then: it names the lead unit and the cooperating units, as the database has them
    assert card["编码"] == code
    assert card["牵头单位"] == lead
    assert card["配合单位"] == "、".join(cooperating)
    page.locator("#signout-button").click()
    expect(page.locator("#signin-button")).to_be_visible()
    problems.assert_clean()


def test_an_expired_token_signs_the_user_out_with_a_message(
        browser: Browser, live_server: str, token: Minter) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(live_server + "/map-config.json")
        # The page believes the token good for an hour; the server knows it ran out.
        stale = token("COUNTY_OFFICE", ttl_s=-60)
        page.evaluate("(t) => sessionStorage.setItem('redgrid.session', JSON.stringify({token: t,"
                      " via: 'dev', role: 'COUNTY_OFFICE', scopes: [], sub: 'x',"
                      " expiresAt: Date.now() + 3600000}))", stale)
        statuses: list[int] = []
        page.on("response", lambda r: statuses.append(r.status))
        page.goto(live_server + "/")
        expect(page.locator("#message")).to_contain_text("登录已过期")
        expect(page.locator("#signin-button")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('redgrid.session')") is None
        assert 401 in statuses
    finally:
        page.close()


def test_the_page_fits_a_phone_screen(browser: Browser, live_server: str) -> None:
    page, problems = open_map(browser, live_server, 390, 844)
    try:
        expect(page.locator("#status")).to_contain_text("43 个社区")
        map_box = page.locator("#map").bounding_box()
        assert map_box and map_box["width"] >= 380 and map_box["height"] >= 600, map_box
        # the panel starts folded; its toggle is a thumb-sized button
        panel = page.locator("#panel")
        toggle = page.locator("#panel-toggle")
        expect(panel).to_be_hidden()
        toggle_box = toggle.bounding_box()
        assert toggle_box and toggle_box["height"] >= 40 and toggle_box["width"] >= 40
        # the whole county is on the screen, with its communities and facilities
        shown = page.evaluate("(() => { const b = window.redgridMap.getBounds();"
                              " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()")
        county = httpx.get(f"{live_server}/tiles/communities.json", timeout=30).json()["bounds"]
        assert shown[0] <= county[0] and shown[1] <= county[1], (shown, county)
        assert shown[2] >= county[2] and shown[3] >= county[3], (shown, county)
        rendered = page.evaluate(RENDERED_COUNTS_JS, ["communities-fill", "facilities-circle",
                                                      "communities-label"])
        assert all(rendered.values()), rendered
        screenshot(page, "map-phone.png")
        # one step in, compounds and grid cells are drawn too
        page.evaluate("window.redgridMap.zoomTo(window.redgridMap.getZoom() + 1, { duration: 0 })")
        wait_idle(page)
        rendered = page.evaluate(RENDERED_COUNTS_JS, ["compounds-fill", "grid-cells-line"])
        assert all(rendered.values()), rendered
        colours = page.evaluate(CANVAS_COLOURS_JS)
        assert colours["distinct"] >= 8 and colours["backgroundShare"] < 0.8, colours

        toggle.click()
        expect(panel).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        panel_box = panel.bounding_box()
        assert panel_box and panel_box["width"] <= 390 and panel_box["height"] < 844 * 0.7
        label_box = page.locator("#layers label").first.bounding_box()
        assert label_box and label_box["height"] >= 40
        screenshot(page, "map-phone-panel.png")
        toggle.click()
        expect(panel).to_be_hidden()
        problems.assert_clean()
    finally:
        page.close()


# --- Production sign-in: the county identity provider, authorization code + PKCE (S256) ---

ISSUER = "https://idp.linshu.example/realms/county"
CLIENT_ID = "redgrid-map"
IDP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class IdentityProvider:
    """A small OAuth 2.0 provider: authorize (auto-approves), token (checks PKCE), JWKS."""

    url: str
    challenges: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (challenge, uri)
    exchanges: list[str] = field(default_factory=list)  # "ok" or why a token was refused

    def authorize(self, query: dict[str, str]) -> str:
        if query.get("code_challenge_method") != "S256" or query.get("client_id") != CLIENT_ID:
            raise ValueError("PKCE S256 and the client id are required")
        code = secrets.token_urlsafe(16)
        self.challenges[code] = (query["code_challenge"], query["redirect_uri"])
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        challenge, redirect_uri = self.challenges.pop(form.get("code", ""), ("", ""))
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if not challenge or digest.rstrip(b"=").decode() != challenge:
            self.exchanges.append("bad verifier or code")
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != redirect_uri or form.get("client_id") != CLIENT_ID:
            self.exchanges.append("bad redirect or client")
            return 400, {"error": "invalid_grant"}
        self.exchanges.append("ok")
        now = int(time.time())
        claims = {"sub": "county-officer-1", "redgrid_role": "COUNTY_OFFICE",
                  "redgrid_scopes": [], "iss": ISSUER, "iat": now, "exp": now + 600}
        return 200, {"access_token": jwt.encode(claims, IDP_KEY, algorithm="RS256",
                                                headers={"kid": "idp-1"}),
                     "token_type": "Bearer", "expires_in": 600}


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    jwk = {**json.loads(RSAAlgorithm.to_jwk(IDP_KEY.public_key())), "kid": "idp-1",
           "alg": "RS256", "use": "sig"}
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    provider = IdentityProvider(f"http://127.0.0.1:{server.server_port}")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any], **headers: str) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json",
                                "Access-Control-Allow-Origin": "*", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            path, _, query = self.path.partition("?")
            if path == "/certs":
                self._send(200, {"keys": [jwk]})
            elif path == "/authorize":
                location = provider.authorize(dict(parse_qsl(query)))
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            self._send(*provider.token(form))

        def log_message(self, *args: Any) -> None:
            return None

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def production_server(settings: Settings, idp: IdentityProvider) -> Iterator[str]:
    production = replace(settings, environment="production", jwt_secret="",
                         jwks_url=f"{idp.url}/certs", jwt_issuer=ISSUER,
                         oidc_authorize_url=f"{idp.url}/authorize",
                         oidc_token_url=f"{idp.url}/token", oidc_client_id=CLIENT_ID,
                         oidc_scope="openid redgrid")
    with serving(production) as url:
        yield url


def test_production_signs_in_with_the_identity_provider_by_pkce(
        browser: Browser, production_server: str, idp: IdentityProvider) -> None:
    page, problems = open_map(browser, production_server, 1280, 800, idp.url)
    try:
        # when: 登录 goes to the provider, which sends the browser back with a code
        page.locator("#signin-button").click()
        page.wait_for_url(re.compile(re.escape(production_server) + r"/$"))
        wait_ready(page, problems)

        # then: the page traded the code and its verifier for the provider's token
        assert idp.exchanges == ["ok"]
        expect(page.locator("#who")).to_contain_text("县级主管部门 · county-officer-1")
        assert page.evaluate("JSON.parse(sessionStorage.getItem('redgrid.session')).via") == "oidc"
        assert page.evaluate("sessionStorage.getItem('redgrid.pkce')") is None

        # and RedGrid accepts that token: nearby tickets for the county office
        click_map_at(page, 118.657, 34.918)
        page.locator(".maplibregl-popup button[data-action=nearby]").click()
        expect(page.locator("#nearby")).to_have_attribute("data-state", "loaded")
        assert page.locator("#nearby li").count() > 0
        problems.assert_clean()
    finally:
        page.close()


def test_a_code_without_its_pending_sign_in_is_refused(
        browser: Browser, production_server: str, idp: IdentityProvider) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        before = list(idp.exchanges)
        page.goto(production_server + "/?code=stolen&state=guessed")
        expect(page.locator("#message")).to_contain_text("登录失败")
        expect(page.locator("#signin-button")).to_be_visible()
        assert page.url == production_server + "/"
        assert idp.exchanges == before  # the code never reached the token endpoint
    finally:
        page.close()


LABELS_JS = """(id) => [...new Set(window.redgridMap.queryRenderedFeatures({ layers: [id] })
  .map((f) => f.properties.name))]"""


def test_labels_are_drawn_offline_from_the_tiles(browser: Browser, live_server: str,
                                                 db: psycopg.Connection) -> None:
    """Community names are on the map at the county view, compound names from z15, read back
    from the rendered symbols; nothing is fetched beyond the server (no glyph service)."""
    page, problems = open_map(browser, live_server, 1280, 800)
    wait_idle(page)
    names = set(page.evaluate(LABELS_JS, "communities-label"))
    communities = {r[0] for r in db.execute("SELECT name FROM communities")}
    assert names <= communities and len(names) >= 30, names
    page.evaluate("window.redgridMap.jumpTo({ center: [118.6564, 34.9226], zoom: 15.5 })")
    wait_idle(page)
    compounds = set(page.evaluate(LABELS_JS, "compounds-label"))
    assert "清华新城" in compounds, compounds
    set_layer(page, "小区", False)
    wait_idle(page)
    assert page.evaluate(LABELS_JS, "compounds-label") == []
    assert not [r for r in problems.requests if "/glyphs/" in r]
    problems.assert_clean()
    page.close()


CODES_JS = """(id) => [...new Set(window.redgridMap.queryRenderedFeatures({ layers: [id] })
  .map((f) => f.properties.code))]"""


def test_roads_the_river_and_grid_codes_are_drawn(browser: Browser, live_server: str,
                                                  db: psycopg.Connection) -> None:
    """The county view shows the 沭河 and the road network under the places; from z16 each grid
    cell carries its code and the roads their names, drawn with local fonts (no glyph service)."""
    page, problems = open_map(browser, live_server, 1280, 800)
    wait_idle(page)
    shown = page.evaluate(RENDERED_COUNTS_JS, ["waters-fill", "roads-line"])
    assert shown["roads-line"] >= 20, shown
    assert "沭河" in set(page.evaluate(LABELS_JS, "waters-fill")), shown
    page.evaluate("window.redgridMap.jumpTo({ center: [118.6564, 34.9226], zoom: 16.2 })")
    wait_idle(page)
    codes = set(page.evaluate(CODES_JS, "grid-cells-label"))
    cells = {r[0] for r in db.execute("SELECT code FROM grid_cells")}
    assert codes and codes <= cells, codes
    roads = set(page.evaluate(LABELS_JS, "roads-label"))
    assert roads and roads <= {r[0] for r in db.execute("SELECT name FROM roads")}, roads
    set_layer(page, "道路", False)
    set_layer(page, "网格", False)
    wait_idle(page)
    assert page.evaluate(RENDERED_COUNTS_JS, ["roads-line", "grid-cells-label"]) == {
        "roads-line": 0, "grid-cells-label": 0}
    assert not [r for r in problems.requests if "/glyphs/" in r]
    problems.assert_clean()
    page.close()


def test_legends_show_only_for_layers_that_are_on(browser: Browser, live_server: str) -> None:
    page, problems = open_map(browser, live_server, 1280, 800)
    expect(page.locator("#legend")).to_be_visible()  # facilities are on at the start
    expect(page.locator("#ticket-legend")).to_be_hidden()
    expect(page.locator("#heat-legend")).to_be_hidden()
    set_layer(page, "服务设施", False)
    expect(page.locator("#legend")).to_be_hidden()
    set_layer(page, "服务设施", True)
    expect(page.locator("#legend")).to_be_visible()
    set_layer(page, "民情气象图", True)
    expect(page.locator("#heat-legend")).to_be_visible()
    # the public's counts withhold zeros: no "0 件" class in its legend
    expect(page.locator("#heat-legend")).to_contain_text("少于 3 件（不公开）")
    expect(page.locator("#heat-legend li", has_text=re.compile(r"^0 件$"))).to_have_count(0)
    set_layer(page, "民情气象图", False)
    expect(page.locator("#heat-legend")).to_be_hidden()
    problems.assert_clean()
    page.close()


COMMITTEE_STATE_JS = """(code) => window.redgridMap.getFeatureState(
  { source: 'compounds', sourceLayer: 'compounds', id: code }).committee ?? null"""


def test_compounds_are_coloured_by_their_owners_committee(browser: Browser, live_server: str,
                                                          db: psycopg.Connection) -> None:
    """Signed in as the county office, the 业委会状态 layer marks the compounds without a
    committee and those below the 60% party share, as the database has them; the public is
    asked to sign in."""
    page, problems = open_map(browser, live_server, 1280, 800)
    set_layer(page, "业委会状态", True)
    expect(page.locator("#committee-legend")).to_have_attribute("data-state", "signin")
    page.locator("#signin-button").click()
    page.select_option("#signin-role", "COUNTY_OFFICE")
    page.locator("#signin-submit").click()
    expect(page.locator("#committee-legend")).to_have_attribute("data-state", "loaded")
    without = db.execute("""SELECT k.code FROM compounds k WHERE NOT EXISTS (
        SELECT 1 FROM owners_committees o WHERE o.compound_code = k.code) ORDER BY k.code
        LIMIT 1""").fetchone()
    sitting = db.execute("SELECT compound_code FROM owners_committees ORDER BY id LIMIT 1"
                         ).fetchone()
    assert without is not None and sitting is not None
    assert page.evaluate(COMMITTEE_STATE_JS, without[0]) == "NONE"
    assert page.evaluate(COMMITTEE_STATE_JS, sitting[0]) in (None, "BELOW")
    expect(page.locator("#committee-legend")).to_contain_text("个小区已成立业委会")
    assert page.evaluate(RENDERED_COUNTS_JS, ["compounds-committee"])["compounds-committee"] > 0
    set_layer(page, "业委会状态", False)
    expect(page.locator("#committee-legend")).to_be_hidden()
    problems.assert_clean()
    page.close()


PATROL_CELLS_JS = """() => Object.fromEntries(window.redgridMap
  .queryRenderedFeatures({ layers: ['patrols-fill'] })
  .map((f) => [f.properties.code, [f.properties.visits, f.properties.fill]]))"""


def test_grid_cells_are_coloured_by_their_patrols_in_the_chosen_week(
        browser: Browser, live_server: str, db: psycopg.Connection) -> None:
    """巡查覆盖 asks the public to sign in; signed in as a community's staff, the page draws
    that community's cells with the week's visits as the database counts them, a cell nobody
    walked in red, and another week on the picker redraws them."""
    page, problems = open_map(browser, live_server, 1280, 800)
    set_layer(page, "巡查覆盖", True)
    result = page.locator("#patrol-result")
    expect(result).to_have_attribute("data-state", "signin")
    # The demo ends on 2024-06-30: its week is the picker's "this week".
    expect(page.locator("#patrol-week option").first).to_have_attribute("value", "2024-06-24")
    community = db.execute(
        "SELECT g.community_code FROM grid_cells g WHERE NOT EXISTS (SELECT 1 FROM "
        "patrol_visits v WHERE v.cell_code = g.code AND v.at >= '2024-06-17T00:00+08:00' "
        "AND v.at < '2024-06-24T00:00+08:00') ORDER BY g.code LIMIT 1").fetchone()[0]  # type: ignore[index]
    page.locator("#signin-button").click()
    page.select_option("#signin-role", "COMMUNITY_STAFF")
    page.fill("#signin-scopes", community)
    page.locator("#signin-submit").click()
    expect(result).to_have_attribute("data-state", "loaded")
    page.select_option("#patrol-week", "2024-06-17")
    expect(result).to_have_attribute("data-week", "2024-06-17")
    expect(result).to_have_attribute("data-state", "loaded")
    wait_idle(page)
    drawn = page.evaluate(PATROL_CELLS_JS)
    expected = dict(db.execute(
        "SELECT g.code, count(v.id) FROM grid_cells g LEFT JOIN patrol_visits v ON "
        "v.cell_code = g.code AND v.at >= '2024-06-17T00:00+08:00' "
        "AND v.at < '2024-06-24T00:00+08:00' WHERE g.community_code = %s GROUP BY g.code",
        (community,)).fetchall())
    assert drawn and set(drawn) == set(expected)
    assert {code: visits for code, (visits, _) in drawn.items()} == expected
    assert {fill for visits, fill in drawn.values() if visits == 0} == {"#d7301f"}
    assert "#d7301f" not in {fill for visits, fill in drawn.values() if visits > 0}
    expect(result).to_contain_text("个网格有巡查")
    set_layer(page, "巡查覆盖", False)
    expect(page.locator("#patrol-legend")).to_be_hidden()
    problems.assert_clean()
    page.close()
