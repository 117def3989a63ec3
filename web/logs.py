"""Logging, configured once at start: a request id on every line, JSON lines in production.

Every HTTP request and every websocket operation gets a request id, kept in a contextvar so
that whatever logs while serving it (resolvers, the database pool, the masked-error
reporter) names it without passing it around. The id of an HTTP request is the caller's
`X-Request-Id` when that is a plain token (so a proxy's id follows the request through),
otherwise a fresh one, and is sent back as `X-Request-Id`. Lines logged outside any request
(the ticket job, the webhook worker, start-up) carry `-`.
"""

from __future__ import annotations

import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.request_ids import NO_REQUEST, current_request_id, new_request_id, serving_request
from web.clients import request_header

# A caller's id is taken as it is only when it cannot forge a log line or grow without bound.
_CALLER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


# LogRecord attributes that are not a caller's `extra=` fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, process (which worker), request id,
    message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "request_id": getattr(record, "request_id", NO_REQUEST),
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


def logging_config(json_lines: bool, level: str = "INFO", access: bool = False) -> dict[str, Any]:
    """The `dictConfig` of RedGrid's logs: ours, uvicorn's and the libraries', to stderr.

    Args:
        json_lines: JSON lines (production) rather than readable text (development).
        access: log one line per HTTP request (`redgrid.access`).
    """
    formatter = ({"()": JsonFormatter} if json_lines
                 else {"format": TEXT_FORMAT, "datefmt": "%H:%M:%S"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"redgrid": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "redgrid", "filters": ["request_id"]}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "redgrid": {"level": level},
            "redgrid.access": {"level": "INFO" if access else "WARNING"},
            # uvicorn's own handlers would print a second, differently formatted line.
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }


def configure(json_lines: bool, level: str = "INFO", access: bool = False) -> None:
    """Configures logging for the whole process (once, at start)."""
    logging.config.dictConfig(logging_config(json_lines, level, access))


class RequestIds:
    """ASGI middleware: gives each HTTP request and websocket connection a request id and
    answers it as `X-Request-Id` (the access log is written by `web.metrics.HttpMetrics`,
    which times each request anyway)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = request_header(scope, b"x-request-id")
        request_id = given if _CALLER_ID.fullmatch(given) else new_request_id()

        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if any(key.lower() == b"x-request-id" for key, _ in headers):
                    MutableHeaders(scope=message)["X-Request-Id"] = request_id
                else:
                    message["headers"] = [*headers, header]
            await send(message)

        with serving_request(request_id):
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
