"""No change is missed after a backfill: whatever runs a source had — explicit `--until` ranges,
first runs, runs whose time budget ran out, runs that failed half-way — plain runs afterwards
leave the same facts as a fresh full sync of the same upstream.

Every sync goes through `dpo sync`, the real client (requests for WooCommerce, the Meta
connector's own) and a fake upstream on 127.0.0.1, on SQLite and PostgreSQL. The CLI's clock is
moved by the tests; retry waits are recorded, never slept.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import Result

from dpo.connectors import base
from dpo.connectors.base import Window
from dpo.ingest import sync
from dpo.ingest.plan import plan_windows
from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import GaHarness, Harness, MetaHarness, WooHarness, utc
from tests.fakes.http import Request, Response

NY = ZoneInfo("America/New_York")  # the Woo harness's store
LA = ZoneInfo("America/Los_Angeles")  # the Meta harness's ad account
# The nightly rescan reaches back two days only: older changes are found by the mark alone.
MARK_ONLY = ("rescan_days=2", "page_size=100")

Key = tuple[str, datetime, str, str]
Facts = dict[Key, tuple[object, ...]]


# --- fixtures ------------------------------------------------------------------------------------


class BudgetCut:
    """Spends a run's time budget at a chosen point, through the clock `Budget` reads: while the
    run prepares (0), once it has planned its windows (1), or once it has synced n - 1 windows
    (n). The run then stops as it would at that moment with a real `--max-seconds`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at: int | None = None
        self.steps = 0
        plan, replace = plan_windows, sync.replace_window

        def planned(*args: Any, **kwargs: Any) -> list[Window]:
            self.steps += 1
            return plan(*args, **kwargs)

        def replaced(*args: Any, **kwargs: Any) -> int:
            written = replace(*args, **kwargs)
            self.steps += 1
            return written

        monkeypatch.setattr(sync, "plan_windows", planned)
        monkeypatch.setattr(sync, "replace_window", replaced)
        monkeypatch.setattr(base, "monotonic", self._monotonic)

    def _monotonic(self) -> float:
        spent = self.at is not None and self.steps >= self.at
        return time.monotonic() + (1e9 if spent else 0.0)

    def run(self, cli: CliInvoker, *args: str, at: int) -> Result:
        """`dpo ARGS… --max-seconds 3600`, its budget spent at step `at`."""
        self.steps, self.at = 0, at
        try:
            return cli(*args, "--max-seconds", "3600")
        finally:
            self.at = None


@pytest.fixture
def cut(monkeypatch: pytest.MonkeyPatch) -> BudgetCut:
    return BudgetCut(monkeypatch)


# --- helpers -------------------------------------------------------------------------------------


def add_source(cli: CliInvoker, harness: Harness, org: str, *settings: str) -> None:
    cli.ok("orgs", "add", org, "--name", org, "--timezone", harness.tz, "--currency", "USD")
    if isinstance(harness, WooHarness):
        args = ["--account", harness.fake.url, "--secret-env", "ACME_WOO_KEY"]
    else:
        args = harness.source_args()
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", org, harness.kind, *args, *extra)


def facts(db: Database, org: str) -> Facts:
    """The facts of `org`'s source, by (grain, hour, channel, campaign)."""
    rows = db.rows(
        "SELECT f.grain, f.period_start, f.channel, f.campaign, f.campaign_name, f.currency, "
        "f.sessions, f.users, f.conversions, f.impressions, f.clicks, f.spend, f.orders, "
        "f.revenue, f.refunds, f.attributed_conversions, f.attributed_revenue "
        "FROM fact f JOIN organization o ON o.id = f.org_id WHERE o.slug = :org",
        org=org,
    )
    return {(g, utc(start), ch, ca): tuple(rest) for g, start, ch, ca, *rest in rows}


def fresh_sync(cli: CliInvoker, db: Database, harness: Harness, *, like: str) -> Facts:
    """The facts a new source of the same upstream gets from one full sync of the days `like`'s
    source covers."""
    covered = db.scalar(
        "SELECT s.covered_from FROM sync_state s JOIN source ON source.id = s.source_id "
        "JOIN organization o ON o.id = source.org_id WHERE o.slug = :org",
        org=like,
    )
    since = utc(covered).astimezone(ZoneInfo(harness.tz)).date()
    org = f"fresh-{like}"
    add_source(cli, harness, org, *(["page_size=100"] if harness.kind == "woo" else []))
    cli.ok("sync", harness.kind, "--org", org, "--since", since.isoformat())
    return facts(db, org)


