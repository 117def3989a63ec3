"""Where ticket photos 工单照片 are kept: outside the database row, named by their content.

A photo's bytes are stored under the SHA-256 of those bytes (`<sha256>.jpg`), so the same image
uploaded twice is kept once and a name can never point at other content. `MediaStore` is what
the rest of RedGrid uses; `FolderStore` keeps the files in a folder (`REDGRID_MEDIA_DIR`,
`<data folder>/media` by default), `S3Store` (db/s3store.py) in a bucket of any S3-compatible
service (AWS S3, MinIO, Aliyun OSS, Ceph RGW) at an `S3Location`, under the same
`<first two hex digits>/<name>` keys.

Neither is ever served directly: RedGrid reads the bytes and serves them through its own
signed, expiring URLs (web/media.py), so a bucket stays private.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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
