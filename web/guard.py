"""A pure ASGI middleware guarding /graphql: per-client rate limits and a request body limit."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# "Bearer" and three base64url segments: a JWT by its looks, not yet verified.
BEARER = re.compile(r"Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


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
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self.buckets[key] = (tokens, now)
        return wait

    def _evict(self, now: float) -> None:
        idle = self.burst / self.rate
        while self.buckets:
            key, (_, at) = next(iter(self.buckets.items()))
            if now - at < idle and len(self.buckets) < self.max_clients:
                return
            del self.buckets[key]


def client_key(scope: Scope) -> str:
    """Who is asking: a hash of a JWT-looking Authorization header, else the client IP."""
    header = Headers(scope=scope).get("authorization", "")
    if BEARER.fullmatch(header):
        return "token:" + hashlib.sha256(header.encode()).hexdigest()[:32]
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> list[Message]:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [{"type": "http.response.start", "status": status, "headers": raw},
            {"type": "http.response.body", "body": body}]


class Guard:
    """Rate-limits and bounds the bodies of HTTP requests to `path`; passes the rest through.

    Args:
        rate_per_s: requests per second per client; 0 turns rate limiting off.
        max_body_bytes: the largest body accepted; 0 turns the limit off.
    """

    def __init__(self, app: ASGIApp, *, path: str = "/graphql", rate_per_s: float = 0.0,
                 burst: int = 100, max_body_bytes: int = 0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.buckets = (TokenBuckets(rate_per_s, burst, max_clients=max_clients, clock=clock)
                        if rate_per_s > 0 else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        if self.buckets is not None:
            wait = self.buckets.take(client_key(scope))
            if wait > 0:
                retry = str(max(1, math.ceil(wait)))
                await _reply(send, _error(429, "RATE_LIMITED", "Too many requests.",
                                          {"Retry-After": retry}))
                return
        if self.max_body_bytes > 0:
            replay = await self._read_body(scope, receive)
            if replay is None:
                await _reply(send, _error(413, "PAYLOAD_TOO_LARGE",
                                          f"The request body exceeds {self.max_body_bytes} "
                                          "bytes."))
                return
            receive = replay
        await self.app(scope, receive, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """The body read whole, to replay to the app; None if it is too large."""
        length = Headers(scope=scope).get("content-length", "")
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


async def _reply(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)
