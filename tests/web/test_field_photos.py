"""Photos 照片 from the grid worker's phone app in headless Chromium with a phone viewport: kept
with their queued write in IndexedDB while offline and sent once, as one multipart request,
when the network returns; stored without their EXIF; on a move's step; a refused photo shown
and the write sent again without it; a photo store that is away keeps the write queued.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import psycopg
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Request, Response, expect

from db.media import FolderStore
from tests.conftest import GraphQLClient, Minter, serving
from tests.s3server import s3_server
from tests.web.test_field_app import (
    add_photos,
    browser,
    cell_with_a_point,
    open_app,
    phone,
    point_in_a_compound,
    report_elevator,
    sign_in,
)
from tests.web.test_photos import jpeg_with_gps
from tests.web.test_photos_s3 import s3_settings
from web.settings import Settings

__all__ = ["browser"]  # the module's Chromium, shared with the field app's tests
# The queued writes in the phone's IndexedDB: each one's idempotency key and its photos' Blobs.
KEPT = """() => new Promise((done) => {
  indexedDB.open('redgrid-field').onsuccess = (e) => {
    const all = e.target.result.transaction('queue').objectStore('queue').getAll();
    all.onsuccess = () => done(all.result.map((i) => [i.key, (i.photos ?? []).map(
      (p) => [p.name, p.blob instanceof Blob && p.blob.size > 0 ? p.blob.type : 'no blob'])]));
  }; })"""


def photo(name: str, size: tuple[int, int]) -> FilePayload:
    """A phone's JPEG of `size` with GPS position, make and model in its EXIF."""
    return {"name": name, "mimeType": "image/jpeg", "buffer": jpeg_with_gps(size)}


