"""Rendered tiles of the place layers, kept in memory for as long as clients may cache them.

Streets, zones, communities, compounds, grid cells and facilities change only when the data
is reloaded, and their tiles are already promised to clients as `public, max-age=300`; the
server holds them for the same time, so a busy map answers from memory instead of PostGIS,
and renders a tile that many clients miss at once only once. Ticket tiles depend on the caller
and change all day: they are never kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from web.memo import Memo

TTL_S = 300.0
MAX_BYTES = 64 * 1024 * 1024


class TileCache(Memo[tuple[bytes, str]]):
    """(body, ETag) of tiles within a byte budget, least recently used first out, each for
    `ttl_s` seconds; a tile over 1/16 of the budget is not kept."""

    def __init__(self, ttl_s: float = TTL_S, max_bytes: int = MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl_s, max_bytes, clock, getsizeof=lambda tile: len(tile[0]),
                         max_item=max_bytes // 16)
