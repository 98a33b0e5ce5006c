"""Overload, read off a run's sampled series: goodput, duplicate work, recovery.

When processing slows down, queueing delay can exceed the sender's timeout;
every waiting message is then sent again, the copies are processed too (with
no dedup), and the extra work keeps the queue long after the slowdown ended:
a metastable failure. This module measures it from the cumulative counts the
recorder samples (:data:`alosim.observe.SERIES_COLUMNS`), off the simulation's
hot path:

* **offered load** -- messages created per second;
* **goodput** -- unique messages processed per second (a message's first
  processing only);
* **throughput** -- processing per second, duplicates included;
* **duplicate work** -- the share of processing spent on duplicates;
* **utilisation** -- busy workers / workers, *as sampled at each instant*
  (the recorder keeps no time integral of busy workers, so one interval's
  value is a snapshot, and only the mean over many samples estimates the
  time-averaged utilisation);
* **queue length** -- copies waiting, at each instant.

**Recovery.** The trigger is the last scheduled slowdown (a fault of kind
``pause`` or ``slow``); it ends at ``at + for``. Goodput and offered load are
compared over sliding windows of ``observe.recovery.window`` (default 5 s,
at least the sampling interval), each window ending at a sampling instant of
``observe.sample_every``. A window is
*healthy* when its goodput is within ``tolerance`` (default 5 %) of the
offered load of the same window (the messages created in it). The run has
**recovered** at the start t of the first window that begins at or after the
trigger's end and from which every window up to t + ``hold`` (default 10 s)
is healthy; the recovery time is t minus the trigger's end. Only the span
with arrivals counts (up to ``duration``, or up to the last message
created). When that span ends before trigger end + hold (or + window, if
longer), the verdict is
*undecided*; when no such t exists in a long enough span, the run *did not
recover* -- a result, not an error. A run without a scheduled slowdown, or
without open-loop arrivals (``sender.rate``), has no verdict.

Why the arrivals of the same window and not the configured rate: a window of
n expected arrivals carries Poisson noise of about 1/sqrt(n) -- 12 % for one
second at 70/s -- so goodput would stray beyond 5 % of the configured rate by
chance alone, healthy or not. Against the window's own arrivals the gap is
only the change in the backlog over the window (a few messages for a healthy
queue), which a window of a few seconds makes small; collapsed, goodput is a
fraction of the arrivals. Why 5 s and not the sampling interval: with 1 s
windows at 70/s, a healthy run (a 1 s pause, a 3 s timeout) was called
recovered 26 s after the pause by noise alone; with 3 s or 5 s windows,
after 2-3 s. Raise ``window`` if a healthy run fails the test.

**Measured while the run goes on.** The stored series is coarsened to fit
``budget.series_rows`` (every other row dropped, the interval doubled), and
a window of 5 s read off rows 16 s apart is a window of 16 s: the verdict
would depend on the budget. So a run feeds a :class:`RecoveryDetector` at
every sampling instant of ``observe.sample_every``, whatever the series
keeps; its verdict, recovery time and span rates are the run's, identical
for every ``budget.series_rows``. :func:`recovery` applies the same
criterion to a stored series afterwards, and says how coarse it was when
that series was coarsened.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alosim.scenario import Scenario

#: The derived per-interval series of :func:`rates`, in order.
RATE_COLUMNS: tuple[str, ...] = (
    "time_s",  # the end of the interval
    "offered_per_s",
    "goodput_per_s",
    "throughput_per_s",
    "duplicate_work_fraction",  # NaN in an interval without processing
    "utilisation",  # busy workers / workers at time_s (a snapshot)
    "queue_length",  # at time_s
)


def rates(series: Mapping[str, Sequence[float]], workers: int) -> dict[str, list[float]]:
    """Per-interval rates between consecutive samples of ``series`` (the first sample
    starts the first interval); ``workers`` is the total of every receiver's."""
    t = list(series["time_s"])
    created = series["messages"]
    unique = series["processed_unique"]
    dups = series["duplicate_processing"]
    out: dict[str, list[float]] = {name: [] for name in RATE_COLUMNS}
    for i in range(1, len(t)):
        dt = t[i] - t[i - 1]
        if dt <= 0:
            continue
        good = unique[i] - unique[i - 1]
        dup = dups[i] - dups[i - 1]
        out["time_s"].append(t[i])
        out["offered_per_s"].append((created[i] - created[i - 1]) / dt)
        out["goodput_per_s"].append(good / dt)
        out["throughput_per_s"].append((good + dup) / dt)
        out["duplicate_work_fraction"].append(dup / (good + dup) if good + dup else math.nan)
        out["utilisation"].append(series["busy_workers"][i] / workers if workers else math.nan)
        out["queue_length"].append(series["queue_length"][i])
    return out


