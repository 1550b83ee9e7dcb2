"""Settings: command-line flag > DPO_* environment > TOML file > defaults.

The TOML file is `--config`, else `DPO_CONFIG`, else `config.toml` in the user's config
directory (it may be absent; `dpo.config` finds it). Secrets never live here: sources name an
environment variable or a file that holds them.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from dpo import config
from dpo.config import config_path, default_home
from dpo.connectors.settings import ConnectorSettings
from dpo.errors import ConfigError

DEFAULT_SCHEDULE = {
    "sync ga": "*/15 * * * *",
    "sync meta": "5-59/15 * * * *",
    "sync woo": "10-59/15 * * * *",
    "aggregate hourly": "20 * * * *",
    "aggregate daily": "25 * * * *",
    "insights generate": "40 * * * *",
    "sources verify": "3 4 * * *",
}
"""The schedule of crontab.example, which `dpo schedule` keeps unless `[schedule]` says
otherwise."""

_ORIGIN = re.compile(r"^https?://[^/\s?#]+/?$")


class SyncSettings(BaseModel):
    """How far back a new source reaches, and how long a run may take."""

    model_config = ConfigDict(extra="forbid")

    initial_days: int = Field(default=30, ge=1, le=3660)
    max_seconds: float | None = Field(default=None, gt=0)


class MonitoringSettings(BaseModel):
    """Where job outcomes are reported beyond the job_run table."""

    model_config = ConfigDict(extra="forbid")

    textfile: Path | None = None
    ping: dict[str, str] = Field(default_factory=dict)
    ping_timeout: float = Field(default=5.0, gt=0, le=60)


class StatusSettings(BaseModel):
    """When `dpo status` calls a source stale."""

    model_config = ConfigDict(extra="forbid")

    stale_after_minutes: int = Field(default=120, ge=1)


class ApiSettings(BaseModel):
    """`dpo serve`: where it listens, who may call it from a browser, optional JWTs."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)  # 0: any free port
    workers: int = Field(default=1, ge=1, le=64)
    # Browser origins allowed to call the API (CORS), e.g. "https://dash.example.com".
    cors_origins: list[str] = Field(default_factory=list)
    # HS256 JWTs are accepted only when a secret is configured, by reference (never inline).
    jwt_secret_env: str | None = None
    jwt_secret_file: Path | None = None
    jwt_audience: str | None = None
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # A request's database work stops (503) after this long.
    request_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How often one read of org_version per process checks for events (`/api/events/{org}`).
    events_poll_seconds: float = Field(default=1.0, ge=0.05, le=60)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: use scheme://host[:port], no path, or *"
                )
        return [o.rstrip("/") for o in origins]


class InsightsSettings(BaseModel):
    """How `dpo insights generate` and `detect` judge the data."""

    model_config = ConfigDict(extra="forbid")

    sensitivity: float = Field(default=1.0, gt=0, le=10)
    history_days: int = Field(default=63, ge=14, le=400)
    report_days: int = Field(default=7, ge=1, le=90)
    settle_hours: int = Field(default=1, ge=0, le=48)
    # Processes `insights generate` runs organizations in (0: one per core, at most 4).
    jobs: int = Field(default=0, ge=0, le=64)


class WorkersSettings(BaseModel):
    """`dpo worker`, `dpo schedule` and `dpo enqueue`: Celery workers running dpo's jobs."""

    model_config = ConfigDict(extra="forbid")

    # Tasks one `dpo worker` runs at once (prefork processes; 0: one per core).
    concurrency: int = Field(default=0, ge=0, le=64)
    # Messages a worker process reserves beyond the one it runs: 1 with late acks, so a slow
    # task never holds others back in a busy process.
    prefetch: int = Field(default=1, ge=1, le=64)
    # A sync task's time budget when `[sync] max_seconds` is unset; it stops at a window
    # boundary and is retried to carry on. Its hard limit is the budget plus `grace_seconds`.
    sync_seconds: float = Field(default=600.0, gt=0, le=86400)
    # Hard limit of the other tasks (rollups, insights, verification).
    task_seconds: float = Field(default=1800.0, gt=0, le=86400)
    grace_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Exit 75 (locked, rate limited, budget spent) retries after this long, doubling each time.
    retry_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_retries: int = Field(default=5, ge=0, le=100)
    # A scheduled sync skips a source any process synced successfully this recently.
    skip_recent_seconds: float = Field(default=300.0, ge=0, le=86400)
    # Redis only: a task taken but not acknowledged (its worker died) goes back to its queue
    # after this long. Longer than any task, or a slow one would be handed out twice (the
    # source lock would then defer the second copy, which finds the work done).
    visibility_timeout: float = Field(default=3600.0, ge=1, le=7 * 86400)


