"""One run: ``simulate(scenario, seed) -> RunResult``.

:func:`simulate` builds the :class:`~alosim.model.world.World` of a
scenario (the actors and their wiring live in the model), runs it until every
message has settled (acked or given up) and no copy is left on the network,
or until ``max_time``, and turns what its recorder counted into a result.

:class:`RunResult` is plain data: the resolved scenario, the summary row, the
sampled time series, the semantics checks and (when asked for) the trace,
with pandas accessors for notebooks. Its ``fingerprint`` is a hash of all of
that except wall-clock time, so two runs of the same scenario and seed can be
compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import simpy

from alosim import __version__, overload
from alosim.guarantees import checks
from alosim.model.books import Broken
from alosim.model.world import World
from alosim.observe import (
    COUNTER_COLUMNS,
    SERIES_COLUMNS,
    cause_columns,
    TraceEvent,
    latency_columns,
    receiver_mitigation_columns,
    sender_mitigation_columns,
)
from alosim.arguments import expect
from alosim.budget import Stop
from alosim.scenario import Scenario, ScenarioError
from alosim.units import format_size


def book_failures(broken: list[Broken]) -> dict[str, str]:
    """The failed identities of a run's books, as checks: ``books_<identity>``
    -> the numbers that do not add up (an identity that fails for several
    actors, one line for all)."""
    out: dict[str, str] = {}
    for book in broken:
        name = f"books_{book.name}"
        out[name] = f"{out[name]}; {book.detail}" if name in out else book.detail
    return out


@dataclass(frozen=True)
class RunResult:
    """Everything one run produced, as plain data."""

    scenario: dict[str, Any]
    seed: int
    summary: dict[str, Any]
    series: dict[str, list[float]]
    checks: dict[str, bool]
    trace: list[TraceEvent] | None
    fingerprint: str
    wall_time_s: float
    version: str = __version__
    # The recovery criterion's verdict as measured during the run (None: no
    # verdict, or a result built from stored data).
    verdict: overload.Recovery | None = None

    @property
    def name(self) -> str:
        return str(self.scenario["name"])

    @property
    def ok(self) -> bool:
        """True if every guarantee of the run's semantics held (and its books balanced)."""
        return all(self.checks.values())

    @property
    def bugs(self) -> list[str]:
        """One line per failed identity of the run's books (a defect of alosim's
        model, not of the scenario): which identity, and its numbers."""
        return [f"alosim bug: the books do not balance ({name[6:]}): {self.summary[name]}"
                for name, held in self.checks.items() if name.startswith("books_") and not held]

    def summary_columns(self) -> dict[str, list[Any]]:
        """The summary row as columns of one value each (wall time left out: it
        differs between identical runs). What ``summary.csv`` holds."""
        return {name: [value] for name, value in self.summary.items() if name != "wall_time_s"}

    def series_columns(self) -> dict[str, list[Any]]:
        """The sampled series as columns, in the order of :meth:`series_frame`
        (a common series the run did not sample is all missing values)."""
        extra = [name for name in self.series if name not in SERIES_COLUMNS]
        rows = len(self.series.get("time_s", []))
        return {name: list(self.series.get(name, [math.nan] * rows)) for name in [*SERIES_COLUMNS, *extra]}

    def trace_columns(self) -> dict[str, list[Any]]:
        """The event log of the traced messages as columns (see :meth:`trace_frame`)."""
        events = self.trace or []
        return {"time_s": [e.time_s for e in events], "actor": [e.actor for e in events],
                "event": [e.event for e in events], "message": [e.message for e in events],
                "attempt": [e.attempt for e in events], "detail": [e.detail for e in events]}

    def summary_frame(self):  # -> pandas.DataFrame
        """The summary as a one-row DataFrame (wall time included)."""
        import pandas as pd

        row = dict(self.summary)
        row["wall_time_s"] = self.wall_time_s
        return pd.DataFrame([row])

    def series_frame(self):  # -> pandas.DataFrame
        """The sampled time series, one row per sampling instant (a pipeline's
        own series, such as the broker backlog, after the common ones)."""
        import pandas as pd

        extra = [name for name in self.series if name not in SERIES_COLUMNS]
        return pd.DataFrame(self.series, columns=[*SERIES_COLUMNS, *extra])

    def overload_frame(self):  # -> pandas.DataFrame
        """Offered load, goodput, throughput, duplicate-work fraction, utilisation and
        queue length per sampling interval (see :mod:`alosim.overload`)."""
        import pandas as pd

        from alosim.scenario import validate_scenario

        sc = validate_scenario(self.scenario, "<run>")
        workers = sc.receiver.count * sc.receiver.workers
        return pd.DataFrame(overload.rates(self.series, workers), columns=list(overload.RATE_COLUMNS))

    def recovery(self) -> overload.Recovery:
        """The recovery criterion's verdict on this run (see :mod:`alosim.overload`): the one
        measured at every sampling instant while it ran, else read off its series."""
        if self.verdict is not None:
            return self.verdict
        from alosim.scenario import validate_scenario

        return overload.recovery(validate_scenario(self.scenario, "<run>"), self.series)

    def theory(self):  # -> pandas.DataFrame
        """Each closed form of :mod:`alosim.analytic` whose assumptions this run meets,
        beside what the run measured: quantity, measured, expected, standard_error,
        z and formula (see :mod:`alosim.theory`; empty when none applies)."""
        from alosim import theory

        return theory.frame(theory.compare(self.scenario, self.summary, self.series))

    def trace_frame(self):  # -> pandas.DataFrame
        """The event log of the traced messages (empty if tracing was off)."""
        import pandas as pd

        columns = ["time_s", "actor", "event", "message", "attempt", "detail"]
        rows = [(e.time_s, e.actor, e.event, e.message, e.attempt, e.detail) for e in self.trace or []]
        return pd.DataFrame(rows, columns=columns)