@dataclass(frozen=True)
class Recovery:
    """The verdict of the recovery criterion on one run."""

    trigger: str | None  # "pause" or "slow"; None: no scheduled slowdown
    trigger_end_s: float | None
    recovered: bool | None  # None: no trigger, or undecided
    recovery_time_s: float | None  # after trigger_end_s; None unless recovered
    horizon_s: float  # the end of the span with arrivals
    hold_s: float
    tolerance: float
    step_s: float = 0.0  # how far apart the sampling instants the windows ended at were
    sample_every_s: float = 0.0  # the configured sampling interval (observe.sample_every)

    @property
    def undecided(self) -> bool:
        return self.trigger is not None and self.recovered is None

    @property
    def coarse(self) -> bool:
        """True when the windows ended at instants further apart than ``observe.sample_every``
        (the verdict was read off a coarsened series, not measured during the run)."""
        return self.step_s > self.sample_every_s * (1 + 1e-9)

    def describe(self) -> str:
        """One line for ``alosim run``."""
        if self.trigger is None or self.trigger_end_s is None:
            return "recovery: no scheduled pause or slow-down to recover from"
        what = f"the {self.trigger} ended at {self.trigger_end_s:g} s"
        if self.recovered:
            line = (f"recovery: recovered {self.recovery_time_s:.3g} s after {what} "
                    f"(goodput within {self.tolerance:.0%} of the offered load for {self.hold_s:g} s)")
        elif self.recovered is None:
            after = self.horizon_s - self.trigger_end_s
            line = (f"recovery: undecided: the run's arrivals ended {after:.3g} s after the trigger "
                    f"({what}), less than the {self.hold_s:g} s hold")
        else:
            after = self.horizon_s - self.trigger_end_s
            line = (f"recovery: did not recover within {after:.3g} s after {what} "
                    f"(goodput never stayed within {self.tolerance:.0%} of the offered load "
                    f"for {self.hold_s:g} s)")
        if self.coarse:
            line += (f"; read off a series sampled every {self.step_s:g} s, coarser than "
                     f"observe.sample_every = {self.sample_every_s:g} s")
        return line


def last_slowdown_end(scenario: Scenario) -> tuple[str, float] | None:
    """The kind and end time of the scheduled pause or slow-down that ends last."""
    ends = [(f.at + f.for_, f.kind) for f in scenario.faults
            if f.kind in ("pause", "slow") and f.at is not None and f.for_ is not None]
    if not ends:
        return None
    end, kind = max(ends)
    return kind, float(end)


def criterion_trigger(scenario: Scenario) -> tuple[str, float] | None:
    """The slowdown the recovery criterion measures from (:func:`last_slowdown_end`), or
    None when a run has no verdict: no scheduled slowdown, or no open-loop arrivals."""
    if scenario.sender.rate is None:
        return None
    return last_slowdown_end(scenario)


def arrivals_end(scenario: Scenario, series: Mapping[str, Sequence[float]]) -> float:
    """When the span with arrivals ends: ``duration`` if set, else the first sample at which
    the count of messages created reached its final value; never after the last sample."""
    t = series["time_s"]
    if not t:
        return 0.0
    if scenario.duration is not None:
        return min(float(scenario.duration), float(t[-1]))
    created = list(series["messages"])
    return float(t[created.index(created[-1])])


