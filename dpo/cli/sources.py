"""`dpo sources`: connect organizations to GA4, Meta Ads, WooCommerce or the demo source."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dpo.cli import ORG_HELP, command_group, render, the_org
from dpo.connectors import REGISTRY, SourceKind, kinds_text

if TYPE_CHECKING:
    from dpo.ops.verify import VerifyResult

app = command_group(help="Sources: an organization's upstream accounts.")


def _account_help() -> str:
    from dpo.connectors import connector_classes

    return "; ".join(f"{kind}: {cls.account_help}" for kind, cls in connector_classes().items())


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
OrgOpt = Annotated[str | None, typer.Option(help=ORG_HELP)]
# `sources add acme meta`, the older spelling: the organization first, then the kind.
OlderKindArg = Annotated[str | None, typer.Argument(hidden=True)]
EndpointOpt = Annotated[
    str | None, typer.Option(help="API base URL override (proxies, sandboxes, tests).")
]
SecretEnvOpt = Annotated[
    str | None, typer.Option(help="Environment variable holding the credential.")
]
SecretFileOpt = Annotated[
    Path | None, typer.Option(help="File holding the credential.", dir_okay=False)
]
NameOpt = Annotated[str | None, typer.Option(help="Display name.")]
LookbackOpt = Annotated[
    int | None, typer.Option(help="Days re-fetched on every run (upstream restatement).")
]
NoCheckOpt = Annotated[
    bool,
    typer.Option(
        "--no-check",
        help="Take the secret reference as it is, though it cannot be read here (a variable "
        "set only in cron's environment file, say).",
    ),
]


def _settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--setting")
        out[key.strip()] = value.strip()
    return out


def _fields(
    account: str | None,
    endpoint: str | None,
    secret_env: str | None,
    secret_file: Path | None,
    name: str | None,
    lookback_days: int | None,
    setting: list[str] | None,
) -> dict[str, object]:
    """The source fields `sources add` and `sources update` were given."""
    return {
        "account": account,
        "endpoint": endpoint,
        "secret_env": secret_env,
        "secret_file": str(secret_file) if secret_file else None,
        "name": name,
        "lookback_days": lookback_days,
        "settings": _settings(setting or []),
    }


@app.command("add")
def add(
    kind: Annotated[str, typer.Argument(metavar="KIND", help=f"Upstream kind: {kinds_text()}.")],
    older: OlderKindArg = None,
    *,
    org: OrgOpt = None,
    account: Annotated[
        str,
        typer.Option(help=f"The upstream account: {_account_help()}."),
    ],
    endpoint: EndpointOpt = None,
    secret_env: SecretEnvOpt = None,
    secret_file: SecretFileOpt = None,
    name: NameOpt = None,
    lookback_days: LookbackOpt = None,
    setting: Annotated[
        list[str] | None, typer.Option(help="Connector setting KEY=VALUE (repeatable).")
    ] = None,
    no_check: NoCheckOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Connect an organization to an upstream account of KIND."""
    from dpo.resources import sources
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow

    org, chosen = _org_and_kind([kind, older], org, kind_required=True)
    data = {
        "kind": chosen,
        **_fields(account, endpoint, secret_env, secret_file, name, lookback_days, setting),
    }
    with session_scope() as s:
        added = sources.add_source(s, org, data, today=utcnow().date(), check_secret=not no_check)
    if json_:
        render.print_json(added)
    else:
        typer.echo(f"Added source #{added.id} {added.name} to {org}.")
        typer.echo(f"Check its credentials: dpo sources test {added.kind} --org {org}")


