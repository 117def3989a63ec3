"""`S3Store`: ticket photos 工单照片 in a bucket of an S3-compatible service (AWS S3, MinIO,
Aliyun OSS, Ceph RGW), through botocore; imported only where REDGRID_MEDIA_STORE=s3."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from db.media import MediaStoreError, S3Location

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
