"""Rendered tiles of the place layers, kept in memory for as long as clients may cache them.

Streets, zones, communities, compounds, grid cells and facilities change only when the data
is reloaded, and their tiles are already promised to clients as `public, max-age=300`; the
server holds them for the same time, so a busy map answers from memory instead of PostGIS.
Ticket tiles depend on the caller and change all day: they are never kept.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

TTL_S = 300.0
MAX_BYTES = 64 * 1024 * 1024


class TileCache:
    """Least recently used tiles within a byte budget, each for `ttl_s` seconds."""

    def __init__(self, ttl_s: float = TTL_S, max_bytes: int = MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.clock = clock
        self.size = 0
        self._tiles: OrderedDict[Hashable, tuple[float, bytes, str]] = OrderedDict()

    def get(self, key: Hashable) -> tuple[bytes, str] | None:
        """The tile's bytes and ETag, while fresh."""
        entry = self._tiles.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._drop(key)
            return None
        self._tiles.move_to_end(key)
        return entry[1], entry[2]

    def put(self, key: Hashable, body: bytes, etag: str = "") -> None:
        if len(body) > self.max_bytes // 16 or self.ttl_s <= 0:
            return  # one huge tile must not flush everything else
        if key in self._tiles:
            self._drop(key)
        self._tiles[key] = (self.clock() + self.ttl_s, body, etag)
        self.size += len(body)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._tiles)))

    def _drop(self, key: Hashable) -> None:
        _, body, _ = self._tiles.pop(key)
        self.size -= len(body)

    def __len__(self) -> int:
        return len(self._tiles)
