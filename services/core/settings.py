"""Settings: the one place that reads the environment (prefix ``COMMUNIQUE_``).

Defaults run embedded: a SQLite file in the working directory and in-process execution of the tasks.
Set ``COMMUNIQUE_DATABASE_URL`` to a Postgres URL (``postgresql+psycopg://...``) and
``COMMUNIQUE_BROKER_URL`` to a Redis URL to run distributed on Celery workers.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "reset_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMUNIQUE_", extra="ignore")

    database_url: str = "sqlite:///communique.db"
    broker_url: str | None = None
    result_backend: str | None = None
    sources: Path | None = Field(default=None, description="YAML source registry; default: the bundled one")
    rules: Path | None = None

    # Fetching
    allow_private_networks: str = Field(
        default="false",
        description="'true' allows every private/loopback address; or a comma-separated list of networks",
    )
    user_agent: str = "Communique/0.1 (+https://github.com/communique-news/communique)"
    fetch_deadline_s: float = 30.0
    fetch_read_timeout_s: float = 10.0
    max_redirects: int = 5
    max_body_bytes: int = 15 * 1024 * 1024
    host_spacing_s: float = 2.0
    respect_robots: bool = True

    # Celery policy. Every time limit and retry delay stays below the visibility timeout (tested).
    visibility_timeout_s: int = 3600
    task_soft_time_limit_s: int = 300
    task_time_limit_s: int = 360
    task_max_retries: int = 8
    retry_backoff_max_s: int = 900
    max_deliveries: int = 5

    # Loop
    tick_seconds: float = 60.0
    stale_after_s: int = Field(
        default=900, description="a document whose next stage has not run for this long is sent to it again"
    )

    @field_validator("allow_private_networks")
    @classmethod
    def _check_networks(cls, v: str) -> str:
        v = v.strip()
        if v.lower() in {"true", "false", "1", "0", "yes", "no", ""}:
            return v.lower()
        for part in v.split(","):
            ipaddress.ip_network(part.strip(), strict=False)
        return v

    @property
    def private_networks_allowed(self) -> bool | list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """True (all allowed), False (none), or the explicit list of allowed networks."""
        v = self.allow_private_networks
        if v in {"true", "1", "yes"}:
            return True
        if v in {"false", "0", "no", ""}:
            return False
        return [ipaddress.ip_network(p.strip(), strict=False) for p in v.split(",")]

    @property
    def distributed(self) -> bool:
        return bool(self.broker_url)

    # Alerts (services/alerts). Webhook retries span days: the outbox relay, not Celery countdowns.
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "communique@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_s: float = 30.0
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 10
    webhook_max_client_error_attempts: int = 3

    # HTTP API (services/api, `communique serve`). Without a token every write endpoint answers 401.
    api_token: str | None = Field(default=None, description="bearer token of the write endpoints")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_rate_per_s: float = Field(
        default=10.0, description="read requests per second per client IP (token refill); 0 disables"
    )
    api_rate_burst: int = Field(default=60, description="read requests a client may send at once")
    api_scan_limit: int = Field(
        default=5000, description="meetings one request examines for the person/q filters before paging"
    )

    # Fetcher politeness and health (services/fetcher/polite.py, services/core/stages.py).
    host_max_wait_s: float = Field(
        default=60.0, description="longest a task sleeps for its host's next request slot (else rescheduled)"
    )
    unconditional_after_s: int = Field(
        default=86400, description="poll without validators at least this often (servers with broken ETags)"
    )
    operator_webhook: str | None = Field(
        default=None, description="URL the alert relay sends operator events (source.broken) to"
    )
    public_url: str | None = Field(
        default=None, description="public base URL of this deployment (WebSub callbacks go to /websub/ID)"
    )
    websub_lease_s: int = 10 * 86400
    websub_poll_interval_s: int = Field(
        default=6 * 3600, description="safety-net poll interval of a source pushed by its WebSub hub"
    )

    # Alert relay (services/store/relay.py). A claim is leased: a relay that dies mid-send leaves the row to
    # be claimed again (same webhook-id) once the lease ends; the lease outlasts the webhook timeout.
    relay_interval_s: float = Field(default=5.0, description="beat period of the alert relay (notify.relay)")
    relay_lease_s: float = Field(default=120.0, description="how long a claimed delivery is reserved")
    relay_batch: int = 100
    operator_webhook_secret: str | None = Field(
        default=None, description="whsec_ secret signing operator events sent to operator_webhook"
    )
    fault_relay_exit_after_send: bool = Field(
        default=False, description="fault injection for tests: the relay process exits right after a send"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment before first use)."""
    get_settings.cache_clear()