#: One sampling instant as the detector keeps it: time, messages created,
#: unique messages processed, duplicate processing (all cumulative).
Sample = tuple[float, int, int, int]


class RecoveryDetector:
    """The recovery criterion (module docstring), applied while the run goes on.

    The world feeds it the cumulative counts at every sampling instant of
    ``observe.sample_every`` (:meth:`observe`) -- every one, also when the
    stored series is coarsened to fit ``budget.series_rows`` -- so its
    verdict does not depend on the series budget. It keeps only what the
    criterion still needs: the samples of the last ``window`` (fewer than
    window / sample_every + 2, counted against ``budget.memory``: see
    :func:`alosim.budget.recovery_samples`), the start of the current run of
    healthy windows, and the sample that ends the span with arrivals. Once
    the hold is met, the verdict is decided and the window is dropped.

    :func:`recovery` feeds the same detector from a stored series: then the
    windows end at the series' own samples, as coarse as the series is.
    """

    __slots__ = ("kind", "end_s", "window_s", "hold_s", "tolerance", "duration_s", "step_s",
                 "sample_every_s", "_eps", "_recent", "_start", "_established", "_last", "_span")

    def __init__(self, scenario: Scenario, trigger: tuple[str, float], step_s: float | None = None) -> None:
        crit = scenario.observe.recovery
        self.kind, self.end_s = trigger
        self.window_s = float(crit.window)
        self.hold_s = float(crit.hold)
        self.tolerance = float(crit.tolerance)
        self.duration_s = None if scenario.duration is None else float(scenario.duration)
        self.sample_every_s = float(scenario.observe.sample_every)
        self.step_s = self.sample_every_s if step_s is None else float(step_s)
        self._eps = 1e-9 * max(1.0, self.window_s)
        self._recent: deque[tuple[float, int, int]] = deque()  # (time, created, unique)
        self._start: float | None = None  # the start of the current run of healthy windows
        self._established: tuple[float, float] | None = None  # (recovered at, end of the window that met the hold)
        self._last: Sample | None = None
        self._span: Sample | None = None  # the last sample of the span with arrivals, so far

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> RecoveryDetector | None:
        """A detector for a run of ``scenario``, or None when the run has no verdict."""
        trigger = criterion_trigger(scenario)
        return None if trigger is None else cls(scenario, trigger)

    def observe(self, time_s: float, created: int, unique: int, duplicates: int) -> None:
        """Take the cumulative counts at one sampling instant (instants not after the last are ignored)."""
        last = self._last
        if last is not None and time_s <= last[0]:
            return
        sample = (time_s, created, unique, duplicates)
        if self.duration_s is None:
            if last is None or created != last[1]:
                self._span = sample  # the first sample with this many messages created
        elif time_s <= self.duration_s + 1e-9:
            self._span = sample
        self._last = sample
        if self._established is None:
            self._window(time_s, created, unique)

    def _window(self, t: float, created: int, unique: int) -> None:
        # The window ending now starts at the latest earlier sample at least `window` before it.
        recent, eps = self._recent, self._eps
        while len(recent) >= 2 and recent[1][0] <= t - self.window_s + eps:
            recent.popleft()
        if recent:
            t0, created0, unique0 = recent[0]
            if t - t0 >= self.window_s - eps and t0 >= self.end_s - eps:
                offered = created - created0
                healthy = offered > 0 and abs((unique - unique0) - offered) <= self.tolerance * offered
                if not healthy:
                    self._start = None
                else:
                    if self._start is None:
                        self._start = t0
                    if t >= self._start + self.hold_s - eps:
                        self._established = (self._start, t)
                        recent.clear()
                        return
        recent.append((t, created, unique))

    @property
    def horizon_s(self) -> float:
        """When the span with arrivals ends (see :func:`arrivals_end`), as fed so far."""
        if self._last is None:
            return 0.0
        if self.duration_s is not None:
            return min(self.duration_s, self._last[0])
        assert self._span is not None
        return self._span[0]

    def verdict(self) -> Recovery:
        """The criterion's verdict on the samples fed so far (the whole run, once it has ended)."""
        horizon = self.horizon_s

        def made(recovered: bool | None, time_s: float | None) -> Recovery:
            return Recovery(self.kind, self.end_s, recovered, time_s, horizon, self.hold_s,
                            self.tolerance, self.step_s, self.sample_every_s)

        established = self._established
        if established is not None and established[1] <= horizon + self._eps:
            return made(True, established[0] - self.end_s)
        if horizon < self.end_s + max(self.hold_s, self.window_s) - self._eps:
            return made(None, None)  # not even one full hold fits
        return made(False, None)

    def span_rates(self) -> dict[str, float]:
        """Offered load, goodput and throughput per second over the span with arrivals
        (:func:`arrivals_span_rates`, at every sampling instant)."""
        return _span_rates(self._span)


