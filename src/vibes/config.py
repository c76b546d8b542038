"""Settings: the only module that reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of Vibes, read from `VIBES_*` variables or a `.env` file."""

    model_config = SettingsConfigDict(
        env_prefix="VIBES_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("./vibes-data")
    database_url: str | None = None
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # Reads (GET) go to a replica of VIBES_DATABASE_REPLICA_URLS that is up and at most
    # this far behind the primary; a user who wrote in the last moments reads from the
    # primary (read-your-writes). PostgreSQL only.
    replica_max_lag_seconds: float = Field(default=5.0, gt=0, le=300)
    redis_url: str | None = None
    # Keys in Redis are namespaced so several deployments (or test runs) can share one server.
    redis_prefix: str = "vibes:"

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "Vibes <no-reply@localhost>"
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 10.0

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; "*" trusts every peer (only when nothing but the
    # proxy can reach the server). The client address drives rate limits and audit logs.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"]
    )
    webhooks_allow_private: bool = False
    webhook_timeout_seconds: float = 10.0
    # Kept-alive webhook connections: at most this many to one site on one address (a
    # receiver is not flooded; further requests wait for one), pools for at most this many
    # (site, address) pairs, each closed after this long unused.
    webhook_connections_per_host: int = Field(default=4, ge=1, le=100)
    webhook_pools_max: int = Field(default=256, ge=1, le=10000)
    webhook_idle_seconds: float = Field(default=30.0, gt=0, le=3600)

    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # A spent refresh token presented again this soon (a retry after a lost answer) gets
    # the answer it got the first time instead of revoking the session; later, or once
    # its successor was used, it is a reuse and the session ends.
    refresh_grace_seconds: int = Field(default=10, ge=0, le=60)
    unlock_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    jwt_issuer: str = "vibes"
    jwt_audience: str = "vibes-api"
    # Extra signing keys as "kid:secret" pairs; the last one signs, all of them verify.
    # When empty the keys live in the data folder (generated on first start).
    jwt_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Server-held key for keyed hashes and wrapping (vault lookup hash, cached unlock keys).
    # When unset it is generated into the data folder; set it when processes share no disk.
    secret_key: str | None = None
    public_url: str = "http://127.0.0.1:8000"

    # On the embedded default the dispatcher runs inside `vibes serve`.
    run_dispatcher: bool | None = None
    # Set by `vibes serve --workers N` (N > 1) for its worker processes: the folder, made
    # fresh for that serve, where prometheus_client keeps each process's figures so /metrics
    # sums them, and where the worker that runs the embedded dispatcher holds its lock.
    # prometheus_client reads the same variable itself; set by hand only for such a setup.
    multiprocess_dir: Path | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")
    dispatcher_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A claimed outbox event or delivery is another worker's to take once this runs out,
    # so a killed worker loses nothing; keep it above the slowest delivery attempt.
    dispatcher_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    dispatcher_batch_size: int = Field(default=200, ge=1, le=5000)
    dispatcher_concurrency: int = Field(default=50, ge=1, le=1000)
    # Retries: base * 2**(attempt-1), capped, with +-50% jitter; give up after max attempts.
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)
    delivery_retry_base_seconds: float = Field(default=10.0, gt=0, le=3600)
    delivery_retry_max_seconds: float = Field(default=3600.0, gt=0, le=86400)
    # Live stream: ping period, and how often a stream re-checks that its session lives.
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    events_replay_limit: int = Field(default=500, ge=1, le=10000)
    # Dispatched events (and their delivery logs) are kept this long, for Last-Event-ID
    # resumes and GET /webhooks/{id}/deliveries; then the dispatcher deletes them.
    events_retention_days: int = Field(default=30, ge=1, le=3650)
    # Sync keeps tombstones and superseded changes this long: a device offline longer
    # starts over (410 resync-required).
    sync_retention_days: int = Field(default=180, ge=1, le=36500)

    # An import's upload (spooled to disk, never held whole in memory) and, for a zip,
    # the total size of its members once uncompressed.
    import_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024, le=64 * 1024**3)

    rate_limits_enabled: bool = True
    # Limits are `limits` strings ("10/15 minutes"). The default applies to every request,
    # keyed by the token's user (or the client address); the others are the tight limits
    # on password attempts, per account and per client address.
    rate_limit_default: str = "1200/minute"
    # Every attempt counts (before the password is checked, so parallel guesses cannot all
    # pass), successful logins too: a little above the old failures-only budget of 10.
    rate_limit_login_account: str = "15/15 minutes"
    rate_limit_login_address: str = "50/15 minutes"
    rate_limit_password_account: str = "5/15 minutes"
    rate_limit_password_address: str = "20/15 minutes"
    rate_limit_reset_account: str = "5/hour"
    rate_limit_reset_address: str = "20/hour"
    rate_limit_register_address: str = "20/hour"
    # Secret-phrase attempts (unlock, and creating or changing a phrase, which also tests
    # one against the user's other tags).
    rate_limit_phrase_account: str = "10/15 minutes"
    rate_limit_phrase_address: str = "30/15 minutes"
    # Two-factor codes (sign-in verification, turning 2FA on or off): per account and per
    # client address. A code has 10^6 values; 10 tries per 15 minutes makes guessing moot.
    rate_limit_mfa_account: str = "10/15 minutes"
    rate_limit_mfa_address: str = "30/15 minutes"

    # Argon2id cost; the floors are OWASP's minimum. Raising them re-hashes on next login.
    password_hash_memory_kib: int = Field(default=19456, ge=19456, le=4 * 1024 * 1024)
    password_hash_time_cost: int = Field(default=2, ge=2, le=20)
    password_hash_parallelism: int = Field(default=1, ge=1, le=16)
    # Argon2 runs at once per process (each holds memory_kib and a worker thread); more
    # wait their turn holding no database connection. Kept below database_pool_size.
    password_hash_concurrency: int = Field(default=4, ge=1, le=64)
    # zxcvbn score (0-4) a new password must reach.
    password_min_score: int = Field(default=3, ge=0, le=4)
    # Who may create an account through POST /auth/register: anyone (`open`: the answer
    # then tells whether an address has an account), holders of an invite code
    # (`invite`), or nobody (`closed`: the operator runs `vibes users add`).
    registration: Literal["open", "invite", "closed"] = "open"
    password_reset_minutes: int = Field(default=30, ge=5, le=24 * 60)
    # How long Redis may vouch for a live session before the database is asked again.
    session_cache_seconds: int = Field(default=30, ge=1, le=300)
    # A personal access token's `last_used_at` is written at most this often (0: on every
    # request), so a busy script does not turn each of its reads into a write.
    pat_last_used_minutes: int = Field(default=5, ge=0, le=24 * 60)
    # Requests one process answers at once; more get a fast 503 with Retry-After instead
    # of waiting for a database connection past the client's patience (0: no limit).
    # Health checks, metrics and live streams are not counted.
    max_inflight: int = Field(default=64, ge=0, le=100_000)
    # One line per request (method, path without the query string, status, time).
    access_log: bool = True
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"

    @field_validator(
        "database_replica_urls", "cors_origins", "jwt_keys", "trusted_proxies", mode="before"
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            if item != "*":
                ipaddress.ip_network(item, strict=False)  # a typo stops startup
        return value

    @field_validator(
        "rate_limit_default",
        "rate_limit_login_account",
        "rate_limit_login_address",
        "rate_limit_password_account",
        "rate_limit_password_address",
        "rate_limit_reset_account",
        "rate_limit_reset_address",
        "rate_limit_register_address",
        "rate_limit_phrase_account",
        "rate_limit_phrase_address",
        "rate_limit_mfa_account",
        "rate_limit_mfa_address",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse  # a typo here should stop startup, not the first login

        parse(value)
        return value

    @model_validator(mode="after")
    def _replicas_need_postgresql(self) -> Settings:
        if self.database_replica_urls and self.is_sqlite:
            raise ValueError(
                "VIBES_DATABASE_REPLICA_URLS is set but the database is SQLite, which has no "
                "replicas: unset it, or set VIBES_DATABASE_URL to the PostgreSQL primary"
            )
        for url in self.database_replica_urls:
            if not url.startswith("postgresql"):
                raise ValueError("each of VIBES_DATABASE_REPLICA_URLS must be a PostgreSQL URL")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'vibes.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def dispatcher_in_process(self) -> bool:
        if self.run_dispatcher is not None:
            return self.run_dispatcher
        return self.is_sqlite
