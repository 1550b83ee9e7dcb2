"""The DpoError tree: every failure a user can fix has a class, a message and an exit code.

The library raises these and never prints or exits; only the CLI maps them to exit codes
(0 ok, 1 unexpected, 2 usage, 3 configuration, 4 upstream refused, 75 try again later) and
only the API maps them to HTTP statuses.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_REFUSED = 4
EXIT_TRY_LATER = 75


class DpoError(Exception):
    """Base class: a failure with a message that tells the user what to fix."""

    exit_code = EXIT_UNEXPECTED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidInputError(DpoError):
    """Input that can never work: a bad value, an unknown name, a conflicting option."""

    exit_code = EXIT_USAGE


class NotFoundError(InvalidInputError):
    """A named thing (organization, source, goal) does not exist."""


def unknown_org(slug: str) -> NotFoundError:
    """The error for an organization that does not exist (or that the caller may not see)."""
    return NotFoundError(
        f"unknown organization {slug!r}", hint="`dpo orgs list` shows the organizations"
    )


class ConflictError(InvalidInputError):
    """The thing already exists (duplicate slug, duplicate source)."""


class ConfigError(DpoError):
    """Configuration is missing or wrong: settings, secrets, database schema."""

    exit_code = EXIT_CONFIG


class NotAuthenticatedError(DpoError):
    """No credentials, or ones that are unknown, expired or revoked (HTTP 401)."""


class ForbiddenError(DpoError):
    """Valid credentials that may not do this (HTTP 403): e.g. an organization's API token
    creating organizations."""


class UpstreamRefusedError(DpoError):
    """The upstream refused (401/403, bad parameters): retrying will not help."""

    exit_code = EXIT_REFUSED


class TryLaterError(DpoError):
    """Transient: rate limited, 5xx, timeouts, lock held, time budget spent."""

    exit_code = EXIT_TRY_LATER


class UpstreamDataError(TryLaterError):
    """The upstream answered with data dpo cannot store (a number that is not one, a missing
    field, a page that does not parse): nothing of the window is written; a later run may get
    a good answer."""


class LockHeldError(TryLaterError):
    """Another run holds the lock for this job."""


class LockLostError(TryLaterError):
    """The lock a run held is gone (its database connection ended): it stops before writing
    again, as another run may hold the lock now."""


class BudgetSpentError(TryLaterError):
    """The run's time budget ran out; the next run carries on."""


_SECRETS: set[str] = set()
_QUERY = re.compile(r"(https?://[^\s?#\"']+)\?[^\s#\"']*")
_MIN_SECRET_LEN = 4


def register_secret(value: str) -> None:
    """Remember a secret value so that `scrub` removes it from any text."""
    if len(value) >= _MIN_SECRET_LEN:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    """Remove known secrets and URL query strings (which can carry tokens) from text."""
    text = _QUERY.sub(r"\1?…", text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def describe(exc: BaseException) -> str:
    """One scrubbed line describing an exception (and its hint), for users, logs and job_run."""
    if isinstance(exc, DpoError):
        text = f"{exc.message} — {exc.hint}" if exc.hint else exc.message
    else:
        text = f"{type(exc).__name__}: {exc}"
    first = " ".join(text.split())
    return scrub(first)[:1000]
