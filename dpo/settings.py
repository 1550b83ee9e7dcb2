"""Settings: command-line flag > DPO_* environment > TOML file > defaults.

The TOML file is `--config`, else `DPO_CONFIG`, else `config.toml` in the user's config
directory (it may be absent). Secrets never live here: sources name an environment variable
or a file that holds them.
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from dpo.errors import ConfigError


def default_home() -> Path:
    """Where dpo keeps its SQLite database and lock files by default."""
    return platformdirs.user_data_path("dpo")


def default_config_path() -> Path:
    """The TOML file read when neither --config nor DPO_CONFIG names one."""
    return platformdirs.user_config_path("dpo") / "config.toml"


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
    insights: InsightsSettings = InsightsSettings()
    openai: OpenAISettings = OpenAISettings()
    ga: ConnectorSettings = ConnectorSettings()
    meta: ConnectorSettings = ConnectorSettings()
    woo: ConnectorSettings = ConnectorSettings()
    demo: ConnectorSettings = ConnectorSettings()

    @property
    def effective_database_url(self) -> str:
        """The database to use: DPO_DATABASE_URL, else a SQLite file under `home`."""
        if self.database_url:
            url = self.database_url
            scheme, sep, rest = url.partition("://")
            if scheme in ("postgres", "postgresql"):
                # SQLAlchemy 2.1 defaults to psycopg 3; dpo ships psycopg2-binary.
                return f"postgresql+psycopg2{sep}{rest}"
            return url
        return f"sqlite:///{self.home / 'dpo.db'}"

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
        toml = InitSettingsSource(settings_cls, init_kwargs=_read_toml(config_path()))
        return (init_settings, env_settings, toml)


_explicit_config: Path | None = None


def config_path() -> tuple[Path, bool]:
    """The config file to read, and whether it must exist (it was named explicitly)."""
    if _explicit_config is not None:
        return _explicit_config, True
    if env := os.environ.get("DPO_CONFIG"):
        return Path(env).expanduser(), True
    return default_config_path(), False


def _read_toml(located: tuple[Path, bool]) -> dict[str, Any]:
    path, required = located
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None


def configure(*, config_file: Path | None) -> None:
    """Set the config file named on the command line; settings are rebuilt on next use."""
    global _explicit_config  # noqa: PLW0603 - the one process-wide choice of config file
    _explicit_config = config_file
    get_settings.cache_clear()


@cache
def get_settings() -> Settings:
    """The process's settings, built on first use (never at import time)."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"invalid setting {where}: {err['msg']}",
            hint="check DPO_* environment variables and the config file",
        ) from None
