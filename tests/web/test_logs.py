"""Logs: a request id on every line and in every answer, JSON lines in production, readable
text in development, the background workers' lines shown."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from web.app import create_app
from web.logs import logging_config
from web.settings import Settings

LOGGERS = ("redgrid", "redgrid.access", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def logs() -> Iterator[Any]:
    """Configures logging as `redgrid serve` does, into a buffer; puts the old state back."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level,
                  logging.getLogger(n).propagate) for n in LOGGERS})

    def configure(json_lines: bool, access: bool = True) -> io.StringIO:
        logging.config.dictConfig(logging_config(json_lines, "INFO", access))
        buffer = io.StringIO()
        handler, = root.handlers
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        return buffer

    yield configure
    root.handlers[:], root.level = saved[0], saved[1]
    for name, (handlers, level, propagate) in saved[2].items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def _json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_every_answer_carries_its_request_id(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.post("/graphql", json={"query": "{ zones { code } }"}).headers["x-request-id"]
    assert len(first) == 16 and len(second) == 16 and first != second
    # A proxy's id follows the request through; one that could forge a log line does not.
    assert client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.1"}).headers[
        "x-request-id"] == "lb-7f3a.1"
    forged = client.get("/healthz", headers={"X-Request-Id": "x\" level=ERROR"})
    assert forged.headers["x-request-id"] != "x\" level=ERROR"
    assert client.get("/no-such-page").headers["x-request-id"]  # refused requests too


def test_masked_errors_name_the_request_of_the_log_line(settings: Settings, logs: Any) -> None:
    buffer = logs(json_lines=True)
    # A statement timeout of 1 ms: the county-wide layer is cancelled (code TIMEOUT).
    with TestClient(create_app(replace(settings, statement_timeout_ms=1))) as client:
        answer = client.post("/graphql", json={"query": "{ layer(name: COMPOUNDS) }"},
                             headers={"X-Request-Id": "probe-42"})
        socket_ids = _websocket_error_ids(client, operations=2)
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "TIMEOUT"
    assert error["extensions"]["requestId"] == answer.headers["x-request-id"] == "probe-42"
    lines = _json_lines(buffer)
    warning = [ln for ln in lines if ln["logger"] == "redgrid.errors"]
    assert warning and warning[0]["request_id"] == "probe-42"
    assert warning[0]["level"] == "WARNING" and "statement timeout" in warning[0]["message"]
    access = [ln for ln in lines if ln["logger"] == "redgrid.access"]
    assert [ln["request_id"] for ln in access] == ["probe-42"]  # websockets are no requests
    assert access[0]["message"].startswith("POST /graphql 200 ")
    # Each operation on a websocket has an id of its own, under the connection's.
    assert socket_ids == ["ws-9.1", "ws-9.2"]
    assert [ln["request_id"] for ln in warning[1:]] == socket_ids


def _websocket_error_ids(client: TestClient, operations: int) -> list[str]:
    ids = []
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                                  headers={"X-Request-Id": "ws-9"}) as socket:
        socket.send_json({"type": "connection_init", "payload": {}})
        assert _receive(socket)["type"] == "connection_ack"
        for n in range(operations):
            socket.send_json({"id": str(n), "type": "subscribe",
                              "payload": {"query": "{ layer(name: COMPOUNDS) }"}})
            message = _receive(socket)
            assert message["type"] == "next", message
            assert _receive(socket) == {"id": str(n), "type": "complete"}
            error = message["payload"]["errors"][0]
            assert error["message"] == "The query took too long.", error  # masked, coded
            ids.append(error["extensions"]["requestId"])
    return ids


def _receive(socket: Any) -> dict[str, Any]:
    message = socket.receive()
    answer: dict[str, Any] = orjson.loads(message.get("text") or message["bytes"])
    return answer


def test_production_writes_json_lines_with_background_workers_seen(logs: Any) -> None:
    buffer = logs(json_lines=True, access=False)
    logging.getLogger("redgrid.jobs").info("jobs: escalated %d", 3)
    logging.getLogger("redgrid.webhooks").info("delivered %d", 2, extra={"unit": "U01"})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("redgrid.errors").exception("unexpected")
    jobs, hooks, error = _json_lines(buffer)
    assert (jobs["logger"], jobs["level"], jobs["message"], jobs["request_id"]) == (
        "redgrid.jobs", "INFO", "jobs: escalated 3", "-")
    assert hooks["unit"] == "U01" and hooks["time"].endswith("+00:00")
    assert "ValueError: boom" in error["exception"]


def test_development_writes_readable_text(logs: Any) -> None:
    buffer = logs(json_lines=False)
    logging.getLogger("redgrid.jobs").info("jobs: closed %d", 4)
    line = buffer.getvalue().strip()
    assert line.endswith("INFO    redgrid.jobs [-] jobs: closed 4"), line
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
