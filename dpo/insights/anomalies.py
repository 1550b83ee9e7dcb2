"""The anomaly detector's causal pass over one series; `detection` says what it does."""

from __future__ import annotations

import math

import numpy as np

from dpo.insights import evidence, seasonal
from dpo.insights import noise as noise_mod
from dpo.insights.detection import SPECS, DetectorConfig, Scores, Series, is_integer_valued
from dpo.insights.noise import Noise
from dpo.vocab import Grain

_Z_CLIP = 6.0  # one extreme point adds at most this much to a run's evidence
_HUBER_CLEAN = 2.5  # unflagged points enter the history clipped to ±2.5 sd
_OUTAGE_SHARE = 0.05  # a run below 5 % of its expected values is an outage
_MIN_EVENTS = 30.0  # a series is judged once its history holds this many events
# A ratio over fewer events is not judged: a CPC over two clicks, a day's ROAS over a dozen
# purchases say little.
_MIN_VOLUME = {Grain.hour: 10.0, Grain.day: 30.0}
_RUN_GAP = 3  # a run survives this many unflagged points on its side
_USUALLY_REPORTED = 0.5  # a missing point is judged where at least half the points had data
_CONTINUE_SHARE = 0.25  # of the evidence of a point right at the changed level
# Relative changes the run detectors look for: one CUSUM each.
_ALTERNATIVES = (-0.3, -0.6, -0.9, 0.5, 1.0, 2.0)
_LOG_ALTERNATIVES = (-0.4, 0.5, 1.0)
_LEVEL_EVENTS = 100.0
_Q99 = 2.576  # the 99th percentile of |z| for a standard normal z
_TAIL_POINTS = 72  # residuals needed to judge the tails by
_LEVEL_SHARE = 0.25  # a level is judged by only when its window is at least this full
# With less than a week of history, the runs looked for are changes at least this large.
_FIRST_WEEK_CHANGE = 0.6  # the level's window holds at least this many events, if it can


def detect(series: Series, config: DetectorConfig | None = None) -> Scores:
    """Score every point of `series` causally (see `detection`)."""
    return _Detector(series, config or DetectorConfig()).run()


