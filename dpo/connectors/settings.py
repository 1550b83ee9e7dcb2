"""What every connector's settings section shares; each connector declares its own model.

A kind's section (`[ga]`, `[meta]`…, or `DPO_GA__PAGE_SIZE`) holds defaults for every source
of that kind; a source's own settings (`dpo sources add … --setting KEY=VALUE`) override them.
`dpo.settings` builds one field per registered connector from `Connector.settings_model`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class ConnectorSettings(BaseModel):
    """Per-kind defaults (`[ga]`, `[meta]`, `[woo]`, `[demo]`); a source may override them."""

    model_config = ConfigDict(extra="allow")

    lookback_days: int | None = Field(default=None, ge=0, le=400)


def _comma_list(value: Any) -> Any:
    """`a, b` (as `--setting key=a,b` gives it) → ["a", "b"]; lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


NameList = Annotated[list[str], BeforeValidator(_comma_list)]


class UpstreamSettings(ConnectorSettings):
    """What every real upstream connector shares: endpoint retries and their bounds."""

    max_attempts: int = Field(default=5, ge=1, le=20)
    max_retry_wait_seconds: float = Field(default=300.0, gt=0)
    timeout_seconds: float = Field(default=60.0, gt=0)