def differing(got: Facts, want: Facts) -> list[str]:
    """The facts that differ, one line each (the first 10). An hour with nothing in it is the
    same as no row: a sync from before a store's first order starts at that order's day."""
    keys = sorted(
        k
        for k in got.keys() | want.keys()
        if got.get(k) != want.get(k) and not (_empty(got.get(k)) and _empty(want.get(k)))
    )
    return [f"{k[1]:%m-%d %H:%M} {k[0]} {k[3]}: {got.get(k)} != {want.get(k)}" for k in keys[:10]]


def _empty(row: tuple[object, ...] | None) -> bool:
    """No row, or a row whose figures are all zero or not reported."""
    return row is None or all(not v for v in row[2:])


def store(woo: WooHarness, first: date, last: date) -> dict[date, list[int]]:
    """Two orders on each day from `first` to `last` (New York); their ids by day."""
    ids: dict[date, list[int]] = {}
    day = first
    while day <= last:
        for hour in (9, 15):
            moment = datetime.combine(day, clock_time(hour, 10), NY)
            order = woo.woo.add_order(moment, total=f"{day.day + hour}.00")
            ids.setdefault(day, []).append(order["id"])
        day += timedelta(days=1)
    return ids


def change(woo: WooHarness, clock: Clock, oid: int, **changes: Any) -> None:
    """Change an order in the store now (per the CLI's clock)."""
    woo.woo.clock = clock.moment
    woo.woo.touch(oid, **changes)


def is_window(request: Request) -> bool:
    """A listing of one window's orders (by creation time), not one of a run's preparation."""
    return request.path.endswith("/orders") and request.arg("before") is not None


def is_preparing(request: Request) -> bool:
    return request.path.endswith("/orders") and request.arg("before") is None


def store_error(status: int) -> Response:
    if status == 401:
        body = {
            "code": "woocommerce_rest_authentication_error",
            "message": "Consumer key is invalid.",
        }
    else:
        body = {"code": "internal_server_error", "message": "There has been a critical error."}
    return Response.json({**body, "data": {"status": status}}, status)


# --- WooCommerce: targeted ---------------------------------------------------------------------


def test_orders_changed_after_a_range_run_are_found_by_the_next_plain_runs(
    cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock
) -> None:
    ids = store(woo, date(2026, 3, 1), date(2026, 3, 9))
    add_source(cli, woo, "acme", *MARK_ONLY)
    cli.ok("sync", "woo", "--since", "2026-03-01", "--until", "2026-03-09")  # the first run
    clock.advance(minutes=30)
    change(woo, clock, ids[date(2026, 3, 3)][0], status="cancelled")
    change(woo, clock, ids[date(2026, 3, 4)][1], status="refunded", refunds=("19.00",))
    clock.advance(hours=1)
    cli.ok("sync", "woo")
    clock.advance(days=1)
    cli.ok("sync", "woo")
    got = facts(database, "acme")
    assert differing(got, fresh_sync(cli, database, woo, like="acme")) == []


CUTS = {
    "while it prepares": 0,
    "before its first window": 1,
    "after five windows": 6,
}