def stored_photos(db: psycopg.Connection, settings: Settings, where: str,
                  args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The photo rows of the tickets `where` picks (t: tickets, e: the photo's event), each
    with its stored image read back with Pillow."""
    rows = db.execute(
        "SELECT t.code, p.sha256, p.width, p.height, e.to_status, e.note FROM ticket_photos p "
        "JOIN tickets t ON t.id = p.ticket_id LEFT JOIN ticket_events e ON e.id = p.event_id "
        f"WHERE {where} ORDER BY p.id", args).fetchall()
    media = FolderStore(settings.media_folder)
    read = []
    for row in rows:
        data = media.get(f"{row[1]}.jpg")
        assert data is not None, row
        image = Image.open(io.BytesIO(data))
        image.load()
        read.append((*row, image))
    return read


def test_a_report_with_photos_made_offline_is_sent_once_without_exif(
        browser: Browser, live_server: str, settings: Settings, db: psycopg.Connection) -> None:
    cell, lon, lat = cell_with_a_point(db)
    description = f"电梯困人，带照片离线上报 {uuid.uuid4().hex[:8]}"
    context = phone(browser, lon, lat)
    try:
        page = open_app(context, live_server)
        sign_in(page, "GRID_WORKER", cell, "field-photographer")

        # when: offline, a problem is reported with two photos taken on the phone
        context.set_offline(True)
        report_elevator(page, description, [photo("a.jpg", (640, 480)),
                                            photo("b.jpg", (480, 360))])
        queued = page.locator("#outbox-list .queued[data-state=pending]")
        expect(queued).to_have_count(1)
        expect(queued).to_contain_text("2 张照片")
        expect(queued.locator(".thumbs img")).to_have_count(2)
        # and the form is empty for the next report
        expect(page.locator("#report-photos .thumbs li")).to_have_count(0)

        # and the page is closed and opened again, still offline
        page.close()
        page = open_app(context, live_server)
        expect(page.locator("#signin-error")).to_contain_text("1 条记录待发送")
        assert db.execute("SELECT count(*) FROM tickets WHERE description = %s",
                          (description,)).fetchone() == (0,)
        ((key, kept),) = page.evaluate(KEPT)
        assert kept == [["a.jpg", "image/jpeg"], ["b.jpg", "image/jpeg"]]

        # and the network returns
        multipart: list[Request] = []
        page.on("request", lambda r: multipart.append(r) if r.url.endswith("/graphql") and
                r.headers.get("content-type", "").startswith("multipart/form-data") else None)
        context.set_offline(False)
        sign_in(page, "GRID_WORKER", cell, "field-photographer")
        page.click("#tabs [data-tab=outbox]")
        expect(page.locator("#outbox-summary")).to_have_text("没有待发送的记录；本次已发送 1 条")
    finally:
        context.close()

    # then: one multipart request, with the write's own idempotency key, gave one ticket
    assert len(multipart) == 1
    assert db.execute("SELECT idempotency_key FROM tickets WHERE description = %s",
                      (description,)).fetchall() == [(key,)]
    # with both photos on it, stored without their EXIF
    photos = stored_photos(db, settings, "t.description = %s", (description,))
    assert [(p[2], p[3]) for p in photos] == [(640, 480), (480, 360)]
    for *_, image in photos:
        assert (image.width, image.height) in {(640, 480), (480, 360)}
        assert not image.getexif() and "exif" not in image.info


def test_a_ticket_is_resolved_with_a_note_and_a_photo_a_refused_one_taken_off(
        browser: Browser, live_server: str, settings: Settings, db: psycopg.Connection,
        gql: GraphQLClient, token: Minter) -> None:
    community, lon, lat = point_in_a_compound(db)
    resident = gql.as_(token("RESIDENT", sub="field-photo-resident"))
    created = resident.data(
        """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
          ticket { code version } errors { code } } }""",
        {"input": {"point": {"lon": lon, "lat": lat}, "itemCode": "P01",
                   "description": "楼道很脏（办结照片测试）", "channel": "ONLINE"}})
    code = created["createTicket"]["ticket"]["code"]
    staff = gql.as_(token("COMMUNITY_STAFF", community, sub="field-photo-staff"))
    started = staff.data(
        """mutation ($code: String!, $version: Int!) { transitionTicket(input: {code: $code,
          to: IN_PROGRESS, expectedVersion: $version}) { ticket { status } errors { code } } }""",
        {"code": code, "version": created["createTicket"]["ticket"]["version"]})
    assert started["transitionTicket"]["ticket"]["status"] == "IN_PROGRESS"
    note = f"已清理楼道 {uuid.uuid4().hex[:6]}"

    context = phone(browser, lon, lat)
    try:
        page = open_app(context, live_server)
        sign_in(page, "COMMUNITY_STAFF", community, "field-photo-staff")
        page.evaluate("(code) => { window.location.hash = `ticket=${code}`; }", code)
        expect(page.locator("#card")).to_have_attribute("data-status", "IN_PROGRESS")

        # when: the ticket is resolved with a note, a photo and a file that is no image
        page.fill("#move-note", note)
        add_photos(page, "#move-photos", [
            photo("done.jpg", (400, 300)),
            {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"not a jpeg at all"}])
        page.click("#card-actions [data-operation=RESOLVE]")

        # then: the refusal is shown on the file it names, and nothing was written
        failed = page.locator("#outbox-list .queued[data-state=failed]")
        expect(failed).to_have_count(1)
        refused = failed.locator(".thumb[data-refused=true]")
        expect(refused).to_have_count(1)
        expect(refused).to_contain_text("被拒收")
        assert refused.get_attribute("data-index") == "1"
        assert db.execute("SELECT status FROM tickets WHERE code = %s",
                          (code,)).fetchone() == ("IN_PROGRESS",)

        # when: the worker sends it again without that file
        refused.locator("[data-without]").click()

        # then: it goes through once, with the photo on the RESOLVED step
        expect(page.locator("#outbox-summary")).to_have_text("没有待发送的记录；本次已发送 1 条")
    finally:
        context.close()
    assert db.execute("SELECT status FROM tickets WHERE code = %s",
                      (code,)).fetchone() == ("RESOLVED",)
    ((_, _, width, height, step, step_note, image),) = stored_photos(
        db, settings, "t.code = %s", (code,))
    assert (width, height, step, step_note) == (400, 300, "RESOLVED", note)
    assert not image.getexif()


def test_a_report_whose_photo_store_is_away_waits_like_one_made_offline(
        browser: Browser, settings: Settings, db: psycopg.Connection, tmp_path: Path) -> None:
    cell, lon, lat = cell_with_a_point(db)
    description = f"电梯困人，照片存储离线 {uuid.uuid4().hex[:8]}"
    with s3_server(tmp_path) as s3:
        down = s3_settings(settings, s3, s3.bucket("field-down"))
        s3.stop()
        with serving(down) as base:
            context = phone(browser, lon, lat)
            try:
                page = open_app(context, base)
                sign_in(page, "GRID_WORKER", cell, "field-store-away")
                answers: list[Response] = []
                page.on("response", lambda r: answers.append(r) if r.request.headers.get(
                    "content-type", "").startswith("multipart/form-data") else None)
                # when: a report with a photo meets MEDIA_STORE_UNAVAILABLE
                report_elevator(page, description, [photo("a.jpg", (320, 240))])
                queued = page.locator("#outbox-list .queued")
                expect(queued).to_have_count(1)
                # (the replay it started, or a new one, has had its answer)
                page.evaluate("import('/field/queue.js').then((queue) => queue.flush())")
                assert answers and all(
                    r.json()["data"]["createTicket"]["errors"][0]["code"] ==
                    "MEDIA_STORE_UNAVAILABLE" for r in answers)
                # then: it stays queued with its photo, to go when the store is back, and is
                # not shown as failed
                expect(queued).to_have_attribute("data-state", "pending")
                expect(queued.locator(".thumbs img")).to_have_count(1)
                assert page.evaluate(KEPT)[0][1] == [["a.jpg", "image/jpeg"]]
            finally:
                context.close()
    assert db.execute("SELECT count(*) FROM tickets WHERE description = %s",
                      (description,)).fetchone() == (0,)
