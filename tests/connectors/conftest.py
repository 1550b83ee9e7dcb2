"""Fixtures of the connector tests: recorded (never slept) waits, served fake upstreams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dpo.connectors import upstream
from tests.conftest import Clock
from tests.connectors.harness import HARNESSES, GaHarness, Harness, MetaHarness, WooHarness


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait a connector asked for (none is really slept)."""
    recorded: list[float] = []
    monkeypatch.setattr(upstream, "sleep", recorded.append)
    return recorded


@pytest.fixture
def ga(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock, waits: list[float]
) -> Iterator[GaHarness]:
    harness = GaHarness(tmp_path, monkeypatch)
    with harness.serving():
        yield harness


@pytest.fixture
def meta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock, waits: list[float]
) -> Iterator[MetaHarness]:
    harness = MetaHarness(tmp_path, monkeypatch)
    with harness.serving():
        yield harness


@pytest.fixture
def woo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock, waits: list[float]
) -> Iterator[WooHarness]:
    harness = WooHarness(tmp_path, monkeypatch)
    harness.woo.orders.clear()  # each test adds the orders it needs
    with harness.serving():
        yield harness


@pytest.fixture(params=sorted(HARNESSES))
def upstream_(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    waits: list[float],
) -> Iterator[Harness]:
    """Each real upstream's harness in turn, its fake served."""
    harness = HARNESSES[request.param](tmp_path, monkeypatch)
    with harness.serving():
        yield harness
