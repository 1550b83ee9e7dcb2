"""Input validation shared by the CLI and the API: one clear line per problem."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dpo.currencies import ISO_4217
from dpo.errors import InvalidInputError

if TYPE_CHECKING:  # pydantic is imported where a model is parsed: light commands skip it
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Dates far from now break date arithmetic (a year before 0001-01-01) and mean nothing here.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def parse(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate `data` as `model`, turning the first problem into an InvalidInputError."""
    from pydantic import ValidationError

    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInputError(first_problem(exc)) from None


def first_problem(exc: ValidationError) -> str:
    """The first validation error as `field: message`."""
    err = exc.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in err["loc"] if p != "__root__")
    return f"{where}: {msg}" if where else msg


def check_slug(value: str) -> str:
    """A slug: lowercase letters, digits and dashes, starting with a letter or digit."""
    if not _SLUG.match(value):
        raise ValueError(
            f"invalid slug {value!r}: use lowercase letters, digits and '-', at most 63 characters"
        )
    return value


MAX_ID = 2**31 - 1  # ids are INTEGER columns; a larger number cannot name a row


def is_id(value: int) -> bool:
    """True when `value` can be a row id (a query with a larger one fails on PostgreSQL)."""
    return 1 <= value <= MAX_ID


def is_slug(value: str) -> bool:
    """True when `value` has the shape of a slug (so it can name an organization)."""
    return bool(_SLUG.match(value))


def check_text(value: str, *, what: str = "text") -> str:
    """Free text a user typed: no control characters (NUL breaks PostgreSQL) or lone surrogates."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"{what} must not contain control characters (found {char!r})")
    return value


def day_problem(value: date) -> str | None:
    """Why a date is unusable (outside the years dpo can reason about), or None."""
    if FIRST_DAY <= value <= LAST_DAY:
        return None
    return (
        f"{value.isoformat()} is out of range ({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})"
    )


def check_day(value: date, *, option: str) -> date:
    """A date dpo can reason about (1970 to 2999), or an error naming the option."""
    if problem := day_problem(value):
        raise InvalidInputError(f"{option}: {problem}")
    return value


def check_timezone(value: str) -> str:
    """An IANA time zone name such as Europe/Berlin."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin"
        ) from None
    return value


def check_currency(value: str) -> str:
    """An ISO 4217 currency code such as EUR (case-insensitive in, upper-case out)."""
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError(f"unknown currency {value!r}: use an ISO 4217 code such as EUR or USD")
    return code


def parse_day(value: str, *, option: str) -> date:
    """A YYYY-MM-DD date typed by a user, or an error naming the option."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(f"{option}: {value!r} is not a date; use YYYY-MM-DD") from None
    return check_day(day, option=option)