class _Detector:
    """The per-series state of one causal pass."""

    def __init__(self, series: Series, config: DetectorConfig) -> None:
        self.s, self.cfg, self.spec = series, config, SPECS[series.grain]
        self.y = series.values.astype(np.float64)
        self.n = len(self.y)
        if not series.is_log:  # a model of counts and amounts: below zero is zero
            with np.errstate(invalid="ignore"):
                self.y = np.where(self.y < 0, 0.0, self.y)
        self.is_integer = False  # learned from the history (see `_refit`)
        self.vol = series.volume if series.volume is not None else np.full(self.n, np.inf)
        self.warmup = self.spec.log_warmup if series.is_log else self.spec.warmup
        self.min_volume = _MIN_VOLUME[series.grain]
        self.clean = np.full(self.n, np.nan)  # the cleaned history the model learns from
        self.expected = np.full(self.n, np.nan)
        self.out = Scores(
            expected=np.full(self.n, np.nan),
            z=np.full(self.n, np.nan),
            evidence=np.zeros(self.n),
            is_anomaly=np.zeros(self.n, dtype=np.bool_),
            is_missing=np.isnan(series.values),
            is_judged=np.zeros(self.n, dtype=np.bool_),
        )
        self.profile = np.ones(self.spec.slots)
        self.reported = np.ones(self.spec.slots)  # share of each slot's points with a value
        self.noise: Noise | None = None
        self.window = self.spec.level_unit
        self.sum_y = self.sum_p = 0.0
        self.alternatives = _LOG_ALTERNATIVES if series.is_log else _ALTERNATIVES
        self.cusum = [0.0] * len(self.alternatives)
        self.llr_var = self.widen = self.tail = 1.0
        self.start = 0
        self.run_dir, self.run_gap, self.run_start = 0, 0, 0
        self.run_y = self.run_e = 0.0
        self.old_level: float | None = None
        self.pre_run_level = 0.0
        self.adapted_at = -(10**9)
        self.shifts: list[tuple[int, float]] = []  # (from point, new level / old level)
        self.revert_hits = 0

    # --- the pass -----------------------------------------------------------------------------

    def run(self) -> Scores:
        start = self._first_index()
        if start is None:
            return self.out
        self.start = start
        ready, day_seen = False, None
        first_day = int(self.s.days[start])
        for t in range(start, self.n):
            day = int(self.s.days[t])
            if day != day_seen:
                day_seen = day
                if not ready and self._is_ready(t):
                    ready = True
                    self._refit(t)
                elif ready and self._is_refit_day(day - first_day):
                    self._refit(t)
            if ready:
                self._step(t)
            else:
                self.clean[t] = self.y[t]
        self.out.noise = self.noise
        self.out.history_days = (self.n - start) / self.spec.per_day
        self.out.first = start
        return self.out

    def _first_index(self) -> int | None:
        """The first point worth modelling: a series starts with its first non-zero value."""
        with np.errstate(invalid="ignore"):
            started = ~np.isnan(self.y) if self.s.is_log else self.y > 0
        idx = np.flatnonzero(started)
        if len(idx) == 0 or self.n - int(idx[0]) <= self.warmup:
            return None
        return int(idx[0])

    def _is_ready(self, t: int) -> bool:
        """Enough history to judge: the warm-up span, holding enough events."""
        if t - self.start < self.warmup:
            return False
        history = self.y[self.start : t]
        if self.s.is_log:
            return int(np.count_nonzero(history > 0)) >= self.warmup // 2
        unit = noise_mod.event_size(history, is_integer=is_integer_valued(history))
        return float(np.nansum(history)) / unit >= _MIN_EVENTS

    def _is_refit_day(self, days: int) -> bool:
        """Every day for four weeks after the first week (or the warm-up, if longer) of the
        series, then weekly on its weekday (the profile changes slowly)."""
        first = max(self.warmup // self.spec.per_day, 7)
        return days < first + 28 or (days - first) % 7 == 0

    def _step(self, t: int) -> None:
        slot = int(self.s.slots[t])
        if self.sum_p < _LEVEL_SHARE * self.window:
            # Too little data in the level's window (after a long gap): learn it again.
            self._remember(t, slot, float(self.y[t]))
            return
        p = float(self.profile[slot])
        level = self.sum_y / self.sum_p if self.sum_p > 0 else 0.0
        plain = level * p
        e = self._tolerant(t, level, slot)
        z, sd, judged = self._z(t, e)
        if not judged:
            self._remember(t, slot, math.nan)
            return
        e, z = self._against_old_level(t, slot, e, z)
        self.out.is_judged[t] = True
        self.out.expected[t], self.out.z[t] = plain, z
        evidence = self._evidence(t, e, z, sd)
        self.out.evidence[t] = evidence
        flagged = evidence * self.cfg.sensitivity >= 1.0
        self.out.is_anomaly[t] = flagged
        self._track_run(t, flagged=flagged, z=z, e=plain, level=level)
        self._remember(t, slot, self._cleaned(t, plain, sd, flagged=flagged))

    def _tolerant(self, t: int, level: float, slot: int) -> float:
        """The expected value, allowing the day's shape to run an hour early or late.

        Real days shift: a weekend starts later, a series kept in UTC moves by an hour at
        DST. Within the range the neighbouring hours' factors span, the expected value is
        the one closest to what happened; so a morning ramp an hour late is not an incident,
        while a drop far below the range still is.
        """
        e = level * float(self.profile[slot])
        y = self.y[t]
        if self.s.grain is not Grain.hour or math.isnan(y):
            return e
        n = self.spec.slots
        before = level * float(self.profile[(slot - 1) % n])
        after = level * float(self.profile[(slot + 1) % n])
        lo, hi = min(e, before, after), max(e, before, after)
        share = self.cfg.tolerance
        lo, hi = e - share * (e - lo), e + share * (hi - e)
        return min(max(float(y), lo), hi)

    def _z(self, t: int, e: float) -> tuple[float, float, bool]:
        """The standardized deviation of point t from e (and its sd), or not judged."""
        assert self.noise is not None
        days = max(1.0, (t - self.start + 1) / self.spec.per_day)
        widen = self.widen = 1.0 + self.spec.early_days / days
        y = self.y[t]
        if math.isnan(y) and (
            self.s.missing_is_gap or self.reported[int(self.s.slots[t])] < _USUALLY_REPORTED
        ):
            return 0.0, 0.0, False  # no data where there never is any (nights), or a gap
        if self.s.is_log:
            if math.isnan(y) or y <= 0 or e <= 0 or self.vol[t] < self.min_volume:
                return 0.0, 0.0, False
            sd = self.noise.sd(e, float(self.vol[t])) * widen
            return (math.log(y) - math.log(e)) / sd, sd, True
        if e <= 0 and (math.isnan(y) or y <= 0):
            return 0.0, 0.0, False
        sd = self.noise.sd(e) * widen
        value = 0.0 if math.isnan(y) else y
        return (value - e) / sd, sd, True

    def _against_old_level(self, t: int, slot: int, e: float, z: float) -> tuple[float, float]:
        """After a re-base, a point that fits the old level is normal: the incident is over.

        Returns the expected value and z to judge the point by; two such points in a row
        restore the old level.
        """
        if self.old_level is None or t - self.adapted_at > self.spec.revert_window:
            return e, z
        e_old = self._tolerant(t, self.old_level, slot)
        z_old, _, judged = self._z(t, e_old)
        if not judged or abs(z_old) >= min(abs(z), self.cfg.normal_z):
            self.revert_hits = 0
            return e, z
        self.revert_hits += 1
        if self.revert_hits >= 2:
            self._shifted(t, self.old_level)
            self._rebase(t, self.old_level, keep_run=False)
            self.old_level = None
        return e_old, z_old

    def _evidence(self, t: int, e: float, z: float, sd: float) -> float:
        """Max of the point's own |z| and the runs' log-likelihood ratios, over thresholds."""
        cfg = self.cfg
        assert self.noise is not None
        y = self.y[t]
        value = 0.0 if math.isnan(y) else float(y)
        info = 1.0 / (self.noise.run_scale**2)  # correlated residuals carry less information
        scale = self.spec.threshold_scale
        run_h = cfg.run_h * scale
        run = 0.0
        is_log, var = self.s.is_log, self.llr_var * (self.widen * self.tail) ** 2
        small_ok = t - self.start >= self.spec.slots  # a whole week seen
        for j, q in enumerate(self.alternatives):
            if not small_ok and abs(q) < _FIRST_WEEK_CHANGE:
                continue  # before a week is seen, a 30 % dip may just be the weekend
            step = info * (
                evidence.llr_log(z, sd, q)
                if is_log
                else evidence.llr(self.noise, value, e, q, var=var)
            )
            c = max(0.0, self.cusum[j] + step)
            # A point continues a run only if it looks like the change at least a little (a
            # quarter of the evidence a point right at the changed level would give): the
            # first ordinary hour after an outage is not part of it.
            typical = evidence.typical_llr(self.noise, e, sd, q, is_log=is_log, var=var)
            if step > 0 and step >= _CONTINUE_SHARE * info * typical:
                run = max(run, c / (run_h * (cfg.loss_h_share if q <= -0.6 else 1.0)))
            else:  # a point that does not continue the run weakens it
                c = min(c, 0.5 * run_h)
            self.cusum[j] = c
        own = evidence.point_z(float(self.y[t]), e, z, sd, is_log=is_log)
        return max(abs(own) / (cfg.point_z * scale * self.tail), run)

    def _tail(self, t: int) -> float:
        """How much heavier the tails of the recent standardized residuals are than a
        normal's: their 99th percentile over 2.576 (at least 1). A series that often strays
        4 sd on ordinary days needs more than 5 sd to be far out, and longer runs."""
        lo = max(self.start, t - self.spec.noise_window)
        z = self.out.z[lo:t][self.out.is_judged[lo:t] & ~self.out.is_anomaly[lo:t]]
        if len(z) < _TAIL_POINTS:
            return self.tail
        return max(1.0, float(np.quantile(np.abs(z), 0.99)) / _Q99)

    def _track_run(self, t: int, *, flagged: bool, z: float, e: float, level: float) -> None:
        """Follow the current run of same-direction deviations; re-base once it lasts.

        A run survives a few unflagged points on its side (a quiet night hour inside a level
        shift); its age counts from its first point.
        """
        direction = 1 if z > 0 else -1
        if not flagged:
            if self.run_dir and z * self.run_dir >= 0 and self.run_gap < _RUN_GAP:
                self.run_gap += 1
                self._add_to_run(t, e)
            else:
                self.run_dir = 0
            return
        if direction != self.run_dir:
            self.run_dir, self.run_start = direction, t
            self.run_y = self.run_e = 0.0
            self.pre_run_level = level
        self.run_gap = 0
        self._add_to_run(t, e)
        is_outage = self.run_y <= _OUTAGE_SHARE * self.run_e and not self.s.is_log
        hourly = self.s.grain is Grain.hour
        limit = (
            (self.cfg.outage_hours if hourly else self.cfg.outage_days)
            if is_outage
            else (self.cfg.adapt_hours if hourly else self.cfg.adapt_days)
        )
        if t - self.run_start + 1 >= limit:
            self._adapt(t)

    def _add_to_run(self, t: int, e: float) -> None:
        y = self.y[t]
        self.run_y += 0.0 if math.isnan(y) else float(y)
        self.run_e += e

    def _adapt(self, t: int) -> None:
        """Accept a lasting shift as the new normal: re-base the level on the run."""
        run = np.arange(self.run_start, t + 1)
        y = self.y[run]
        p = self.profile[self.s.slots[run]]
        ok = ~np.isnan(y)
        if self.s.is_log:
            ok &= y > 0
        if not ok.any() or p[ok].sum() <= 0:
            return
        self.old_level = self.pre_run_level
        new_level = float(y[ok].sum() / p[ok].sum())
        self._shifted(self.run_start, new_level, before=self.pre_run_level)
        self.clean[run[ok]] = y[ok]
        self._rebase(t, new_level, keep_run=True)
        self.adapted_at = t
        self.out.adapted_at.append(t)
        self.run_dir = 0

    def _shifted(self, t: int, level: float, *, before: float | None = None) -> None:
        """Remember that the level moved to `level` at point t (from `before`, else the
        current level), so that the profile is learned from level-corrected history."""
        old = before if before is not None else (self.sum_y / self.sum_p if self.sum_p else 0.0)
        if old > 0 and level > 0:
            self.shifts.append((t, level / old))

    def _rebase(self, t: int, level: float, *, keep_run: bool) -> None:
        """Rewrite the level's window so that the level is `level` from point t on."""
        lo = max(0, t - self.window)
        idx = np.arange(lo, t)
        if keep_run:
            idx = idx[idx < self.run_start]
        ok = ~np.isnan(self.clean[idx])
        self.clean[idx[ok]] = level * self.profile[self.s.slots[idx[ok]]]
        self.cusum = [0.0] * len(self.alternatives)
        self.revert_hits = 0
        self._window_sums(t)

    def _cleaned(self, t: int, e: float, sd: float, *, flagged: bool) -> float:
        """What point t teaches the level: a flagged point nothing, others clipped to ±2.5 sd."""
        y = self.y[t]
        if math.isnan(y):
            return math.nan
        if flagged:
            return e
        if self.s.is_log:
            if y <= 0 or e <= 0:
                return math.nan
            step = max(-_HUBER_CLEAN * sd, min(_HUBER_CLEAN * sd, math.log(y / e)))
            return e * math.exp(step)
        return e + max(-_HUBER_CLEAN * sd, min(_HUBER_CLEAN * sd, float(y) - e))

    def _remember(self, t: int, slot: int, value: float) -> None:
        """Add point t to the cleaned history and slide the level's window."""
        self.clean[t] = value
        if not math.isnan(value):
            self.sum_y += value
            self.sum_p += float(self.profile[slot])
        old = t - self.window
        if old >= 0 and not math.isnan(self.clean[old]):
            self.sum_y -= float(self.clean[old])
            self.sum_p -= float(self.profile[self.s.slots[old]])

    # --- refitting ------------------------------------------------------------------------------

    def _refit(self, t: int) -> None:
        """Refit the profile, the noise model and the level's window on the history before t."""
        start = self.start
        self.is_integer = not self.s.is_log and is_integer_valued(self.y[start:t])
        lo = max(start, t - self.spec.profile_window)
        rel_noise = 0.2 if self.noise is None else self.noise.c * self.noise.kappa
        values = self.y[lo:t]
        if t - start < 2 * self.spec.slots:
            # A slot seen once cannot tell a one-off incident from its usual shape: leave out
            # what was flagged (from two weeks on, the robust fit tells them apart), and undo
            # accepted level shifts (from two weeks on, a rolling week's mean follows them).
            values = np.where(self.out.is_anomaly[lo:t], np.nan, self._level_corrected(lo, t))
        history = seasonal.ProfileInput(
            values,
            self.s.slots[lo:t],
            unit=self._unit(lo, t),
            rel_noise=max(rel_noise, 0.02),
            half_life=self.spec.half_life,
        )
        if self.s.grain is Grain.hour:
            self.profile = seasonal.hourly_profile(history)
        else:
            self.profile = seasonal.daily_profile(history)
        self.reported = seasonal.reported_share(self.y[lo:t], self.s.slots[lo:t], self.spec.slots)
        self.noise = (
            self._fit_noise(t)
            or self.noise
            or noise_mod.default_for(self.y[lo:t], is_log=self.s.is_log, is_integer=self.is_integer)
        )
        kappa = self.noise.kappa
        if self.is_integer and self.noise.c == 0:
            kappa = max(kappa, 1.0)  # counts are at least Poisson-noisy
        self.llr_var = kappa * kappa
        self.tail = self._tail(t)
        self.window = self._level_window(lo, t)
        self._window_sums(t)

    def _level_corrected(self, lo: int, t: int) -> np.ndarray:
        """The history [lo, t) with each accepted level shift undone before it: a step in
        the level is not a shape of the week (against a flat baseline, the hours after a
        step would be learned as the week's busy hours)."""
        values = self.y[lo:t].copy()
        for at, ratio in self.shifts:
            if at > lo:
                values[: min(at, t) - lo] *= ratio
        return values

    def _unit(self, lo: int, t: int) -> float:
        """The size of one event, for weighing evidence (see `noise.event_size`)."""
        if self.s.is_log:
            return 1e-9
        if self.noise is not None:
            return max(self.noise.u, 1e-9)
        return noise_mod.event_size(self.y[lo:t], is_integer=self.is_integer)

    def _fit_noise(self, t: int) -> Noise | None:
        lo = max(self.start, t - self.spec.noise_window)
        # Expected values from the first week (no weekly shape yet) misjudge the noise.
        lo = (
            max(lo, min(t, self.start + self.spec.slots))
            if t - self.start > 2 * self.spec.slots
            else lo
        )
        causal = self.out.expected[lo:t]
        if np.count_nonzero(~np.isnan(causal)) >= 3 * self.spec.per_day:
            expected = causal
        else:
            profile = self.profile[self.s.slots[lo:t]]
            expected = seasonal.in_sample(self.clean[lo:t], profile, self.spec.level_unit)
        y = np.where(self.out.is_anomaly[lo:t], np.nan, self.y[lo:t])  # known incidents out
        if self.s.is_log:
            return noise_mod.fit_log(y, expected, self.vol[lo:t])
        unit = noise_mod.event_size(self.y[self.start : t], is_integer=self.is_integer)
        return noise_mod.fit_linear(y, expected, is_integer=self.is_integer, min_unit=0.5 * unit)

    def _level_window(self, lo: int, t: int) -> int:
        """A whole number of days (weeks) holding about _LEVEL_EVENTS events."""
        unit = self.spec.level_unit
        if self.s.is_log or self.noise is None:
            return unit
        recent = self.clean[max(lo, t - unit) : t]
        events = float(np.nansum(recent)) / max(self.noise.u, 1e-12)
        need = math.ceil(_LEVEL_EVENTS / max(events, 1e-9))
        return unit * max(1, min(self.spec.level_units_max, need))

    def _window_sums(self, t: int) -> None:
        idx = np.arange(max(0, t - self.window), t)
        values = self.clean[idx]
        ok = ~np.isnan(values)
        self.sum_y = float(values[ok].sum())
        self.sum_p = float(self.profile[self.s.slots[idx[ok]]].sum())
