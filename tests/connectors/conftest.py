"""Fixtures of the connector tests: recorded (never slept) waits."""

from __future__ import annotations

import pytest

from dpo.connectors import upstream


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait a connector asked for (none is really slept)."""
    recorded: list[float] = []
    monkeypatch.setattr(upstream, "sleep", recorded.append)
    return recorded
