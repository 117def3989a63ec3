"""Settings read once from the environment and passed down as plain values.

Safe by default: with `REDGRID_ENV` unset RedGrid runs as production (no development tokens,
limits on, no introspection or GraphiQL, no webhooks to private addresses); only
`REDGRID_ENV=development` turns development on, and any other value refuses to start.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db.embedded import DEFAULT_DATABASE, EmbeddedCluster, ReplicaCluster
from db.media import ADDRESSING_STYLES
from db.urls import check_url, server_url
from web.clients import Network, parse_networks

if TYPE_CHECKING:
    from web.vapid import PushSender

CHECKOUT = Path(__file__).resolve().parent.parent
BASEMAP_DATUMS = ("WGS84", "GCJ02", "BD09")
OIDC_NAMES = ("AUTHORIZE_URL", "TOKEN_URL", "CLIENT_ID")
ENVIRONMENTS = ("development", "production")
# An HS256 secret shorter than this is guessable offline from any token it signed (RFC 7518 3.2).
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class RateBudget:
    """Requests per second per caller on a group of routes, and the burst above that rate;
    0 per second turns the budget off."""

    per_s: float
    burst: int


# The rate-limit budgets (web/guard.py says which routes draw on which), each with its
# production value and the variables that set it: <stem>_LIMIT per second, <stem>_BURST.
# A map opens dozens of tiles at once, hence the tiles' large burst; an export may run a site
# solve of up to 10 s, hence the exports' small one. In development a budget
# is off unless its <stem>_LIMIT is set.
RATE_BUDGETS: dict[str, tuple[str, RateBudget]] = {
    "graphql": ("REDGRID_RATE", RateBudget(50, 100)),
    "tiles": ("REDGRID_TILES_RATE", RateBudget(300, 1000)),
    "ogc": ("REDGRID_OGC_RATE", RateBudget(20, 60)),
    "heatmap": ("REDGRID_HEATMAP_RATE", RateBudget(50, 200)),
    "open311": ("REDGRID_OPEN311_RATE", RateBudget(10, 30)),
    "media": ("REDGRID_MEDIA_RATE", RateBudget(50, 200)),
    "exports": ("REDGRID_EXPORTS_RATE", RateBudget(0.1, 5)),
}


def _production_budgets() -> dict[str, RateBudget]:
    return {name: budget for name, (_, budget) in RATE_BUDGETS.items()}


def _budgets(environ: Mapping[str, str], production: bool) -> dict[str, RateBudget]:
    out = {}
    for name, (stem, budget) in RATE_BUDGETS.items():
        per_s = float(environ.get(f"{stem}_LIMIT", budget.per_s if production else 0))
        out[name] = RateBudget(per_s, int(environ.get(f"{stem}_BURST", budget.burst)))
    return out


class ConfigError(RuntimeError):
    """The environment does not describe a RedGrid that can start, with what to set."""


def _text(value: str) -> str:
    return value.strip()


def _lower(value: str) -> str:
    return value.strip().lower()


def _flag(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1 or 0, got {value!r}")


# The settings read from one variable each, by field: the variable and how its text is read.
# A variable unset (or empty) leaves the field's default: the production value, written once
# in `Settings`, or the development value in DEVELOPMENT_DEFAULTS.
VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "host": ("REDGRID_HOST", _text),
    "port": ("REDGRID_PORT", int),
    "pool_size": ("REDGRID_POOL_SIZE", int),
    "workers": ("REDGRID_WORKERS", int),
    "replica_url": ("REDGRID_REPLICA_URL", lambda v: _sqlalchemy_url(v.strip())),
    "replica_max_lag_s": ("REDGRID_REPLICA_MAX_LAG", float),
    "shutdown_timeout_s": ("REDGRID_SHUTDOWN_TIMEOUT", int),
    "jwt_secret": ("REDGRID_JWT_SECRET", str),
    "allow_hs256": ("REDGRID_ALLOW_HS256", _flag),
    "jwks_url": ("REDGRID_JWKS_URL", _text),
    "jwt_issuer": ("REDGRID_JWT_ISSUER", _text),
    "jwt_audience": ("REDGRID_JWT_AUDIENCE", _text),
    "job_interval_s": ("REDGRID_JOB_INTERVAL", float),
    "webhook_interval_s": ("REDGRID_WEBHOOK_INTERVAL", float),
    "webhook_allow_private": ("REDGRID_WEBHOOK_ALLOW_PRIVATE", _flag),
    "max_query_depth": ("REDGRID_MAX_QUERY_DEPTH", int),
    "max_query_aliases": ("REDGRID_MAX_QUERY_ALIASES", int),
    "max_query_tokens": ("REDGRID_MAX_QUERY_TOKENS", int),
    "max_query_cost": ("REDGRID_MAX_QUERY_COST", int),
    "max_body_bytes": ("REDGRID_MAX_BODY_BYTES", int),
    "statement_timeout_ms": ("REDGRID_STATEMENT_TIMEOUT_MS", int),
    "heatmap_concurrency": ("REDGRID_HEATMAP_CONCURRENCY", int),
    "heatmap_queue_s": ("REDGRID_HEATMAP_QUEUE_S", float),
    "basemap_url": ("REDGRID_BASEMAP_URL", _text),
    "basemap_crs": ("REDGRID_BASEMAP_CRS", lambda v: v.strip().upper()),
    "basemap_attribution": ("REDGRID_BASEMAP_ATTRIBUTION", _text),
    "oidc_authorize_url": ("REDGRID_OIDC_AUTHORIZE_URL", _text),
    "oidc_token_url": ("REDGRID_OIDC_TOKEN_URL", _text),
    "oidc_client_id": ("REDGRID_OIDC_CLIENT_ID", _text),
    "oidc_scope": ("REDGRID_OIDC_SCOPE", _text),
    "metrics_networks": ("REDGRID_METRICS_NETWORKS", parse_networks),
    "log_format": ("REDGRID_LOG_FORMAT", _lower),
    "log_level": ("REDGRID_LOG_LEVEL", lambda v: v.strip().upper()),
    "access_log": ("REDGRID_ACCESS_LOG", _flag),
    "media_dir": ("REDGRID_MEDIA_DIR", _text),
    "media_secret": ("REDGRID_MEDIA_SECRET", str),
    "media_url_ttl_s": ("REDGRID_MEDIA_URL_TTL", int),
    "vapid_private_key": ("REDGRID_VAPID_PRIVATE_KEY", _text),
    "vapid_subject": ("REDGRID_VAPID_SUBJECT", _text),
    "media_store": ("REDGRID_MEDIA_STORE", _lower),
    "media_s3_bucket": ("REDGRID_MEDIA_S3_BUCKET", _text),
    "media_s3_region": ("REDGRID_MEDIA_S3_REGION", _text),
    "media_s3_endpoint": ("REDGRID_MEDIA_S3_ENDPOINT", _text),
    "media_s3_prefix": ("REDGRID_MEDIA_S3_PREFIX", _text),
    "media_s3_addressing": ("REDGRID_MEDIA_S3_ADDRESSING", _lower),
    "media_s3_access_key_id": ("REDGRID_MEDIA_S3_ACCESS_KEY_ID", _text),
    "media_s3_secret_access_key": ("REDGRID_MEDIA_S3_SECRET_ACCESS_KEY", str),
}
# Where /metrics may be read from unless REDGRID_METRICS_NETWORKS says otherwise.
LOOPBACK = parse_networks("127.0.0.0/8 ::1/128")
# Where a development box differs from production when the variable is unset: one server
# process, webhooks to local receivers, readable logs with one line per request.
DEVELOPMENT_DEFAULTS: dict[str, Any] = {
    "workers": 1,
    "webhook_allow_private": True,
    "log_format": "text",
    "access_log": True,
}
LOG_FORMATS = ("json", "text")
MEDIA_STORES = ("folder", "s3")
# What an S3 media store cannot do without, by field (REDGRID_MEDIA_STORE=s3).
MEDIA_S3_REQUIRED = ("media_s3_bucket", "media_s3_region", "media_s3_access_key_id",
                     "media_s3_secret_access_key")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def development_secret(data_dir: Path) -> str:
    """The embedded default's signing secret, made once and kept in the data folder."""
    path = data_dir / "jwt-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _sqlalchemy_url(url: str) -> str:
    """A postgresql:// URL as SQLAlchemy's psycopg 3 URL (one with a driver as it is); a URL
    of another kind is refused (ValueError)."""
    check_url(url)  # refuses a URL of another kind, or one that cannot be read
    scheme, rest = url.split("://", 1)
    return url if "+" in scheme else "postgresql+psycopg://" + rest


