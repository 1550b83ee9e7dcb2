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
        help=help,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_completion=False,
        no_args_is_help=True,
        **settings,
    )


def finite(value: float | None) -> float | None:
    """A number option's callback: `nan` and `inf` are refused (a range lets `nan` through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value
