"""Fuzzing /graphql with schemathesis in GraphQL mode: queries and mutations generated from
schema.graphql, as the public and as the county office, against a database of their own.
No answer may be a 5xx or an INTERNAL_SERVER_ERROR, and every error carries a stable code.

Derandomised with a fixed number of examples per operation, so a run is repeatable. The
webhook handshake's outbound POST is stubbed at the network edge (its resolver and HTTP
transport); no other route of the app calls out while no worker runs."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from starlette.routing import Route
from starlette.testclient import TestClient

from db import migrate
from db.seed import seed_demo
from db.urls import psycopg_conninfo
from resolvers.actor import Role
from tests.conftest import create_database, drop_database
from web.app import create_app
from web.auth import mint
from web.settings import Settings
from web.webhooks import verify_url

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
FUZZ_DB = f"redgrid_test_fuzz_{os.getpid()}"
# Generated operations in all, half as each caller: 2,000 in the suite (about 20 ms to
# generate and 20-30 ms to answer each on a busy 2-core machine); REDGRID_FUZZ_OPERATIONS=10000
# for the full run.
TOTAL_OPERATIONS = int(os.environ.get("REDGRID_FUZZ_OPERATIONS", 2_000))
# Where `make fuzz` has the run recorded (operations, error codes and failures per caller).
REPORT = os.environ.get("REDGRID_FUZZ_REPORT")

# Custom input scalars: well-formed values, edge values and text that is neither.
_junk = st.text(max_size=12)
schemathesis.graphql.scalar("Date", st.one_of(
    st.dates(min_value=date(1, 1, 1)).map(date.isoformat),
    st.sampled_from(["9999-12-31", "0001-01-01", "2024-02-30", "2024-13-01"]), _junk,
).map(nodes.String))
schemathesis.graphql.scalar("DateTime", st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.sampled_from(["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00", "2024-06-01"]), _junk,
).map(nodes.String))
schemathesis.graphql.scalar("Decimal", st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.sampled_from(["NaN", "Infinity", "-0", "1e400", "1e-400", "99999999999999999999.99"]),
    _junk,
).map(nodes.String))
schemathesis.graphql.scalar("GeoJSON", _junk.map(nodes.String))


@dataclass
class Findings:
    sent: int = 0
    http_5xx: int = 0
    internal: int = 0  # errors coded INTERNAL_SERVER_ERROR (or with no code)
    codes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, label: str, query: str, response: httpx.Response) -> None:
        """One answer: never a 5xx, always JSON, every error with a code other than
        INTERNAL_SERVER_ERROR."""
        self.sent += 1
        if response.status_code >= 500:
            self.http_5xx += 1
            self.failures.append(f"{label}: HTTP {response.status_code} {response.text[:200]}"
                                 f"\n{query}")
            return
        try:
            body = response.json()
        except ValueError:
            self.failures.append(f"{label}: not JSON ({response.status_code})\n{query}")
            return
        for error in body.get("errors") or ():
            code = str((error.get("extensions") or {}).get("code"))
            self.codes[code] = self.codes.get(code, 0) + 1
            if code in ("INTERNAL_SERVER_ERROR", "None"):
                self.internal += 1
                self.failures.append(f"{label}: {code} {error.get('message')!r}\n{query}")


async def _public_address(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]  # a documentation-free global address; never connected to


def _refusing_receiver(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404)


@pytest.fixture(scope="module")
def fuzz_app(base_settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    """The app on a fresh demo database of its own (mutations write there), with the webhook
    handshake answered by a stub receiver instead of the network."""
    s = replace(create_database(base_settings, FUZZ_DB), job_interval_s=0.0,
                webhook_interval_s=0.0)
    try:
        migrate.upgrade(s.database_url)
        seed_demo(psycopg_conninfo(s.database_url))
        app = create_app(s)
        with TestClient(app) as client:
            view = next(r.endpoint for r in app.routes
                        if isinstance(r, Route) and r.path == "/graphql")
            stub = httpx.AsyncClient(transport=httpx.MockTransport(_refusing_receiver))
            view.webhook_verifier = functools.partial(verify_url, resolve=_public_address,
                                                      client=stub)
            yield client, s
    finally:
        drop_database(base_settings, FUZZ_DB)


def _fuzz(client: TestClient, strategy: Any, examples: int, label: str,
          headers: dict[str, str], findings: Findings) -> None:
    @hypothesis_settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                         phases=(Phase.generate,), suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def send(case: Any) -> None:
        response = client.post("/graphql", json={"query": case.body}, headers=headers)
        findings.check(f"{case.operation.label} as {label}", case.body, response)

    send()


def test_generated_operations_never_answer_500_or_an_internal_error(
        fuzz_app: tuple[TestClient, Settings]) -> None:
    client, settings = fuzz_app
    # One strategy over every query and mutation (one Hypothesis run per caller: setting a
    # run up costs more than generating a case).
    strategy = schemathesis.graphql.from_path(SCHEMA).as_strategy()
    county = mint(settings.jwt_secret, subject="fuzz-county", role=Role.COUNTY_OFFICE, scopes=[])
    callers = {"the public": {}, "the county office": {"Authorization": f"Bearer {county}"}}
    by_caller = {caller: Findings() for caller in callers}
    started = time.monotonic()
    for caller, headers in callers.items():
        _fuzz(client, strategy, TOTAL_OPERATIONS // len(callers), caller, headers,
              by_caller[caller])
    if REPORT:
        _record(Path(REPORT), by_caller, time.monotonic() - started)
    sent = sum(f.sent for f in by_caller.values())
    failures = [failure for f in by_caller.values() for failure in f.failures]
    codes = {code for f in by_caller.values() for code in f.codes}
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n\n".join(failures[:10])
    assert sent == TOTAL_OPERATIONS, sent
    # The fuzzing reached past the gates: domain errors were met, not only refusals.
    assert {"FORBIDDEN", "BAD_USER_INPUT"} <= codes, codes


def _record(path: Path, by_caller: dict[str, Findings], seconds: float) -> None:
    """Writes what the run sent and met, per caller, for the recorded result."""
    path.write_text(json.dumps({
        "operations": sum(f.sent for f in by_caller.values()),
        "seconds": round(seconds, 1),
        "callers": {caller: {"operations": f.sent, "http_5xx": f.http_5xx,
                             "internal_server_errors": f.internal,
                             "failures": len(f.failures),
                             "failure_examples": f.failures[:5],
                             "error_codes": dict(sorted(f.codes.items()))}
                    for caller, f in by_caller.items()},
    }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
