"""Input validation shared by the CLI and the API: one clear line per problem."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from dpo.currencies import ISO_4217
from dpo.errors import InvalidInputError

M = TypeVar("M", bound=BaseModel)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def parse(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate `data` as `model`, turning the first problem into an InvalidInputError."""
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


def check_timezone(value: str) -> str:
    """An IANA time zone name such as Europe/Berlin."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
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
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(f"{option}: {value!r} is not a date; use YYYY-MM-DD") from None
