"""Database URLs read as SQLAlchemy reads them, without SQLAlchemy, and handed to libpq."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import make_url

from db.urls import check_url, database_name, parameters, psycopg_conninfo, server_url
from web.settings import ConfigError, Settings

URLS = [
    "postgresql+psycopg://redgrid@/redgrid?host=/work/main/.data/pg&port=5432",
    "postgresql:///redgrid?host=/run/postgresql",  # the local socket, no authority
    "postgresql+psycopg://us%40r:p%20w%3A%2F@db.example:6543/red%20grid",
    "postgresql://reader:secret@10.0.0.5/redgrid",
    "postgres://u@[::1]:5432/d",
    "postgresql://u@h",  # no database: libpq takes the user's name
    "postgresql+psycopg://u@/d?host=/tmp/a%20b",
    # Passwords as people write them, unencoded; SQLAlchemy took them.
    "postgresql://u:p/w@h/d",
    "postgresql://u:s3cr%t pw@h:5433/d",
    "postgresql://u:p?x#y@h/d",
]


@pytest.mark.parametrize("url", URLS)
def test_the_parameters_are_those_sqlalchemy_read(url: str) -> None:
    u = make_url(url)
    expected = {"host": u.query.get("host") or u.host, "port": u.query.get("port") or u.port,
                "user": u.username, "password": u.password, "dbname": u.database}
    assert parameters(url) == {k: str(v) for k, v in expected.items() if v}
    assert database_name(url) == (u.database or "")
    # The conninfo string says the same to libpq, quoted where a value needs it.
    assert conninfo_to_dict(psycopg_conninfo(url)) == parameters(url)


def test_the_query_goes_to_libpq_as_sqlalchemy_gives_it_to_the_driver() -> None:
    url = "postgresql+psycopg://u@db.example/redgrid?sslmode=require&connect_timeout=3"
    assert parameters(url) == {"user": "u", "host": "db.example", "dbname": "redgrid",
                               "sslmode": "require", "connect_timeout": "3"}
    assert dict(make_url(url).query) == {"sslmode": "require", "connect_timeout": "3"}
    # Several hosts (a primary and its standbys), repeated or listed, as libpq takes them.
    listed = parameters("postgresql://u@/d?host=h1&host=h2&port=5432,5433")
    assert (listed["host"], listed["port"]) == ("h1,h2", "5432,5433")


@pytest.mark.parametrize("url", [*URLS, "postgresql://u@h/d?dbname=d&sslmode=require"])
def test_another_database_of_the_same_server(url: str) -> None:
    other = server_url(url, "redgrid test")
    assert database_name(other) == "redgrid test"
    same = {k: v for k, v in parameters(url).items() if k != "dbname"}
    assert {k: v for k, v in parameters(other).items() if k != "dbname"} == same
    assert other.split("://")[0] == url.split("://")[0]  # the driver is kept
    assert database_name(server_url(url)) == "postgres"
    assert make_url(other).database == "redgrid test"  # and migrations read it alike


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://app:hunter2@db/redgrid", "not a PostgreSQL URL: its scheme is 'mysql'"),
    ("sqlite:///x", "not a PostgreSQL URL"),
    ("redgrid", "cannot be read as a database URL"),
    ("postgresql://app:hunter2@h1:5432,h2:5433/d", "the port is not a number"),
])
def test_a_url_that_cannot_be_used_is_refused_without_its_password(url: str,
                                                                   message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        check_url(url)
    assert "hunter2" not in str(refused.value)


def test_settings_refuse_it_naming_the_variable(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="^DATABASE_URL: not a PostgreSQL URL") as refused:
        Settings.from_env({"DATABASE_URL": "postgis://app:hunter2@db/redgrid",
                           "REDGRID_DATA_DIR": str(tmp_path)})
    assert "hunter2" not in str(refused.value)


def test_a_parameter_libpq_does_not_know_is_named_without_the_password() -> None:
    with pytest.raises(psycopg.ProgrammingError, match="colour") as refused:
        psycopg_conninfo("postgresql://u:hunter2@h/d?colour=red")
    assert "hunter2" not in str(refused.value)


def test_the_test_database_is_reached_through_them(base_settings: Settings) -> None:
    with psycopg.connect(psycopg_conninfo(server_url(base_settings.database_url))) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)