@app.command("update")
def update(
    source_id: Annotated[
        int, typer.Argument(metavar="ID", help="The source's id (`sources list`).")
    ],
    account: Annotated[str | None, typer.Option(help="The upstream account.")] = None,
    endpoint: EndpointOpt = None,
    secret_env: SecretEnvOpt = None,
    secret_file: SecretFileOpt = None,
    name: NameOpt = None,
    lookback_days: LookbackOpt = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(help="Connector setting KEY=VALUE (repeatable; KEY= for the default)."),
    ] = None,
    no_check: NoCheckOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Change a source: fix its account or secret, its settings, its lookback."""
    from dpo.resources import sources
    from dpo.storage.db import session_scope
    from dpo.storage.models import utcnow

    data = _fields(account, endpoint, secret_env, secret_file, name, lookback_days, setting)
    with session_scope() as s:
        changed = sources.update_source(
            s,
            source_id,
            {k: v for k, v in data.items() if v is not None},
            today=utcnow().date(),
            check_secret=not no_check,
        )
    if json_:
        render.print_json(changed)
    else:
        typer.echo(f"Updated source #{changed.id} {changed.name} of {changed.org}.")


@app.command("disable")
def disable(
    source_id: Annotated[int, typer.Argument(metavar="ID", help="The source's id.")],
    json_: JsonOpt = False,
) -> None:
    """Stop syncing and watching a source; its data stays in every report."""
    _set_enabled(source_id, enabled=False, json_=json_)


@app.command("enable")
def enable(
    source_id: Annotated[int, typer.Argument(metavar="ID", help="The source's id.")],
    json_: JsonOpt = False,
) -> None:
    """Sync and watch a disabled source again."""
    _set_enabled(source_id, enabled=True, json_=json_)


def _set_enabled(source_id: int, *, enabled: bool, json_: bool) -> None:
    from dpo.resources import sources
    from dpo.storage.db import session_scope

    with session_scope() as s:
        changed = sources.set_enabled(s, source_id, enabled=enabled)
    if json_:
        render.print_json(changed)
    else:
        state = "enabled" if enabled else "disabled: no longer synced or watched, its data kept"
        typer.echo(f"Source #{changed.id} {changed.name} of {changed.org} {state}.")


@app.command("remove")
def remove(
    source_id: Annotated[int, typer.Argument(metavar="ID", help="The source's id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Remove a source and its data (`disable` keeps the data); asks first unless --yes."""
    from dpo.resources import sources
    from dpo.storage.db import session_scope

    with session_scope() as s:
        source = sources.get_source(s, source_id)
        facts = sources.facts_of(s, source_id)
        plural = "" if facts == 1 else "s"
        what = f"source #{source_id} {source.name} and its {facts:,} fact{plural}"
        render.confirm_removal(what, yes=yes)
        removed = sources.remove_source(s, source_id)
    if json_:
        render.print_json({"source": removed, "facts_removed": facts})
    else:
        typer.echo(
            f"Removed {what}; the rollups of {removed.org} are rebuilt by the next `dpo aggregate`."
        )


@app.command("list")
def list_(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    json_: JsonOpt = False,
) -> None:
    """List sources."""
    from dpo.resources import sources
    from dpo.storage.db import session_scope

    with session_scope() as s:
        items = sources.list_sources(s, org_slug=org)
    if json_:
        render.print_json(items)
        return
    render.print_table(
        "Sources",
        ["id", "org", "kind", "account", "name", "secret", "enabled"],
        [(x.id, x.org, x.kind, x.account, x.name, x.secret_ref, x.enabled) for x in items],
        empty="No sources yet: add one with `dpo sources add KIND --org ORG --account …`.",
    )