@pytest.mark.parametrize("how", [*CUTS, "on a retry wait beyond the budget"])
@pytest.mark.parametrize("until", [None, "2026-03-09"])
def test_a_first_run_cut_short_by_its_budget_misses_no_later_change(
    cli: CliInvoker,
    database: Database,
    woo: WooHarness,
    clock: Clock,
    cut: BudgetCut,
    how: str,
    until: str | None,
) -> None:
    ids = store(woo, date(2026, 3, 1), date(2026, 3, 9))
    add_source(cli, woo, "acme", *MARK_ONLY)
    first = ["sync", "woo", "--since", "2026-03-01", *(["--until", until] if until else [])]
    if how in CUTS:
        result = cut.run(cli, *first, at=CUTS[how])
    else:  # the store asks for a wait of two hours after five windows; the budget is a minute
        body = {"code": "woocommerce_rest_too_many_requests", "message": "Slow down."}
        slow_down = Response.json(body, 429, **{"Retry-After": "7200"})
        woo.fake.fail(slow_down, times=None, when=is_window, after=5)
        result = cli(*first, "--max-seconds", "60")
        woo.fake.clear_faults()
    assert result.exit_code == 75, result.output
    clock.advance(minutes=30)
    for day_ids in ids.values():
        change(woo, clock, day_ids[0], status="cancelled")
    clock.advance(hours=1)
    cli.ok("sync", "woo")
    clock.advance(days=1)
    cli.ok("sync", "woo")
    got = facts(database, "acme")
    assert differing(got, fresh_sync(cli, database, woo, like="acme")) == []


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("until", [None, "2026-03-09"])
def test_a_run_that_fails_half_way_misses_no_later_change(
    cli: CliInvoker,
    database: Database,
    woo: WooHarness,
    clock: Clock,
    status: int,
    until: str | None,
) -> None:
    ids = store(woo, date(2026, 3, 1), date(2026, 3, 9))
    add_source(cli, woo, "acme", *MARK_ONLY)
    woo.fake.fail(store_error(status), times=None, when=is_window, after=5)
    first = ["sync", "woo", "--since", "2026-03-01", *(["--until", until] if until else [])]
    assert cli(*first).exit_code == (4 if status == 401 else 75)
    woo.fake.clear_faults()
    assert database.scalar("SELECT count(*) FROM fact_change") == 5  # five windows kept
    clock.advance(minutes=30)
    for day_ids in ids.values():
        change(woo, clock, day_ids[1], status="refunded", refunds=("1.00",))
    clock.advance(hours=1)
    cli.ok("sync", "woo")
    clock.advance(days=1)
    cli.ok("sync", "woo")
    got = facts(database, "acme")
    assert differing(got, fresh_sync(cli, database, woo, like="acme")) == []


def test_the_nightly_rescan_of_a_range_run_is_owed_to_the_next_plain_run(
    cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock
) -> None:
    ids = store(woo, date(2026, 3, 1), date(2026, 3, 9))
    add_source(cli, woo, "acme", "rescan_days=12", "reconcile_days=0", "page_size=100")
    cli.ok("sync", "woo", "--since", "2026-03-01")
    clock.advance(minutes=30)
    woo.woo.clock = clock.moment
    woo.woo.trash(ids[date(2026, 3, 3)][0])  # only a rescan finds it (no reconciled ids)
    clock.advance(days=1)
    cli.ok("sync", "woo", "--since", "2026-03-11", "--until", "2026-03-11")  # first of the day
    cli.ok("sync", "woo")
    got = facts(database, "acme")
    assert differing(got, fresh_sync(cli, database, woo, like="acme")) == []


# --- Meta: restatement -------------------------------------------------------------------------


def restate(meta: MetaHarness, day: date) -> None:
    """Meta revises a day's attributed purchases (late conversions)."""
    for (d, _campaign), figures in meta.meta.daily.items():
        if d == day:
            figures.purchases += 3
            figures.value += Decimal("120.00")


def test_restatement_owed_before_a_range_that_moves_the_watermark_is_still_fetched(
    cli: CliInvoker, database: Database, meta: MetaHarness, clock: Clock, cut: BudgetCut
) -> None:
    add_source(cli, meta, "acme")
    cli.ok("sync", "meta", "--since", "2026-03-05")
    restate(meta, date(2026, 3, 9))  # yesterday's figures settle
    clock.advance(days=1)
    # The first run of 11 March plans the restatement, then its budget runs out: it owes it.
    assert cut.run(cli, "sync", "meta", at=1).exit_code == 75
    # A range that moves the watermark past 9 March, whose lookback the last run promised.
    cli.ok("sync", "meta", "--since", "2026-03-10", "--until", "2026-03-11")
    cli.ok("sync", "meta")
    got = facts(database, "acme")
    assert differing(got, fresh_sync(cli, database, meta, like="acme")) == []


def test_a_range_run_first_on_a_new_day_owes_the_restatement_to_the_next_run(
    cli: CliInvoker, database: Database, meta: MetaHarness, clock: Clock
) -> None:
    add_source(cli, meta, "acme")
    cli.ok("sync", "meta", "--since", "2026-03-05")
    restate(meta, date(2026, 3, 6))
    clock.advance(days=1)
    cli.ok("sync", "meta", "--since", "2026-03-11", "--until", "2026-03-11")
    cli.ok("sync", "meta")
    got = facts(database, "acme")
    assert differing(got, fresh_sync(cli, database, meta, like="acme")) == []


# --- GA: processing latency --------------------------------------------------------------------