def simulate(scenario: Scenario, seed: int | None = None, *,
             progress: Callable[[float, int], None] | None = None) -> RunResult:
    """Run ``scenario`` once with ``seed`` (default: the scenario's own seed).

    ``progress``, if given, is called at every sampling instant with the
    simulated time and the number of messages created so far (for a progress
    bar; it cannot change the run).
    """
    expect(scenario, Scenario, "simulate", "scenario",
           "a Scenario (from alosim.load_scenario or alosim.parse_scenario)")
    if seed is not None:
        expect(seed, numbers.Integral, "simulate", "seed", "a whole number or None")
    if progress is not None and not callable(progress):
        raise TypeError(f"simulate(): progress must be a function or None, got {type(progress).__name__}")
    scenario = scenario.with_seed(seed)
    seed = scenario.seed
    started = time.perf_counter()
    if scenario.topology is not None:
        return _simulate_topology(scenario, seed, started, progress)
    world = _run(scenario, seed, progress)
    wall = time.perf_counter() - started
    rec = world.rec

    summary: dict[str, Any] = {"scenario": scenario.name, "semantics": scenario.semantics, "seed": seed}
    for column in COUNTER_COLUMNS:
        summary[column] = rec.dedup_entries if column == "dedup_entries_final" else getattr(rec, column)
    summary.update(cause_columns(rec))
    if _can_nack(scenario):
        # Only where a negative ack can be sent, so that other runs keep their
        # summaries and fingerprints (acks_in_flight counts positive acks only).
        summary["nacks_in_flight"] = rec.nacks_in_flight
    if world.pipeline is None:
        summary.update(receiver_mitigation_columns(rec, scenario.receiver))
    sender = scenario.sender
    summary.update(sender_mitigation_columns(rec, sender.retry_budget is not None,
                                      sender.circuit_breaker is not None))
    m = max(rec.messages, 1)
    summary["duplicate_deliveries_per_message"] = rec.duplicate_deliveries / m
    summary["transmissions_per_message"] = rec.transmissions / m
    summary.update(latency_columns(rec))
    summary["events"] = _events_scheduled(world.env)
    summary["sim_time_s"] = float(world.env.now)
    summary["stopped_by"] = _stopped_by(scenario, world.stopped_by, world.env.now)
    if world.pipeline is not None:
        summary.update(world.pipeline.columns())
    trace = list(rec.trace) if scenario.observe.trace_messages else None
    run_checks, fingerprint = _close(scenario, summary, world.broken_books, rec.series, trace, world.stall)
    # Derived from the series, which the fingerprint already covers: added after
    # it, so that adding a derived column never changes a run's fingerprint.
    verdict = None
    if world.pipeline is None:
        summary.update(overload.summary_columns(scenario, rec.series, rec.processed,
                                                rec.duplicate_processing, world.recovery))
        verdict = world.recovery.verdict() if world.recovery is not None else None
    return RunResult(
        scenario=scenario.resolved(),
        seed=seed,
        summary=summary,
        series={k: list(v) for k, v in rec.series.items()},
        checks=run_checks,
        trace=trace,
        fingerprint=fingerprint,
        wall_time_s=wall,
        verdict=verdict,
    )


