"""The S3-compatible media store on a real S3 server (moto's, in a process of its own,
checking signatures) reached over HTTP, path-style and virtual-host; the folder's check."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from db.media import FolderStore, MediaStoreError
from db.s3store import S3Store
from tests.s3server import S3Server, free_port, s3_server


def named(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.jpg"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def test_objects_are_kept_under_their_content_addressed_key(s3: S3Server) -> None:
    bucket = s3.bucket("media-keys", versioned=True)
    store = S3Store(s3.location(bucket, prefix="/redgrid/photos/"))
    data = b"\xff\xd8 a photo"
    name = named(data)
    assert store.get(name) is None and not store.exists(name)
    assert store.put(name, data) is True
    assert store.put(name, data) is False  # stored once: the second put writes nothing
    assert store.exists(name) and store.get(name) == data
    objects = s3.client().list_object_versions(Bucket=bucket)["Versions"]
    assert [(o["Key"], o["Size"]) for o in objects] == [
        (f"redgrid/photos/{name[:2]}/{name}", len(data))]
    head = s3.client().head_object(Bucket=bucket, Key=objects[0]["Key"])
    assert head["ContentType"] == "image/jpeg"
    # The same layout as the folder store's.
    folder = FolderStore(Path("/nonexistent"))
    assert folder._path(name).relative_to(folder.root).as_posix() == f"{name[:2]}/{name}"
    store.delete(name)
    assert not store.exists(name) and store.get(name) is None
    store.check()


def test_a_bucket_is_not_readable_without_signing(s3: S3Server) -> None:
    bucket = s3.bucket("media-private")
    store = S3Store(s3.location(bucket))
    data = b"private"
    store.put(named(data), data)
    r = httpx.get(f"{s3.endpoint}/{bucket}/{named(data)[:2]}/{named(data)}")
    assert r.status_code == 403


def test_virtual_host_addressing(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """`<bucket>.<host>` names no address here, so the requests go through an HTTP proxy
    (the server itself, which reads the bucket from the Host header)."""
    bucket = s3.bucket("media-vhost")
    host = f"s3.localhost:{s3.endpoint.rsplit(':', 1)[1]}"
    monkeypatch.setenv("HTTP_PROXY", s3.endpoint)
    for variable in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(variable, raising=False)
    store = S3Store(s3.location(bucket, endpoint_url=f"http://{host}", addressing="virtual"))
    sent: list[str] = []
    store._client.meta.events.register("before-send",
                                       lambda request, **_: sent.append(request.url))
    data = b"virtual"
    assert store.put(named(data), data) and store.get(named(data)) == data
    assert sent and all(url.startswith(f"http://{bucket}.{host}/") for url in sent)
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"{named(data)[:2]}/{named(data)}"]


def test_a_wrong_secret_is_refused_and_not_retried_as_missing(s3: S3Server) -> None:
    bucket = s3.bucket("media-secret")
    wrong = S3Store(replace(s3.location(bucket), secret_access_key="not-the-secret"))
    data = b"x"
    for attempt in (lambda: wrong.put(named(data), data), lambda: wrong.get(named(data)),
                    wrong.check):
        with pytest.raises(MediaStoreError) as failed:
            attempt()
        assert not failed.value.retryable and "refused the credentials" in failed.value.reason
        assert "not-the-secret" not in failed.value.reason
    assert "Contents" not in s3.client().list_objects_v2(Bucket=bucket)


def test_a_missing_bucket_and_a_store_that_is_down(s3: S3Server) -> None:
    with pytest.raises(MediaStoreError, match="does not exist") as missing:
        S3Store(s3.location("no-such-bucket")).check()
    assert not missing.value.retryable
    down = S3Store(s3.location("media", endpoint_url=f"http://127.0.0.1:{free_port()}"))
    for attempt in (down.check, lambda: down.put(named(b"y"), b"y"),
                    lambda: down.get(named(b"y"))):
        with pytest.raises(MediaStoreError, match="cannot be reached") as failed:
            attempt()
        assert failed.value.retryable


def test_location_repr_hides_the_secret(s3: S3Server) -> None:
    location = s3.location("media")
    assert s3.secret_access_key not in repr(location)
    assert s3.secret_access_key not in S3Store(location).where


def test_folder_check(tmp_path: Path) -> None:
    FolderStore(tmp_path / "media").check()
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(MediaStoreError, match="cannot be made"):
        FolderStore(tmp_path / "file" / "media").check()