def test_a_day_ga_still_revised_is_fetched_though_a_range_moved_the_lookback_past_it(
    cli: CliInvoker, database: Database, ga: GaHarness, clock: Clock
) -> None:
    add_source(cli, ga, "acme")
    cli.ok("sync", "ga", "--since", "2026-03-05")  # 10 March: the lookback reaches 7 March
    ga.restate(clock)  # GA's processing adds late sessions and revenue to 7 March
    clock.advance(days=1)
    # A range that moves the watermark into 11 March, so the lookback starts on 8 March.
    cli.ok("sync", "ga", "--since", "2026-03-10", "--until", "2026-03-11")
    cli.ok("sync", "ga")
    got = facts(database, "acme")
    assert differing(got, fresh_sync(cli, database, ga, like="acme")) == []


# --- WooCommerce: any interleaving ---------------------------------------------------------------

FIRST = date(2026, 2, 27)  # the store's first day
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
STATUSES = ("processing", "completed", "on-hold", "pending", "cancelled", "refunded")
CHANGES = ("create", "cancel", "refund", "part-refund", "trash", "restore", "delete")


@dataclass(frozen=True)
class Stop:
    """How a run ends early: its budget spent at a step (see BudgetCut), or the store failing
    its window listings after `fail_after` of them (or its preparation)."""

    budget_at: int | None = None
    fail_after: int | None = None
    preparing: bool = False
    status: int = 401


@dataclass(frozen=True)
class Run:
    since: int | None  # --since, days after FIRST (None: none)
    days: int | None  # --until, days after --since (None: a plain run)
    stop: Stop | None


@dataclass(frozen=True)
class Change:
    kind: str
    pick: int  # which order
    when: float  # a created order's time, as a fraction of the time from FIRST to now


@dataclass(frozen=True)
class Advance:
    minutes: int


Step = Run | Change | Advance

_stopped = st.one_of(
    st.builds(Stop, budget_at=st.integers(0, 9)),
    st.builds(Stop, fail_after=st.integers(0, 8), status=st.sampled_from([401, 500])),
    st.builds(Stop, preparing=st.just(True), status=st.sampled_from([401, 500])),
)
_stops = st.one_of(st.none(), _stopped)
_ranges = st.builds(Run, since=st.integers(0, 9), days=st.integers(0, 11), stop=_stops)
_runs = st.one_of(
    st.builds(Run, since=st.sampled_from([None, 0]), days=st.none(), stop=_stops), _ranges
)
_changes = st.builds(
    Change,
    kind=st.sampled_from(CHANGES),
    pick=st.integers(0, 10_000),
    when=st.floats(0, 1, exclude_max=True),
)
_advances = st.builds(Advance, minutes=st.sampled_from([5, 40, 130, 11 * 60, 25 * 60]))
_steps = st.lists(st.one_of(_runs, _changes, _changes, _advances), max_size=10)
# A source is synced first (a range, or a run stopped early, as often as not), then changed.
_plain_stopped = st.builds(Run, since=st.sampled_from([None, 0]), days=st.none(), stop=_stopped)
_first = st.one_of(_runs, _ranges, _plain_stopped)
_then = st.lists(_changes, min_size=1, max_size=3)
STORIES = st.builds(lambda first, then, rest: [first, *then, *rest], _first, _then, _steps)

_sources = count()