def _stopped_by(scenario: Scenario, reason: str, now: float) -> str:
    """Why the run stopped: a budget's reason, else max_time or settled."""
    return reason or ("max_time" if scenario.max_time is not None and now >= scenario.max_time else "settled")


def _close(scenario: Scenario, summary: dict[str, Any], broken: list[Broken], series: dict[str, list[float]],
           trace: list[TraceEvent] | None, stall: Stop) -> tuple[dict[str, bool], str]:
    """Add the checks, the fingerprint and the stall's cause to ``summary``; return the
    checks and the fingerprint."""
    run_checks = checks(scenario.semantics, summary)
    # The books (see alosim.model.books) are checks too, listed only when one
    # fails: that run's summary names the identity and its numbers.
    for name, detail in book_failures(broken).items():
        run_checks[name] = False
        summary[name] = detail
    for name, held in run_checks.items():
        summary[f"check_{name}"] = held
    fingerprint = _fingerprint(summary, series, trace)
    summary["fingerprint"] = fingerprint
    # What grew most while a run stalled (see alosim.budget.run_until): added
    # after the fingerprint, which covers the stop already (stopped_by, events).
    summary["stall_cause"] = stall.cause
    summary["stall_cause_count"] = stall.grew
    return run_checks, fingerprint


def _simulate_topology(scenario: Scenario, seed: int, started: float,
                       progress: Callable[[float, int], None] | None) -> RunResult:
    """:func:`simulate` for a scenario with a ``topology:`` section."""
    from alosim.model.topology import Topology
    from alosim.observe.topology import topology_columns, topology_series

    topology = Topology(scenario, seed, progress)
    topology.run()
    wall = time.perf_counter() - started
    summary: dict[str, Any] = {"scenario": scenario.name, "semantics": scenario.semantics, "seed": seed}
    summary.update(topology_columns(topology))
    summary["events"] = _events_scheduled(topology.env)
    summary["sim_time_s"] = float(topology.env.now)
    summary["stopped_by"] = _stopped_by(scenario, topology.stopped_by, topology.env.now)
    series = topology_series(topology)
    trace = topology.trace() if scenario.observe.trace_messages else None
    run_checks, fingerprint = _close(scenario, summary, topology.conservation(), series, trace, topology.stall)
    return RunResult(scenario=scenario.resolved(), seed=seed, summary=summary,
                     series={k: list(v) for k, v in series.items()}, checks=run_checks, trace=trace,
                     fingerprint=fingerprint, wall_time_s=wall)


def _can_nack(scenario: Scenario) -> bool:
    """Whether anything answers a sender with a negative ack: a receiver queue
    that rejects when full, or a bounded broker queue that refuses publishes."""
    broker = scenario.broker
    if broker is None:
        return scenario.receiver.queue.when_full == "reject"
    return broker.kind == "queue" and broker.max_length is not None and broker.overflow == "reject-publish"


def _run(scenario: Scenario, seed: int, progress: Callable[[float, int], None] | None) -> World:
    """Build the world and run it. A run whose memory cannot be allocated -- a
    ``budget.memory`` raised above what the machine can give -- ends in a
    :class:`ScenarioError` naming that field, its memory released first (the
    traceback of a ``MemoryError`` would keep the world's arrays alive)."""
    out_of_memory = False
    try:
        world = World(scenario, seed, progress=progress)
        world.run()
    except MemoryError:
        out_of_memory = True
    if out_of_memory:
        world = None  # type: ignore[assignment]
        raise ScenarioError(scenario.origin, [("budget.memory", (
            f"the run could not allocate the memory it needs (budget.memory allows "
            f"{format_size(scenario.budget.memory)}, more than this machine could give): lower "
            "budget.memory and the sizes it covers, or run where more memory is free"))])
    return world


def _events_scheduled(env: simpy.Environment) -> int:
    # SimPy numbers every scheduled event with a counter (its tie-breaker);
    # drawing once more tells how many were scheduled.
    counter = getattr(env, "_eid", None)
    return int(next(counter)) if counter is not None else -1


def _fingerprint(summary: dict[str, Any], series: dict[str, list[float]],
                 trace: list[TraceEvent] | None) -> str:
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        return value

    payload = {
        "summary": {k: clean(v) for k, v in summary.items()},
        "series": {k: [clean(v) for v in values] for k, values in series.items()},
        "trace": [[e.time_s, e.actor, e.event, e.message, e.attempt, e.detail] for e in trace or []],
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
