"""`dpo doctor`: check configuration, database, clock and sources, with a fix for each failure."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text

from dpo.config import config_path
from dpo.errors import EXIT_CONFIG, EXIT_OK, EXIT_UNEXPECTED, ConfigError, DpoError
from dpo.settings import get_settings

MAX_CLOCK_DRIFT = timedelta(seconds=60)


@dataclass(frozen=True)
class Check:
    """One check's verdict; `exit_code` is what a failure means (0 when it passed)."""

    name: str
    detail: str
    exit_code: int = EXIT_OK
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


def run_checks(*, now: datetime, sources: bool = True) -> Iterator[Check]:
    """Every check, in order; later checks are skipped when what they need has failed."""
    config = _check_config()
    yield config
    if not config.ok:
        return
    yield _check_home()
    yield _check_timezones()
    database = _check_database()
    yield database
    if database.ok:
        yield _check_clock(now)
        if sources:
            yield from _check_sources()


def _guard(name: str, body: Callable[[], Check]) -> Check:
    try:
        return body()
    except DpoError as exc:
        return Check(name, exc.message, exc.exit_code, exc.hint)
    except Exception as exc:
        return Check(name, f"{type(exc).__name__}: {exc}", EXIT_UNEXPECTED)


def _check_config() -> Check:
    def body() -> Check:
        path, _required = config_path()
        get_settings()
        return Check("configuration", str(path) if path.exists() else f"defaults (no {path})")

    return _guard("configuration", body)


def _check_home() -> Check:
    def body() -> Check:
        home = get_settings().home
        try:
            home.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=home):
                pass
        except OSError as exc:
            raise ConfigError(
                f"cannot write to DPO_HOME {home}: {exc.strerror}",
                hint="set DPO_HOME to a writable directory",
            ) from None
        return Check("home", f"{home} is writable")

    return _guard("home", body)


def _check_timezones() -> Check:
    def body() -> Check:
        try:
            ZoneInfo("America/New_York")
        except ZoneInfoNotFoundError:
            raise ConfigError(
                "no time zone database", hint="install the system tzdata package or `tzdata`"
            ) from None
        return Check("time zones", "IANA time zone database available")

    return _guard("time zones", body)


def _check_database() -> Check:
    def body() -> Check:
        from dpo.storage.db import current_revision, get_engine, head_revision, safe_url

        engine = get_engine()
        where = safe_url(str(engine.url))
        revision = current_revision(engine)
        if revision == head_revision():
            return Check("database", f"{where} at schema {revision}")
        if engine.dialect.name == "sqlite":
            return Check("database", f"{where} will be created/upgraded on first use")
        state = "has no dpo schema" if revision is None else f"is at schema {revision}"
        return Check(
            "database",
            f"{where} {state}; this dpo needs {head_revision()}",
            EXIT_CONFIG,
            "run `dpo init`",
        )

    return _guard("database", body)


def _check_clock(now: datetime) -> Check:
    def body() -> Check:
        from dpo.storage.db import get_engine

        engine = get_engine()
        if engine.dialect.name != "postgresql":
            return Check("clock", f"{now:%Y-%m-%d %H:%M:%S} UTC (no database server to compare)")
        with engine.connect() as conn:
            server = conn.execute(text("SELECT now()")).scalar_one()
        drift = abs(server - now)
        if drift > MAX_CLOCK_DRIFT:
            return Check(
                "clock",
                f"this machine's clock is {drift.total_seconds():.0f}s off the database's",
                EXIT_CONFIG,
                "synchronise the clock (NTP): windows and freshness depend on it",
            )
        return Check("clock", f"within {drift.total_seconds():.1f}s of the database server")

    return _guard("clock", body)


def _check_sources() -> Iterator[Check]:
    """One cheap authenticated call per enabled source: do its credentials work?"""
    from sqlmodel import Session, col, select

    from dpo.resources.sources import check_source
    from dpo.storage.db import ready_engine
    from dpo.storage.models import Organization, Source

    with Session(ready_engine()) as session:
        pairs = list(
            session.exec(
                select(Source, Organization)
                .join(Organization)
                .where(col(Source.enabled))
                .order_by(Organization.slug, col(Source.id))
            )
        )
    for source, org in pairs:
        found = check_source(source, org)
        yield Check(f"source {found.source}", found.message, found.exit_code)
