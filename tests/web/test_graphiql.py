"""GraphiQL in headless Chromium: served from the project's npm packages, the README's
examples as tabs, a query run with a token from the headers pane; no request leaves the server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import Minter
from tests.web.test_map_page import CHROMIUM, CHROMIUM_ARGS, PageProblems
from web.graphiql import readme_examples

LOAD_TIMEOUT_MS = 60_000
NEARBY = """{ nearbyTickets(point: {lon: 118.657, lat: 34.918}, radiusM: 1000, first: 3) {
  distanceM ticket { code } } }"""
SET_EDITOR_JS = """([selector, text]) => {
  document.querySelector(selector).CodeMirror.setValue(text);
}"""
RESULT_JS = "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"


@pytest.fixture(scope="module")
def page(live_server: str) -> Iterator[tuple[Page, PageProblems]]:
    with sync_playwright() as pw:
        browser: Browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        problems = PageProblems(live_server)
        problems.watch(page)
        page.goto(live_server + "/graphql")
        page.wait_for_selector(".graphiql-container", timeout=LOAD_TIMEOUT_MS)
        yield page, problems
        browser.close()


def run(page: Page, query: str, headers: str = "") -> dict[str, object]:
    page.evaluate(SET_EDITOR_JS, [".graphiql-query-editor .CodeMirror", query])
    page.get_by_role("button", name="Headers").click()
    page.evaluate(SET_EDITOR_JS, [".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror",
                                  headers])
    before = page.evaluate(RESULT_JS)
    page.locator(".graphiql-execute-button").click()
    page.wait_for_function(f"() => ({RESULT_JS})() !== {json.dumps(before)} "
                           f"&& ({RESULT_JS})().trim().startsWith('{{')",
                           timeout=LOAD_TIMEOUT_MS)
    result: dict[str, object] = json.loads(page.evaluate(RESULT_JS))
    return result


def test_graphiql_renders_offline_with_the_readme_examples_as_tabs(
        page: tuple[Page, PageProblems], live_server: str) -> None:
    p, problems = page
    tabs = p.locator(".graphiql-tab")
    assert tabs.count() == len(readme_examples()) >= 5
    assert p.evaluate("document.querySelector('.graphiql-query-editor .CodeMirror')"
                      ".CodeMirror.getValue()") == readme_examples()[0]
    assert problems.requests and all(u.startswith((live_server, "data:", "blob:"))
                                     for u in problems.requests)
    problems.assert_clean()


def test_a_query_runs_as_the_public_and_with_a_token_from_the_headers_pane(
        page: tuple[Page, PageProblems], token: Minter) -> None:
    p, problems = page
    public = run(p, NEARBY)
    assert public["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]
    worker = token("GRID_WORKER", "371329001017", sub="graphiql-test")
    signed = run(p, NEARBY, json.dumps({"Authorization": f"Bearer {worker}"}))
    assert "errors" not in signed, signed
    hits = signed["data"]["nearbyTickets"]  # type: ignore[index]
    assert hits and all(h["ticket"]["code"] for h in hits)
    problems.assert_clean()
