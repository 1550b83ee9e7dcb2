"""Where settings come from, and the database they name — without pydantic.

`dpo.settings` validates everything dpo can be told; building it imports pydantic-settings
(≈ 0.2 s). Light commands (`dpo jobs list`) only need to know which database to open, so this
module resolves that one answer with the same precedence — DPO_* environment > TOML file >
defaults — from the standard library alone. `tests/test_config.py` checks that both agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dpo.errors import ConfigError

_explicit_config: Path | None = None
_generation = 0


def default_home() -> Path:
    """Where dpo keeps its SQLite database and lock files by default."""
    import platformdirs  # here: with DPO_HOME and DPO_CONFIG set, start-up never needs it

    return platformdirs.user_data_path("dpo")


def default_config_path() -> Path:
    """The TOML file read when neither --config nor DPO_CONFIG names one."""
    import platformdirs

    return platformdirs.user_config_path("dpo") / "config.toml"


def configure(*, config_file: Path | None) -> None:
    """Set the config file named on the command line; settings are rebuilt on next use."""
    global _explicit_config, _generation  # noqa: PLW0603 - the process-wide choice of config file
    _explicit_config = config_file
    _generation += 1


def generation() -> int:
    """Changes whenever `configure` is called (settings built before are stale)."""
    return _generation


def config_path() -> tuple[Path, bool]:
    """The config file to read, and whether it must exist (it was named explicitly)."""
    if _explicit_config is not None:
        return _explicit_config, True
    if env := os.environ.get("DPO_CONFIG"):
        return Path(env).expanduser(), True
    return default_config_path(), False


def read_toml(located: tuple[Path, bool]) -> dict[str, Any]:
    """The config file's contents ({} when an implicit one is absent)."""
    path, required = located
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    import tomllib  # only when there is a file: it takes a few ms to import

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None


_SCHEMES = ("sqlite", "postgresql+psycopg2")  # with postgres:// and postgresql:// above


def database_url(database_url: str | None, home: Path) -> str:
    """The SQLAlchemy URL of the database: `database_url` if set, else SQLite under `home`."""
    if database_url:
        scheme, sep, rest = database_url.partition("://")
        if scheme in ("postgres", "postgresql"):
            # SQLAlchemy 2.1 defaults to psycopg 3; dpo ships psycopg2-binary.
            return f"postgresql+psycopg2{sep}{rest}"
        if not sep or scheme not in _SCHEMES:
            raise ConfigError(
                f"unsupported database URL scheme {scheme if sep else database_url!r}: dpo "
                "stores its data in PostgreSQL (postgresql://user@host:5432/db) or SQLite "
                "(sqlite:////path/to/dpo.db)",
                hint="set DPO_DATABASE_URL (or database_url) to one of those, or unset it for "
                "the SQLite default",
            )
        return database_url
    return f"sqlite:///{home / 'dpo.db'}"


def configured_database_url() -> str:
    """`Settings().effective_database_url`, read from the environment and the TOML file only."""
    toml = read_toml(config_path())
    url = _env("DPO_DATABASE_URL")
    if url is None:
        url = _text(toml.get("database_url"), "database_url")
    home = _env("DPO_HOME")
    if home is None:
        home = _text(toml.get("home"), "home")
    return database_url(url, Path(home) if home is not None else default_home())


def _env(name: str) -> str | None:
    """An environment variable, matched case-insensitively as pydantic-settings does."""
    if name in os.environ:
        return os.environ[name]
    return next((v for k, v in os.environ.items() if k.upper() == name), None)


def _text(value: Any, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"invalid setting {key}: Input should be a valid string")
