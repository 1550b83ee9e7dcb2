"""`dpo fx`: exchange rates that convert money in other currencies into an organization's."""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dpo.cli import command_group, render

app = command_group(help="Exchange rates: convert money an upstream reports in another currency.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _said(saved: Any, json_: bool) -> None:
    if json_:
        render.print_json(saved)
        return
    parts = [f"{saved.added:,} added", f"{saved.changed:,} changed"]
    if saved.unchanged:
        parts.append(f"{saved.unchanged:,} unchanged")
    line = ", ".join(parts)
    if saved.first is not None and saved.first != saved.last:
        line += f" ({saved.first.isoformat()} → {saved.last.isoformat()})"
    typer.echo(f"Rates: {line}.")
    if saved.organizations:
        orgs = f"{saved.organizations} organization" + ("s" if saved.organizations > 1 else "")
        typer.echo(f"The next `dpo aggregate` recomputes the money of {orgs} with them.")


@app.command("set")
def set_(
    base: Annotated[str, typer.Argument(help="The currency converted from, e.g. EUR.")],
    quote: Annotated[str, typer.Argument(help="The currency converted into, e.g. USD.")],
    rate: Annotated[str, typer.Argument(help="How much QUOTE one BASE is worth, e.g. 1.0843.")],
    from_: Annotated[
        datetime,
        typer.Option(
            "--from",
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="The first local day the rate holds (until the pair's next rate).",
        ),
    ],
    json_: JsonOpt = False,
) -> None:
    """Set the rate of BASE in QUOTE from a day on (the inverse and crosses are derived)."""
    from dpo.resources import fx
    from dpo.storage.db import ready_engine

    given = fx.rate_from(base, quote, rate, from_.date(), source="dpo fx set")
    _said(fx.save_rates(ready_engine(), [given]), json_)


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV: date,base,quote,rate; the ECB's eurofxref-hist.csv (Date,USD,JPY,…: "
            "1 EUR in each); or the ECB Data Portal's CSV.",
            dir_okay=False,
        ),
    ],
    json_: JsonOpt = False,
) -> None:
    """Import rates from a CSV file: new days added, changed ones replaced, all or nothing."""
    from dpo.resources import fx
    from dpo.storage.db import ready_engine

    rates = fx.read_rates(path)
    _said(fx.save_rates(ready_engine(), rates), json_)


@app.command("list")
def list_(
    currency: Annotated[
        str | None, typer.Option(help="Only rates from or into this currency.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Only from this day on."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 100,
    json_: JsonOpt = False,
) -> None:
    """List rates, newest first."""
    from dpo.errors import InvalidInputError
    from dpo.resources import fx
    from dpo.storage.db import ready_engine
    from dpo.validation import check_currency

    code = None
    if currency is not None:
        try:
            code = check_currency(currency)
        except ValueError as exc:
            raise InvalidInputError(f"--currency: {exc}") from None
    with ready_engine().connect() as conn:
        rates = fx.list_rates(
            conn, currency=code, since=since.date() if since else None, limit=limit
        )
    if json_:
        render.print_json(rates)
        return
    render.print_table(
        "Exchange rates",
        ["from", "base", "quote", "rate", "source"],
        [(r.effective_from, r.base, r.quote, f"{r.rate.normalize():f}", r.source) for r in rates],
        empty="No exchange rates: add one with `dpo fx set EUR USD 1.0843 --from 2026-03-01` "
        "or `dpo fx import rates.csv`.",
    )
