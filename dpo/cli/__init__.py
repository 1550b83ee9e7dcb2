"""The `dpo` command line. `main.py` is the root; each module here is one command or group.

Modules import only typer and dpo's light modules at import time; everything else is imported
inside the command that needs it, so `dpo --help` and light commands start fast.
"""

from __future__ import annotations

import math
from typing import Any

import typer


def command_group(*, help: str, **settings: Any) -> typer.Typer:
    """A Typer app with dpo's defaults: plain (click) help and errors — rich's help formatter
    alone costs more start-up time than the rest of a light command."""
    return typer.Typer(
        **{
            "help": help,
            "rich_markup_mode": None,
            "pretty_exceptions_enable": False,
            "add_completion": False,
            "no_args_is_help": True,
            **settings,
        }
    )


def finite(value: float | None) -> float | None:
    """A number option's callback: `nan` and `inf` are refused (a range lets `nan` through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


ORG_HELP = "Organization slug (may be left out when there is only one)."


def the_org(option: str | None, positional: str | None = None) -> str:
    """The organization a command is about: `--org`, or the older positional ORG, or the only
    organization there is."""
    from dpo.errors import InvalidInputError

    if option is not None and positional is not None and option != positional:
        raise InvalidInputError(f"two organizations given ({positional} and --org {option})")
    given = option or positional
    if given is not None:
        return given
    from dpo.resources.orgs import list_orgs
    from dpo.storage.db import session_scope

    with session_scope() as s:
        slugs = [o.slug for o in list_orgs(s)]
    if len(slugs) == 1:
        return slugs[0]
    if not slugs:
        raise InvalidInputError(
            "there is no organization yet", hint="add one with `dpo orgs add SLUG …`"
        )
    named = ", ".join(slugs[:5]) + (", …" if len(slugs) > 5 else "")
    raise InvalidInputError(
        f"there are {len(slugs)} organizations ({named}): say which with --org SLUG"
    )
