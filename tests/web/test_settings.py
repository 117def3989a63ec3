"""Safe by default: a server not told it is a development box runs as production."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from web.app import create_app
from web.settings import ConfigError, Settings

SECRET = "a-production-secret-of-at-least-32-bytes"
INTROSPECTION = {"query": "{ __schema { types { name } } }"}


def test_unset_means_production(tmp_path: Path) -> None:
    s = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path)})
    assert s.production
    assert (s.webhook_allow_private, s.rate_limits["graphql"].per_s) == (False, 50)
    assert not (tmp_path / "jwt-secret").exists()  # no made-up secret in production
    with pytest.raises(ConfigError, match="REDGRID_ENV=development"):
        create_app(s)  # nothing to verify tokens with: refuses to start


def test_only_development_turns_development_on(tmp_path: Path) -> None:
    s = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), "REDGRID_ENV": "development"})
    assert not s.production and s.webhook_allow_private and s.rate_limits["graphql"].per_s == 0
    assert s.jwt_secret == (tmp_path / "jwt-secret").read_text().strip()


@pytest.mark.parametrize("value", ["staging", "prod", "Production", "dev", "DEVELOPMENT"])
def test_other_environments_refuse_to_start(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="REDGRID_ENV must be `development`.*`production`"):
        Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), "REDGRID_ENV": value})


@pytest.mark.parametrize(("env", "message"), [
    ({"REDGRID_JWT_SECRET": SECRET}, "REDGRID_ALLOW_HS256=1"),
    ({"REDGRID_JWT_SECRET": "s" * 31, "REDGRID_ALLOW_HS256": "1"}, "at least 32 bytes"),
    ({"REDGRID_JWKS_URL": "https://idp.example/certs"}, "REDGRID_JWT_ISSUER"),
], ids=["hs256-not-allowed", "short-secret", "jwks-without-issuer"])
def test_production_refuses_unsafe_token_settings(tmp_path: Path, env: dict[str, str],
                                                  message: str) -> None:
    s = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), **env})
    with pytest.raises(ConfigError, match=message):
        s.check_identity()


def test_production_accepts_what_it_was_told_to(tmp_path: Path) -> None:
    for env in ({"REDGRID_JWT_SECRET": "s" * 32, "REDGRID_ALLOW_HS256": "1"},
                {"REDGRID_JWKS_URL": "https://idp.example/certs",
                 "REDGRID_JWT_ISSUER": "https://idp.example"}):
        Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), **env}).check_identity()


def test_an_unconfigured_server_mints_no_tokens_and_hides_the_schema(
        settings: Settings, tmp_path: Path) -> None:
    # given: the settings of a server whose REDGRID_ENV nobody set
    unset = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), "REDGRID_JWT_SECRET": SECRET,
                               "REDGRID_ALLOW_HS256": "1"})
    with TestClient(create_app(replace(unset, database_url=settings.database_url))) as client:
        # then: no development tokens, no introspection, no GraphiQL
        assert client.post("/auth/dev-token", json={"role": "COUNTY_OFFICE"}).status_code == 404
        body = client.post("/graphql", json=INTROSPECTION).json()
        assert body["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert "text/html" not in page.headers.get("content-type", "")


def test_redgrid_serve_without_redgrid_env_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDGRID_")}
    env["REDGRID_DATA_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "REDGRID_ENV=development" in done.stderr
    assert "Traceback" not in done.stderr


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    env = {"REDGRID_DATA_DIR": str(tmp_path), "REDGRID_ENV": "development"}
    s = Settings.from_env({**env, "REDGRID_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1 ::1"})
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    assert Settings.from_env(env).trusted_proxies == ()
    with pytest.raises(ConfigError, match="REDGRID_TRUSTED_PROXIES.*'proxy.local'"):
        Settings.from_env({**env, "REDGRID_TRUSTED_PROXIES": "proxy.local"})


def test_each_default_is_written_once(tmp_path: Path) -> None:
    from dataclasses import MISSING, fields

    from web.settings import DEVELOPMENT_DEFAULTS, VARIABLES

    defaults = {f.name: f.default if f.default_factory is MISSING else f.default_factory()
                for f in fields(Settings) if f.name in VARIABLES}
    production = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path)})
    assert {name: getattr(production, name) for name in defaults} == defaults
    assert production.job_interval_s == 300 and production.log_format == "json"
    development = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path),
                                     "REDGRID_ENV": "development"})
    differ = {name for name in defaults if getattr(development, name) != defaults[name]}
    assert differ == set(DEVELOPMENT_DEFAULTS) | {"jwt_secret"}
    assert (development.log_format, development.access_log) == ("text", True)


CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGES = ("bench", "db", "geo", "resolvers", "schema", "web")
# Code that takes a setting's value under a name of its own: it has no default of its own, so
# the one written in `Settings` is the only one.
CONSUMERS = {
    ("db/database.py", "Database.__init__", "max_size"): "pool_size",
    ("resolvers/photos.py", "MediaAccess", "ttl_s"): "media_url_ttl_s",
    ("schema/limits.py", "Limits", "max_depth"): "max_query_depth",
    ("schema/limits.py", "Limits", "max_aliases"): "max_query_aliases",
    ("schema/limits.py", "Limits", "max_tokens"): "max_query_tokens",
    ("schema/limits.py", "Limits", "max_cost"): "max_query_cost",
}


def _parameters(tree: ast.Module) -> Iterator[tuple[str, str, ast.expr | None]]:
    """(owner, name, default or None) of every function parameter and class-level field."""
    def walk(node: ast.AST, owner: str) -> Iterator[tuple[str, str, ast.expr | None]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = f"{owner}.{child.name}".lstrip(".")
                for item in child.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        yield name, item.target.id, item.value
                yield from walk(child, name)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{owner}.{child.name}".lstrip(".")
                args = child.args
                positional = args.posonlyargs + args.args
                defaults: list[ast.expr | None] = \
                    [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
                for arg, default in zip(positional, defaults, strict=True):
                    yield name, arg.arg, default
                for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                    yield name, arg.arg, kw_default
                yield from walk(child, name)
    yield from walk(tree, "")


def test_no_module_writes_a_settings_default_again() -> None:
    """A setting's default lives in `Settings` only: no other parameter or field of the same
    name has it as its literal default (0, "" or None saying "off" or "not given" aside), and
    the code taking it under another name has no default at all."""
    settings = {f.name: f.default for f in fields(Settings)}
    again, consumers = [], {}
    for package in PACKAGES:
        for path in sorted((CHECKOUT / package).rglob("*.py")):
            relative = path.relative_to(CHECKOUT).as_posix()
            for owner, name, default in _parameters(ast.parse(path.read_text("utf-8"))):
                if (relative, owner, name) in CONSUMERS:
                    consumers[relative, owner, name] = default
                elif (name in settings and relative != "web/settings.py"
                        and isinstance(default, ast.Constant) and default.value
                        and default.value == settings[name]):
                    again.append(f"{relative}: {owner}({name}={default.value!r})")
    assert again == []
    assert set(consumers) == set(CONSUMERS)  # each still takes the setting
    assert {key: ast.unparse(d) for key, d in consumers.items() if d is not None} == {}


@pytest.mark.parametrize(("env", "message"), [
    ({"REDGRID_PORT": "eighty"}, "REDGRID_PORT: invalid literal"),
    ({"REDGRID_LOG_FORMAT": "xml"}, "REDGRID_LOG_FORMAT must be one of json, text"),
    ({"REDGRID_ACCESS_LOG": "maybe"}, "REDGRID_ACCESS_LOG: expected 1 or 0"),
    ({"DATABASE_URL": "mysql://u@h/redgrid"}, "DATABASE_URL: not a PostgreSQL URL"),
    ({"REDGRID_REPLICA_URL": "sqlite:///x"}, "REDGRID_REPLICA_URL: not a PostgreSQL URL"),
])
def test_unreadable_settings_name_their_variable(tmp_path: Path, env: dict[str, str],
                                                 message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), **env})


S3_ENV = {"REDGRID_MEDIA_STORE": "s3", "REDGRID_MEDIA_S3_BUCKET": "county-photos",
          "REDGRID_MEDIA_S3_REGION": "cn-east-1",
          "REDGRID_MEDIA_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
          "REDGRID_MEDIA_S3_SECRET_ACCESS_KEY": "a-secret-that-must-not-show"}


@pytest.mark.parametrize(("env", "message"), [
    ({"REDGRID_MEDIA_STORE": "ftp"}, "REDGRID_MEDIA_STORE must be one of folder, s3, got 'ftp'"),
    ({"REDGRID_MEDIA_STORE": "s3"}, "REDGRID_MEDIA_STORE=s3 needs REDGRID_MEDIA_S3_BUCKET, "
     "REDGRID_MEDIA_S3_REGION, REDGRID_MEDIA_S3_ACCESS_KEY_ID, "
     "REDGRID_MEDIA_S3_SECRET_ACCESS_KEY"),
    ({**S3_ENV, "REDGRID_MEDIA_S3_SECRET_ACCESS_KEY": ""},
     "needs REDGRID_MEDIA_S3_SECRET_ACCESS_KEY$"),
    ({**S3_ENV, "REDGRID_MEDIA_S3_ADDRESSING": "dns"},
     "REDGRID_MEDIA_S3_ADDRESSING must be one of virtual, path"),
    ({**S3_ENV, "REDGRID_MEDIA_S3_ENDPOINT": "minio.local:9000"},
     "REDGRID_MEDIA_S3_ENDPOINT must be an http"),
])
def test_media_store_settings_refuse_to_start(tmp_path: Path, env: dict[str, str],
                                              message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), **env})


def test_the_media_store_is_a_folder_unless_told(tmp_path: Path) -> None:
    assert Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path)}).media_store == "folder"
    s3 = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), **S3_ENV,
                            "REDGRID_MEDIA_S3_ENDPOINT": "https://oss-cn-hangzhou.aliyuncs.com"})
    assert (s3.media_store, s3.media_s3_addressing) == ("s3", "virtual")
    assert "a-secret-that-must-not-show" not in repr(s3) and "AKIAEXAMPLE" not in repr(s3)


def test_redgrid_serve_names_the_missing_s3_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDGRID_")}
    env.update(REDGRID_DATA_DIR=str(tmp_path), REDGRID_ENV="development",
               REDGRID_MEDIA_STORE="s3", REDGRID_MEDIA_S3_BUCKET="county-photos")
    done = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "REDGRID_MEDIA_S3_REGION" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
