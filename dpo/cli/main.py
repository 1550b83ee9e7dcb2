"""The `dpo` command: the root app, global options, and the mapping of errors to exit codes.

Commands are loaded lazily: `COMMANDS` names each one's module and summary, and a command's
module is imported only when that command runs or shows its help. Command modules import only
typer and dpo's light modules at import time; the library (SQLAlchemy, connectors, pandas…) is
imported inside the commands. So `dpo --help` and light commands start fast.
"""

import contextlib
import importlib
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from dpo import __version__
from dpo.cli import command_group
from dpo.cli.logs import LogFormat, setup_logging
from dpo.cli.render import LAUNCHED
from dpo.errors import EXIT_UNEXPECTED, DpoError, describe


class Entry(NamedTuple):
    target: str  # "module:attribute": a command function or a Typer group
    summary: str  # what `dpo --help` lists (the command's own first sentence)


COMMANDS = {
    "init": Entry(
        "dpo.cli.db:init",
        "Create the database, or upgrade it to this version's schema (safe to re-run).",
    ),
    "demo": Entry(
        "dpo.cli.demo:demo",
        "Create a demo organization with demo GA, Meta and Woo sources, sync DAYS and report.",
    ),
    "sync": Entry(
        "dpo.cli.sync:sync",
        "Sync every enabled source of KIND, in day windows, each replaced atomically.",
    ),
    "aggregate": Entry(
        "dpo.cli.aggregate:aggregate",
        "Roll facts up per organization: only the ranges syncs changed, or everything with --full.",
    ),
    "report": Entry(
        "dpo.cli.report:report",
        "Show an organization's KPIs for a period, with changes, daily trends and top campaigns.",
    ),
    "status": Entry(
        "dpo.cli.status:status",
        "Show per source the last successful sync, data freshness and failures, and the latest "
        "run of every job; exit 1 when an enabled source is stale or has never synced.",
    ),
    "doctor": Entry(
        "dpo.cli.doctor:doctor",
        "Check configuration, DPO_HOME, time zones, the database and its schema, the clock, each "
        "enabled source's credentials and, with a broker configured, the workers.",
    ),
    "serve": Entry(
        "dpo.cli.serve:serve",
        "Serve the JSON API (docs at /docs): KPIs, charts, insights, goals; token required.",
    ),
    "worker": Entry(
        "dpo.cli.workers:worker",
        "Run a Celery worker that takes dpo's jobs from the broker (DPO_BROKER_URL) until stopped.",
    ),
    "schedule": Entry(
        "dpo.cli.workers:schedule",
        "Run Celery beat: queue each job of the schedule (crontab.example's, or [schedule]) on "
        "time.",
    ),
    "enqueue": Entry(
        "dpo.cli.workers:enqueue",
        "Queue one run of a job for the workers, one task per source or organization.",
    ),
    "orgs": Entry("dpo.cli.orgs:app", "Organizations: the clients whose data dpo keeps."),
    "sources": Entry("dpo.cli.sources:app", "Sources: an organization's upstream accounts."),
    "goals": Entry(
        "dpo.cli.goals:app",
        "Goals: KPI targets per day, week, month, quarter, year or date range.",
    ),
    "jobs": Entry("dpo.cli.jobs:app", "Job history: every sync run and how it ended."),
    "insights": Entry(
        "dpo.cli.insights:app", "Insights: anomalies, trends, recommendations, goal risks."
    ),
    "fx": Entry(
        "dpo.cli.fx:app",
        "Exchange rates: convert money an upstream reports in another currency.",
    ),
    "tokens": Entry(
        "dpo.cli.tokens:app", "API tokens for `dpo serve`: one organization's, or admin."
    ),
}


def load_command(name: str) -> Any:
    """The click command `name` of the root group, built from its module."""
    module, _, attr = COMMANDS[name].target.partition(":")
    found = getattr(importlib.import_module(module), attr)
    command: Any
    if isinstance(found, typer.Typer):
        command = typer.main.get_group(found)
    else:
        holder = command_group(help="")
        holder.command(name)(found)
        command = typer.main.get_command(holder)
    command.name = name
    _name_placeholders(command)
    return command


# What an option's value is, in its help (click would say `<str>`, `<int range>`).
PLACEHOLDERS = {
    "by": "day|channel|campaign|source",
    "compare": "previous|yoy",
    "concurrency": "N",
    "currency": "CODE",
    "days": "N",
    "endpoint": "URL",
    "limit": "N",
    "lookback_days": "N",
    "org": "SLUG",
    "output": "FILE",
    "secret_env": "VAR",
    "secret_file": "FILE",
    "sensitivity": "NUMBER",
    "setting": "KEY=VALUE",
    "since": "YYYY-MM-DD",
    "stale_after": "MINUTES",
    "target": "NUMBER",
    "time_column": "COLUMN",
    "timezone": "ZONE",
    "until": "YYYY-MM-DD",
    "value_column": "COLUMN",
    "workers": "N",
}