class OpenAISettings(BaseModel):
    """An OpenAI-compatible chat API for the optional narrative; its key only by reference."""

    model_config = ConfigDict(extra="forbid")

    api_key_env: str | None = None
    api_key_file: Path | None = None
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    timeout: float = Field(default=20.0, gt=0, le=300)
    max_retries: int = Field(default=2, ge=0, le=10)

    @property
    def is_configured(self) -> bool:
        """True when a key is referenced (the narrative then asks the model)."""
        return bool(self.api_key_env or self.api_key_file)


class Settings(BaseSettings):
    """Everything dpo can be told; `settings_class()` adds a section per registered connector."""

    model_config = SettingsConfigDict(
        env_prefix="DPO_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    # The Celery broker of `dpo worker` / `schedule` / `enqueue` (DPO_BROKER_URL): Redis
    # (redis://host:6379/0) or RabbitMQ (amqp://user:password@host:5672//). Unset: Redis on
    # this machine, and `dpo status` does not look for workers.
    broker_url: str | None = None
    # Where task results are kept (DPO_RESULT_BACKEND; `dpo enqueue --wait` reads them).
    # Unset: the broker's Redis, or none with RabbitMQ (the job history has the outcomes).
    result_backend: str | None = None
    # How long a SQLite write waits for another process's write to end before exit 75.
    sqlite_busy_seconds: float = Field(default=30.0, ge=0, le=3600)
    sync: SyncSettings = SyncSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    status: StatusSettings = StatusSettings()
    api: ApiSettings = ApiSettings()
    insights: InsightsSettings = InsightsSettings()
    openai: OpenAISettings = OpenAISettings()
    workers: WorkersSettings = WorkersSettings()
    # When beat (`dpo schedule`) starts each job: five-field cron expressions in UTC. Entries
    # here change or add to DEFAULT_SCHEDULE (crontab.example's); "" turns one off.
    schedule: dict[str, str] = Field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        """The database to use: DPO_DATABASE_URL, else a SQLite file under `home`."""
        return config.database_url(self.database_url, self.home)

    def connector(self, kind: str) -> ConnectorSettings:
        """The `[kind]` section of a registered connector."""
        section = getattr(self, kind, None)
        if not isinstance(section, ConnectorSettings):
            raise ConfigError(f"{kind!r} is not a registered connector")
        return section

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        located = config_path()
        toml = config.read_toml(located)
        unknown = sorted(set(toml) - set(settings_cls.model_fields))
        if unknown:
            raise ConfigError(
                f"unknown setting {unknown[0]!r} in {located[0]}",
                hint=f"known: {', '.join(settings_cls.model_fields)}",
            )
        return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=toml))


@cache
def settings_class() -> type[Settings]:
    """`Settings`: Settings plus a `[kind]` section per registered connector."""
    from dpo.connectors import connector_classes

    sections: dict[str, Any] = {
        kind: (cls.settings_model, cls.settings_model())
        for kind, cls in connector_classes().items()
    }
    model: type[Settings] = create_model("Settings", __base__=Settings, __doc__=_DOC, **sections)
    return model


_DOC = "Everything dpo can be told, validated in one place; a section per registered connector."


def get_settings() -> Settings:
    """The process's settings, built on first use (never at import time) and again after
    `configure`."""
    return _settings(config.generation())


@lru_cache(maxsize=1)
def _settings(_generation: int) -> Settings:
    try:
        return settings_class()()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"invalid setting {where}: {err['msg']}",
            hint="check DPO_* environment variables and the config file",
        ) from None
