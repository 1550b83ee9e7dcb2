"""What every connector's settings section shares; each connector declares its own model.

A kind's section (`[ga]`, `[meta]`…, or `DPO_GA__PAGE_SIZE`) holds defaults for every source
of that kind; a source's own settings (`dpo sources add … --setting KEY=VALUE`) override them.
`dpo.settings` builds one field per registered connector from `Connector.settings_model`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from dpo.metrics import BY_NAME as METRIC_NAMES
from dpo.validation import check_currency, check_timezone


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
ZoneName = Annotated[str, AfterValidator(check_timezone)]
"""An IANA time zone name such as Europe/Berlin."""
CurrencyCode = Annotated[str, AfterValidator(check_currency)]
"""An ISO 4217 currency code such as EUR (upper-cased)."""

_TOLERANCE = re.compile(r"^[0-9]+(\.[0-9]+)?%?$")


def _tolerance_map(value: Any) -> Any:
    """`sessions:2%, spend:0.05` (as `--setting verify_tolerances=…` gives it) or a mapping →
    {"sessions": "2%", "spend": "0.05"}: known metrics, each an amount or a share (`N%`)."""
    if isinstance(value, str):
        pairs = [part.partition(":") for part in value.split(",") if part.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError("expected METRIC:TOLERANCE pairs, e.g. sessions:2%,spend:0.05")
        value = {name.strip(): amount.strip() for name, _, amount in pairs}
    if not isinstance(value, Mapping):
        return value
    out = {}
    for metric, amount in value.items():
        if metric not in METRIC_NAMES:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRIC_NAMES)}")
        text = str(amount).strip()
        if not _TOLERANCE.match(text):
            raise ValueError(
                f"the tolerance of {metric} is {text!r}: use an amount (0.05) or a share (2%)"
            )
        out[str(metric)] = text
    return out


Tolerances = Annotated[dict[str, str], BeforeValidator(_tolerance_map)]


class UpstreamSettings(ConnectorSettings):
    """What every real upstream connector shares: endpoint retries and their bounds."""

    max_attempts: int = Field(default=5, ge=1, le=20)
    max_retry_wait_seconds: float = Field(default=300.0, gt=0)
    timeout_seconds: float = Field(default=60.0, gt=0)
    # How far `dpo sources verify` lets a stored day differ from the upstream's, per metric.
    verify_tolerances: Tolerances = Field(default_factory=dict)
