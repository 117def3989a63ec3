"""The identity provider's signing keys (JWKS), fetched without blocking the event loop.

The keys are fetched by an async HTTP client under a timeout and kept by `kid`. They are
fetched again once they are older than `ttl_s`, so a key the provider drops is refused at most
`ttl_s` later, and at once when a token names a kid we do not hold (the provider rotated its
keys), but never more often than every `min_interval_s`: tokens with made-up kids cannot make
us hammer the provider. A failed fetch keeps the last good keys; concurrent callers share one
fetch (see `web/reloading.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt

from web.reloading import Reloading


class JwksKeys:
    """The provider's public keys by kid, refreshed by `refresh()`."""

    def __init__(self, url: str, *, ttl_s: float = 300.0, min_interval_s: float = 30.0,
                 timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._keys = Reloading(f"the JWKS of {url}", self._fetch, ttl_s=ttl_s,
                               min_interval_s=min_interval_s, clock=clock)

    def key(self, kid: str) -> jwt.PyJWK | None:
        return (self._keys.value or {}).get(kid)

    @property
    def stale(self) -> bool:
        """Whether the keys are older than their time to live (or were never fetched)."""
        return self._keys.stale

    @property
    def fetches(self) -> int:
        return self._keys.loads

    async def refresh(self) -> bool:
        """Fetches the keys (rate-limited); whether a fetch brought them."""
        return await self._keys.reload()

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        if not isinstance(body, dict):
            raise ValueError("the JWKS is not a JSON object")
        return {key.key_id: key for key in jwt.PyJWKSet.from_dict(body).keys if key.key_id}
