"""Settings read once from the environment and passed down as plain values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from db.cluster import EmbeddedCluster
from db.urls import server_url
from web.auth import development_secret

CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """How RedGrid runs: which database, where its data lives, how it serves."""

    database_url: str
    embedded: bool
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    environment: str = "development"
    pool_size: int = 20
    jwt_secret: str = ""
    # Seconds between runs of the escalation / auto-close / reminder job; 0 turns it off.
    job_interval_s: float = 0.0
    # Seconds between passes of the unit-notification webhook worker; 0 turns it off.
    webhook_interval_s: float = 0.0

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
        environment = environ.get("REDGRID_ENV", "development")
        secret = environ.get("REDGRID_JWT_SECRET", "")
        if not secret and environment != "production":
            secret = development_secret(data_dir)
        return cls(
            database_url=url,
            embedded=embedded,
            data_dir=data_dir,
            host=environ.get("REDGRID_HOST", "127.0.0.1"),
            port=int(environ.get("REDGRID_PORT", "8000")),
            environment=environment,
            pool_size=int(environ.get("REDGRID_POOL_SIZE", "20")),
            jwt_secret=secret,
            job_interval_s=float(environ.get("REDGRID_JOB_INTERVAL", "300")),
            webhook_interval_s=float(environ.get("REDGRID_WEBHOOK_INTERVAL", "5")),
        )

    def with_database(self, name: str) -> Settings:
        """The same settings pointed at another database of the same server."""
        return replace(self, database_url=server_url(self.database_url, name))