def _read_variables(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (variable, parse) in VARIABLES.items():
        text = environ.get(variable, "")
        if not text.strip():
            continue
        try:
            values[name] = parse(text)
        except ValueError as exc:
            raise ConfigError(f"{variable}: {exc}") from None
    return values


def _check_choice(variable: str, values: dict[str, Any], name: str,
                  choices: tuple[str, ...]) -> None:
    if name in values and values[name] not in choices:
        raise ConfigError(f"{variable} must be one of {', '.join(choices)}, got {values[name]!r}")


@dataclass(frozen=True)
class Settings:
    """How RedGrid runs: which database, where its data lives, how it serves."""

    database_url: str
    embedded: bool
    data_dir: Path
    # A hot standby of the database for map, tile and analytics reads ("" : none), and how
    # far behind it may be before those reads go to the primary instead.
    replica_url: str = ""
    replica_max_lag_s: float = 5.0
    host: str = "127.0.0.1"
    port: int = 8000
    environment: str = "production"
    pool_size: int = 20
    # Processes `redgrid serve` runs, and how long in-flight requests may take to finish on
    # SIGTERM before they are cancelled (the statement timeout is 5 s).
    # Server processes (`redgrid serve`): one per core this process may run on.
    workers: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    shutdown_timeout_s: int = 10
    jwt_secret: str = ""
    # Production accepts an HS256 secret only when told to (REDGRID_ALLOW_HS256=1).
    allow_hs256: bool = False
    # Production: the county identity provider's JWKS URL (RS256/ES256), issuer and audience.
    jwks_url: str = ""
    jwt_issuer: str = "redgrid"
    jwt_audience: str = ""
    # Seconds between runs of the escalation / auto-close / reminder job; 0 turns it off.
    job_interval_s: float = 300.0
    # Seconds between passes of the unit-notification webhook worker; 0 turns it off.
    webhook_interval_s: float = 5.0
    # Whether webhooks may go to loopback, private or link-local addresses (off in production:
    # a unit's URL must not reach the county's internal network).
    webhook_allow_private: bool = False
    # Limits on one GraphQL document (see schema/limits.py).
    max_query_depth: int = 12
    max_query_aliases: int = 30
    max_query_tokens: int = 5_000
    max_query_cost: int = 50_000
    # Requests per second per caller and bursts, by budget (see RATE_BUDGETS).
    rate_limits: dict[str, RateBudget] = field(default_factory=_production_budgets)
    max_body_bytes: int = 1024 * 1024
    # Proxies whose X-Forwarded-For names the client (addresses or CIDRs); none by default.
    trusted_proxies: tuple[Network, ...] = ()
    statement_timeout_ms: int = 5_000
    # Heat maps computed at once per process, and how long a miss waits for a slot before it
    # is answered 503 (web/heatmap.py): distinct misses must not crowd out other requests.
    heatmap_concurrency: int = 2
    heatmap_queue_s: float = 2.0
    # The map page's basemap: an XYZ raster tile URL template and the datum its tiles are in
    # (WGS84, GCJ02 for AMap/Tencent, BD09 for Baidu). Empty: a plain background, offline.
    basemap_url: str = ""
    basemap_crs: str = "WGS84"
    basemap_attribution: str = ""
    # The county identity provider for the map page's sign-in (authorization code + PKCE).
    oidc_authorize_url: str = ""
    oidc_token_url: str = ""
    oidc_client_id: str = ""
    oidc_scope: str = "openid"
    # Logs: `json` lines (for a log collector) or readable `text`; the level of RedGrid's own
    # loggers; one line per HTTP request (`redgrid.access`).
    # Clients that may read /metrics (addresses or CIDRs): loopback unless set.
    metrics_networks: tuple[Network, ...] = LOOPBACK
    log_format: str = "json"
    log_level: str = "INFO"
    access_log: bool = False
    # Ticket photos: the content-addressed folder they are kept in ("": `<data folder>/media`),
    # the secret their URLs are signed with ("": a random one made once in the data folder,
    # `media-secret`; set it, 32+ bytes, when servers on several machines share the store) and
    # how long a signed URL lives.
    media_dir: str = ""
    media_secret: str = ""
    media_url_ttl_s: int = 300
    # Web Push to field workers' phones (`redgrid push keys` makes a pair): the VAPID private
    # key and the contact push services see (`mailto:` or `https:`). Unset: no push.
    vapid_private_key: str = field(default="", repr=False)
    vapid_subject: str = ""
    # Where photos are kept: that `folder`, or `s3`, a bucket of an S3-compatible service
    # (db/media.py S3Store): its name, region, endpoint ("": AWS S3), a key prefix, `virtual`
    # or `path` addressing, and the credentials (never logged, left out of the repr).
    media_store: str = "folder"
    media_s3_bucket: str = ""
    media_s3_region: str = ""
    media_s3_endpoint: str = ""
    media_s3_prefix: str = ""
    media_s3_addressing: str = "virtual"
    media_s3_access_key_id: str = field(default="", repr=False)
    media_s3_secret_access_key: str = field(default="", repr=False)

    @property
    def media_folder(self) -> Path:
        return Path(self.media_dir).resolve() if self.media_dir else self.data_dir / "media"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def check_identity(self) -> None:
        """Raises ConfigError unless tokens can be verified safely: in production, the identity
        provider's JWKS with its issuer, or an explicitly allowed HS256 secret of 32+ bytes."""
        if not self.production:
            if not (self.jwt_secret or self.jwks_url):
                raise ConfigError("no REDGRID_JWT_SECRET or REDGRID_JWKS_URL to verify tokens with")
            return
        if self.jwks_url:
            if not self.jwt_issuer:
                raise ConfigError("REDGRID_JWKS_URL needs REDGRID_JWT_ISSUER, the issuer its "
                                  "tokens carry (`iss`): a token of any other issuer is refused")
            return
        if not self.jwt_secret:
            raise ConfigError("production (REDGRID_ENV unset or `production`) needs "
                              "REDGRID_JWKS_URL and REDGRID_JWT_ISSUER (the county identity "
                              "provider), or REDGRID_JWT_SECRET with REDGRID_ALLOW_HS256=1; set "
                              "REDGRID_ENV=development for a development box")
        if not self.allow_hs256:
            raise ConfigError("production verifies the identity provider's RS256/ES256 tokens "
                              "(REDGRID_JWKS_URL); set REDGRID_ALLOW_HS256=1 to accept tokens "
                              "signed with REDGRID_JWT_SECRET instead")
        if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"REDGRID_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")

    def check_media(self) -> None:
        """Raises ConfigError unless photo URLs can be signed safely."""
        if self.media_secret and len(self.media_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"REDGRID_MEDIA_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if not 10 <= self.media_url_ttl_s <= 86_400:
            raise ConfigError("REDGRID_MEDIA_URL_TTL must be 10–86400 seconds")
        if self.media_store not in MEDIA_STORES:
            raise ConfigError(f"REDGRID_MEDIA_STORE must be one of {', '.join(MEDIA_STORES)}, "
                              f"got {self.media_store!r}")
        if self.media_store != "s3":
            return
        missing = [VARIABLES[name][0] for name in MEDIA_S3_REQUIRED if not getattr(self, name)]
        if missing:
            raise ConfigError(f"REDGRID_MEDIA_STORE=s3 needs {', '.join(missing)}")
        if self.media_s3_addressing not in ADDRESSING_STYLES:
            raise ConfigError(f"REDGRID_MEDIA_S3_ADDRESSING must be one of "
                              f"{', '.join(ADDRESSING_STYLES)}, got {self.media_s3_addressing!r}")
        if self.media_s3_endpoint and not self.media_s3_endpoint.startswith(("https://",
                                                                             "http://")):
            raise ConfigError("REDGRID_MEDIA_S3_ENDPOINT must be an http(s):// URL, got "
                              f"{self.media_s3_endpoint!r}")

    def check_serving(self) -> PushSender | None:
        """The checks a server makes before it serves (ConfigError naming what to fix), and
        its push sender: run by `redgrid serve` before it starts its workers too, so that a
        bad setting ends the command rather than each worker in turn."""
        self.check_identity()
        self.check_media()
        return self.push_sender()

    def push_sender(self) -> PushSender | None:
        """The server's VAPID identity; None when push is off (neither variable set), and
        ConfigError when only one is set or the key cannot be read (never quoting it)."""
        if not (self.vapid_private_key or self.vapid_subject):
            return None
        if not (self.vapid_private_key and self.vapid_subject):
            raise ConfigError("push needs both REDGRID_VAPID_PRIVATE_KEY and "
                              "REDGRID_VAPID_SUBJECT (run `redgrid push keys`)")
        if not self.vapid_subject.startswith(("mailto:", "https://")):
            raise ConfigError("REDGRID_VAPID_SUBJECT must be a mailto: or https: URL, the "
                              "contact a push service may write to")
        # Imported here, only when push is on (cryptography and py-vapid).
        from web.vapid import BadKey, PushSender, read_private_key

        try:
            return PushSender(read_private_key(self.vapid_private_key), self.vapid_subject)
        except BadKey as exc:
            raise ConfigError(str(exc)) from None

    @property
    def cluster(self) -> EmbeddedCluster:
        return EmbeddedCluster(self.data_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        data_dir = Path(environ.get("REDGRID_DATA_DIR", CHECKOUT / ".data")).resolve()
        url = environ.get("DATABASE_URL", "").strip()
        embedded = not url
        database = environ.get("REDGRID_DATABASE", DEFAULT_DATABASE)
        if embedded:
            url = EmbeddedCluster(data_dir).url(database)
        try:
            url = _sqlalchemy_url(url)
        except ValueError as exc:
            raise ConfigError(f"DATABASE_URL: {exc}") from None
        environment = environ.get("REDGRID_ENV", "").strip() or "production"
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"REDGRID_ENV must be `development` (a development box: local "
                              f"tokens, no limits) or `production` (the same as unset); got "
                              f"{environment!r}")
        production = environment == "production"
        values = {**({} if production else DEVELOPMENT_DEFAULTS), **_read_variables(environ)}
        replica = ReplicaCluster.of(EmbeddedCluster(data_dir))
        if embedded and "replica_url" not in values and replica.initialised():
            values["replica_url"] = replica.url(database)  # `redgrid db up --replica`
        secret = values.get("jwt_secret", "")
        jwks_url = values.get("jwks_url", "")
        if not production and not secret and not jwks_url:
            values["jwt_secret"] = development_secret(data_dir)
        if jwks_url and "jwt_issuer" not in values:
            values["jwt_issuer"] = ""  # the provider's issuer must be named, never assumed
        _check_choice("REDGRID_BASEMAP_CRS", values, "basemap_crs", BASEMAP_DATUMS)
        _check_choice("REDGRID_LOG_FORMAT", values, "log_format", LOG_FORMATS)
        _check_choice("REDGRID_LOG_LEVEL", values, "log_level", LOG_LEVELS)
        oidc = {name: values.get(f"oidc_{name.lower()}", "") for name in OIDC_NAMES}
        if any(oidc.values()) and not all(oidc.values()):
            missing = ", ".join(f"REDGRID_OIDC_{n}" for n, v in oidc.items() if not v)
            raise ConfigError(f"the map page's sign-in needs all of the REDGRID_OIDC_* URLs and "
                              f"the client id; missing: {missing}")
        try:
            trusted_proxies = parse_networks(environ.get("REDGRID_TRUSTED_PROXIES", ""))
        except ValueError as exc:
            raise ConfigError(f"REDGRID_TRUSTED_PROXIES: {exc}") from None
        settings = cls(database_url=url, embedded=embedded, data_dir=data_dir,
                       environment=environment, rate_limits=_budgets(environ, production),
                       trusted_proxies=trusted_proxies, **values)
        settings.check_media()
        return settings

    def with_database(self, name: str) -> Settings:
        """The same settings pointed at another database of the same server."""
        return replace(self, database_url=server_url(self.database_url, name),
                       replica_url=server_url(self.replica_url, name) if self.replica_url else "")
