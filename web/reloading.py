"""A value loaded by an async function and loaded again when it is out of date.

Used for what token verification depends on and must not fetch on every request: the
identity provider's keys (`web/jwks.py`) and the codes a token's scope may name. Loads run on
the event loop without blocking it, one at a time (callers arriving meanwhile share it), at
most once per `min_interval_s`; a failed load keeps the last good value.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("redgrid.reloading")


class Reloading(Generic[T]):
    """`value` as last loaded by `load`; `stale` once it is older than `ttl_s`."""

    def __init__(self, name: str, load: Callable[[], Awaitable[T]], *, ttl_s: float,
                 min_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.load = load
        self.ttl_s = ttl_s
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.value: T | None = None
        self.loads = 0
        self._loaded_at: float | None = None  # the last load that succeeded
        self._tried_at: float | None = None  # the last load started
        self._inflight: asyncio.Future[bool] | None = None

    @property
    def stale(self) -> bool:
        return self._loaded_at is None or self.clock() - self._loaded_at >= self.ttl_s

    async def reload(self) -> bool:
        """Loads the value again unless a load started less than `min_interval_s` ago (one
        still running is joined); whether the value changed."""
        if self._inflight is None:
            if self._tried_at is not None and self.clock() - self._tried_at < self.min_interval_s:
                return False
            self._tried_at = self.clock()
            self._inflight = asyncio.ensure_future(self._load())
            self._inflight.add_done_callback(self._landed)
        # Shielded: a caller that goes away does not cancel the load the others wait for.
        return await asyncio.shield(self._inflight)

    def _landed(self, _: asyncio.Future[bool]) -> None:
        self._inflight = None

    async def _load(self) -> bool:
        self.loads += 1
        try:
            value = await self.load()
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good value
            log.warning("loading %s failed (%s); keeping the last good value", self.name,
                        str(exc) or type(exc).__name__)
            return False
        changed = value != self.value
        self.value, self._loaded_at = value, self.clock()
        return changed
