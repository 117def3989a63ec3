"""Settings read once from the environment and passed down as plain values.

Safe by default: with `REDGRID_ENV` unset RedGrid runs as production (no development tokens,
limits on, no introspection or GraphiQL, no webhooks to private addresses); only
`REDGRID_ENV=development` turns development on, and any other value refuses to start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from db.cluster import EmbeddedCluster
from db.urls import server_url
from web.auth import development_secret
from web.clients import Network, parse_networks

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
# A map opens dozens of tiles at once, hence the tiles' large burst. In development a budget
# is off unless its <stem>_LIMIT is set.
RATE_BUDGETS: dict[str, tuple[str, RateBudget]] = {
    "graphql": ("REDGRID_RATE", RateBudget(50, 100)),
    "tiles": ("REDGRID_TILES_RATE", RateBudget(300, 1000)),
    "ogc": ("REDGRID_OGC_RATE", RateBudget(20, 60)),
    "heatmap": ("REDGRID_HEATMAP_RATE", RateBudget(50, 200)),
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


@dataclass(frozen=True)
class Settings:
    """How RedGrid runs: which database, where its data lives, how it serves."""

    database_url: str
    embedded: bool
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    environment: str = "production"
    pool_size: int = 20
    jwt_secret: str = ""
    # Production accepts an HS256 secret only when told to (REDGRID_ALLOW_HS256=1).
    allow_hs256: bool = False
    # Production: the county identity provider's JWKS URL (RS256/ES256), issuer and audience.
    jwks_url: str = ""
    jwt_issuer: str = "redgrid"
    jwt_audience: str = ""
    # Seconds between runs of the escalation / auto-close / reminder job; 0 turns it off.
    job_interval_s: float = 0.0
    # Seconds between passes of the unit-notification webhook worker; 0 turns it off.
    webhook_interval_s: float = 0.0
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

    @property
    def cluster(self) -> EmbeddedCluster:
        return EmbeddedCluster(self.data_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        data_dir = Path(environ.get("REDGRID_DATA_DIR", CHECKOUT / ".data")).resolve()
        url = environ.get("DATABASE_URL", "").strip()
        embedded = not url
        if embedded:
            url = EmbeddedCluster(data_dir).url(environ.get("REDGRID_DATABASE", "redgrid"))
        elif url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        environment = environ.get("REDGRID_ENV", "").strip() or "production"
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"REDGRID_ENV must be `development` (a development box: local "
                              f"tokens, no limits) or `production` (the same as unset); got "
                              f"{environment!r}")
        production = environment == "production"
        secret = environ.get("REDGRID_JWT_SECRET", "")
        jwks_url = environ.get("REDGRID_JWKS_URL", "")
        if not production and not secret and not jwks_url:
            secret = development_secret(data_dir)
        basemap_crs = environ.get("REDGRID_BASEMAP_CRS", "WGS84").strip().upper()
        if basemap_crs not in BASEMAP_DATUMS:
            raise ConfigError(f"REDGRID_BASEMAP_CRS must be one of {', '.join(BASEMAP_DATUMS)}, "
                              f"got {basemap_crs!r}")
        oidc = {name: environ.get(f"REDGRID_OIDC_{name}", "").strip() for name in OIDC_NAMES}
        if any(oidc.values()) and not all(oidc.values()):
            missing = ", ".join(f"REDGRID_OIDC_{n}" for n, v in oidc.items() if not v)
            raise ConfigError(f"the map page's sign-in needs all of the REDGRID_OIDC_* URLs and "
                              f"the client id; missing: {missing}")
        try:
            trusted_proxies = parse_networks(environ.get("REDGRID_TRUSTED_PROXIES", ""))
        except ValueError as exc:
            raise ConfigError(f"REDGRID_TRUSTED_PROXIES: {exc}") from None
        return cls(
            database_url=url,
            embedded=embedded,
            data_dir=data_dir,
            host=environ.get("REDGRID_HOST", "127.0.0.1"),
            port=int(environ.get("REDGRID_PORT", "8000")),
            environment=environment,
            pool_size=int(environ.get("REDGRID_POOL_SIZE", "20")),
            jwt_secret=secret,
            allow_hs256=environ.get("REDGRID_ALLOW_HS256", "0") == "1",
            jwks_url=jwks_url,
            jwt_issuer=environ.get("REDGRID_JWT_ISSUER", "" if jwks_url else "redgrid"),
            jwt_audience=environ.get("REDGRID_JWT_AUDIENCE", ""),
            job_interval_s=float(environ.get("REDGRID_JOB_INTERVAL", "300")),
            webhook_interval_s=float(environ.get("REDGRID_WEBHOOK_INTERVAL", "5")),
            webhook_allow_private=environ.get(
                "REDGRID_WEBHOOK_ALLOW_PRIVATE", "0" if production else "1") == "1",
            max_query_depth=int(environ.get("REDGRID_MAX_QUERY_DEPTH", "12")),
            max_query_aliases=int(environ.get("REDGRID_MAX_QUERY_ALIASES", "30")),
            max_query_tokens=int(environ.get("REDGRID_MAX_QUERY_TOKENS", "5000")),
            max_query_cost=int(environ.get("REDGRID_MAX_QUERY_COST", "50000")),
            rate_limits=_budgets(environ, production),
            max_body_bytes=int(environ.get("REDGRID_MAX_BODY_BYTES", str(1024 * 1024))),
            trusted_proxies=trusted_proxies,
            statement_timeout_ms=int(environ.get("REDGRID_STATEMENT_TIMEOUT_MS", "5000")),
            basemap_url=environ.get("REDGRID_BASEMAP_URL", "").strip(),
            basemap_crs=basemap_crs,
            basemap_attribution=environ.get("REDGRID_BASEMAP_ATTRIBUTION", "").strip(),
            oidc_authorize_url=oidc["AUTHORIZE_URL"],
            oidc_token_url=oidc["TOKEN_URL"],
            oidc_client_id=oidc["CLIENT_ID"],
            oidc_scope=environ.get("REDGRID_OIDC_SCOPE", "openid").strip() or "openid",
        )

    def with_database(self, name: str) -> Settings:
        """The same settings pointed at another database of the same server."""
        return replace(self, database_url=server_url(self.database_url, name))
