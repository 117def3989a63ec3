"""The map page in headless Chromium, against the live app and the seeded demo database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
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

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
READY_TIMEOUT_MS = 60_000
MAP_LAYERS = ["communities-fill", "communities-line", "grid-cells-line", "compounds-fill",
              "facilities-circle"]

# Copies the WebGL frame into a 2D canvas and sums up its pixels: how many distinct colours
# (4 bits per channel) and what share of them is the plain background.
CANVAS_COLOURS_JS = """() => {
  const gl = window.redgridMap.getCanvas();
  const copy = document.createElement('canvas');
  copy.width = gl.width;
  copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
  const colours = new Set();
  let background = 0;
  for (let i = 0; i < px.length; i += 4) {
    colours.add((px[i] >> 4) << 8 | (px[i + 1] >> 4) << 4 | px[i + 2] >> 4);
    if (px[i] === 0xf4 && px[i + 1] === 0xf1 && px[i + 2] === 0xea) background++;
  }
  return { distinct: colours.size, backgroundShare: background / (px.length / 4) };
}"""

READY_OR_FAILED_JS = "window.redgridReady === true || !!document.querySelector('#status.error')"

RENDERED_COUNTS_JS = """(layers) => Object.fromEntries(layers.map(
  (id) => [id, window.redgridMap.queryRenderedFeatures({ layers: [id] }).length]))"""

# A rendered compound whose bounding-box centre is on screen, not under the layer panel, and
# where the compound itself is the topmost clickable feature (no facility dot on top of it).
COMPOUND_TARGET_JS = """() => {
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
    const [top] = map.queryRenderedFeatures(point, {
      layers: ['facilities-circle', 'compounds-fill', 'grid-cells-hit', 'communities-fill'] });
    if (top?.layer.id === 'compounds-fill' && top.properties.code === feature.properties.code) {
      return { x, y, name: feature.properties.name, code: feature.properties.code };
    }
  }
  return null;
}"""


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions and failed requests seen by one page."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text}")

    def _page_error(self, error: Error) -> None:
        self.messages.append(f"pageerror: {error}")

    def _request_failed(self, request: Request) -> None:
        self.messages.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.messages.append(f"HTTP {response.status}: {response.url}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_map(browser: Browser, base_url: str, width: int, height: int
             ) -> tuple[Page, PageProblems]:
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = PageProblems()
    problems.watch(page)
    page.goto(base_url + "/")
    # A failed data load shows in #status at once: stop waiting then, and say why.
    page.wait_for_function(READY_OR_FAILED_JS, timeout=READY_TIMEOUT_MS)
    ready = page.evaluate("window.redgridReady === true")
    assert ready, f"{page.locator('#status').inner_text()} {problems.messages}"
    return page, problems


def assert_map_drawn(page: Page, max_background: float) -> None:
    rendered = page.evaluate(RENDERED_COUNTS_JS, MAP_LAYERS)
    assert all(rendered.values()), f"layers with nothing drawn: {rendered}"
    colours = page.evaluate(CANVAS_COLOURS_JS)
    assert colours["distinct"] >= 8, colours
    assert colours["backgroundShare"] < max_background, colours


def test_map_page_draws_the_demo_grid_and_shows_a_compound_popup(
        browser: Browser, live_server: str) -> None:
    page, problems = open_map(browser, live_server, 1280, 800)
    try:
        assert page.title() == "RedGrid 红网 · 临沭县城市社区网格地图"
        status = page.locator("#status").inner_text()
        assert re.search(r"\b43 个社区", status) and re.search(r"\b230 个小区", status), status
        assert_map_drawn(page, max_background=0.5)

        # when: a compound's middle is clicked
        target = page.evaluate(COMPOUND_TARGET_JS)
        assert target, "no compound could be clicked on screen"
        page.mouse.click(target["x"], target["y"])

        # then: its popup names it
        popup = page.locator(".maplibregl-popup")
        expect(popup).to_have_count(1)
        expect(popup).to_contain_text(target["name"])
        expect(popup).to_contain_text(target["code"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "map.png")
        assert problems.messages == []
    finally:
        page.close()


def test_layer_switcher_hides_and_shows_a_layer(browser: Browser, live_server: str) -> None:
    page, problems = open_map(browser, live_server, 1280, 800)
    try:
        visibility = "window.redgridMap.getLayoutProperty('compounds-fill', 'visibility')"
        box = page.get_by_label("小区", exact=True)
        box.uncheck()
        assert page.evaluate(visibility) == "none"
        box.check()
        assert page.evaluate(visibility) == "visible"
        expect(page.locator("#legend")).to_contain_text("驿站")
        for label in ("诊疗点", "幸福食堂", "社服用房"):
            expect(page.locator("#legend")).to_contain_text(label)
        assert problems.messages == []
    finally:
        page.close()


def test_map_page_fits_a_phone_screen(browser: Browser, live_server: str) -> None:
    page, problems = open_map(browser, live_server, 390, 844)
    try:
        expect(page.locator("#status")).to_be_visible()
        expect(page.locator("#status")).to_contain_text("43 个社区")
        map_box = page.locator("#map").bounding_box()
        assert map_box and map_box["width"] >= 380 and map_box["height"] >= 600, map_box
        panel_box = page.locator("#panel").bounding_box()
        assert panel_box and panel_box["width"] < 390 / 2, panel_box
        # a tall screen leaves bands of background above and below the fitted county seat
        assert_map_drawn(page, max_background=0.8)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "map-phone.png")
        assert problems.messages == []
    finally:
        page.close()
