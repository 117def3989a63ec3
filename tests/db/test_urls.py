"""Database URLs read by libpq: what SQLAlchemy read from them, and what it dropped."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import make_url

from db.urls import database_name, libpq_uri, parameters, psycopg_conninfo, server_url
from web.settings import Settings

URLS = [
    "postgresql+psycopg://redgrid@/redgrid?host=/work/main/.data/pg&port=5432",
    "postgresql+psycopg://us%40r:p%20w%3A%2F@db.example:6543/red%20grid",
    "postgresql://reader:secret@10.0.0.5/redgrid",
    "postgres://u@h/d",
    "postgresql+psycopg://u@/d?host=/tmp/a%20b",
]


@pytest.mark.parametrize("url", URLS)
def test_the_parameters_are_those_sqlalchemy_read(url: str) -> None:
    u = make_url(url)
    expected = {"host": u.query.get("host") or u.host, "port": u.query.get("port") or u.port,
                "user": u.username, "password": u.password, "dbname": u.database}
    given = parameters(url)
    assert {k: str(v) for k, v in expected.items() if v} == \
        {k: str(given[k]) for k in expected if given.get(k)}
    assert database_name(url) == u.database
    # The conninfo string says the same to libpq, quoted where a value has a space.
    assert conninfo_to_dict(psycopg_conninfo(url)) == given


def test_libpq_parameters_sqlalchemy_dropped_are_kept() -> None:
    url = "postgresql+psycopg://u@db.example/redgrid?sslmode=require&connect_timeout=3"
    assert parameters(url) == {"user": "u", "host": "db.example", "dbname": "redgrid",
                               "sslmode": "require", "connect_timeout": "3"}
    # Several hosts (a primary and its standbys), which SQLAlchemy's URL cannot parse.
    assert parameters("postgresql://u@h1:5432,h2:5433/d")["host"] == "h1,h2"


@pytest.mark.parametrize("url", URLS)
def test_another_database_of_the_same_server(url: str) -> None:
    other = server_url(url, "redgrid test")
    assert database_name(other) == "redgrid test"
    assert {k: v for k, v in parameters(other).items() if k != "dbname"} == \
        {k: v for k, v in parameters(url).items() if k != "dbname"}
    assert server_url(url).split("://")[0] == url.split("://")[0]  # the driver is kept
    assert database_name(server_url(url)) == "postgres"


@pytest.mark.parametrize("url", ["mysql://u@h/d", "redgrid", "postgresql+psycopg:/d"])
def test_a_url_of_another_kind_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        libpq_uri(url)


def test_a_parameter_libpq_does_not_know_is_named() -> None:
    with pytest.raises(psycopg.ProgrammingError, match="colour"):
        parameters("postgresql://u@h/d?colour=red")


def test_the_test_database_is_reached_through_them(base_settings: Settings) -> None:
    with psycopg.connect(psycopg_conninfo(server_url(base_settings.database_url))) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)
