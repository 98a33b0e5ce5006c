"""The real-time workload a scenario asks for, and what cannot be played.

A :class:`Plan` holds every duration of the workload in wall-clock seconds:
the scenario's durations divided by ``speed``. Timers on an ordinary machine
fire a millisecond or more late, so a plan whose timed durations fall under
:data:`MIN_TIMER_S` is refused rather than measured wrongly.

The parts of the scenario the harness plays: ``sender.rate`` (Poisson
publishes), ``messages``, ``broker.visibility_timeout`` (JetStream AckWait,
the Redis reclaimer's min-idle), ``broker.max_deliveries`` (JetStream
MaxDeliver, the Redis reclaimer's dead-lettering), ``broker.prefetch``
(JetStream MaxAckPending), ``broker.reclaim`` (the Redis reclaimer's scan
period), ``consumer.processing``, ``consumer.concurrency``,
``consumer.dedup.write_delay`` (the gap between side effect and ack),
``consumer.pull`` (a pull consumer holds at most ``batch`` deliveries and
fetches only what it has room for), ``consumer.lease_extension`` (JetStream's
in-progress ack; on Redis, XCLAIM JUSTID by the holder) and the crashes of the
consumer (``faults`` with target ``consumer-0`` or ``consumers``). Network
latencies are the loopback's own, and ``consumer.start_delay`` is the real
client's: neither is played, both are predicted as the scenario says.
Anything else that changes what the consumer sees is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alosim.dists import Constant
from alosim.scenario import Scenario

#: The shortest timed duration the harness plays: timers here fire 1-3 ms late.
MIN_TIMER_S = 0.005

#: The Redis reclaimer's scan period when the scenario has no broker.reclaim:
#: the finest the harness honours, standing in for a lease that ends on time.
DEFAULT_RECLAIM_S = MIN_TIMER_S

#: A consumer.concurrency at least this large is played as unbounded.
UNBOUNDED = 10_000


class ConformError(Exception):
    """A scenario, option or broker the harness cannot measure; the message is one line."""


@dataclass(frozen=True)
class Crash:
    """One SIGKILL of the consumer process: at ``at_s`` after the first publish, down ``down_s``."""

    at_s: float
    down_s: float


@dataclass(frozen=True)
class Plan:
    """The workload in wall-clock seconds (the scenario's durations / speed)."""

    name: str
    seed: int
    speed: float
    messages: int
    rate_per_s: float
    processing_s: np.ndarray  # one draw per delivery, in order; reused cyclically if exhausted
    lease_s: float
    max_deliveries: int | None
    prefetch: int | None
    reclaim_interval_s: float
    reclaim_jitter: bool  # gaps Uniform(0, 2 x interval) instead of a grid
    reclaim_from_scenario: bool
    lease_extension_every_s: float | None
    lease_extension_max_s: float | None
    write_delay_s: float
    concurrency: int | None  # None: unbounded
    pull_batch: int | None  # None: push deliveries
    crashes: tuple[Crash, ...]
    notes: tuple[str, ...] = ()  # what the report should say about how it was played

    @property
    def publish_span_s(self) -> float:
        """Expected time the publishes take."""
        return self.messages / self.rate_per_s

    def worker_config(self) -> dict[str, Any]:
        """What the consumer process needs (JSON-ready)."""
        return {
            "lease_s": self.lease_s,
            "max_deliveries": self.max_deliveries,
            "reclaim_interval_s": self.reclaim_interval_s,
            "reclaim_jitter": self.reclaim_jitter,
            "lease_extension": None if self.lease_extension_every_s is None else {
                "every_s": self.lease_extension_every_s, "max_s": self.lease_extension_max_s},
            "write_delay_s": self.write_delay_s,
            "concurrency": self.concurrency,
            "pull_batch": self.pull_batch,
        }


def _field(model: Any, name: str) -> Any:
    # Fields another schema version may not have yet read as absent.
    return getattr(model, name, None)


def make_plan(scenario: Scenario, *, speed: float = 1.0, messages: int | None = None) -> Plan:
    """The real-time workload of ``scenario``, or :class:`ConformError` naming what cannot be played."""
    if speed <= 0:
        raise ConformError(f"--speed must be positive, got {speed}")
    broker, consumer = scenario.broker, scenario.consumer
    if broker is None or consumer is None:
        raise ConformError("the scenario has no broker and consumer: conform plays a pipeline "
                           "(producer -> broker -> consumer)")
    if broker.kind != "queue":
        raise ConformError("broker.kind: conform plays a queue with leases (kind: queue), not a log")
    _refuse_unplayable(scenario)
    if scenario.sender.rate is None:
        raise ConformError("sender.rate: conform publishes at a rate; the scenario has none")
    count = messages if messages is not None else scenario.messages
    if count is None:
        duration = scenario.duration or 0.0
        count = int(round(scenario.sender.rate * scenario.sender.count * duration))
    if count < 1:
        raise ConformError("messages: conform needs a number of messages (--messages or messages:)")

    reclaim = _field(broker, "reclaim")
    reclaim_interval = float(reclaim.interval) if reclaim is not None else None
    reclaim_jitter = bool(getattr(reclaim, "jitter", False))
    extension = _field(consumer, "lease_extension")
    notes = []
    if _start_delay_set(consumer):
        notes.append("consumer.start_delay is the client's own delay: not played (the consumer "
                     "here has its own), predicted as the scenario says")
    pull = _field(consumer, "pull")
    timed = {
        "broker.visibility_timeout": broker.visibility_timeout,
        "consumer.processing (mean)": consumer.processing.mean,
    }
    if reclaim_interval is not None:
        timed["broker.reclaim.interval"] = reclaim_interval
    if consumer.dedup.write_delay:
        timed["consumer.dedup.write_delay"] = consumer.dedup.write_delay
    if extension is not None:
        timed["consumer.lease_extension.every"] = extension.every
    crashes = _crashes(scenario, count)
    if crashes:
        timed["faults (down time)"] = min(c.down_s for c in crashes)
    for name, value_s in timed.items():
        if value_s / speed < MIN_TIMER_S:
            fastest = value_s / MIN_TIMER_S
            raise ConformError(
                f"--speed {speed:g} scales {name} {value_s * 1000:g}ms to "
                f"{value_s / speed * 1000:.3g}ms, under the {MIN_TIMER_S * 1000:g}ms timers can "
                f"honour here; use --speed {fastest:.3g} or less")

    rng = np.random.default_rng(scenario.seed)
    draws = consumer.processing.sample(rng, max(16 * count, 1024)) / speed
    concurrency = consumer.concurrency if consumer.concurrency < UNBOUNDED else None
    return Plan(
        name=scenario.name,
        seed=scenario.seed,
        speed=speed,
        messages=count,
        rate_per_s=scenario.sender.rate * scenario.sender.count * speed,
        processing_s=np.asarray(draws, dtype=np.float64),
        lease_s=broker.visibility_timeout / speed,
        max_deliveries=broker.max_deliveries,
        prefetch=broker.prefetch,
        reclaim_interval_s=(reclaim_interval if reclaim_interval is not None else
                            DEFAULT_RECLAIM_S * speed) / speed,
        reclaim_jitter=reclaim_jitter,
        reclaim_from_scenario=reclaim_interval is not None,
        lease_extension_every_s=extension.every / speed if extension is not None else None,
        lease_extension_max_s=(extension.max / speed if extension is not None and extension.max
                               else None),
        write_delay_s=consumer.dedup.write_delay / speed,
        concurrency=concurrency,
        pull_batch=int(pull.batch) if pull is not None else None,
        crashes=tuple(Crash(c.at_s / speed, c.down_s / speed) for c in crashes),
        notes=tuple(notes),
    )


def _refuse_unplayable(scenario: Scenario) -> None:
    broker, consumer = scenario.broker, scenario.consumer
    assert broker is not None and consumer is not None
    refused = {
        "consumer.count": consumer.count != 1,
        "consumer.ack": consumer.ack != "after-processing",
        "consumer.nack_probability": consumer.nack_probability > 0,
        "consumer.poison_probability": consumer.poison_probability > 0,
        "consumer.dedup.kind": consumer.dedup.kind not in (None, "none"),
        "broker.redelivery_backoff": broker.redelivery_backoff > 0,
        "broker.max_length": broker.max_length is not None,
    }
    for name, is_set in refused.items():
        if is_set:
            raise ConformError(f"{name}: conform does not play this yet (one consumer process, "
                               "ack after processing, no consumer store, no nacks)")
    links = {"network.data": scenario.network.data, "network.ack": scenario.network.ack}
    if scenario.network.consume is not None:
        links["network.consume.data"] = scenario.network.consume.data
        links["network.consume.ack"] = scenario.network.consume.ack
    for name, link in links.items():
        if link.loss != 0 or link.duplicate > 0:
            what = "loss" if link.loss != 0 else "duplicate"
            raise ConformError(f"{name}.{what}: conform plays the loopback's network, which "
                               f"neither loses nor duplicates packets (--set {name}.{what}=0 "
                               "measures the rest)")
    if scenario.network.partitions:
        raise ConformError("network.partitions: conform does not cut the loopback")
    for i, fault in enumerate(scenario.faults):
        if fault.target not in ("consumer-0", "consumers") or fault.kind != "crash":
            raise ConformError(f"faults[{i}]: conform plays crashes of the consumer "
                               f"(consumer-0), not {fault.kind} of {fault.target}")


def _start_delay_set(consumer: Any) -> bool:
    delay = _field(consumer, "start_delay")
    return delay is not None and not (isinstance(delay, Constant) and delay.value == 0)


def _crashes(scenario: Scenario, messages: int) -> list[Crash]:
    """The consumer's crashes in scenario seconds: the scheduled ones, then random ones
    (exponential up and down times with the fault's mtbf and mttr, from the scenario's
    seed) over the time the publishes take."""
    assert scenario.sender.rate is not None
    span_s = messages / (scenario.sender.rate * scenario.sender.count)
    rng = np.random.default_rng([scenario.seed, 1])
    crashes: list[Crash] = []
    for fault in scenario.faults:
        if fault.at is not None and fault.for_ is not None:
            crashes.append(Crash(float(fault.at), float(fault.for_)))
            continue
        assert fault.mtbf is not None and fault.mttr is not None
        t = 0.0
        while True:
            t += float(rng.exponential(fault.mtbf))
            if t >= span_s:
                break
            down = float(rng.exponential(fault.mttr))
            crashes.append(Crash(t, down))
            t += down
    return sorted(crashes, key=lambda c: c.at_s)
