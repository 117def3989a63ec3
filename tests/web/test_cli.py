"""The `redgrid` command line agrees with the server: tokens checked as `/auth/dev-token`
checks them, defaults shown, commands in a newcomer's order, a quiet restart."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import MISSING, fields
from typing import Any

import pytest
from sqlalchemy import make_url
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import http_error
from web.app import create_app
from web.auth import actor_from_header
from web.cli import NEWCOMER_ORDER, app
from web.settings import Settings

CELLS = ("371329001017001", "371329001017002", "371329001018001")


@pytest.fixture(scope="module")
def env(settings: Settings) -> dict[str, str]:
    """The CLI pointed at the test database of the embedded cluster."""
    return {"REDGRID_ENV": "development",
            "REDGRID_DATABASE": str(make_url(settings.database_url).database)}


@pytest.fixture(scope="module")
def local(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        yield client


def cli(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


@pytest.mark.parametrize(("role", "scopes", "sub"), [
    ("MAYOR", [], None),
    ("PUBLIC", [], None),
    ("SYSTEM", [], None),
    ("GRID_WORKER", [], None),
    ("COMMUNITY_STAFF", ["371329999999"], None),
    ("GRID_WORKER", ["U-FIRE_RESCUE"], None),
    ("COUNTY_OFFICE", [f"3713290010{i:02d}" for i in range(21)], None),
    ("COUNTY_OFFICE", [], "a b"),
], ids=["unknown-role", "public", "system", "scope-required", "unknown-code", "like-wildcard",
        "too-many", "bad-subject"])
def test_token_refuses_what_dev_token_refuses(local: TestClient, env: dict[str, str], role: str,
                                              scopes: list[str], sub: str | None) -> None:
    answer = local.post("/auth/dev-token", json={"role": role, "scopes": scopes, "sub": sub})
    assert answer.status_code == 400
    args = ["token", "--role", role] + (["--scope", *scopes] if scopes else [])
    out = cli(env, *args, *(["--sub", sub] if sub else []))
    assert out.exit_code == 1 and out.stdout == ""
    refused = http_error(answer.json())
    assert f"{refused['code']} ({refused['field']})" in " ".join(out.stderr.split())


@pytest.mark.parametrize("args", [
    ["--scope", *CELLS],
    ["--scope", ",".join(CELLS)],
    ["--scope", CELLS[0], "--scope", f"{CELLS[1]} {CELLS[2]}"],
], ids=["after-one-scope", "commas", "repeated"])
def test_token_takes_several_scopes(env: dict[str, str], settings: Settings,
                                    args: list[str]) -> None:
    out = cli(env, "token", "--role", "grid_worker", *args)
    assert out.exit_code == 0, out.stderr
    actor = actor_from_header(f"Bearer {out.stdout.strip()}", settings.jwt_secret)
    assert (actor.role.value, actor.scopes, actor.subject) == (
        "GRID_WORKER", tuple(sorted(CELLS)), "dev-grid_worker")


def test_serve_help_shows_the_defaults(env: dict[str, str]) -> None:
    out = " ".join(cli(env, "serve", "--help").stdout.split())
    defaults = {f.name: f.default if f.default_factory is MISSING else f.default_factory()
                for f in fields(Settings)}
    assert defaults["workers"] == len(os.sched_getaffinity(0))  # one per core
    for option, name in (("--host", "host"), ("--port", "port"), ("--workers", "workers")):
        assert option in out and f"[default: ({defaults[name]})]" in out


def test_commands_are_listed_in_a_newcomers_order(env: dict[str, str]) -> None:
    lines = cli(env, "--help").stdout.splitlines()
    listed = [line.split()[1] for line in lines
              if line.startswith("│ ") and len(line.split()) > 1
              and line.split()[1] in NEWCOMER_ORDER]
    assert listed == ["db", "migrate", "seed", "serve", "token", "export-schema",
                      "escalate-overdue"]


def test_a_restart_seeds_nothing_and_draws_no_progress_bar(env: dict[str, str]) -> None:
    out = cli(env, "seed", "--demo", "--if-empty")
    assert out.exit_code == 0
    assert out.stderr.strip() == "demo data already loaded"
