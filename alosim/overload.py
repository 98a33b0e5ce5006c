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
at least the sampling interval), each window ending at a sampling instant. A window is
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
"""

from __future__ import annotations

import math
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

    @property
    def undecided(self) -> bool:
        return self.trigger is not None and self.recovered is None

    def describe(self) -> str:
        """One line for ``alosim run``."""
        if self.trigger is None or self.trigger_end_s is None:
            return "recovery: no scheduled pause or slow-down to recover from"
        what = f"the {self.trigger} ended at {self.trigger_end_s:g} s"
        if self.recovered:
            return (f"recovery: recovered {self.recovery_time_s:.3g} s after {what} "
                    f"(goodput within {self.tolerance:.0%} of the offered load for {self.hold_s:g} s)")
        after = self.horizon_s - self.trigger_end_s
        if self.recovered is None:
            return (f"recovery: undecided: the run's arrivals ended {after:.3g} s after the trigger "
                    f"({what}), less than the {self.hold_s:g} s hold")
        return (f"recovery: did not recover within {after:.3g} s after {what} "
                f"(goodput never stayed within {self.tolerance:.0%} of the offered load "
                f"for {self.hold_s:g} s)")


def last_slowdown_end(scenario: Scenario) -> tuple[str, float] | None:
    """The kind and end time of the scheduled pause or slow-down that ends last."""
    ends = [(f.at + f.for_, f.kind) for f in scenario.faults
            if f.kind in ("pause", "slow") and f.at is not None and f.for_ is not None]
    if not ends:
        return None
    end, kind = max(ends)
    return kind, float(end)


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


def recovery(scenario: Scenario, series: Mapping[str, Sequence[float]]) -> Recovery:
    """Apply the recovery criterion (module docstring) to one run's series."""
    crit = scenario.observe.recovery
    trigger = last_slowdown_end(scenario)
    horizon = arrivals_end(scenario, series)
    if trigger is None or scenario.sender.rate is None:
        return Recovery(None, None, None, None, horizon, crit.hold, crit.tolerance)
    kind, end = trigger
    window = crit.window
    t = [float(x) for x in series["time_s"]]
    unique = series["processed_unique"]
    created = series["messages"]
    eps = 1e-9 * max(1.0, window)
    # Each window ends at a sample j and starts at the latest sample i with t_i <= t_j - window.
    windows: list[tuple[float, float, bool]] = []  # (start, end, healthy)
    i = 0
    for j in range(1, len(t)):
        if t[j] > horizon + eps:
            break
        while i + 1 < j and t[i + 1] <= t[j] - window + eps:
            i += 1
        if t[j] - t[i] < window - eps or t[i] < end - eps:
            continue
        offered = created[j] - created[i]
        gap = abs((unique[j] - unique[i]) - offered)
        windows.append((t[i], t[j], offered > 0 and gap <= crit.tolerance * offered))
    # The first healthy start whose run of healthy windows lasts until start + hold.
    start: float | None = None
    for begin, finish, healthy in windows:
        if not healthy:
            start = None
            continue
        if start is None:
            start = begin
        if finish >= start + crit.hold - eps:
            return Recovery(kind, end, True, start - end, horizon, crit.hold, crit.tolerance)
    if horizon < end + max(crit.hold, window) - eps:  # not even one full hold fits
        return Recovery(kind, end, None, None, horizon, crit.hold, crit.tolerance)
    return Recovery(kind, end, False, None, horizon, crit.hold, crit.tolerance)


def arrivals_span_rates(scenario: Scenario, series: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Offered load, goodput and throughput per second over the span with arrivals
    (processing after the last arrival, which drains a backlog, is left out)."""
    t = series["time_s"]
    horizon = arrivals_end(scenario, series)
    n = max((k for k, x in enumerate(t) if x <= horizon + 1e-9), default=0)
    span = float(t[n]) if t else 0.0
    if span <= 0:
        return {"offered_per_s": math.nan, "goodput_per_s": math.nan, "throughput_per_s": math.nan}
    unique = series["processed_unique"][n]
    return {"offered_per_s": series["messages"][n] / span,
            "goodput_per_s": unique / span,
            "throughput_per_s": (unique + series["duplicate_processing"][n]) / span}


def summary_columns(scenario: Scenario, series: Mapping[str, Sequence[float]],
                    processed: int, duplicate_processing: int) -> dict[str, Any]:
    """The overload columns of a run's summary."""
    verdict = recovery(scenario, series)
    out: dict[str, Any] = {
        "duplicate_work_fraction": duplicate_processing / processed if processed else None,
        "recovered": verdict.recovered,
        "recovery_time_s": verdict.recovery_time_s,
    }
    out.update(arrivals_span_rates(scenario, series))
    return out


__all__ = ["RATE_COLUMNS", "Recovery", "arrivals_end", "arrivals_span_rates", "last_slowdown_end",
           "rates", "recovery", "summary_columns"]
