"""The detector on real labelled series (NAB's format), through `dpo insights detect`'s path.

    python bench/real_eval.py [DIR] [--sens 1 1.6 2] [-v]
    (also: python bench/detector_eval.py --real DIR, at each of its --sens)

DIR holds `<category>/<file>.csv` (timestamp,value) and `windows.json` mapping each file to
its labelled anomaly windows. Every file is scored as a user would score it: `detect_csv` at
its defaults (nothing chosen per series; `--sens` changes only the sensitivity, to show what
a different default would trade), and only its alert rows, one per finding, count as alarms.
Printed per category and overall:

- window recall: windows with an alarm inside them;
- false alarms per series per 30 days: alarms outside every window, over the judged span
  (from the first judged row to the last row);
- a NAB-style score, standard profile, as NAB's scorer computes it (numenta/NAB,
  nab/sweeper.py and the normalisation in nab/runner.py): per window only the best (earliest)
  alarm counts, +1 at the window's start falling to 0 at its end along a scaled sigmoid, a
  window without an alarm -1; an alarm outside every window costs 0.11, less just after a
  window; the first 15 % of each file (at most 750 rows) is a probation, not scored; the sum is
  normalised to 0 for a detector that never alarms and 100 for a perfect one.

With `-v`, every file's windows and why each missed one was missed: it ended before the
series was first judged, or the highest score in it (0.5 is the line at sensitivity 1).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import record
from dpo.insights.csvseries import detect_csv

# NAB's standard profile.
TP_WEIGHT, FP_WEIGHT, FN_WEIGHT = 1.0, 0.11, 1.0
PROBATION = 0.15
# NAB's scoreboard (numenta/NAB README, "Scoreboard", NAB v1.0, standard profile): every
# detector at its single best threshold over the whole 58-file corpus.
PUBLISHED = (
    ("Numenta HTM", "70.5-69.7"),
    ("CAD OSE", "69.9"),
    ("KNN CAD", "58.0"),
    ("Relative Entropy", "54.6"),
    ("Random Cut Forest", "51.7"),
    ("Twitter ADVec v1.0.0", "47.1"),
    ("Windowed Gaussian", "39.6"),
    ("Etsy Skyline", "35.7"),
    ("Bayesian Changepoint", "17.7"),
    ("EXPoSE", "16.4"),
    ("Random", "11.0"),
)


@dataclass
class FileResult:
    """One series' alarms against its windows."""

    name: str
    windows: int
    found: int
    false_alarms: int
    judged_days: float
    raw: float  # NAB raw score
    null: float  # the raw score of a detector that never alarms
    misses: tuple[str, ...] = ()  # why each missed window was missed


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: about +1 at a window's start, 0 at its end, -1 far after it."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def nab_raw(
    times: list[datetime], alarms: set[int], windows: list[tuple[datetime, datetime]]
) -> tuple[float, float]:
    """(raw score, null score) of one file, as NAB's sweeper computes them."""
    probation = min(math.floor(PROBATION * len(times)), PROBATION * 5000)
    max_tp = scaled_sigmoid(-1.0)
    best: dict[int, float] = {}  # window -> its best alarm's score
    scored_windows: set[int] = set()
    fp = 0.0
    inside: int | None = None
    right, width = 0, 1.0
    prev_right: int | None = None
    prev_width = 1.0
    remaining = list(enumerate(windows))
    for i, t in enumerate(times):
        while remaining and t > remaining[0][1][1]:  # a window between two rows: unscored
            remaining.pop(0)
        if inside is None and remaining and t >= remaining[0][1][0]:
            inside, (_, hi) = remaining.pop(0)
            right = i
            while right + 1 < len(times) and times[right + 1] <= hi:
                right += 1
            width = float(right - i + 1)
        if i >= probation and inside is not None:
            scored_windows.add(inside)
        if i in alarms and i >= probation:
            if inside is not None:
                score = scaled_sigmoid(-(right - i + 1) / width) * TP_WEIGHT / max_tp
                best[inside] = max(best.get(inside, -math.inf), score)
            else:
                past = 3.0 if prev_right is None else abs(prev_right - i) / max(prev_width - 1, 1)
                fp += scaled_sigmoid(past) * FP_WEIGHT
        if inside is not None and i == right:
            prev_right, prev_width = right, width
            inside = None
    raw = fp + sum(best.get(w, -FN_WEIGHT) for w in scored_windows)
    return raw, -FN_WEIGHT * len(scored_windows)


