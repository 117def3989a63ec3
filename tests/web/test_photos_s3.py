"""Photos on tickets kept in an S3-compatible bucket (REDGRID_MEDIA_STORE=s3): uploaded through
the GraphQL multipart path of the real app, on a real S3 server (moto's, a process of its own,
checking signatures) over HTTP; read back through RedGrid's signed URLs; a store that is down
or refuses the secret fails the upload with MEDIA_STORE_UNAVAILABLE and writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import ExifTags
from starlette.testclient import TestClient

from resolvers.photos import clean
from tests.conftest import Minter, http_error
from tests.s3server import REGION, S3Server, s3_server
from tests.web.test_photos import create, fetch_image, jpeg_with_gps
from web.app import create_app
from web.settings import Settings

PREFIX = "county/photos"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def s3_settings(settings: Settings, server: S3Server, bucket: str) -> Settings:
    return replace(settings, media_store="s3", media_s3_bucket=bucket, media_s3_region=REGION,
                   media_s3_endpoint=server.endpoint, media_s3_prefix=PREFIX,
                   media_s3_addressing="path", media_s3_access_key_id=server.access_key_id,
                   media_s3_secret_access_key=server.secret_access_key)


@pytest.fixture(scope="module")
def bucket(s3: S3Server) -> str:
    return s3.bucket("redgrid-photos", versioned=True)


@pytest.fixture(scope="module")
def app(settings: Settings, s3: S3Server, bucket: str) -> Iterator[TestClient]:
    with TestClient(create_app(s3_settings(settings, s3, bucket))) as client:
        yield client


def keys(s3: S3Server, bucket: str) -> list[str]:
    """Every version of every object in the bucket (a second write of a key shows twice)."""
    versions = s3.client().list_object_versions(Bucket=bucket).get("Versions", [])
    return sorted(v["Key"] for v in versions)


def written(db: psycopg.Connection, description: str) -> tuple[int, int]:
    """Tickets with this description and their photo rows."""
    row = db.execute("SELECT count(DISTINCT t.id), count(p.id) FROM tickets t LEFT JOIN "
                     "ticket_photos p ON p.ticket_id = t.id WHERE t.description = %s",
                     (description,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_photo_goes_to_the_bucket_and_back_through_a_signed_url(
        app: TestClient, token: Minter, db: psycopg.Connection, s3: S3Server,
        bucket: str) -> None:
    payload = create(app, token("RESIDENT", sub="s3-resident"),
                     [("garage.jpg", jpeg_with_gps((1200, 900)), "image/jpeg")], "车库漏水，S3")
    assert payload["errors"] == []
    photo = payload["ticket"]["photos"][0]
    name = photo["url"].split("?")[0].removeprefix("/media/")
    thumb = photo["thumbnailUrl"].split("?")[0].removeprefix("/media/")
    assert keys(s3, bucket) == sorted(f"{PREFIX}/{n[:2]}/{n}" for n in (name, thumb))
    # What the bucket holds is the cleaned image, and it is what the signed URL serves.
    served = app.get(photo["url"])
    stored = s3.client().get_object(Bucket=bucket, Key=f"{PREFIX}/{name[:2]}/{name}")
    assert served.content == stored["Body"].read()
    image = fetch_image(app, photo["url"])
    assert image.size == (1200, 900) and len(image.getexif()) == 0
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo) and "exif" not in image.info
    assert max(fetch_image(app, photo["thumbnailUrl"]).size) == 320
    sha = db.execute("SELECT p.sha256 FROM ticket_photos p JOIN tickets t ON t.id = "
                     "p.ticket_id WHERE t.code = %s", (payload["ticket"]["code"],)).fetchone()
    assert sha is not None and f"{sha[0]}.jpg" == name
    # An altered link is still refused: the disclosure rule stays at RedGrid's own route.
    r = app.get(photo["url"].replace("sig=", "sig=0"))
    assert r.status_code == 403 and http_error(r.json())["code"] == "FORBIDDEN"
    assert app.get("/readyz").json()["status"] == "ready"


def test_the_same_photo_twice_is_stored_once(app: TestClient, token: Minter,
                                             db: psycopg.Connection, s3: S3Server,
                                             bucket: str) -> None:
    image = jpeg_with_gps((640, 480))
    resident = token("RESIDENT", sub="s3-twice")
    first = create(app, resident, [("a.jpg", image, "image/jpeg")], "同一张照片 1")
    before = keys(s3, bucket)
    second = create(app, resident, [("b.jpg", image, "image/jpeg")], "同一张照片 2")
    assert first["errors"] == second["errors"] == []
    assert first["ticket"]["code"] != second["ticket"]["code"]
    url = first["ticket"]["photos"][0]["url"].split("?")[0]
    assert second["ticket"]["photos"][0]["url"].split("?")[0] == url
    # With versioning on, a second write would be a second version of the same key.
    assert keys(s3, bucket) == before
    assert written(db, "同一张照片 1") == written(db, "同一张照片 2") == (1, 1)


def _refused_upload(client: TestClient, token: Minter, db: psycopg.Connection,
                    description: str) -> dict[str, Any]:
    payload = create(client, token("RESIDENT", sub="s3-refused"),
                     [("a.jpg", jpeg_with_gps((500, 400)), "image/jpeg")], description,
                     key=uuid.uuid4().hex)
    assert payload["ticket"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("MEDIA_STORE_UNAVAILABLE", "photos")]
    assert written(db, description) == (0, 0)
    error: dict[str, Any] = payload["errors"][0]
    return error


def test_a_store_that_is_down_refuses_the_upload_and_writes_nothing(
        settings: Settings, token: Minter, db: psycopg.Connection,
        tmp_path: Path) -> None:
    with s3_server(tmp_path) as other:
        bucket = other.bucket("photos-down")
        down = s3_settings(settings, other, bucket)
        other.stop()
        with TestClient(create_app(down)) as client:
            error = _refused_upload(client, token, db, "驿站门口积水，存储离线")
            assert "try again" in error["message"] and other.endpoint not in error["message"]
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert "media: the photo store cannot be reached" in ready.json()["problems"]
            # A photo link meets the store away: a 503 with the code, not a 500.
            signed, _ = client.app.state.media.url(f"{'a' * 64}.jpg")  # type: ignore[attr-defined]
            r = client.get(signed)
            assert r.status_code == 503
            assert http_error(r.json())["code"] == "MEDIA_STORE_UNAVAILABLE"


def test_a_wrong_secret_refuses_the_upload_and_writes_nothing(
        settings: Settings, token: Minter, db: psycopg.Connection, s3: S3Server) -> None:
    bucket = s3.bucket("photos-wrong-secret")
    wrong = replace(s3_settings(settings, s3, bucket),
                    media_s3_secret_access_key="wrong-" + s3.secret_access_key[6:])
    with TestClient(create_app(wrong)) as client:
        error = _refused_upload(client, token, db, "路灯不亮，密钥错误")
        assert "needs attention" in error["message"]
        assert keys(s3, bucket) == []
        ready = client.get("/readyz")
        assert ready.status_code == 503 and any(
            p.startswith("media: the photo store refuses") for p in ready.json()["problems"])
        assert s3.secret_access_key[6:] not in ready.text



def test_objects_of_a_step_that_failed_half_way_are_removed(
        settings: Settings, token: Minter, db: psycopg.Connection, s3: S3Server) -> None:
    """The image is written, its thumbnail is refused (a key allowed everything but writing
    that one object): the step fails with nothing left, the image's object removed again."""
    bucket = s3.bucket("photos-half-way")
    upload = jpeg_with_gps((720, 540))
    _, thumb = clean(upload, "image/jpeg", "photos.0").names
    key_id, secret = s3.key_denied_writes(bucket, [f"{PREFIX}/{thumb[:2]}/{thumb}"])
    half = replace(s3_settings(settings, s3, bucket), media_s3_access_key_id=key_id,
                   media_s3_secret_access_key=secret)
    with TestClient(create_app(half)) as client:
        payload = create(client, token("RESIDENT", sub="s3-half"), [("a.jpg", upload,
                                                                      "image/jpeg")], "半途失败")
    assert payload["ticket"] is None
    assert payload["errors"][0]["code"] == "MEDIA_STORE_UNAVAILABLE"
    assert written(db, "半途失败") == (0, 0)
    assert keys(s3, bucket) == []
