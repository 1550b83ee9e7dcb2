"""Connector registry: source kind → connector class, imported only when used."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from dpo.errors import ConfigError

if TYPE_CHECKING:
    from dpo.connectors.base import Connector

_REGISTRY: dict[str, str] = {
    "demo": "dpo.connectors.demo:DemoConnector",
    "ga": "dpo.connectors.ga:GaConnector",
    "meta": "dpo.connectors.meta:MetaConnector",
    "woo": "dpo.connectors.woo:WooConnector",
}


def is_available(kind: str) -> bool:
    """True when this version of dpo can sync sources of `kind`."""
    return kind in _REGISTRY


def connector_class(kind: str) -> type[Connector]:
    """The connector class for `kind`."""
    target = _REGISTRY.get(kind)
    if target is None:
        raise ConfigError(
            f"syncing {kind!r} sources is not available in this version of dpo",
            hint=f"available: {', '.join(sorted(_REGISTRY))}",
        )
    module, _, name = target.partition(":")
    cls: type[Connector] = getattr(import_module(module), name)
    return cls
