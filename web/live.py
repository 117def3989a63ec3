"""Live ticket events: one LISTEN connection per server process, fanned out to subscribers.

A trigger on `ticket_events` announces every committed event on the `redgrid_ticket_events`
channel, and PostgreSQL delivers it to every listening session, so each server process keeps
one listening connection and hands the events to its own websocket subscribers, each through a
bounded queue. A lost connection is reopened with backoff and the events missed meanwhile are
read back from the table; a subscriber too slow to keep up is ended with an error rather than
holding memory or silently missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import namedtuple_row
from strawberry.exceptions import ConnectionRejectionError

from db.queries import notifications as queries
from resolvers.actor import PUBLIC, Actor
from resolvers.notifications import Event, lagged
from schema.context import Context
from web.auth import AuthError
from web.tasks import cancel, running

CHANNEL = "redgrid_ticket_events"
APPLICATION_NAME = "redgrid-live"
CATCH_UP_LIMIT = 5000
log = logging.getLogger("redgrid.live")


class _Signal(enum.Enum):
    STOP = "stop"
    LAGGED = "lagged"


class _Subscriber:
    __slots__ = ("accept", "lagging", "queue")

    def __init__(self, accept: Callable[[Event], bool], size: int) -> None:
        self.accept = accept
        self.queue: asyncio.Queue[Event | _Signal] = asyncio.Queue(size)
        self.lagging = False

    def signal(self, signal: _Signal) -> None:
        """Ends the stream after what it already holds (STOP) or at once (LAGGED)."""
        if signal is _Signal.LAGGED or self.queue.full():
            while not self.queue.empty():
                self.queue.get_nowait()
        self.queue.put_nowait(signal)


class Broadcaster:
    """The process's one listener on the ticket-event channel."""

    def __init__(self, conninfo: str, *, queue_size: int = 256, ping_s: float = 30.0,
                 max_retry_s: float = 1.0) -> None:
        """Args:
            max_retry_s: the longest pause between attempts to listen again (backing off
                from 0.25 s): after a long outage the database is listened to again within
                about that of its return (an attempt a second costs it nothing).
        """
        self.conninfo = conninfo
        self.queue_size = queue_size
        self.ping_s = ping_s
        self.max_retry_s = max_retry_s
        self.listening = asyncio.Event()
        self._subscribers: set[_Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_id: int | None = None
        self._recent: deque[int] = deque(maxlen=4096)
        self._recent_set: set[int] = set()

    async def start(self, wait_s: float = 10.0) -> None:
        """Starts listening; waits (up to `wait_s`) until the first LISTEN is in place."""
        self._task = asyncio.create_task(self._run(), name="redgrid-live")
        try:
            await asyncio.wait_for(self.listening.wait(), wait_s)
        except TimeoutError:
            log.warning("not listening for ticket events yet; retrying in the background")

    def alive(self) -> bool:
        return running(self._task)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        self.listening.clear()
        for sub in list(self._subscribers):
            sub.signal(_Signal.STOP)

    @contextlib.asynccontextmanager
    async def subscribe(self, accept: Callable[[Event], bool]) -> AsyncIterator[AsyncIterator[Event]]:
        """The events `accept` lets through, from now until the subscriber leaves."""
        sub = _Subscriber(accept, self.queue_size)
        self._subscribers.add(sub)
        try:
            yield self._events(sub)
        finally:
            self._subscribers.discard(sub)

    @staticmethod
    async def _events(sub: _Subscriber) -> AsyncIterator[Event]:
        while True:
            item = await sub.queue.get()
            if item is _Signal.STOP:
                return
            if item is _Signal.LAGGED:
                raise lagged()
            assert not isinstance(item, _Signal)
            yield item

    def publish(self, payload: str) -> None:
        """Hands one announced event to every subscriber that wants it."""
        try:
            event: Event = json.loads(payload)
            event_id = int(event["eventId"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed ticket event: %.200s", payload)
            return
        if event_id in self._recent_set:
            return  # both announced and read back while catching up
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(event_id)
        self._recent_set.add(event_id)
        self._last_id = max(self._last_id or 0, event_id)
        for sub in list(self._subscribers):
            if sub.lagging:
                continue
            try:
                wanted = sub.accept(event)
            except Exception:
                log.exception("a subscriber's filter failed")
                continue
            if not wanted:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.lagging = True
                sub.signal(_Signal.LAGGED)

    async def _run(self) -> None:
        delay = 0.25
        while True:
            try:
                await self._listen()
            except Exception as exc:
                if self.listening.is_set():
                    delay = 0.25
                log.warning("ticket-event listener: %s; reconnecting in %.2f s", exc, delay,
                            exc_info=not isinstance(exc, psycopg.Error | OSError))
            self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_s)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, row_factory=namedtuple_row,
                application_name=APPLICATION_NAME, keepalives=1, keepalives_idle=30,
                keepalives_interval=10, keepalives_count=3) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            if self._last_id is None:
                self._last_id = await queries.last_event_id(conn)
            else:
                for row in await queries.events_after(conn, self._last_id, CATCH_UP_LIMIT):
                    self.publish(row.payload)
            self.listening.set()
            while True:
                async for notify in conn.notifies(timeout=self.ping_s):
                    self.publish(notify.payload)
                await conn.execute("SELECT 1")  # a quiet channel or a dead connection?


# Websocket authentication -----------------------------------------------------------------

@dataclass
class WebSocketContext(Context):
    """The context of one websocket connection: Strawberry fills `connection_params` from the
    graphql-transport-ws `connection_init` payload."""

    connection_params: dict[str, Any] | None = None


def websocket_actor(context: Context, verify: Callable[[str], Actor]) -> Actor:
    """The caller of a websocket: the token in `connection_init` (`{"Authorization": "Bearer
    …"}` or `{"token": "…"}`), else the upgrade request's Authorization header, else PUBLIC.

    A token that cannot be trusted rejects the connection (close code 4403).
    """
    params = getattr(context, "connection_params", None) or {}
    header = params.get("Authorization") or params.get("authorization")
    token = params.get("token")
    if header is None and token is not None:
        header = f"Bearer {token}"
    if header is None and context.request is not None:
        header = context.request.headers.get("authorization")
    if header is None:
        return PUBLIC
    if not isinstance(header, str):
        raise ConnectionRejectionError({"message": "the token must be a string"})
    try:
        return verify(header)
    except AuthError as exc:
        raise ConnectionRejectionError({"message": str(exc)}) from None
