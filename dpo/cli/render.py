"""Output for the terminal: rich tables for people, plain JSON for programs."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from dpo.jobs.runner import JobResult

Advance = Callable[[int, int], None]  # (units done, units planned)
LAUNCHED = "dpo.launched"  # context meta key: when the command started (an aware datetime)


@cache
def console() -> Console:
    """Rich output on stdout (rich is imported on first use: it is slow to import)."""
    from rich.console import Console

    class _Stdout(Console):
        def on_broken_pipe(self) -> None:
            """The reader went away (`dpo report | head -2`): stop quietly, exit 0 (rich's
            default exits 1, which cron and `set -o pipefail` would report)."""
            self.quiet = True
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0)

    return _Stdout()


@cache
def err_console() -> Console:
    """Rich output on stderr."""
    from rich.console import Console

    return Console(stderr=True)


def _default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    """JSON with dates as ISO strings and Decimals as numbers."""
    import json

    return json.dumps(value, default=_default, ensure_ascii=False, indent=2)


def print_json(value: Any) -> None:
    """Print JSON on stdout, and nothing else."""
    typer.echo(to_json(value))


def cell(value: Any) -> str:
    """A value as a table cell: '—' for missing, ISO dates, plain decimals."""
    from decimal import Decimal  # on first use: keeps `import dpo.cli.render` light

    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str
) -> None:
    """A rich table, or a one-line note when there are no rows."""
    rows = list(rows)
    if not rows:
        typer.echo(empty)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(cell(v)) for v in row))  # Text: names are not markup
    show(table)


_FIGURE = re.compile(r"^(—|[-+\u2212]?[\d.,]+\s?%?|\d{4}-\d{2}-\d{2}([ T][\d:.+]+)?)$")
_TEXT_MIN = 12  # the narrowest a text column is folded to
_SPARK = set("▁▂▃▄▅▆▇█ …")
_FRAME = 3  # a column's borders and padding


def show(table: Any) -> None:
    """Print a rich table without ever cutting a figure: columns of numbers and dates keep their
    full width (text columns fold to fit), and a table that cannot fit that way on this
    terminal (80 columns, a pipe, cron mail) is printed one record per block instead."""
    columns = list(table.columns)
    texts = [[_plain(c) for c in column.cells] for column in columns]
    needed = 1
    for column, cells in zip(columns, texts, strict=True):
        widest = max((len(t) for t in cells), default=0)
        if cells and all(_FIGURE.match(t) for t in cells):
            column.no_wrap, column.min_width = True, max(widest, 1)
            needed += widest + _FRAME
        else:
            if not all(set(t) <= _SPARK for t in cells):  # a trend line may be cut; words fold
                column.overflow = "fold"
            needed += min(widest, _TEXT_MIN) + _FRAME
    out = console()
    if needed <= out.width:
        out.print(table)
        return
    _records(table.title, [_plain(c.header) for c in columns], texts)


def _records(title: Any, headers: list[str], texts: list[list[str]]) -> None:
    from rich.text import Text

    out = console()
    if title:
        out.print(Text(str(title), style="italic"))
    for values in zip(*texts, strict=True):
        out.print(
            Text(f"{' '.join(headers[0].split())}: {values[0]}", style="bold"), soft_wrap=True
        )
        for header, value in zip(headers[1:], values[1:], strict=True):
            out.print(Text(f"  {' '.join(header.split())}: {value}"), soft_wrap=True)


def _plain(renderable: Any) -> str:
    from rich.text import Text

    return renderable.plain if isinstance(renderable, Text) else str(renderable)


def confirm_removal(what: str, *, yes: bool) -> None:
    """Go on only when told `--yes` or when the person at the terminal agrees to remove
    `what`; without a terminal to ask on, a usage error naming --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        from dpo.errors import InvalidInputError

        raise InvalidInputError(f"removing {what} needs --yes (no terminal to ask on)")
    if not typer.confirm(f"Remove {what}?", default=False):
        raise typer.Exit(1)


def print_record(title: str, fields: Sequence[tuple[str, Any]]) -> None:
    """One object as a two-column table."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in fields:
        table.add_row(name, Text(cell(value)))
    console().print(table)


def print_job_results(
    results: Sequence[JobResult], *, quiet: bool, json_: bool, unit: str = "windows"
) -> None:
    """One line per job on stdout; failures and warnings on stderr (even with --quiet); a job
    skipped because another process holds its lock is a note, silent with --quiet."""
    from dpo.vocab import JobStatus

    if json_:
        print_json([r.__dict__ for r in results])
        return
    for r in results:
        units = unit.removesuffix("s") if r.windows == 1 else unit
        rows = "row" if r.rows_written == 1 else "rows"
        line = f"{r.label}: {r.status.value}, {r.windows} {units}, {r.rows_written:,} {rows}"
        line += f" in {r.seconds:.1f}s"
        if r.status is JobStatus.skipped:
            if not quiet:
                typer.echo(f"{r.label}: skipped: {r.message}", err=True)
        elif r.exit_code:
            typer.echo(f"Error: {line}: {r.message}", err=True)
        elif not quiet:
            typer.echo(f"{line} ({r.message})" if r.message else line)
        for warning in r.warnings:
            typer.echo(f"Warning: {warning}", err=True)


@contextmanager
def progress_bars(*, enabled: bool) -> Iterator[Callable[[str], Advance] | None]:
    """A progress bar per job on a terminal's stderr; nothing when piped or quiet."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn(), console=err_console(), transient=True) as bars:

        def for_job(label: str) -> Advance:
            task = bars.add_task(label, total=None)

            def advance(done: int, total: int) -> None:
                bars.update(task, completed=done, total=total)

            return advance

        yield for_job
