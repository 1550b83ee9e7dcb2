"""The connector registry: a kind is declared once, by its class, and everything follows.

A new connector is one module, one registry line, its fake and its tests: the CLI's and the
API's kinds, the config section, the revenue owner rule and the metric check all come from the
class. A connector that is half-declared, unregistered or reporting undeclared metrics fails
loudly.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import dpo.connectors
from dpo import connectors, metrics
from dpo.connectors.base import Budget, Connector, FactRow, Role, SourceSpec, Window
from dpo.connectors.settings import ConnectorSettings
from dpo.errors import DpoError
from dpo.ingest.sync import fact_tuples
from dpo.rollup.aggregate import revenue_owners
from dpo.settings import get_settings, settings_class
from dpo.vocab import Grain
from tests.conftest import CliInvoker


class ShopSettings(ConnectorSettings):
    """`[shop]`: a store this test declares."""

    shop_page_size: int = 50


class ShopConnector(Connector):
    """A fourth kind of upstream, declared as a real one would be."""

    kind = "shop"
    summary = "A test shop"
    account_help = "the shop's handle"
    role = Role.store
    settings_model = ShopSettings
    metrics = frozenset({"orders", "revenue"})

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        yield FactRow(Grain.hour, window.start, orders=1, revenue=Decimal("9.90"))


@pytest.fixture
def shop_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(connectors.REGISTRY, "shop", f"{__name__}:ShopConnector")
    settings_class.cache_clear()
    yield
    settings_class.cache_clear()


def test_every_registered_kind_declares_itself() -> None:
    classes = connectors.connector_classes()
    assert list(classes) == list(connectors.REGISTRY) == [k.value for k in connectors.SourceKind]
    for kind, cls in classes.items():
        assert cls.kind == kind and cls.summary and cls.account_help
        assert cls.metrics <= set(metrics.NAMES)
        assert isinstance(get_settings().connector(kind), cls.settings_model)


def test_every_connector_module_is_registered() -> None:
    """A Connector class in dpo/connectors/ that the registry does not name is a mistake."""
    registered = {target.replace(":", ".") for target in connectors.REGISTRY.values()}
    found = set()
    for info in pkgutil.iter_modules(dpo.connectors.__path__, "dpo.connectors."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            is_connector = isinstance(value, type) and issubclass(value, Connector)
            if is_connector and value is not Connector and value.__module__ == info.name:
                found.add(f"{value.__module__}.{value.__name__}")
    assert found == registered


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"kind": "half"}, "does not declare summary, account_help, role, settings_model, metrics"),
        (
            {
                "kind": "typo",
                "summary": "s",
                "account_help": "a",
                "role": Role.ads,
                "settings_model": ConnectorSettings,
                "metrics": frozenset({"spnd"}),
            },
            "reports unknown metrics ['spnd']",
        ),
        (
            {
                "kind": "norole",
                "summary": "s",
                "account_help": "a",
                "role": "store",
                "settings_model": ConnectorSettings,
                "metrics": frozenset({"spend"}),
            },
            "role must be a Role",
        ),
    ],
)
def test_a_half_declared_connector_fails_when_it_is_made(
    declared: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        type("Half", (Connector,), declared)


def test_an_unregistered_kind_is_refused_with_the_available_ones() -> None:
    with pytest.raises(DpoError, match="not available") as caught:
        connectors.connector_class("shop")
    assert caught.value.hint == "available: ga, meta, woo or demo"


def test_a_registry_line_naming_the_wrong_class_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(connectors.REGISTRY, "shop", "dpo.connectors.ga:GaConnector")
    with pytest.raises(TypeError, match="is not a shop connector"):
        connectors.connector_class("shop")


@pytest.mark.usefixtures("shop_registered")
def test_one_registry_line_gives_a_config_section_and_the_revenue_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dpo.config import configure

    config = tmp_path / "dpo.toml"
    config.write_text("[shop]\nshop_page_size = 7\nlookback_days = 2\n")
    configure(config_file=config)
    section = get_settings().connector("shop")
    assert isinstance(section, ShopSettings) and section.shop_page_size == 7
    # a store owns revenue over GA; ads never do
    assert revenue_owners([(1, "ga", "123"), (2, "shop", "s"), (3, "meta", "act_1")]) == (2,)
    assert revenue_owners([(1, "ga", "123"), (3, "meta", "act_1")]) == (1,)


def test_a_row_with_a_metric_its_connector_does_not_declare_is_refused() -> None:
    spec = SourceSpec(1, 1, "acme", "shop", "s", "shop", "UTC", "EUR")
    window = Window.for_day(date(2026, 3, 1), ZoneInfo("UTC"))
    good = FactRow(Grain.hour, window.start, orders=2, spend=None)
    bad = FactRow(Grain.hour, window.start + timedelta(hours=1), spend=Decimal(5))
    assert len(list(fact_tuples([good], spec, window, declared=ShopConnector.metrics))) == 1
    with pytest.raises(DpoError, match="reported spend, which it does not declare"):
        list(fact_tuples([good, bad], spec, window, declared=ShopConnector.metrics))


def test_an_unknown_metric_cannot_be_put_in_a_row() -> None:
    with pytest.raises(TypeError, match="unknown metric spnd"):
        FactRow(Grain.hour, datetime(2026, 3, 1, tzinfo=UTC), spnd=Decimal(1))


def test_the_command_line_offers_every_registered_kind(cli: CliInvoker) -> None:
    help_text = cli.ok("sync", "--help").stdout
    assert "ga, meta, woo or demo" in help_text
    result = cli("sync", "shopify")
    assert result.exit_code == 2 and "'shopify' is not one of" in result.stderr
