"""Expected failures as data with a stable code."""

from __future__ import annotations

import enum
from typing import Any

# The failures that mean the database is away (a fault to report, not a bug to mask).
from db.database import UNREACHABLE as UNREACHABLE


class ErrorCode(str, enum.Enum):  # noqa: UP042 - str values are the stable wire codes
    """Every stable error code RedGrid answers with, over GraphQL (`extensions.code`, the
    `UserError.code` enum) and every other route (the same envelope, see `web/errors.py`)."""

    BAD_USER_INPUT = "BAD_USER_INPUT"
    OUTSIDE_COVERAGE = "OUTSIDE_COVERAGE"
    NOT_FOUND = "NOT_FOUND"
    UNKNOWN_ITEM_CODE = "UNKNOWN_ITEM_CODE"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    CONFLICT = "CONFLICT"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    BOND_INSUFFICIENT = "BOND_INSUFFICIENT"
    PERIOD_TOO_FINE = "PERIOD_TOO_FINE"
    # The disclosure rule (resolvers/disclosure.py): callers without exact counts ask for
    # exactly one calendar month and no filters, so two answers cannot be differenced.
    PERIOD_NOT_ONE_MONTH = "PERIOD_NOT_ONE_MONTH"
    FILTER_NOT_ALLOWED = "FILTER_NOT_ALLOWED"
    OFFSET_TOO_LARGE = "OFFSET_TOO_LARGE"
    WEBHOOK_NOT_VERIFIED = "WEBHOOK_NOT_VERIFIED"
    # Web Push subscriptions (resolvers/push.py).
    PUSH_NOT_CONFIGURED = "PUSH_NOT_CONFIGURED"
    PUSH_ENDPOINT_REFUSED = "PUSH_ENDPOINT_REFUSED"
    # Photo uploads (resolvers/photos.py) and exports.
    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PHOTO_TOO_LARGE = "PHOTO_TOO_LARGE"
    PHOTO_TOO_MANY_PIXELS = "PHOTO_TOO_MANY_PIXELS"
    TOO_MANY_PHOTOS = "TOO_MANY_PHOTOS"
    MEDIA_STORE_UNAVAILABLE = "MEDIA_STORE_UNAVAILABLE"
    EXPORT_TOO_LARGE = "EXPORT_TOO_LARGE"
    UNQUALIFIED_MEMBER = "UNQUALIFIED_MEMBER"
    NEGATIVE_LIST_HIT = "NEGATIVE_LIST_HIT"
    # Refused by the HTTP layer before any resolver runs.
    BAD_REQUEST = "BAD_REQUEST"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNAVAILABLE = "UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    # Development sign-in.
    UNKNOWN_ROLE = "UNKNOWN_ROLE"
    UNKNOWN_SCOPE = "UNKNOWN_SCOPE"
    SCOPE_REQUIRED = "SCOPE_REQUIRED"


class DomainError(Exception):
    """An expected failure: reported to the caller with its code, never masked."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    @property
    def extensions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code.value}
        if self.field:
            out["field"] = self.field
        return out

    def at(self, prefix: str) -> DomainError:
        """The same error with its field placed under an input path, e.g. `input.point`."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return DomainError(self.code, self.message, field)


def bad_input(message: str, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.BAD_USER_INPUT, message, field)


def check_same_request(earlier_hash: str | None, digest: str) -> None:
    """IDEMPOTENCY_CONFLICT unless a key's earlier request had this input's hash."""
    if earlier_hash != digest:
        raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT,
                          "this idempotencyKey was used with a different input", "idempotencyKey")
