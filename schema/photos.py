"""Photos on tickets 工单照片 in GraphQL: signed, expiring URLs, for callers who may see the
ticket only (the scope is applied in SQL; the public and planners get none)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers.photos import media_name


@strawberry.type(description="A photo on a ticket, re-encoded as JPEG without metadata. Its "
                             "URLs are signed for the caller and expire at `expiresAt`.")
class TicketPhoto:
    url: str
    thumbnail_url: str
    expires_at: datetime
    media_type: str
    width: int
    height: int
    created_at: datetime
    step: str | None = strawberry.field(
        description="The action of the event the photo came with, e.g. CREATED or RESOLVED.")
    event_id: strawberry.Private[int | None]


def _shown(info: Info, row: Any) -> TicketPhoto | None:
    media = info.context.media
    if media is None:
        return None
    url, expires = media.url(media_name(row.sha256))
    thumbnail_url, _ = media.url(media_name(row.thumb_sha256))
    return TicketPhoto(url=url, thumbnail_url=thumbnail_url,
                       expires_at=datetime.fromtimestamp(expires, UTC),
                       media_type=row.media_type, width=row.width, height=row.height,
                       created_at=row.created_at, step=row.step, event_id=row.event_id)


async def ticket_photos(info: Info, ticket_id: int, event_id: int | None = None) -> list[TicketPhoto]:
    """A ticket's photos as the caller may see them (of one event, when `event_id` is given)."""
    rows = await info.context.photos.load(ticket_id)
    shown = [_shown(info, r) for r in rows if event_id is None or r.event_id == event_id]
    return [p for p in shown if p is not None]
