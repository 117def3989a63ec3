"""Photos on tickets: GraphQL multipart uploads on createTicket and on a workflow step, through
the real app and PostGIS; metadata stripped (read back with Pillow); bad uploads refused with
their code and nothing stored; signed, expiring URLs for callers who may see the ticket only."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import ExifTags, Image
from starlette.testclient import TestClient

from db.media import FolderStore
from resolvers.photos import MediaAccess
from tests.conftest import Minter, http_error
from web.app import create_app
from web.guard import Guard, RateLimiter
from web.media import kept_secret
from web.settings import RateBudget, Settings

POINT = {"lon": 118.6564, "lat": 34.9226}
CREATE = """
mutation($input: CreateTicketInput!, $photos: [Upload!], $key: String) {
  createTicket(input: $input, photos: $photos, idempotencyKey: $key) {
    ticket { code version status community { code } gridCell { code }
             photos { url thumbnailUrl expiresAt width height mediaType step } }
    errors { code field message }
  }
}"""
MOVE = """
mutation($input: TransitionTicketInput!, $photos: [Upload!]) {
  transitionTicket(input: $input, photos: $photos) {
    ticket { version status events { action photos { url width step } } photos { step } }
    errors { code field message }
  }
}"""
READ = "query($code: String!) { ticket(code: $code) { code photos { url } events { photos { url } } } }"


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def photo_settings(settings: Settings, media_dir: Path) -> Settings:
    return replace(settings, media_dir=str(media_dir))


@pytest.fixture(scope="module")
def app(photo_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(photo_settings)) as c:
        yield c


def jpeg_with_gps(size: tuple[int, int] = (3000, 2000)) -> bytes:
    """A photo as a phone takes it: GPS position, make and model in its EXIF."""
    image = Image.new("RGB", size, (180, 40, 40))
    for x in range(0, size[0], 97):  # some detail, so the encoder has work
        image.paste((20, 120, 200), (x, 0, x + 30, size[1]))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Huawei"
    exif[ExifTags.Base.Model] = "P60 Pro"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (34.0, 55.0, 20.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (118.0, 39.0, 23.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def png(size: tuple[int, int] = (400, 300), mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


File = tuple[str, bytes, str]  # name, content, content type


def multipart(client: TestClient, query: str, variables: dict[str, Any], files: list[File],
              headers: dict[str, str]) -> Any:
    """A GraphQL multipart request (jaydenseric's specification): `operations`, `map`, files."""
    operations = {"query": query, "variables": {**variables, "photos": [None] * len(files)}}
    mapping = {str(i): [f"variables.photos.{i}"] for i in range(len(files))}
    return client.post("/graphql", headers=headers,
                       data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
                       files=[(str(i), f) for i, f in enumerate(files)])


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def create(client: TestClient, tok: str, files: list[File], description: str,
           key: str | None = None) -> dict[str, Any]:
    inp = {"point": POINT, "itemCode": "P12", "description": description, "channel": "ONLINE"}
    variables = {"input": inp, "key": key}
    r = multipart(client, CREATE, variables, files, bearer(tok)) if files else client.post(
        "/graphql", json={"query": CREATE, "variables": variables}, headers=bearer(tok))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["createTicket"]
    return payload


def stored_state(db: psycopg.Connection, media_dir: Path, description: str) -> tuple[Any, ...]:
    """What exists: tickets with this description, photo rows, files in the media folder."""
    tickets = db.execute("SELECT count(*) FROM tickets WHERE description = %s",
                         (description,)).fetchone()
    rows = db.execute("SELECT count(*) FROM ticket_photos").fetchone()
    return (tickets[0] if tickets else None, rows[0] if rows else None,
            tuple(FolderStore(media_dir).names()))


def fetch_image(client: TestClient, url: str) -> Image.Image:
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"].startswith("private")
    image = Image.open(io.BytesIO(r.content))
    image.load()
    return image


def test_photos_on_create_are_stored_without_metadata(app: TestClient, token: Minter,
                                                      db: psycopg.Connection,
                                                      media_dir: Path) -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it has GPS
    resident = token("RESIDENT", sub="photo-resident")
    payload = create(app, resident, [("garage.jpg", original, "image/jpeg"),
                                     ("sign.png", png(), "image/png")], "车库积水，附照片")
    assert payload["errors"] == []
    photos = payload["ticket"]["photos"]
    assert [(p["width"], p["height"], p["mediaType"], p["step"]) for p in photos] == [
        (2048, 1365, "image/jpeg", "CREATED"), (400, 300, "image/jpeg", "CREATED")]
    image = fetch_image(app, photos[0]["url"])
    assert image.format == "JPEG" and image.size == (2048, 1365)
    exif = image.getexif()
    assert len(exif) == 0 and not exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert "exif" not in image.info and "icc_profile" not in image.info
    thumb = fetch_image(app, photos[0]["thumbnailUrl"])
    assert max(thumb.size) == 320 and len(thumb.getexif()) == 0
    # Stored outside the row, content-addressed: two images and two thumbnails.
    names = FolderStore(media_dir).names()
    assert len(names) == 4 and photos[0]["url"].split("?")[0].removeprefix("/media/") in names
    code = payload["ticket"]["code"]
    rows = db.execute("SELECT p.sha256, e.action FROM ticket_photos p JOIN tickets t ON "
                      "t.id = p.ticket_id JOIN ticket_events e ON e.id = p.event_id "
                      "WHERE t.code = %s ORDER BY p.id", (code,)).fetchall()
    assert [r[1] for r in rows] == ["CREATED", "CREATED"]
    assert all(f"{r[0]}.jpg" in names for r in rows)


def test_a_photo_on_a_workflow_step(app: TestClient, token: Minter) -> None:
    resident = token("RESIDENT", sub="photo-resident-2")
    ticket = create(app, resident, [], "楼道灯坏了，待维修")["ticket"]
    assert ticket["status"] == "DISPATCHED" and ticket["photos"] == []
    staff = token("COMMUNITY_STAFF", ticket["community"]["code"], sub="photo-staff")
    move = {"code": ticket["code"], "to": "IN_PROGRESS", "expectedVersion": ticket["version"]}
    r = multipart(app, MOVE, {"input": move}, [("before.jpg", jpeg_with_gps((800, 600)),
                                                "image/jpeg")], bearer(staff))
    payload = r.json()["data"]["transitionTicket"]
    assert payload["errors"] == [] and payload["ticket"]["status"] == "IN_PROGRESS"
    events = payload["ticket"]["events"]
    assert [len(e["photos"]) for e in events] == [0] * (len(events) - 1) + [1]
    assert events[-1]["action"] == "STARTED" and events[-1]["photos"][0]["step"] == "STARTED"
    assert payload["ticket"]["photos"] == [{"step": "STARTED"}]
    image = fetch_image(app, events[-1]["photos"][0]["url"])
    assert image.size == (800, 600) and len(image.getexif()) == 0


def _bomb() -> bytes:
    """A PNG of 200 million pixels in a few kilobytes: decoding it would take 200 MB+."""
    return png((20_000, 10_000), mode="1")


BAD = [
    ("not an image", [("a.jpg", b"this is no image at all" * 100, "image/jpeg")],
     "NOT_AN_IMAGE", "photos.0"),
    ("a truncated JPEG", [("a.jpg", jpeg_with_gps((300, 200))[:400], "image/jpeg")],
     "NOT_AN_IMAGE", "photos.0"),
    ("wrong content type", [("a.txt", png(), "text/plain")], "UNSUPPORTED_MEDIA_TYPE",
     "photos.0"),
    ("a PNG sent as a JPEG", [("a.jpg", png(), "image/jpeg")], "UNSUPPORTED_MEDIA_TYPE",
     "photos.0"),
    ("50 MB", [("big.jpg", b"\xff\xd8\xff\xe0" + bytes(50 * 1024 * 1024), "image/jpeg")],
     "PHOTO_TOO_LARGE", "photos.0"),
    ("48 million pixels", [("wide.png", png((8000, 6000), mode="1"), "image/png")],
     "PHOTO_TOO_MANY_PIXELS", "photos.0"),
    ("a decompression bomb", [("bomb.png", _bomb(), "image/png")], "PHOTO_TOO_MANY_PIXELS",
     "photos.0"),
    ("too many", [(f"{i}.png", png((10 + i, 10)), "image/png") for i in range(6)],
     "TOO_MANY_PHOTOS", "photos"),
    ("a good photo after a bad one", [("ok.jpg", jpeg_with_gps((500, 400)), "image/jpeg"),
                                      ("bad.jpg", b"nope", "image/jpeg")],
     "NOT_AN_IMAGE", "photos.1"),
]


@pytest.mark.parametrize(("files", "code", "field"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_uploads_store_nothing(app: TestClient, token: Minter, db: psycopg.Connection,
                                   media_dir: Path, files: list[File], code: str,
                                   field: str) -> None:
    description = f"坏照片 {uuid.uuid4().hex[:8]}"
    before = stored_state(db, media_dir, description)
    payload = create(app, token("RESIDENT", sub="photo-bad"), files, description,
                     key=uuid.uuid4().hex)
    assert payload["ticket"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert stored_state(db, media_dir, description) == before
    assert before[0] == 0


def test_a_bad_photo_on_a_step_moves_nothing(app: TestClient, token: Minter,
                                             db: psycopg.Connection, media_dir: Path) -> None:
    ticket = create(app, token("RESIDENT", sub="photo-resident-3"), [], "井盖松动")["ticket"]
    staff = token("COMMUNITY_STAFF", ticket["community"]["code"], sub="photo-staff")
    before = stored_state(db, media_dir, "井盖松动")
    move = {"code": ticket["code"], "to": "IN_PROGRESS", "expectedVersion": ticket["version"]}
    r = multipart(app, MOVE, {"input": move}, [("b.png", _bomb(), "image/png")], bearer(staff))
    payload = r.json()["data"]["transitionTicket"]
    assert payload["ticket"] is None and payload["errors"][0]["code"] == "PHOTO_TOO_MANY_PIXELS"
    assert stored_state(db, media_dir, "井盖松动") == before
    status = db.execute("SELECT status, version FROM tickets WHERE code = %s",
                        (ticket["code"],)).fetchone()
    assert status == ("DISPATCHED", ticket["version"])


def test_photos_in_json_are_refused(app: TestClient, token: Minter) -> None:
    inp = {"point": POINT, "itemCode": "P12", "description": "JSON 照片", "channel": "ONLINE"}
    r = app.post("/graphql", headers=bearer(token("RESIDENT", sub="photo-json")), json={
        "query": CREATE, "variables": {"input": inp, "photos": ["aGVsbG8="]}})
    payload = r.json()["data"]["createTicket"]
    assert payload["ticket"] is None and payload["errors"][0]["code"] == "BAD_USER_INPUT"


def test_a_multipart_request_without_a_preflight_header_is_refused(app: TestClient,
                                                                    db: psycopg.Connection,
                                                                    media_dir: Path) -> None:
    # What a form on another site could post with a visitor's browser: no custom header.
    before = stored_state(db, media_dir, "跨站")
    inp = {"point": POINT, "itemCode": "P12", "description": "跨站", "channel": "ONLINE"}
    r = multipart(app, CREATE, {"input": inp}, [("a.png", png(), "image/png")], {})
    assert r.status_code == 400 and http_error(r.json())["code"] == "BAD_REQUEST"
    assert "CSRF" in http_error(r.json())["message"]
    # With a preflight header the public gets through to the policy, which refuses it.
    r = multipart(app, CREATE, {"input": inp}, [("a.png", png(), "image/png")],
                  {"graphql-preflight": "1"})
    assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert stored_state(db, media_dir, "跨站") == before


@pytest.fixture(scope="module")
def with_photo(app: TestClient, token: Minter) -> dict[str, Any]:
    payload = create(app, token("RESIDENT", sub="photo-owner"),
                     [("p.jpg", jpeg_with_gps((640, 480)), "image/jpeg")], "垃圾未清运，有照片")
    ticket: dict[str, Any] = payload["ticket"]
    return ticket


def test_urls_refused_when_tampered_or_expired(app: TestClient, with_photo: dict[str, Any],
                                               photo_settings: Settings) -> None:
    url = with_photo["photos"][0]["url"]
    assert app.get(url).status_code == 200
    path, query = url.split("?")
    name = path.removeprefix("/media/")
    params = dict(p.split("=") for p in query.split("&"))
    tampered = [
        f"{path}?exp={params['exp']}&sig={'0' * 64}",
        f"{path}?exp={int(params['exp']) + 3600}&sig={params['sig']}",  # a longer life
        f"{with_photo['photos'][0]['thumbnailUrl'].split('?')[0]}?{query}",  # another name
        path,
    ]
    for bad in tampered:
        r = app.get(bad)
        assert r.status_code == 403 and http_error(r.json())["code"] == "FORBIDDEN", bad
    # Signed with the server's own secret, but an hour old.
    secret = kept_secret(photo_settings.data_dir).encode()
    access = MediaAccess(FolderStore(Path(photo_settings.media_dir)), secret,
                         ttl_s=photo_settings.media_url_ttl_s)
    assert access.valid(name, params["exp"], params["sig"])
    expired, _ = access.url(name, now=time.time() - 3600)
    r = app.get(expired)
    assert r.status_code == 403 and http_error(r.json())["code"] == "FORBIDDEN"
    fresh, _ = access.url(name)
    assert app.get(fresh).status_code == 200


@pytest.mark.parametrize(("role", "scope"), [
    (None, None), ("PLANNER", None), ("GRID_WORKER", "371329002005001"),
    ("RESIDENT", None), ("UNIT", "NO-SUCH-UNIT"),
])
def test_callers_outside_the_ticket_get_no_photo_urls(app: TestClient, token: Minter,
                                                      with_photo: dict[str, Any],
                                                      role: str | None,
                                                      scope: str | None) -> None:
    headers = bearer(token(role, *([scope] if scope else []), sub="photo-outsider")) \
        if role else {}
    r = app.post("/graphql", headers=headers, json={"query": READ,
                                                   "variables": {"code": with_photo["code"]}})
    assert "/media/" not in r.text
    if r.status_code == 200 and r.json().get("data") and r.json()["data"]["ticket"]:
        assert r.json()["data"]["ticket"]["photos"] == []


def test_photo_urls_draw_on_a_budget_of_their_own(photo_settings: Settings,
                                                   with_photo: dict[str, Any]) -> None:
    limited = replace(photo_settings, rate_limits={"media": RateBudget(0.001, 2)})
    with TestClient(create_app(limited)) as client:
        url = with_photo["photos"][0]["url"]
        assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]
        assert client.get(with_photo["photos"][0]["thumbnailUrl"]).status_code == 429


def test_callers_in_scope_get_photo_urls(app: TestClient, token: Minter,
                                         with_photo: dict[str, Any]) -> None:
    for tok in (token("GRID_WORKER", with_photo["gridCell"]["code"], sub="photo-worker"),
                token("COUNTY_OFFICE", sub="photo-county"),
                token("RESIDENT", sub="photo-owner")):
        r = app.post("/graphql", headers=bearer(tok),
                     json={"query": READ, "variables": {"code": with_photo["code"]}})
        ticket = r.json()["data"]["ticket"]
        assert len(ticket["photos"]) == 1 and ticket["events"][0]["photos"] == ticket["photos"]
        assert app.get(ticket["photos"][0]["url"]).status_code == 200


def test_a_retry_with_the_same_photos_is_the_same_ticket(app: TestClient, token: Minter,
                                                         db: psycopg.Connection,
                                                         media_dir: Path) -> None:
    resident = token("RESIDENT", sub="photo-retry")
    key = uuid.uuid4().hex
    photo = [("a.jpg", jpeg_with_gps((700, 500)), "image/jpeg")]
    first = create(app, resident, photo, "电梯异响，重试", key=key)["ticket"]
    before = stored_state(db, media_dir, "电梯异响，重试")
    again = create(app, resident, photo, "电梯异响，重试", key=key)
    assert again["errors"] == [] and again["ticket"]["code"] == first["code"]
    assert len(again["ticket"]["photos"]) == 1
    assert stored_state(db, media_dir, "电梯异响，重试") == before
    other = create(app, resident, [("b.png", png(), "image/png")], "电梯异响，重试", key=key)
    assert other["ticket"] is None and other["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert stored_state(db, media_dir, "电梯异响，重试") == before


def test_a_body_past_the_upload_limit_is_413(app: TestClient, token: Minter,
                                              db: psycopg.Connection, media_dir: Path) -> None:
    before = stored_state(db, media_dir, "超大")
    inp = {"point": POINT, "itemCode": "P12", "description": "超大", "channel": "ONLINE"}
    files = [(f"{i}.jpg", bytes(10 * 1024 * 1024), "image/jpeg") for i in range(6)]
    r = multipart(app, CREATE, {"input": inp}, files, bearer(token("RESIDENT", sub="big")))
    assert r.status_code == 413 and http_error(r.json())["code"] == "PAYLOAD_TOO_LARGE"
    assert stored_state(db, media_dir, "超大") == before


async def test_a_streamed_multipart_body_is_cut_off_at_the_limit() -> None:
    """Without a Content-Length the upload limit is counted as the body streams in."""
    read: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            read.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guard = Guard(app, limiter=RateLimiter({}), max_body_bytes=100, max_upload_bytes=1000)
    chunks = [{"type": "http.request", "body": bytes(300), "more_body": True}] * 10
    sent: list[Any] = []

    async def receive() -> Any:
        return chunks.pop()

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/graphql", "method": "POST",
             "headers": [(b"content-type", b"multipart/form-data; boundary=x")]}
    await guard(scope, receive, send)
    assert sent[0]["status"] == 413 and sum(read) <= 1000 and len(chunks) == 6