@app.command("test")
def test(
    kind: Annotated[
        str | None, typer.Argument(metavar="KIND", help="Only sources of this kind.")
    ] = None,
    older: OlderKindArg = None,
    org: OrgOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Check the credentials of an organization's sources with one cheap call each (exit 4 if
    refused)."""
    from dpo.jobs.runner import overall_exit_code_of
    from dpo.resources import sources
    from dpo.storage.db import session_scope

    org, kind = _org_and_kind([kind, older], org, kind_required=False)

    with session_scope() as s:
        checks = sources.check_sources(s, org, kind=kind)
    if json_:
        render.print_json([c.__dict__ for c in checks])
    else:
        for c in checks:
            if c.is_ok:
                typer.echo(f"{c.source}: ok — {c.message}")
            else:
                typer.echo(f"Error: {c.source}: {c.message}", err=True)
    raise typer.Exit(overall_exit_code_of(c.exit_code for c in checks))


@app.command("verify")
def verify(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    kind: Annotated[
        SourceKind | None, typer.Option(metavar="KIND", help="Only sources of this kind.")
    ] = None,
    days: Annotated[
        int,
        typer.Option(min=1, max=400, help="Compare the last N complete days (each upstream's)."),
    ] = 28,
    repair: Annotated[
        bool, typer.Option("--repair", help="Re-sync the drifting days, then compare again.")
    ] = False,
    every_row: Annotated[
        bool, typer.Option("--all", help="Show every day and metric, not only the drifting.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing unless something drifts or fails.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Compare each source's stored days with its upstream's own daily figures.

    Shows the days and metrics that drift beyond their tolerance, and a line per source; exit 1
    when something drifts, 75 when an upstream fails for now. --repair re-syncs exactly the
    drifting days and compares them again."""
    from dpo.jobs.runner import overall_exit_code_of
    from dpo.ops.verify import VerifyRequest, verify_sources
    from dpo.storage.db import ready_engine
    from dpo.storage.models import utcnow

    request = VerifyRequest(now=utcnow(), days=days, repair=repair)
    results = verify_sources(
        ready_engine(), request, org_slug=org, kind=kind.value if kind else None
    )
    if json_:
        render.print_json([r.as_dict(every_row=every_row) for r in results])
    else:
        for result in results:
            _print_verification(result, every_row=every_row, quiet=quiet)
    raise typer.Exit(overall_exit_code_of(r.exit_code for r in results))


def _print_verification(result: "VerifyResult", *, every_row: bool, quiet: bool) -> None:
    """A source's compared figures (the drifting ones unless `every_row`) and its summary."""
    from dpo.ops.verify import VerifyStatus

    if result.status is VerifyStatus.failed:
        typer.echo(f"Error: {result.label}: {result.message}", err=True)
        return
    if quiet and result.status is not VerifyStatus.drift:
        return
    rows = result.rows if every_row else result.drift
    if rows:
        render.print_table(
            f"{result.label}: {result.timezone} days {result.first_day} to {result.last_day}",
            ["day", "metric", "stored", "upstream", "difference", "tolerance", "drift"],
            [
                (
                    r.day,
                    r.metric,
                    r.stored,
                    r.upstream,
                    f"{r.difference:+f}",
                    r.tolerance,
                    "yes" if r.is_drift else "",
                )
                for r in rows
            ],
            empty="",
        )
    status = "skipped: " if result.status is VerifyStatus.skipped else ""
    typer.echo(f"{result.label}: {status}{result.message}")


def _org_and_kind(
    words: list[str | None], org: str | None, *, kind_required: bool
) -> tuple[str, str | None]:
    """The organization and kind of `KIND`, or of `ORG KIND`, the older spelling that put the
    organization first (`sources add acme meta`, `sources test acme`)."""
    from dpo.errors import InvalidInputError

    given = [w for w in words if w is not None]
    positional = given[0] if len(given) == 2 else None
    if len(given) == 1 and not kind_required and given[0] not in REGISTRY:
        positional, given = given[0], []  # `sources test acme`: every kind of acme
    kind = given[-1] if given else None
    if kind is not None and kind not in REGISTRY:
        raise InvalidInputError(f"unknown kind {kind!r}: use {kinds_text()}")
    if kind is None and kind_required:
        raise InvalidInputError(f"give the upstream KIND: {kinds_text()}")
    return the_org(org, positional), kind