def evaluate_file(
    path: Path, windows: list[tuple[datetime, datetime]], *, sensitivity: float = 1.0
) -> FileResult:
    """Score one file at dpo's defaults (but `sensitivity`) and compare its alert rows with
    the windows."""
    result = detect_csv(path, sensitivity=sensitivity)
    times = [datetime.fromisoformat(p.timestamp) for p in result.points]
    alarms = {i for i, p in enumerate(result.points) if p.alert}
    hits = [any(lo <= times[i] <= hi for i in alarms) for lo, hi in windows]
    outside = sum(not any(lo <= times[i] <= hi for lo, hi in windows) for i in alarms)
    first = datetime.fromisoformat(result.first_judged) if result.first_judged else times[-1]
    raw, null = nab_raw(times, alarms, windows)
    scores = [p.score for p in result.points]
    misses = tuple(
        _why_missed(lo, hi, first, times, scores)
        for (lo, hi), hit in zip(windows, hits, strict=True)
        if not hit
    )
    return FileResult(
        name=f"{path.parent.name}/{path.name}",
        windows=len(windows),
        found=sum(hits),
        false_alarms=outside,
        judged_days=max((times[-1] - first).total_seconds() / 86400, 0.0),
        raw=raw,
        null=null,
        misses=misses,
    )


def _why_missed(
    lo: datetime, hi: datetime, first: datetime, times: list[datetime], scores: list[float]
) -> str:
    """A missed window in words: too early to be judged, or its highest score (and whether
    it began before the series was first judged)."""
    if hi < first:
        return f"{lo:%Y-%m-%d %H:%M}: before the series was first judged ({first:%Y-%m-%d %H:%M})"
    inside = [s for t, s in zip(times, scores, strict=True) if lo <= t <= hi]
    late = f", judged only from {first:%Y-%m-%d %H:%M}" if lo < first else ""
    return f"{lo:%Y-%m-%d %H:%M}: highest score {max(inside, default=0.0):.2f}{late}"


def summarise(label: str, results: list[FileResult]) -> tuple[float, float, float]:
    """Print one line: window recall, false alarms per series per 30 days, NAB score."""
    windows = sum(r.windows for r in results)
    found = sum(r.found for r in results)
    days = sum(r.judged_days for r in results)
    false_alarms = sum(r.false_alarms for r in results)
    raw, null = sum(r.raw for r in results), sum(r.null for r in results)
    perfect = TP_WEIGHT * windows
    nab = 100 * (raw - null) / (perfect - null) if perfect != null else 0.0
    recall = found / max(windows, 1)
    rate = false_alarms / max(days / 30, 1e-9)
    print(
        f"  {label:18} {len(results):3} series | window recall {recall:.2f} ({found}/{windows})"
        f" | false alarms {false_alarms} = {rate:.2f} per series per 30 days"
        f" ({days:.0f} judged days) | NAB score {nab:.1f}"
    )
    return recall, rate, nab


def evaluate_directory(directory: Path, *, sensitivity: float = 1.0) -> list[FileResult]:
    """Every labelled file of a NAB-style directory, scored (see `evaluate_file`)."""
    labels = json.loads((directory / "windows.json").read_text())
    return [
        evaluate_file(
            directory / name,
            [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in labels[name]],
            sensitivity=sensitivity,
        )
        for name in sorted(labels)
    ]


def evaluate_real(directory: Path, *, sensitivity: float = 1.0, verbose: bool = False) -> None:
    """The real-data report for a NAB-style directory, at `sensitivity`."""
    started = time.perf_counter()
    results = evaluate_directory(directory, sensitivity=sensitivity)
    if verbose:
        for r in results:
            print(f"    {r.name}: {r.found}/{r.windows} windows, {r.false_alarms} false alarms")
            for miss in r.misses:
                print(f"      missed {miss}")
    seconds = time.perf_counter() - started
    at = "its defaults" if sensitivity == 1.0 else f"its defaults but sensitivity {sensitivity:g}"
    print(
        f"\nreal labelled series ({directory.name}, dpo insights detect at {at}, {seconds:.1f}s):"
    )
    for category in sorted({r.name.split("/")[0] for r in results}):
        summarise(category, [r for r in results if r.name.startswith(category + "/")])
    recall, rate, nab = summarise("all", results)
    print(
        "  published, NAB scoreboard (numenta/NAB README, NAB v1.0, standard profile, whole "
        "58-file corpus, each at its best threshold): "
        + ", ".join(f"{name} {score}" for name, score in PUBLISHED)
    )
    record("detector", f"anomaly detector, sensitivity {sensitivity:g}, on {len(results)} real "
           f"labelled series ({directory.name}): window recall / false alarms per series per "
           "30 days / NAB score", f"{recall:.2f} / {rate:.2f} / {nab:.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path("../shared/datasets/nab-dev")
    parser.add_argument("directory", type=Path, nargs="?", default=default)
    parser.add_argument("--sens", type=float, nargs="*", default=[1.0])
    parser.add_argument("-v", "--verbose", action="store_true", help="every file and missed window")
    args = parser.parse_args()
    for sensitivity in args.sens:
        evaluate_real(args.directory, sensitivity=sensitivity, verbose=args.verbose)


if __name__ == "__main__":
    main()
