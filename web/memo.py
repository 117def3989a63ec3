"""Answers kept for a while, computed once however many requests miss at the same time.

Costly answers (rendered place tiles, the heat map, low-zoom ticket counts) are the same for
many callers for minutes at a time. A `Memo` keeps each for `ttl_s` seconds in a `cachetools`
TTL cache (least recently used go first when it is full) and lets concurrent misses of one key
share a single computation (single-flight), so a burst of identical requests costs one query,
not one per request. The app creates its memos in its lifespan (`web/app.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

V = TypeVar("V")


class Memo(Generic[V]):
    """Values by key for `ttl_s` seconds, at most `max_entries` of them — or, with
    `getsizeof`, at most that much in all, a value over `max_item` never kept — with one
    computation per key in flight."""

    def __init__(self, ttl_s: float, max_entries: int = 64,
                 clock: Callable[[], float] = time.monotonic, *,
                 getsizeof: Callable[[V], float] | None = None,
                 max_item: float | None = None) -> None:
        self.ttl_s = ttl_s
        self.max_item = max_item
        self._sizeof = getsizeof
        self._values: TTLCache[Hashable, V] = TTLCache(
            maxsize=max_entries, ttl=max(ttl_s, 0.0), timer=clock, getsizeof=getsizeof)
        self._pending: dict[Hashable, asyncio.Future[V]] = {}

    def peek(self, key: Hashable) -> V | None:
        """The value of `key` while fresh, else None."""
        return self._values.get(key)

    def put(self, key: Hashable, value: V) -> None:
        if self.ttl_s <= 0:
            return
        if self._sizeof is not None and self.max_item is not None \
                and self._sizeof(value) > self.max_item:
            return  # one huge value must not flush everything else
        self._values[key] = value

    def clear(self) -> None:
        """Forgets every value kept (computations in flight still finish)."""
        self._values.clear()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        """The value of `key`, from memory while fresh, else from `compute` (shared with
        every caller missing the same key meanwhile). A failure is not kept."""
        hit = self._values.get(key)
        if hit is not None:
            return hit
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(self._fill(key, compute))
        # Shielded: one caller going away must not cancel the others' computation.
        return await asyncio.shield(pending)

    async def _fill(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await compute()
            self.put(key, value)
            return value
        finally:
            del self._pending[key]

    @property
    def size(self) -> float:
        """What is kept: entries, or their sizes in all with `getsizeof`."""
        return self._values.currsize

    def __len__(self) -> int:
        return len(self._values)