class Story:
    """Plays steps against a new source of a freshly stocked fake store."""

    def __init__(
        self, cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock, cut: BudgetCut
    ) -> None:
        self.cli, self.database, self.woo, self.clock, self.cut = cli, database, woo, clock, cut
        self.org = ""

    def tell(self, steps: list[Step], *, seed: int, rescan_days: int) -> list[str]:
        """Play `steps`, then one plain run; the facts it leaves that differ from those of a
        fresh full sync of the same days."""
        self.org = f"t{next(_sources)}"
        self.clock.moment = START
        self.woo.woo.orders.clear()
        self.woo.fake.requests.clear()
        seed_store(self.woo, seed, now=START)
        # Reconciled ids reach back past the store's first day: every trashed order is noticed.
        settings_ = (f"rescan_days={rescan_days}", "reconcile_days=30", "page_size=100")
        add_source(self.cli, self.woo, self.org, *settings_)
        for step in steps:
            self.play(step)
        self.cli.ok("sync", "woo", "--org", self.org)
        want = fresh_sync(self.cli, self.database, self.woo, like=self.org)
        return differing(facts(self.database, self.org), want)

    def play(self, step: Step) -> None:
        if isinstance(step, Advance):
            self.clock.advance(minutes=step.minutes)
        elif isinstance(step, Change):
            self.woo.woo.clock = self.clock.moment
            self.change(step)
        else:
            result = self.run(step)
            assert result.exit_code in (0, 4, 75), (step, result.output)

    def run(self, run: Run) -> Result:
        args = ["sync", "woo", "--org", self.org]
        today = self.clock.moment.astimezone(NY).date()
        if run.since is not None:
            since = min(FIRST + timedelta(days=run.since), today)
            args += ["--since", since.isoformat()]
            if run.days is not None:
                args += ["--until", min(since + timedelta(days=run.days), today).isoformat()]
        stop = run.stop
        if stop is not None and stop.budget_at is not None:
            return self.cut.run(self.cli, *args, at=stop.budget_at)
        if stop is not None:
            when: Callable[[Request], bool] = is_preparing if stop.preparing else is_window
            after = stop.fail_after or 0
            self.woo.fake.fail(store_error(stop.status), times=None, when=when, after=after)
        try:
            return self.cli(*args)
        finally:
            self.woo.fake.clear_faults()

    def change(self, step: Change) -> None:
        fake = self.woo.woo
        if step.kind == "create":  # created now, dated back (an order entered by hand)
            start = datetime.combine(FIRST, clock_time(), NY)
            created = start + (self.clock.moment - start) * step.when
            order = fake.add_order(created, status=STATUSES[step.pick % len(STATUSES)])
            fake.touch(order["id"])
            return
        can_change = CAN_CHANGE[step.kind]
        candidates = sorted(oid for oid, o in fake.orders.items() if can_change(o))
        if not candidates:
            return
        oid = candidates[step.pick % len(candidates)]
        total = Decimal(fake.orders[oid]["total"])
        if step.kind == "cancel":
            fake.touch(oid, status="cancelled")
        elif step.kind == "refund":
            fake.touch(oid, status="refunded", refunds=(str(total),))
        elif step.kind == "part-refund":
            fake.touch(oid, refunds=(f"{total / 2:.2f}",))
        elif step.kind == "trash":
            fake.trash(oid)
        elif step.kind == "restore":
            fake.touch(oid, status="processing")
        else:
            fake.delete(oid)


def _counted(order: dict[str, Any]) -> bool:
    return order["status"] in WooHarness.counted


# The orders each kind of change applies to (one whose figures it changes, where it can).
CAN_CHANGE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "cancel": _counted,
    "refund": lambda o: _counted(o) and o["status"] != "refunded",
    "part-refund": lambda o: _counted(o) and not o["refunds"],
    "trash": lambda o: o["status"] != "trash",
    "restore": lambda o: o["status"] == "trash",
    "delete": lambda o: True,
}


def seed_store(woo: WooHarness, seed: int, *, now: datetime) -> None:
    """A few orders a day from FIRST until `now`, in mixed statuses."""
    rng = random.Random(seed)
    moment = datetime.combine(FIRST, clock_time(), NY)
    while True:
        moment += timedelta(minutes=rng.randint(60, 16 * 60))
        if moment >= now:
            return
        status = rng.choice(STATUSES)
        total = f"{rng.randint(5, 300)}.{rng.randint(0, 99):02d}"
        refunds = (total,) if status == "refunded" else ()
        woo.woo.add_order(moment, status=status, total=total, refunds=refunds)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STORIES, seed=st.integers(0, 2**16), rescan_days=st.sampled_from([0, 2]))
# A range as the first run, then an older order cancelled.
@example(
    steps=[Run(since=0, days=11, stop=None), Change("cancel", 3, 0.0), Advance(130)],
    seed=1,
    rescan_days=0,
)
# An order created back on 9 March is noticed by a run that stops before fetching that day (its
# lookback); a range then moves the watermark, and the lookback, past it.
@example(
    steps=[
        Run(since=0, days=None, stop=None),
        Advance(25 * 60),
        Change("create", 0, 0.848),
        Advance(130),
        Run(since=None, days=None, stop=Stop(budget_at=1)),
        Run(since=11, days=1, stop=None),
    ],
    seed=1,
    rescan_days=0,
)
def test_after_any_runs_and_changes_one_plain_run_equals_a_fresh_full_sync(
    cli: CliInvoker,
    database: Database,
    woo: WooHarness,
    clock: Clock,
    cut: BudgetCut,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[Step],
    seed: int,
    rescan_days: int,
) -> None:
    monkeypatch.setenv("DPO_SYNC__INITIAL_DAYS", "3")  # a first run without --since: 3 days
    story = Story(cli, database, woo, clock, cut)
    assert story.tell(steps, seed=seed, rescan_days=rescan_days) == []
