"""Rate limits by named budget and the /graphql body limit, as pure ASGI middleware.

`Guard` runs after `web/identity.py`, so a caller is counted by who they verifiably are: the
role and subject of a valid token, or for the public the client address (X-Forwarded-For only
from trusted proxies, see `web/clients.py`). A token that fails verification is charged to
the client address too, so rotating forged tokens gets no fresh buckets. Each group of routes
draws on a budget of its own (`BUDGET_ROUTES`), sized in `web/settings.py`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.actor import PUBLIC, Actor, Role
from resolvers.errors import ErrorCode
from web.clients import Network, client_address, request_header
from web.errors import error_at
from web.settings import RateBudget
from web.shared_buckets import SharedTokenBuckets, spend

# Which budget a path draws on: the first entry whose path it is or lies under.
BUDGET_ROUTES = (
    ("/graphql", "graphql"),
    ("/tiles/heatmap/", "heatmap"),
    ("/heatmap.geojson", "heatmap"),
    ("/tiles/", "tiles"),
    ("/ogc", "ogc"),
    ("/open311", "open311"),
    ("/media/", "media"),
    ("/exports", "exports"),
)
# The routes whose JSON bodies are read whole: bounded by `max_body_bytes` before they are.
BODY_PATHS = ("/graphql", "/auth/dev-token")


def budget_of(path: str) -> str | None:
    for prefix, name in BUDGET_ROUTES:
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return name
    return None


class TokenBuckets:
    """One token bucket per client, least recently used first; idle buckets are dropped.

    A bucket left alone for `burst / rate` seconds is full again, the same as a new one, so
    dropping it forgets nothing; past `max_clients` the least recently used go too.
    """

    def __init__(self, rate: float, burst: int, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        """Takes one token for `key`: 0 if granted, else the seconds until one is due."""
        now = self.clock()
        self._evict(now)
        tokens, at = self.buckets.pop(key, (float(self.burst), now))
        tokens, wait = spend(tokens, now - at, self.rate, self.burst)
        self.buckets[key] = (tokens, now)
        return wait

    def _evict(self, now: float) -> None:
        idle = self.burst / self.rate
        while self.buckets:
            key, (_, at) = next(iter(self.buckets.items()))
            if now - at < idle and len(self.buckets) < self.max_clients:
                return
            del self.buckets[key]


class RateLimiter:
    """One set of token buckets per named budget, keyed on the verified caller; with
    `shared_dir` (the folder `redgrid serve --workers N` makes for its workers) kept in files
    there, so that all the workers of a server draw on one budget per caller."""

    def __init__(self, budgets: Mapping[str, RateBudget], *, proxies: Sequence[Network] = (),
                 max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic,
                 shared_dir: Path | None = None) -> None:
        self.proxies = tuple(proxies)
        self.buckets: dict[str, TokenBuckets | SharedTokenBuckets] = {}
        for name, b in budgets.items():
            if b.per_s <= 0:
                continue
            if shared_dir is None:
                self.buckets[name] = TokenBuckets(b.per_s, b.burst, max_clients=max_clients,
                                                  clock=clock)
            else:
                self.buckets[name] = SharedTokenBuckets(
                    shared_dir / f"rate-{name}.bin", b.per_s, b.burst, max_clients=max_clients,
                    clock=clock)

    def caller_key(self, scope: Scope, actor: Actor | None) -> str:
        """The role and subject of a verified caller, else (public, or a token that failed
        verification: `None`) the client address."""
        if actor is None or actor.role is Role.PUBLIC:
            return "ip:" + client_address(scope, self.proxies)
        return f"{actor.role.value}:{actor.subject}"

    def take(self, scope: Scope, actor: Actor | None) -> float:
        """One request of the path's budget: 0 if granted (or unlimited), else the seconds
        until the caller's next one is due."""
        name = budget_of(scope["path"])
        buckets = self.buckets.get(name) if name else None
        return buckets.take(self.caller_key(scope, actor)) if buckets else 0.0


def too_many_requests(path: str, wait: float) -> Response:
    """The 429 for a caller of `path` whose next request is due in `wait` seconds."""
    return error_at(path, ErrorCode.RATE_LIMITED, "Too many requests.",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))})


class _BodyTooLarge(Exception):
    """A streamed body went past its limit."""


class Guard:
    """Rate-limits HTTP requests by budget and bounds the bodies of requests to `body_paths`.

    Args:
        max_body_bytes: the largest body accepted on `body_paths`; 0 turns the limit off.
        max_upload_bytes: the same for a multipart body (a GraphQL multipart request with
            photos), counted as it streams through rather than read whole; 0: max_body_bytes.
    """

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter,
                 body_paths: tuple[str, ...] = BODY_PATHS, max_body_bytes: int = 0,
                 max_upload_bytes: int = 0) -> None:
        self.app = app
        self.limiter = limiter
        self.body_paths = body_paths
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes or max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        actor: Actor = scope.get("state", {}).get("actor", PUBLIC)
        wait = self.limiter.take(scope, actor)
        if wait > 0:
            await too_many_requests(scope["path"], wait)(scope, receive, send)
            return
        if self.max_body_bytes > 0 and scope["path"] in self.body_paths:
            content_type = request_header(scope, b"content-type").lower()
            if content_type.startswith("multipart/"):
                await self._stream_bounded(scope, receive, send)
                return
            replay = await self._read_body(scope, receive)
            if replay is None:
                await self._too_large(scope["path"], self.max_body_bytes)(scope, receive, send)
                return
            receive = replay
        await self.app(scope, receive, send)

    def _too_large(self, path: str, limit: int) -> Response:
        return error_at(path, ErrorCode.PAYLOAD_TOO_LARGE,
                        f"The request body exceeds {limit} bytes.")

    async def _stream_bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Passes a multipart body on as it arrives, and answers 413 once it grows past the
        upload limit (before the app has answered: a form is read whole before any answer)."""
        limit = self.max_upload_bytes
        length = request_header(scope, b"content-length")
        if length.isdigit() and int(length) > limit:
            await self._too_large(scope["path"], limit)(scope, receive, send)
            return
        size = 0
        started = False

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise _BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if not started:
                await self._too_large(scope["path"], limit)(scope, receive, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """The body read whole, to replay to the app; None if it is too large."""
        length = request_header(scope, b"content-length")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                chunks_message = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                chunks_message = {"type": "http.request", "body": b"".join(chunks),
                                  "more_body": False}
                break
        pending = [chunks_message]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        return replay
