"""Where ticket photos 工单照片 are kept: outside the database row, named by their content.

A photo's bytes are stored under the SHA-256 of those bytes (`<sha256>.jpg`), so the same image
uploaded twice is kept once and a name can never point at other content. `MediaStore` is what
the rest of RedGrid uses; `FolderStore` keeps the files in a folder (`REDGRID_MEDIA_DIR`,
`<data folder>/media` by default), `S3Store` in a bucket of any S3-compatible service (AWS S3,
MinIO, Aliyun OSS, Ceph RGW), under the same `<first two hex digits>/<name>` keys.

Neither is ever served directly: RedGrid reads the bytes and serves them through its own
signed, expiring URLs (web/media.py), so a bucket stays private.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# `<64 hex digits>.<extension>`: the only names a store accepts, so a name from a URL can
# never walk out of the folder.
NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|webp)$")


class MediaStoreError(RuntimeError):
    """The store could not be reached, or refused the request: `reason` says which, and never
    holds a credential. `retryable`: the same request may succeed later (the store was away or
    busy), unlike one refused for its credentials or a missing bucket."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"not a media name: {name!r}")
    return name


class MediaStore(Protocol):
    """Content-addressed bytes by name."""

    def put(self, name: str, data: bytes) -> bool:
        """Stores `data` under `name`; True when it was not stored before."""

    def get(self, name: str) -> bytes | None:
        """The bytes under `name`, or None."""

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None: ...

    def check(self) -> None:
        """Raises MediaStoreError unless the store can be written to now (readiness)."""


class FolderStore:
    """Files in `root/<first two hex digits>/<name>`, written atomically (a temporary file
    renamed into place), so a reader never sees half a photo."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        check_name(name)
        return self.root / name[:2] / name

    def put(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{name}.{secrets.token_hex(6)}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
        return True

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MediaStoreError(f"the folder {self.root} cannot be made: {exc.strerror}",
                                  retryable=False) from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise MediaStoreError(f"the folder {self.root} is not writable", retryable=False)

    def names(self) -> list[str]:
        """Every stored name (for checks and clean-up)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.glob("??/*") if NAME.match(p.name))


ADDRESSING_STYLES = ("virtual", "path")
# Bounds on one call to the store: connecting, each read, and attempts in all (the first and
# its retries, botocore's "standard" mode with jittered back-off), so a store that is away
# fails a request within seconds instead of holding it.
S3_CONNECT_TIMEOUT_S = 2.0
S3_READ_TIMEOUT_S = 10.0
S3_MAX_ATTEMPTS = 3
# What a refusal for credentials or permissions looks like; a HEAD has no body, only its 403.
_REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
            "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed"}
_MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class S3Location:
    """Where and as whom S3Store keeps photos. `endpoint_url` empty: AWS S3 of `region`;
    `addressing` `virtual` (`https://<bucket>.<host>/<key>`, AWS and Aliyun OSS) or `path`
    (`https://<host>/<bucket>/<key>`, MinIO and Ceph RGW as usually set up)."""

    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    endpoint_url: str = ""
    prefix: str = ""
    addressing: str = "virtual"

    def key(self, name: str) -> str:
        """The object key of a media name: `<prefix>/<first two hex digits>/<name>`."""
        check_name(name)
        prefix = self.prefix.strip("/")
        return f"{prefix}/{name[:2]}/{name}" if prefix else f"{name[:2]}/{name}"


class S3Store:
    """Objects in a bucket of an S3-compatible service, one per name (see S3Location).

    `put` asks first whether the object is there (HEAD) and then writes it only if it still is
    not (`If-None-Match: *`), so the same photo twice is stored once. Every failure of the
    service is a MediaStoreError; a missing object is None or False, not an error."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        config = Config(
            s3={"addressing_style": location.addressing},
            connect_timeout=S3_CONNECT_TIMEOUT_S, read_timeout=S3_READ_TIMEOUT_S,
            retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
            # CRC checksums on every request are newer than most S3-compatible services.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of its own: no AWS_* variable or ~/.aws file of the host has a say.
        self._client = botocore.session.Session().create_client(
            "s3", region_name=location.region, endpoint_url=location.endpoint_url or None,
            aws_access_key_id=location.access_key_id,
            aws_secret_access_key=location.secret_access_key, config=config)

    @property
    def where(self) -> str:
        """The bucket and the address the client reaches it at (no credentials)."""
        return f"bucket {self.location.bucket} at {self._client.meta.endpoint_url}"

    def _call(self, operation: str, **params: Any) -> Any:
        """One S3 operation on the bucket. KeyError: no such object; FileExistsError: a
        conditional write found the object there; NotImplementedError: the service does not
        know a header sent; MediaStoreError: anything else the service or network did."""
        try:
            return getattr(self._client, operation)(Bucket=self.location.bucket, **params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in _MISSING:
                raise KeyError(params.get("Key")) from None
            if code in ("PreconditionFailed", "412"):
                raise FileExistsError(params.get("Key")) from None
            if code == "NotImplemented":
                raise NotImplementedError(code) from None
            if code in _REFUSED or status == 403:
                raise MediaStoreError(f"the {self.where} refused the credentials or their "
                                      f"permissions ({code})", retryable=False) from None
            if code == "NoSuchBucket":
                raise MediaStoreError(f"the {self.where} does not exist",
                                      retryable=False) from None
            raise MediaStoreError(f"the {self.where} failed on {operation} ({code or status})",
                                  retryable=status >= 500 or code == "SlowDown") from None
        except BotoCoreError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> MediaStoreError:
        return MediaStoreError(f"the {self.where} cannot be reached ({type(exc).__name__})",
                               retryable=True)

    def put(self, name: str, data: bytes) -> bool:
        if self.exists(name):
            return False
        params = {"Key": self.location.key(name), "Body": data, "ContentType": _media_type(name)}
        try:
            self._call("put_object", IfNoneMatch="*", **params)
        except FileExistsError:
            return False  # another writer stored the same bytes in between
        except NotImplementedError:
            self._call("put_object", **params)  # the same bytes under the same name at worst
        return True

    def get(self, name: str) -> bytes | None:
        try:
            answer = self._call("get_object", Key=self.location.key(name))
        except KeyError:
            return None
        try:
            with answer["Body"] as body:
                return bytes(body.read())
        except BotoCoreError as exc:  # the connection broke while reading
            raise self._unreachable(exc) from None

    def exists(self, name: str) -> bool:
        try:
            self._call("head_object", Key=self.location.key(name))
        except KeyError:
            return False
        return True

    def delete(self, name: str) -> None:
        self._call("delete_object", Key=self.location.key(name))

    def check(self) -> None:
        try:
            self._call("head_bucket")
        except KeyError:
            raise MediaStoreError(f"the {self.where} does not exist", retryable=False) from None


def _media_type(name: str) -> str:
    return "image/webp" if name.endswith(".webp") else "image/jpeg"
