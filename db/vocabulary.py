"""The words tickets are described with — statuses, channels, levels — and the time zone days
are counted in: each written here once.

The GraphQL enums (`schema/scalars.py`), the database's check constraints (`db/models.py`),
the workflow and the map page (`/map-config.json`) all take them from this module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import timedelta, timezone

# Days, months and years are counted in China Standard Time (no daylight saving since 1991).
TIME_ZONE = "Asia/Shanghai"
UTC_OFFSET = timedelta(hours=8)
SHANGHAI = timezone(UTC_OFFSET, TIME_ZONE)


def _iso_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# The offset as ISO 8601 writes it after a time: "+08:00".
UTC_OFFSET_ISO = _iso_offset(UTC_OFFSET)


class TicketStatus(enum.StrEnum):
    """Where a ticket 工单 stands in its workflow; a member is its name as a string too, so
    the workflow compares it with what the database holds."""

    SUBMITTED = "SUBMITTED"
    DISPATCHED = "DISPATCHED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"


class Channel(enum.Enum):
    """How a demand 诉求 reached the county: the 12345 hotline, the four community channels,
    supervisors, grid patrols or online."""

    HOTLINE_12345 = "HOTLINE_12345"
    RECEPTION_DAY = "RECEPTION_DAY"
    PLAZA_REPORT = "PLAZA_REPORT"
    DOOR_KNOCKING = "DOOR_KNOCKING"
    QR_CODE = "QR_CODE"
    SUPERVISOR = "SUPERVISOR"
    GRID_PATROL = "GRID_PATROL"
    ONLINE = "ONLINE"


class Level(enum.Enum):
    """The escalation ladder 提级督办: community → street → county."""

    COMMUNITY = "COMMUNITY"
    STREET = "STREET"
    COUNTY = "COUNTY"


STATUS_LABELS: Mapping[TicketStatus, str] = {
    TicketStatus.SUBMITTED: "已受理",
    TicketStatus.DISPATCHED: "已派单",
    TicketStatus.IN_PROGRESS: "办理中",
    TicketStatus.RESOLVED: "已办结",
    TicketStatus.CLOSED: "已关闭",
    TicketStatus.REJECTED: "已退回",
}
CHANNEL_LABELS: Mapping[Channel, str] = {
    Channel.HOTLINE_12345: "12345热线",
    Channel.RECEPTION_DAY: "书记接待日",
    Channel.PLAZA_REPORT: "广场述职",
    Channel.DOOR_KNOCKING: "敲门行动",
    Channel.QR_CODE: "书记码上办",
    Channel.SUPERVISOR: "小区监督员",
    Channel.GRID_PATROL: "网格巡查",
    Channel.ONLINE: "网上",
}
LEVEL_LABELS: Mapping[Level, str] = {
    Level.COMMUNITY: "社区", Level.STREET: "街道", Level.COUNTY: "县",
}

TICKET_STATUSES: tuple[str, ...] = tuple(s.value for s in TicketStatus)
# "Open" 待办: not yet resolved, closed or rejected (the partial indexes' predicate too).
OPEN_STATUSES: tuple[str, ...] = tuple(s.value for s in (
    TicketStatus.SUBMITTED, TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS))
CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)
LEVELS: tuple[str, ...] = tuple(v.value for v in Level)
