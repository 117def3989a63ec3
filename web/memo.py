"""Answers kept for a while, computed once however many requests miss at the same time.

Costly public answers (the heat map, low-zoom ticket counts) are the same for many callers
for a minute at a time. A `Memo` keeps each for `ttl_s` seconds and lets concurrent misses
of one key share a single computation (single-flight), so a burst of identical requests
costs one query, not one per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """Values by key for `ttl_s` seconds, at most `max_entries` of them (least recently used
    go first), with one computation per key in flight."""

    def __init__(self, ttl_s: float, max_entries: int = 64,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._values: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[V]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        """The value of `key`, from memory while fresh, else from `compute` (shared with
        every caller missing the same key meanwhile). A failure is not kept."""
        hit = self._values.get(key)
        if hit is not None and hit[0] > self.clock():
            self._values.move_to_end(key)
            return hit[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(self._fill(key, compute))
        # Shielded: one caller going away must not cancel the others' computation.
        return await asyncio.shield(pending)

    async def _fill(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await compute()
            self._values[key] = (self.clock() + self.ttl_s, value)
            self._values.move_to_end(key)
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
            return value
        finally:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._values)
