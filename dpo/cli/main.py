"""The `dpo` command: the root app, global options, and the mapping of errors to exit codes.

Command modules import only typer, rich and dpo's light modules at import time; the library
(SQLAlchemy, connectors, pandas…) is imported inside the commands, so `dpo --help` is fast.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from dpo import __version__
from dpo.cli import (
    aggregate,
    db,
    demo,
    doctor,
    goals,
    insights,
    jobs,
    orgs,
    report,
    serve,
    sources,
    status,
    sync,
    tokens,
)
from dpo.cli.logs import LogFormat, setup_logging
from dpo.cli.render import LAUNCHED
from dpo.errors import EXIT_UNEXPECTED, DpoError, describe


class DpoGroup(TyperGroup):
    """Turns library errors into one `Error: …` line on stderr and the documented exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DpoError as exc:
            _fail(ctx, f"Error: {_with_hint(exc)}", exc.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debug(ctx) or type(exc).__module__.startswith(("click", "typer")):
                raise
            _fail(ctx, f"Error: unexpected {describe(exc)} (run with --debug to see why)", 1)


def _with_hint(exc: DpoError) -> str:
    return f"{exc.message} — {exc.hint}" if exc.hint else exc.message


def _fail(ctx: Any, line: str, code: int) -> None:
    typer.echo(line, err=True)
    ctx.exit(code or EXIT_UNEXPECTED)


def _debug(ctx: Any) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("DPO_DEBUG") == "1"


app = typer.Typer(
    cls=DpoGroup,
    name="dpo",
    help="Digital Performance Optimizer: marketing data from GA4, Meta Ads and WooCommerce "
    "in one database, rolled up into KPIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dpo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML config file (default: $DPO_CONFIG, then the user's config dir).",
            dir_okay=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log one line per job event on stderr.")
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="Log lines as text or JSON.")
    ] = LogFormat.text,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Digital Performance Optimizer."""
    from dpo.settings import configure

    ctx.meta[LAUNCHED] = datetime.now(UTC)  # before any command's heavy imports
    setup_logging(debug=debug, verbose=verbose, fmt=log_format)
    configure(config_file=config)


app.command("init")(db.init)
app.command("demo")(demo.demo)
app.command("sync")(sync.sync)
app.command("aggregate")(aggregate.aggregate)
app.command("report")(report.report)
app.command("status")(status.status)
app.command("doctor")(doctor.doctor)
app.command("serve")(serve.serve)
app.add_typer(orgs.app, name="orgs")
app.add_typer(sources.app, name="sources")
app.add_typer(goals.app, name="goals")
app.add_typer(jobs.app, name="jobs")
app.add_typer(insights.app, name="insights")
app.add_typer(tokens.app, name="tokens")


def main() -> None:
    """Console-script entry point."""
    app()
