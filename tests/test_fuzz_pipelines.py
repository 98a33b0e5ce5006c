"""Random queue pipelines and logs, pushed to where the books are hardest to keep.

The property tests of :mod:`tests.model.test_properties` combine every
feature; these draws stay small (a few dozen messages) and crowd the model's
timers instead: leases shorter than processing, nacks, poison messages and
dead letters, retention shorter than a batch takes, ``max_poll_interval``
shorter than a batch, short sessions, rebalance delays, crashes of the
producer, the broker and the consumers at random times, runs cut short by
``max_time`` -- as queue pipelines, as logs, and as logs whose members are
kicked out while retention deletes what they hold (the draws that found
duplicate effects charged to no cause). Each run must come back with every
book balanced (no ``books_*`` check failed: every duplicate effect and every
loss has a cause, every packet and record is accounted for).

The suite runs :data:`EXAMPLES` draws of each (about 20 s in all);
``ALOSIM_FUZZ_EXAMPLES`` raises that for a longer search
(``ALOSIM_FUZZ_EXAMPLES=1000 pytest tests/test_fuzz_pipelines.py``).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import alosim
from alosim.scenario import ScenarioError
from tests.conftest import make


def valid(overrides: dict[str, Any]) -> alosim.Scenario:
    """The drawn scenario, or no example at all when validation refuses it (a livelock
    the schema foresees, say, a lease below every processing time under at-most-once):
    a refused scenario is not a run whose books could fail. Hypothesis fails the test
    (filter_too_much) if that happens to most draws."""
    try:
        return make(BASE, **overrides)
    except ScenarioError:
        reject()

EXAMPLES = int(os.environ.get("ALOSIM_FUZZ_EXAMPLES", "250"))

BASE = """
name: fuzz
network:
  data: {latency: {dist: exponential, mean: 5ms}}
  ack: {latency: {dist: exponential, mean: 5ms}}
