"""Where ticket photos 工单照片 are kept: outside the database row, named by their content.

A photo's bytes are stored under the SHA-256 of those bytes (`<sha256>.jpg`), so the same image
uploaded twice is kept once and a name can never point at other content. `MediaStore` is what
the rest of RedGrid uses; `FolderStore` keeps the files in a folder (`REDGRID_MEDIA_DIR`,
`<data folder>/media` by default). An S3-compatible store would implement the same four
methods; none is shipped.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Protocol

# `<64 hex digits>.<extension>`: the only names a store accepts, so a name from a URL can
# never walk out of the folder.
NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|webp)$")


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

    def names(self) -> list[str]:
        """Every stored name (for checks and clean-up)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.glob("??/*") if NAME.match(p.name))
