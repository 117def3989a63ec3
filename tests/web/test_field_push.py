"""Push notifications in the field app, in headless Chromium: the app offers "开启通知" where the
server serves a VAPID public key, the service worker shows a pushed message (delivered through
DevTools, as the browser's push service would), and the message's link opens the ticket.

Headless Chromium reaches no push service here, so the subscription itself is proven on the
server side (tests/web/test_push.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect

from tests.conftest import serving
from tests.web.test_field_app import browser, cell_with_a_point, open_app, phone, sign_in
from web.settings import Settings
from web.vapid import new_key_pair

__all__ = ["browser"]  # the module's Chromium, shared with the field app's tests
SUBJECT = "mailto:push-browser@example.org"


@pytest.fixture(scope="module")
def vapid_public_key() -> Iterator[tuple[str, str]]:
    yield new_key_pair()


@pytest.fixture(scope="module")
def push_server(settings: Settings, vapid_public_key: tuple[str, str]) -> Iterator[str]:
    with serving(replace(settings, vapid_private_key=vapid_public_key[0],
                         vapid_subject=SUBJECT)) as url:
        yield url


def worker_phone(browser: Browser, db: psycopg.Connection) -> tuple[BrowserContext, str]:
    cell, lon, lat = cell_with_a_point(db)
    context = phone(browser, lon, lat)
    context.grant_permissions(["geolocation", "notifications"])
    return context, cell


def push_registration(page: Page, base: str) -> tuple[CDPSession, str]:
    """A DevTools session with its ServiceWorker domain on, and the app's service worker
    registration id as it names it."""
    cdp = page.context.new_cdp_session(page)
    found: list[str] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: found.extend(
        r["registrationId"] for r in event["registrations"]
        if r["scopeURL"] == base + "/field/" and not r.get("isDeleted")))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert found
    return cdp, found[0]


def notifications(page: Page) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = page.evaluate("""async () => {
      const registration = await navigator.serviceWorker.ready;
      return (await registration.getNotifications()).map((n) => (
        { title: n.title, body: n.body, tag: n.tag, data: n.data }));
    }""")
    return shown


def test_the_app_offers_push_and_the_worker_shows_a_pushed_ticket(
        browser: Browser, push_server: str, db: psycopg.Connection,
        vapid_public_key: tuple[str, str]) -> None:
    context, cell = worker_phone(browser, db)
    try:
        page = open_app(context, push_server)
        config = page.evaluate("fetch('/field/config.json').then((r) => r.json())")
        assert config["push"] == {"publicKey": vapid_public_key[1]}
        sign_in(page, "GRID_WORKER", cell, "push-browser")
        expect(page.locator("#push-enable")).to_be_visible()
        expect(page.locator("#push-enable")).to_have_text("开启通知")

        message = {"id": "m-1", "kind": "DISPATCHED", "title": "新派工单", "ticket": "T-PUSH-1",
                   "item": "楼道堆物", "body": "楼道堆物 · T-PUSH-1",
                   "url": "/field/#ticket=T-PUSH-1"}
        cdp, registration = push_registration(page, push_server)
        for _ in range(2):  # sent again (at least once): shown once
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": push_server, "registrationId": registration,
                "data": json.dumps(message)})
        deadline = time.monotonic() + 10
        while not notifications(page) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert notifications(page) == [{"title": "新派工单", "body": "楼道堆物 · T-PUSH-1",
                                         "tag": "T-PUSH-1:DISPATCHED",
                                         "data": {"url": "/field/#ticket=T-PUSH-1"}}]
    finally:
        context.close()


def test_without_push_on_the_server_the_app_offers_none(
        browser: Browser, live_server: str, db: psycopg.Connection) -> None:
    context, cell = worker_phone(browser, db)
    try:
        page = open_app(context, live_server)
        sign_in(page, "GRID_WORKER", cell, "no-push")
        expect(page.locator("#mine-source")).not_to_have_text("正在加载…")
        assert page.locator("#push-row").is_hidden()
    finally:
        context.close()


def test_a_notifications_link_opens_the_ticket(browser: Browser, push_server: str,
                                               db: psycopg.Connection) -> None:
    context, cell = worker_phone(browser, db)
    row = db.execute("SELECT code FROM tickets WHERE cell_code = %s AND status IN ('SUBMITTED', "
                     "'DISPATCHED', 'IN_PROGRESS') ORDER BY code LIMIT 1", (cell,)).fetchone()
    assert row is not None
    try:
        page = open_app(context, push_server)
        sign_in(page, "GRID_WORKER", cell, "push-link")
        page.goto(f"{push_server}/field/#ticket={row[0]}")
        expect(page.locator("#card")).to_be_visible()
        expect(page.locator("#card")).to_have_attribute("data-code", row[0])
    finally:
        context.close()
