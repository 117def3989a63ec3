"""The identity provider's signing keys (JWKS), fetched without blocking the event loop.

The keys are fetched by an async HTTP client under a timeout and kept by `kid`. They are
fetched again once they are older than `ttl_s`, so a key the provider drops is refused at most
`ttl_s` later, and at once when a token names a kid we do not hold (the provider rotated its
keys), but never more often than every `min_interval_s`: tokens with made-up kids cannot make
us hammer the provider. A failed fetch keeps the last good keys; concurrent callers share one
fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
import jwt

log = logging.getLogger("redgrid.jwks")


class JwksKeys:
    """The provider's public keys by kid, refreshed by `refresh()`."""

    def __init__(self, url: str, *, ttl_s: float = 300.0, min_interval_s: float = 30.0,
                 timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.min_interval_s = min_interval_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.fetches = 0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last fetch that succeeded
        self._tried_at: float | None = None  # the last fetch started
        self._inflight: asyncio.Future[bool] | None = None

    def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)

    @property
    def stale(self) -> bool:
        """Whether the keys are older than their time to live (or were never fetched)."""
        return self._fetched_at is None or self.clock() - self._fetched_at >= self.ttl_s

    async def refresh(self) -> bool:
        """Fetches the keys unless a fetch started less than `min_interval_s` ago (then joins
        it while it runs); whether the set of keys changed."""
        if self._inflight is None:
            if self._tried_at is not None and self.clock() - self._tried_at < self.min_interval_s:
                return False
            self._tried_at = self.clock()
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._landed)
        # Shielded: a caller that goes away does not cancel the fetch the others wait for.
        return await asyncio.shield(self._inflight)

    def _landed(self, _: asyncio.Future[bool]) -> None:
        self._inflight = None

    async def _fetch(self) -> bool:
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                body = response.json()
                if not isinstance(body, dict):
                    raise ValueError("the JWKS is not a JSON object")
                keys = jwt.PyJWKSet.from_dict(body).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            log.warning("JWKS fetch from %s failed (%s); keeping the %d keys held",
                        self.url, exc or type(exc).__name__, len(self._keys))
            return False
        fresh = {key.key_id: key for key in keys if key.key_id}
        changed = fresh.keys() != self._keys.keys()
        self._keys, self._fetched_at = fresh, self.clock()
        return changed
