"""Paging shared by every connection type: where a page ends and whether another follows."""

from __future__ import annotations

import strawberry


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
