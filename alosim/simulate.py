"""One run: ``simulate(scenario, seed) -> RunResult``.

:class:`World` builds the actors from a scenario -- senders, the data and
ack links, receivers, a sampler -- wires them together and runs the SimPy
environment until every message has settled (acked or given up) and no copy
is left on the network, or until ``max_time``.

:class:`RunResult` is plain data: the resolved scenario, the summary row, the
sampled time series, the semantics checks and (when asked for) the trace,
with pandas accessors for notebooks. Its ``fingerprint`` is a hash of all of
that except wall-clock time, so two runs of the same scenario and seed can be
compared byte for byte.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from alosim import __version__
from alosim.model.faults import start_faults
from alosim.model.link import Link
from alosim.model.message import Message
from alosim.model.receiver import Receiver
from alosim.model.sender import Sender
from alosim.observe import (
    COUNTER_COLUMNS,
    SERIES_COLUMNS,
    Recorder,
    cause_columns,
    TraceEvent,
    checks,
    latency_columns,
)
from alosim.scenario import Scenario
from alosim.streams import Streams


class World:
    """The actors of one run, wired together."""

    def __init__(self, scenario: Scenario, seed: int,
                 progress: Callable[[float, int], None] | None = None) -> None:
        self.scenario = scenario
        self.progress = progress
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        self.rec = Recorder(trace_messages=scenario.observe.trace_messages)
        # Settled messages with a copy still travelling: their fate (processed
        # or lost) is known only when the last copy is handled.
        self.pending: dict[int, Message] = {}
        self.message_ids = itertools.count()
        self.stop = self.env.event()

        partitions = scenario.network.partitions
        self.ack_link = Link(self.env, "ack", scenario.network.ack, self.streams, self._ack_arrived,
                             partitions=[p for p in partitions if p.direction in ("both", "ack")],
                             recorder=self.rec)
        self.receivers = [Receiver(self, i, scenario.receiver) for i in range(scenario.receiver.count)]
        self.receiver_count = len(self.receivers)
        deliver = self.receivers[0].on_packet if len(self.receivers) == 1 else self._data_arrived
        self.data_link = Link(self.env, "data", scenario.network.data, self.streams, deliver,
                              partitions=[p for p in partitions if p.direction in ("both", "data")],
                              recorder=self.rec)

        n = scenario.sender.count
        quotas: list[int | None]
        if scenario.messages is not None:
            quotas = [scenario.messages // n + (1 if i < scenario.messages % n else 0) for i in range(n)]
        else:
            quotas = [None] * n
        self.senders = [Sender(self, i, scenario.sender, quotas[i], scenario.duration) for i in range(n)]
        if n == 1:
            self.ack_link.on_arrival = self.senders[0].on_packet

    # -- wiring ----------------------------------------------------------------

    def _data_arrived(self, event: simpy.Event) -> None:
        self.receivers[event._value[0].receiver].on_packet(event)

    def _ack_arrived(self, event: simpy.Event) -> None:
        self.senders[event._value[0].sender].on_packet(event)

    @property
    def unsettled(self) -> int:
        return sum(sender.unsettled for sender in self.senders)

    @property
    def created(self) -> int:
        """Messages created so far (each sender numbers its own from 0)."""
        return sum(sender.next_seq for sender in self.senders)

    def settled(self, msg: Message) -> None:
        """The sender is done with ``msg``; its fate is known unless a copy still travels."""
        if msg.copies:
            self.pending[msg.id] = msg  # decided when the last copy is handled
        elif not msg.processed:
            self.lost(msg)

    def copies_gone(self, msg: Message) -> None:
        """The last copy of a settled message has been handled: its fate is known."""
        del self.pending[msg.id]
        if not msg.processed:
            self.lost(msg)
        self.check_done()

    def lost(self, msg: Message) -> None:
        """``msg`` is settled and no copy of it was ever processed."""
        rec = self.rec
        rec.lost += 1
        rec.loss_causes[msg.cause or "unexplained"] += 1
        if msg.acked:
            rec.acked_not_processed += 1

    def check_done(self) -> None:
        """Stop once every sender is done and every message's fate is known."""
        if self.pending or self.stop.triggered:
            return
        for sender in self.senders:
            if sender.creating or sender.in_flight or sender.outbox:
                return
        self.stop.succeed()

    # -- running ---------------------------------------------------------------

    def _sample(self) -> None:
        now = self.env.now
        self.rec.messages = self.created
        for receiver in self.receivers:
            receiver.sync_store(now)  # a TTL store shrinks as ids age out
        self.rec.sample(now, self.unsettled)
        if self.progress is not None:
            self.progress(now, self.rec.messages)

    def _sampler(self, every: float) -> Generator[simpy.Event, None, None]:
        while True:
            self._sample()
            yield self.env.timeout(every)

    def run(self) -> None:
        env = self.env
        for sender in self.senders:
            sender.start()
        env.process(self._sampler(self.scenario.observe.sample_every))
        start_faults(self, self.scenario.faults)
        if self.scenario.max_time is not None:
            deadline = env.timeout(self.scenario.max_time)
            deadline.callbacks.append(lambda _: None if self.stop.triggered else self.stop.succeed())
        self.check_done()
        env.run(until=self.stop)
        rec = self.rec
        if not rec.series["time_s"] or rec.series["time_s"][-1] != env.now:
            self._sample()
        # Stopped by max_time: what is not settled is unsettled; a settled
        # message whose copies never got processed is lost.
        rec.unsettled = self.unsettled
        rec.messages = self.created
        for msg in self.pending.values():
            if not msg.processed:
                self.lost(msg)


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

    @property
    def name(self) -> str:
        return str(self.scenario["name"])

    @property
    def ok(self) -> bool:
        """True if every guarantee of the run's semantics held."""
        return all(self.checks.values())

    def summary_frame(self):  # -> pandas.DataFrame
        """The summary as a one-row DataFrame (wall time included)."""
        import pandas as pd

        row = dict(self.summary)
        row["wall_time_s"] = self.wall_time_s
        return pd.DataFrame([row])

    def series_frame(self):  # -> pandas.DataFrame
        """The sampled time series, one row per sampling instant."""
        import pandas as pd

        return pd.DataFrame(self.series, columns=list(SERIES_COLUMNS))

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
    scenario = scenario.with_seed(seed)
    seed = scenario.seed
    started = time.perf_counter()
    world = World(scenario, seed, progress=progress)
    world.run()
    wall = time.perf_counter() - started
    rec = world.rec

    summary: dict[str, Any] = {"scenario": scenario.name, "semantics": scenario.semantics, "seed": seed}
    for column in COUNTER_COLUMNS:
        summary[column] = rec.dedup_entries if column == "dedup_entries_final" else getattr(rec, column)
    summary.update(cause_columns(rec))
    m = max(rec.messages, 1)
    summary["duplicate_deliveries_per_message"] = rec.duplicate_deliveries / m
    summary["transmissions_per_message"] = rec.transmissions / m
    summary.update(latency_columns(rec))
    summary["events"] = _events_scheduled(world.env)
    summary["sim_time_s"] = float(world.env.now)
    run_checks = checks(scenario.semantics, summary)
    for name, held in run_checks.items():
        summary[f"check_{name}"] = held
    trace = list(rec.trace) if scenario.observe.trace_messages else None
    fingerprint = _fingerprint(summary, rec.series, trace)
    summary["fingerprint"] = fingerprint
    return RunResult(
        scenario=scenario.resolved(),
        seed=seed,
        summary=summary,
        series={k: list(v) for k, v in rec.series.items()},
        checks=run_checks,
        trace=trace,
        fingerprint=fingerprint,
        wall_time_s=wall,
    )


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