broker: {}
consumer: {}
"""


def assert_books_hold(result: alosim.RunResult) -> None:
    """No book of the run failed (a failed one is a check named ``books_<identity>``)."""
    failed = {name: result.summary.get(f"books_{name}") for name, held in result.checks.items()
              if name.startswith("books_") and not held}
    assert not failed, failed


def link(draw: st.DrawFn) -> dict[str, Any]:
    return {"latency": {"dist": "exponential", "mean": draw(st.sampled_from([0.001, 0.005]))},
            "loss": draw(st.sampled_from([0.0, 0.0, 0.1, 0.3])),
            "duplicate": draw(st.sampled_from([0.0, 0.0, 0.1]))}


@st.composite
def faults(draw: st.DrawFn, consumers: int) -> list[dict[str, Any]]:
    targets = ["sender-0", "broker", "consumers"] + [f"consumer-{i}" for i in range(consumers)]
    out = []
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(targets))
        if draw(st.booleans()):
            out.append({"target": target, "at": draw(st.sampled_from([0.005, 0.02, 0.05, 0.15])),
                        "for": draw(st.sampled_from([0.001, 0.01, 0.05, 0.3]))})
        else:
            out.append({"target": target, "mtbf": draw(st.sampled_from([0.05, 0.2])),
                        "mttr": draw(st.sampled_from([0.005, 0.05]))})
    return out


def processing(draw: st.DrawFn) -> dict[str, Any]:
    return draw(st.sampled_from([
        {"dist": "constant", "value": 0}, {"dist": "constant", "value": 0.01},
        {"dist": "constant", "value": 0.003}, {"dist": "exponential", "mean": 0.01}]))


def common(draw: st.DrawFn, semantics: str) -> dict[str, Any]:
    retry: dict[str, Any] = {"timeout": draw(st.sampled_from([0.01, 0.02, 0.1]))}
    if semantics != "at-most-once":
        retry["max_attempts"] = draw(st.sampled_from([None, 2, 5]))
    sender: dict[str, Any] = {"count": draw(st.integers(1, 2)), "window": draw(st.integers(1, 8)),
                              "retry": retry, "durable_outbox": draw(st.booleans())}
    if draw(st.booleans()):
        sender["rate"] = draw(st.sampled_from([200.0, 2000.0]))
    return {
        "semantics": semantics,
        "seed": draw(st.integers(0, 2**16)),
        "messages": draw(st.integers(1, 60)),
        "sender": sender,
        "network.data": link(draw),
        "network.ack": link(draw),
        # A run cut short leaves work, leases, commits and packets in flight.
        "max_time": draw(st.sampled_from([0.03, 0.1, 0.4, 3.0])),
    }


@st.composite
def queue_pipelines(draw: st.DrawFn) -> alosim.Scenario:
    """Queue pipelines with short leases, nacks, dead letters and crashes."""
    consumers = draw(st.integers(1, 3))
    semantics = draw(st.sampled_from(["at-most-once", "at-least-once", "exactly-once"]))
    dedup = draw(st.sampled_from([{"kind": "none"}, {"kind": "set"}, {"kind": "ttl", "window": 0.02},
                                  {"kind": "lru", "capacity": 5}]))
    if semantics == "exactly-once" and dedup["kind"] == "none":
        dedup = {"kind": "set"}
    nack = draw(st.sampled_from([0.0, 0.0, 0.2, 0.6]))
    poison = draw(st.sampled_from([0.0, 0.0, 0.2]))
    max_deliveries = draw(st.sampled_from([None, 1, 2, 4]))
    broker: dict[str, Any] = {
        "durable": draw(st.booleans()),
        "dedup": {**draw(st.sampled_from([{"kind": "none"}, {"kind": "set"}, {"kind": "sequence"},
                                          {"kind": "ttl", "window": 0.02}])),
                  "durable": draw(st.booleans())},
        "visibility_timeout": draw(st.sampled_from([0.001, 0.004, 0.012, 0.05, 1.0])),
        "max_deliveries": max_deliveries,
        "redelivery_backoff": draw(st.sampled_from([0.0, 0.0, 0.005])),
        "prefetch": draw(st.sampled_from([None, 1, 3])),
        "service": draw(st.sampled_from([{"dist": "constant", "value": 0},
                                         {"dist": "exponential", "mean": 0.002}])),
    }
    if draw(st.booleans()):
        broker["max_length"] = draw(st.sampled_from([1, 3]))
        broker["overflow"] = draw(st.sampled_from(["drop-head", "reject-publish"]))
    consumer: dict[str, Any] = {
        "count": consumers,
        "concurrency": draw(st.integers(1, 3)),
        "ack": draw(st.sampled_from(["after-processing", "before-processing"])),
        "nack_probability": nack,
        "poison_probability": poison,
        "processing": processing(draw),
        "dedup": {**dedup, "durable": draw(st.booleans()),
                  "write_delay": draw(st.sampled_from([0, 0.004]))},
    }
    overrides = common(draw, semantics)
    overrides.update({
        "network.consume": {"data": link(draw), "ack": link(draw)},
        "broker": broker,
        "consumer": consumer,
        "faults": draw(faults(consumers)),
    })
    return valid(overrides)


@st.composite
def log_pipelines(draw: st.DrawFn) -> alosim.Scenario:
    """Logs with short retention, short polls and sessions, rebalances and crashes."""
    consumers = draw(st.integers(1, 3))
    policy = draw(st.sampled_from(["after-each", "after-batch", "interval", "before-processing",
                                   "transactional"]))
    semantics = {"transactional": "exactly-once", "before-processing": "at-most-once"}.get(
        policy, "at-least-once")
    commit: dict[str, Any] = {"policy": policy, "latency": draw(st.sampled_from([0.0, 0.0, 0.004]))}
    if policy == "interval":
        commit["interval"] = draw(st.sampled_from([0.005, 0.03]))
    broker = {
        "kind": "log",
        "partitions": draw(st.integers(1, 3)),
        "partitioner": draw(st.sampled_from(["key", "round-robin"])),
        "keys": {"count": draw(st.sampled_from([1, 3, 20]))},
        "retention": draw(st.sampled_from([None, 0.02, 0.05, 0.1, 0.2])),
        "dedup": {"kind": draw(st.sampled_from(["none", "sequence"]))},
    }
    consumer = {
        "count": consumers,
        "assignment": draw(st.sampled_from(["range", "round-robin"])),
        "fetch_batch": draw(st.sampled_from([1, 2, 5, 500])),
        "processing": processing(draw),
        "session_timeout": draw(st.sampled_from([0.01, 0.05, 1.0])),
        "max_poll_interval": draw(st.sampled_from([0.01, 0.02, 0.05, 10.0])),
        "rebalance_delay": draw(st.sampled_from([0.0, 0.0, 0.01])),
        "commit": commit,
    }
    overrides = common(draw, semantics)
    overrides.update({"broker": broker, "consumer": consumer, "faults": draw(faults(consumers))})
    return valid(overrides)


@st.composite
def stalled_logs(draw: st.DrawFn) -> alosim.Scenario:
    """Logs whose members are kicked out while retention deletes what they hold.

    Every draw has a retention of a few batches, a poll interval about one
    batch long and processing that takes time, and a producer that retries
    (without idempotence most of the time): a kicked member may then process
    a record the next owner has passed, or a message's first record after
    its retry's."""
    consumers = draw(st.integers(1, 3))
    policy = draw(st.sampled_from(["after-each", "after-batch", "interval", "before-processing",
                                   "transactional"]))
    semantics = {"transactional": "exactly-once", "before-processing": "at-most-once"}.get(
        policy, "at-least-once")
    commit: dict[str, Any] = {"policy": policy, "latency": draw(st.sampled_from([0.0, 0.002]))}
    if policy == "interval":
        commit["interval"] = draw(st.sampled_from([0.005, 0.03]))
    return valid({
        "semantics": semantics,
        "seed": draw(st.integers(0, 2**16)),
        "messages": draw(st.integers(10, 60)),
        "sender": {"count": draw(st.integers(1, 2)), "window": draw(st.integers(1, 8)),
                   "retry": {"timeout": draw(st.sampled_from([0.01, 0.02]))}},
        "network.data": link(draw),
        "network.ack": link(draw),
        "broker": {"kind": "log", "partitions": draw(st.integers(1, 2)),
                   "partitioner": draw(st.sampled_from(["key", "round-robin"])),
                   "keys": {"count": draw(st.sampled_from([1, 3]))},
                   "retention": draw(st.sampled_from([0.02, 0.05, 0.1, 0.2])),
                   "dedup": {"kind": draw(st.sampled_from(["none", "none", "sequence"]))}},
        "consumer": {"count": consumers, "fetch_batch": draw(st.sampled_from([2, 5, 500])),
                     "processing": draw(st.sampled_from([
                         {"dist": "constant", "value": 0.01}, {"dist": "exponential", "mean": 0.01},
                         {"dist": "constant", "value": 0.003}])),
                     "session_timeout": draw(st.sampled_from([0.01, 0.05, 1.0])),
                     "max_poll_interval": draw(st.sampled_from([0.01, 0.02, 0.05])),
                     "rebalance_delay": draw(st.sampled_from([0.0, 0.01])),
                     "assignment": draw(st.sampled_from(["range", "round-robin"])),
                     "commit": commit},
        "faults": draw(faults(consumers)),
        "max_time": draw(st.sampled_from([0.1, 0.5, 2.0])),
    })


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck))
@given(queue_pipelines())
def test_queue_pipelines_keep_their_books(scenario):
    assert_books_hold(alosim.simulate(scenario))


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck))
@given(log_pipelines())
def test_logs_keep_their_books(scenario):
    assert_books_hold(alosim.simulate(scenario))


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck))
@given(stalled_logs())
def test_stalled_logs_under_retention_keep_their_books(scenario):
    assert_books_hold(alosim.simulate(scenario))
