"""What a page or export of tickets 工单 asks for: statuses, places, item, overdue, period.

No `from __future__ import annotations` here: the GraphQL `TicketFilter` extends
`TicketConditions`, and Strawberry reads the inherited annotations as the types they are
(postponed, it would look their names up in the schema module instead).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass
class TicketConditions:
    """What a ticket filter asks besides statuses: place and item codes, overdue, and the
    creation period (`created_to` exclusive). The GraphQL `TicketFilter` extends it too, so
    both name the same conditions."""

    zone_code: str | None = None
    community_code: str | None = None
    cell_code: str | None = None
    item_code: str | None = None
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass
class TicketFilterArgs(TicketConditions):
    statuses: Sequence[str] | None = None
