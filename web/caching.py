"""HTTP validators shared by the tile and OGC API routes."""

from __future__ import annotations


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, RFC 9110 13.1.2), or *."""
    if not if_none_match:
        return False
    given = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in given or etag.removeprefix("W/") in given