def _complete_org(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """The organizations whose slug starts with what was typed (none when the database
    cannot be read: completion never fails)."""
    try:
        from dpo.config import configure
        from dpo.resources.orgs import list_orgs
        from dpo.storage.db import session_scope

        configure(config_file=ctx.find_root().params.get("config"))
        with session_scope() as s:
            return [o.slug for o in list_orgs(s) if o.slug.startswith(incomplete)]
    except Exception:
        return []


def _name_placeholders(command: Any) -> None:
    """Give every option that takes a value a placeholder that says what the value is; keep
    hidden arguments out of the usage line too."""
    for sub in getattr(command, "commands", {}).values():
        _name_placeholders(sub)
    for param in command.params:
        if param.param_type_name == "argument" and param.hidden:
            param.get_usage_pieces = lambda ctx: []  # an older spelling, still understood
        if param.name == "org":
            param._custom_shell_complete = _complete_org  # dpo sync --org <TAB>
        if param.param_type_name != "option" or param.is_flag or param.metavar is not None:
            continue
        if getattr(param.type, "choices", None) is None:  # a choice lists its values
            param.metavar = PLACEHOLDERS.get(param.name, param.name.upper())


class DpoGroup(TyperGroup):
    """The root group: loads commands from `COMMANDS` on demand, and turns every failure —
    library errors and click's usage errors — into one `Error: …` line on stderr and the
    documented exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """An unknown command names the closest known one (`dpo sycn`: did you mean `sync`?)."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            if close:
                ctx.fail(f"No such command {name!r}; did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from `COMMANDS`, without importing every command's module."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, TyperCommand(name, help=entry.summary).get_short_help_str(limit))
            for name, entry in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's usage errors as one line too: `Error: … — `dpo sync --help` shows the usage`."""
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        try:
            outcome = super().main(*args, **{**kwargs, "standalone_mode": False})
        except typer.TyperException as exc:  # click's usage and parameter errors
            _show_usage_error(exc)
            sys.exit(getattr(exc, "exit_code", EXIT_UNEXPECTED))
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(EXIT_UNEXPECTED)
        except SystemExit as exc:
            # Click meets a closed stdout outside a command (`dpo --help | head -1`) by wrapping
            # sys.stdout in its PacifyFlushWrapper and exiting 1: a reader that went away.
            if exc.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
                _reader_gone()
                sys.exit(0)
            raise
        sys.exit(outcome if isinstance(outcome, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        ctx.meta.setdefault(LAUNCHED, datetime.now(UTC))  # before the command's heavy imports
        try:
            return super().invoke(ctx)
        except DpoError as exc:
            _fail(ctx, f"Error: {_with_hint(exc)}", exc.exit_code)
        except BrokenPipeError:  # click would exit 1: a reader that went away is no error
            _reader_gone()
            ctx.exit(0)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debug(ctx) or type(exc).__module__.startswith(("click", "typer")):
                raise
            from dpo.storage.faults import database_fault

            if (fault := database_fault(exc)) is not None:
                _fail(ctx, f"Error: {_with_hint(fault)}", fault.exit_code)
            _fail(ctx, f"Error: unexpected {describe(exc)} (run with --debug to see why)", 1)


def _show_usage_error(exc: Any) -> None:
    ctx = getattr(exc, "ctx", None)
    if ctx is None or type(exc).__name__ == "NoArgsIsHelpError":  # that one is the help
        exc.show()
        return
    message = " ".join(exc.format_message().split()).removesuffix(".")
    extra = re.fullmatch(r"Got unexpected extra argument\S* \((\S+).*\)", message)
    if extra and any(p.name == "org" for p in ctx.command.params):
        message += f"; an organization is named with --org {extra.group(1)}"
    typer.echo(f"Error: {message} — `{ctx.command_path} --help` shows the usage", err=True)


def _with_hint(exc: DpoError) -> str:
    return f"{exc.message} — {exc.hint}" if exc.hint else exc.message


def _fail(ctx: Any, line: str, code: int) -> None:
    typer.echo(line, err=True)
    ctx.exit(code or EXIT_UNEXPECTED)


def _debug(ctx: Any) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("DPO_DEBUG") == "1"


app = command_group(
    cls=DpoGroup,
    name="dpo",
    help="Digital Performance Optimizer: marketing data from GA4, Meta Ads and WooCommerce "
    "in one database, rolled up into KPIs.",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
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
            metavar="FILE",
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
    from dpo.config import configure

    setup_logging(debug=debug, verbose=verbose, fmt=log_format)
    configure(config_file=config)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        _reader_gone()
        sys.exit(0)


def _reader_gone() -> None:
    """The reader of stdout went away (`dpo report | head -2`): point stdout at /dev/null, so
    that the interpreter's last flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):  # no real descriptor: captured output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
