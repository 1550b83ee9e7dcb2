"""The connector registry: one line per kind of upstream, imported only when used.

Everything else about a kind is declared by its class (`Connector` in `base.py`): the CLI's and
the API's list of kinds (`SourceKind`), the `[kind]` section of the settings, `--setting` keys,
which metrics it may report and whether its revenue is the organization's. A connector module
that is not registered here is never used; a registered one that is half-declared fails when it
is imported (see `Connector.__init_subclass__`).
"""

from __future__ import annotations

from enum import StrEnum
from importlib import import_module
from typing import TYPE_CHECKING

from dpo.errors import ConfigError

if TYPE_CHECKING:
    from dpo.connectors.base import Connector

REGISTRY: dict[str, str] = {
    "ga": "dpo.connectors.ga:GaConnector",
    "meta": "dpo.connectors.meta:MetaConnector",
    "woo": "dpo.connectors.woo:WooConnector",
    "demo": "dpo.connectors.demo:DemoConnector",
}

if TYPE_CHECKING:

    class SourceKind(StrEnum):
        """A registered kind (the members are REGISTRY's keys)."""

else:
    SourceKind = StrEnum("SourceKind", {kind: kind for kind in REGISTRY})
    SourceKind.__doc__ = "A registered kind (the members are REGISTRY's keys)."


def kinds() -> tuple[str, ...]:
    """Every registered kind, in registry order."""
    return tuple(REGISTRY)


def kinds_text(conjunction: str = "or") -> str:
    """`ga, meta, woo or demo`, for help texts."""
    *first, last = REGISTRY
    return f"{', '.join(first)} {conjunction} {last}" if first else last


def is_available(kind: str) -> bool:
    """True when this version of dpo can sync sources of `kind`."""
    return kind in REGISTRY


def connector_class(kind: str) -> type[Connector]:
    """The connector class for `kind`."""
    from dpo.connectors.base import Connector

    target = REGISTRY.get(kind)
    if target is None:
        raise ConfigError(
            f"syncing {kind!r} sources is not available in this version of dpo",
            hint=f"available: {kinds_text()}",
        )
    module, _, name = target.partition(":")
    cls = getattr(import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Connector)) or cls.kind != kind:
        raise TypeError(f"the registry's {kind!r} entry {target} is not a {kind} connector")
    return cls


def connector_classes() -> dict[str, type[Connector]]:
    """Every registered connector class, by kind."""
    return {kind: connector_class(kind) for kind in REGISTRY}
