"""The detector on the real labelled development set, as the README quotes it.

The set (NAB's realKnownCause and realAWSCloudwatch, 24 series) lives outside the
repository: `DPO_TEST_NAB_DEV` names it, else `../shared/datasets/nab-dev` beside the checkout.
Without it the test is skipped, unless `DPO_TEST_REQUIRE_NAB=1` (set by `.ci/run` when the set
is on the machine) makes that a failure.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

real_eval = importlib.import_module("bench.real_eval")

ROOT = Path(__file__).resolve().parent.parent


def _directory() -> Path | None:
    named = os.environ.get("DPO_TEST_NAB_DEV")
    for candidate in ([Path(named)] if named else []) + [ROOT.parent / "shared/datasets/nab-dev"]:
        if (candidate / "windows.json").is_file():
            return candidate
    if os.environ.get("DPO_TEST_REQUIRE_NAB") == "1":
        pytest.fail("DPO_TEST_REQUIRE_NAB=1 but the NAB development set was not found")
    return None


def test_window_recall_and_false_alarms_at_the_defaults() -> None:
    directory = _directory()
    if directory is None:
        pytest.skip("the NAB development set is not on this machine (DPO_TEST_NAB_DEV)")
    results = real_eval.evaluate_directory(directory)
    recall, per_30_days, _ = real_eval.summarise("all", results)
    assert (len(results), sum(r.windows for r in results)) == (24, 49)
    assert recall >= 0.7, recall
    assert per_30_days <= 1.0, per_30_days