def recovery(scenario: Scenario, series: Mapping[str, Sequence[float]]) -> Recovery:
    """Apply the recovery criterion (module docstring) to a stored series.

    The windows end at the series' samples: if the series was coarsened
    (``budget.series_rows``), the verdict is as coarse, and says so. A run's
    own verdict, measured at every sampling instant, is in its summary and in
    :meth:`alosim.simulate.RunResult.recovery`.
    """
    crit = scenario.observe.recovery
    t = series["time_s"]
    every = float(scenario.observe.sample_every)
    step = float(t[1]) - float(t[0]) if len(t) >= 2 else every
    trigger = criterion_trigger(scenario)
    if trigger is None:
        return Recovery(None, None, None, None, arrivals_end(scenario, series), crit.hold,
                        crit.tolerance, step, every)
    detector = RecoveryDetector(scenario, trigger, step_s=step)
    for row in zip(t, series["messages"], series["processed_unique"], series["duplicate_processing"]):
        detector.observe(float(row[0]), int(row[1]), int(row[2]), int(row[3]))
    return detector.verdict()


def arrivals_span_rates(scenario: Scenario, series: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Offered load, goodput and throughput per second over the span with arrivals
    (processing after the last arrival, which drains a backlog, is left out)."""
    t = series["time_s"]
    if not t:
        return _span_rates(None)
    horizon = arrivals_end(scenario, series)
    n = max((k for k, x in enumerate(t) if x <= horizon + 1e-9), default=0)
    return _span_rates((float(t[n]), series["messages"][n], series["processed_unique"][n],
                        series["duplicate_processing"][n]))


def _span_rates(last: Sample | None) -> dict[str, float]:
    """The rates of a span that ends at the sample ``last`` (NaN for an empty span)."""
    span = last[0] if last is not None else 0.0
    if last is None or span <= 0:
        return {"offered_per_s": math.nan, "goodput_per_s": math.nan, "throughput_per_s": math.nan}
    _, created, unique, duplicates = last
    return {"offered_per_s": created / span,
            "goodput_per_s": unique / span,
            "throughput_per_s": (unique + duplicates) / span}


def summary_columns(scenario: Scenario, series: Mapping[str, Sequence[float]],
                    processed: int, duplicate_processing: int,
                    detector: RecoveryDetector | None = None) -> dict[str, Any]:
    """The overload columns of a run's summary: the verdict and the span's rates come from
    ``detector`` (fed at every sampling instant) when the run has one, else from ``series``."""
    verdict = detector.verdict() if detector is not None else recovery(scenario, series)
    out: dict[str, Any] = {
        "duplicate_work_fraction": duplicate_processing / processed if processed else None,
        "recovered": verdict.recovered,
        "recovery_time_s": verdict.recovery_time_s,
    }
    out.update(detector.span_rates() if detector is not None else arrivals_span_rates(scenario, series))
    return out


__all__ = ["RATE_COLUMNS", "Recovery", "RecoveryDetector", "arrivals_end", "arrivals_span_rates",
           "criterion_trigger", "last_slowdown_end", "rates", "recovery", "summary_columns"]
