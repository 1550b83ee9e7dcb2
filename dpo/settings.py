"""Settings: command-line flag > DPO_* environment > TOML file > defaults.

The TOML file is `--config`, else `DPO_CONFIG`, else `config.toml` in the user's config
directory (it may be absent; `dpo.config` finds it). Secrets never live here: sources name an
environment variable or a file that holds them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from dpo import config
from dpo.config import config_path, default_home
from dpo.errors import ConfigError

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


class ConnectorSettings(BaseModel):
    """Per-kind defaults (`[ga]`, `[meta]`, `[woo]`, `[demo]`); a source may override them."""

    model_config = ConfigDict(extra="allow")

    lookback_days: int | None = Field(default=None, ge=0, le=400)


def _comma_list(value: Any) -> Any:
    """`a, b` (as `--setting key=a,b` gives it) → ["a", "b"]; lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


NameList = Annotated[list[str], BeforeValidator(_comma_list)]


class UpstreamSettings(ConnectorSettings):
    """What every real upstream connector shares: endpoint retries and their bounds."""

    max_attempts: int = Field(default=5, ge=1, le=20)
    max_retry_wait_seconds: float = Field(default=300.0, gt=0)
    timeout_seconds: float = Field(default=60.0, gt=0)


class GaSettings(UpstreamSettings):
    """`[ga]`: Google Analytics 4 Data API."""

    campaign_dimension: str | None = None  # e.g. sessionCampaignName; None: channels only
    page_size: int = Field(default=100_000, ge=1, le=250_000)
    quota_reserve_tokens: int = Field(default=2_000, ge=0)  # stop before the hour's quota ends
    timezone: str | None = None  # the property's time zone; None: read from GA


class MetaSettings(UpstreamSettings):
    """`[meta]`: Meta Marketing API (ads insights)."""

    api_version: str = Field(default="v26.0", pattern=r"^v[0-9]+\.[0-9]+$")
    restatement_days: int = Field(default=28, ge=0, le=400)
    attribution_windows: NameList = Field(default_factory=lambda: ["7d_click", "1d_view"])
    purchase_action_type: str = "omni_purchase"
    channel: str = "Paid Social"
    async_reports: Literal["auto", "always", "never"] = "auto"
    async_timeout_seconds: float = Field(default=600.0, gt=0)
    page_size: int = Field(default=500, ge=1, le=5_000)
    usage_pause_percent: float = Field(default=90.0, gt=0, le=100)


class WooSettings(UpstreamSettings):
    """`[woo]`: WooCommerce REST API v3."""

    counted_statuses: NameList = Field(
        default_factory=lambda: ["processing", "completed", "on-hold"]
    )
    rescan_days: int = Field(default=30, ge=0, le=400)
    overlap_minutes: int = Field(default=60, ge=0, le=10_080)
    auth: Literal["basic", "query"] = "basic"
    page_size: int = Field(default=100, ge=1, le=100)
    currency: str | None = None  # the store's currency; None: the organization's
    timezone: str | None = None  # the days' time zone; None: the organization's


class Settings(BaseSettings):
    """Everything dpo can be told, validated in one place."""

    model_config = SettingsConfigDict(
        env_prefix="DPO_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    sync: SyncSettings = SyncSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    status: StatusSettings = StatusSettings()
    api: ApiSettings = ApiSettings()
    insights: InsightsSettings = InsightsSettings()
    openai: OpenAISettings = OpenAISettings()
    ga: GaSettings = GaSettings()
    meta: MetaSettings = MetaSettings()
    woo: WooSettings = WooSettings()
    demo: ConnectorSettings = ConnectorSettings()

    @property
    def effective_database_url(self) -> str:
        """The database to use: DPO_DATABASE_URL, else a SQLite file under `home`."""
        return config.database_url(self.database_url, self.home)

    def connector(self, kind: str) -> ConnectorSettings:
        """The `[kind]` section."""
        section = getattr(self, kind, None)
        return section if isinstance(section, ConnectorSettings) else ConnectorSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = InitSettingsSource(settings_cls, init_kwargs=config.read_toml(config_path()))
        return (init_settings, env_settings, toml)


def get_settings() -> Settings:
    """The process's settings, built on first use (never at import time) and again after
    `configure`."""
    return _settings(config.generation())


@lru_cache(maxsize=1)
def _settings(_generation: int) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"invalid setting {where}: {err['msg']}",
            hint="check DPO_* environment variables and the config file",
        ) from None
