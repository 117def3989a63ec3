"""The planner panel 规划分析 of the map page in headless Chromium: coverage rings and uncovered
compounds, suggested sites, what-if by clicking the map, market groups coloured, the area
dashboard's charts and a CSV export, each against the API's own answers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from pyproj import Geod

from tests.conftest import GraphQLClient, Minter
from tests.web.test_map_page import (  # noqa: F401 - the browser fixture
    PageProblems,
    browser,
    click_map_at,
    open_map,
    screenshot,
    wait_idle,
)

GEOD = Geod(ellps="WGS84")
SOURCE_CODES_JS = """(source) => [...new Set(window.redgridMap.querySourceFeatures(source)
  .map((f) => f.properties.code ?? f.properties.rank))].length"""


@pytest.fixture(scope="module")
def planner_page(browser: Browser, live_server: str) -> Iterator[tuple[Page, PageProblems]]:  # noqa: F811
    page, problems = open_map(browser, live_server, 1280, 900)
    expect(page.locator("#planner")).to_be_hidden()
    page.locator("#signin-button").click()
    page.select_option("#signin-role", "PLANNER")
    page.fill("#signin-scopes", "")
    page.locator("#signin-submit").click()
    expect(page.locator("#who")).to_contain_text("规划人员")
    expect(page.locator("#planner")).to_be_visible()
    yield page, problems
    page.close()


@pytest.fixture(scope="module")
def api(gql: GraphQLClient, token: Minter) -> GraphQLClient:
    return gql.as_(token("PLANNER", sub="panel-check"))


def loaded(page: Page, box: str) -> dict[str, Any]:
    expect(page.locator(box)).to_have_attribute("data-state", "loaded", timeout=30_000)
    data: dict[str, Any] = page.evaluate(f"({{ ...document.querySelector({box!r}).dataset }})")
    return data


def source_count(page: Page, source: str) -> int:
    wait_idle(page)
    count: int = page.evaluate(SOURCE_CODES_JS, source)
    return count


def test_coverage_rings_and_uncovered_compounds(planner_page: tuple[Page, PageProblems],
                                                api: GraphQLClient) -> None:
    page, problems = planner_page
    page.select_option("#plan-kind", "CANTEEN")
    page.locator("#planner [data-preset='1000']").click()
    page.select_option("#plan-weight", "POPULATION")
    page.locator("#plan-coverage").click()
    shown = loaded(page, "#plan-result")
    want = api.data("{ coverage(kind: CANTEEN, radiusM: 1000, weight: POPULATION) { share "
                    "uncovered(first: 1000) { compound { code } } } }")["coverage"]
    assert float(shown["share"]) == pytest.approx(want["share"])
    assert int(shown["uncovered"]) == len(want["uncovered"]) > 0
    page.evaluate("() => window.redgridMap.jumpTo({ zoom: 12 })")
    assert source_count(page, "plan-uncovered") == len(want["uncovered"])
    assert source_count(page, "plan-rings") == 10  # a ring per canteen
    expect(page.locator("#plan-result")).to_contain_text("未覆盖小区")
    screenshot(page, "planner-coverage.png")
    problems.assert_clean()


def test_suggested_sites_and_what_if(planner_page: tuple[Page, PageProblems],
                                     api: GraphQLClient) -> None:
    page, problems = planner_page
    page.fill("#plan-count", "3")
    page.locator("#plan-suggest").click()
    assert loaded(page, "#plan-result")["sites"] == "3"
    want = api.data("{ suggestSites(kind: CANTEEN, count: 3, radiusM: 1000, weight: POPULATION) "
                    "{ sites { gain } optimal } }")["suggestSites"]
    gains = page.locator("#plan-result li").evaluate_all("(li) => li.map((e) => +e.dataset.gain)")
    assert gains == pytest.approx([s["gain"] for s in want["sites"]])
    expect(page.locator("#plan-result")).to_contain_text("已证明最优")
    assert source_count(page, "plan-sites") == 3

    # what-if: clicking at the heaviest uncovered compound's centre covers it
    target = api.data("{ coverage(kind: CANTEEN, radiusM: 1000, weight: POPULATION) { "
                      "uncovered(first: 1) { compound { code center } } } }")
    compound = target["coverage"]["uncovered"][0]["compound"]
    lon, lat = compound["center"]["coordinates"]
    page.evaluate("([lon, lat]) => window.redgridMap.jumpTo({ center: [lon, lat], zoom: 14 })",
                  [lon, lat])
    wait_idle(page)
    page.locator("#plan-whatif").check()
    click_map_at(page, lon, lat)
    shown = loaded(page, "#plan-result")
    assert compound["code"] in shown["newlyCovered"].split(",")
    expect(page.locator(".maplibregl-popup")).to_have_count(0)  # the click added a point
    assert source_count(page, "plan-added") == 1
    page.locator("#plan-whatif").uncheck()
    problems.assert_clean()


def test_market_groups_are_coloured(planner_page: tuple[Page, PageProblems],
                                    api: GraphQLClient) -> None:
    page, problems = planner_page
    page.evaluate("() => window.redgridMap.jumpTo({ center: [118.657, 34.918], zoom: 12 })")
    page.locator("#plan-market").click()
    shown = loaded(page, "#plan-result")
    want = api.data("{ marketGroups { number } }")["marketGroups"]
    assert int(shown["groups"]) == len(want)
    assert source_count(page, "plan-groups") == 43
    colours = page.evaluate("() => new Set(window.redgridMap.querySourceFeatures('plan-groups')"
                            ".map((f) => f.properties.colour)).size")
    assert colours >= min(len(want), 14) - 1
    screenshot(page, "planner-market-groups.png")
    problems.assert_clean()


@pytest.mark.parametrize("preset", [300, 500])
def test_life_circle_presets_draw_rings_of_their_radius(planner_page: tuple[Page, PageProblems],
                                                        api: GraphQLClient, preset: int) -> None:
    page, problems = planner_page
    page.select_option("#plan-kind", "CLINIC")
    page.locator(f"#planner [data-preset='{preset}']").click()
    assert page.input_value("#plan-radius") == str(preset)
    page.select_option("#plan-weight", "HOUSEHOLDS")
    page.locator("#plan-coverage").click()
    shown = loaded(page, "#plan-result")
    want = api.data("query ($r: Float!) { coverage(kind: CLINIC, radiusM: $r) { share } "
                    "facilities(kind: CLINIC) { code geometry } }", {"r": float(preset)})
    assert float(shown["share"]) == pytest.approx(want["coverage"]["share"])
    rings = page.evaluate("async () => (await window.redgridMap.getSource('plan-rings')"
                          ".getData()).features")
    centres = {f["code"]: f["geometry"]["coordinates"] for f in want["facilities"]}
    assert sorted(r["properties"]["code"] for r in rings) == sorted(centres)
    for ring in rings:
        lon, lat = centres[ring["properties"]["code"]]
        for x, y in ring["geometry"]["coordinates"][0]:
            assert GEOD.inv(lon, lat, x, y)[2] == pytest.approx(preset, rel=1e-3)
    problems.assert_clean()


@pytest.mark.parametrize(("last_day", "period"), [
    ("2024-06-30", ("2024-01-01", "2024-06-30")),  # the tests' demo: June is whole
    ("2026-11-15", ("2026-05-01", "2026-10-31")),  # a demo seeded mid-November
    ("2026-01-10", ("2025-07-01", "2025-12-31")),
    ("2024-02-29", ("2023-09-01", "2024-02-29")),
])
def test_the_default_period_is_the_last_6_whole_months_of_the_data(
        planner_page: tuple[Page, PageProblems], last_day: str, period: tuple[str, str]) -> None:
    page, _ = planner_page
    got = page.evaluate("(day) => import('/static/planner.js').then((p) => p.defaultPeriod(day))",
                        last_day)
    assert (got["from"], got["to"]) == period


def test_dashboard_charts_and_csv_export(planner_page: tuple[Page, PageProblems],
                                         api: GraphQLClient, live_server: str) -> None:
    page, problems = planner_page
    page.select_option("#plan-level", "STREET")
    # the panel opens on the data's last 6 whole months, here the tests' demo (as of 2024-06-30)
    last_day = page.evaluate("(url) => fetch(url).then((r) => r.json()).then((c) => c.lastDay)",
                             live_server + "/map-config.json")
    assert last_day == "2024-06-30"
    assert page.input_value("#plan-from") == "2024-01-01"
    assert page.input_value("#plan-to") == "2024-06-30"
    page.locator("#plan-stats").click()
    shown = loaded(page, "#plan-dashboard")
    want = api.data('{ areaStats(level: STREET, from: "2024-01-01", to: "2024-06-30") '
                    "{ tickets onTimeRate } }")["areaStats"]
    assert int(shown["total"]) == sum(a["tickets"] for a in want) > 0
    assert shown["months"] == "6"
    expect(page.locator("#plan-dashboard .bar-month")).to_have_count(6)
    expect(page.locator("#plan-dashboard .bar-ontime")).to_have_count(2)
    assert page.locator("#plan-dashboard .bar-channel").count() >= 3
    with page.expect_download() as info:
        page.locator("#planner [data-export='coverage']").click()
    body = Path(info.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 230 and rows[0]["compound_name"]
    screenshot(page, "planner-dashboard.png")

    page.locator("#signout-button").click()
    expect(page.locator("#planner")).to_be_hidden()
    problems.assert_clean()


@pytest.mark.parametrize(("role", "scope", "shown"), [
    ("ZONE_OFFICER", "Z1", False), ("COMMUNITY_STAFF", "371329001001", False),
    ("STREET_OFFICER", "371329001", True), ("COUNTY_OFFICE", "", True)])
def test_the_panel_is_shown_to_the_apis_callers_only(planner_page: tuple[Page, PageProblems],
                                                     role: str, scope: str, shown: bool) -> None:
    page, problems = planner_page
    page.locator("#signin-button").click()
    page.select_option("#signin-role", role)
    page.fill("#signin-scopes", scope)
    page.locator("#signin-submit").click()
    expect(page.locator("#signout-button")).to_be_visible()
    panel = expect(page.locator("#planner"))
    if shown:
        panel.to_be_visible()
    else:
        panel.to_be_hidden()
    page.locator("#signout-button").click()
    expect(page.locator("#planner")).to_be_hidden()
    problems.assert_clean()
