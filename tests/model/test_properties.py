"""Random combinations of every feature, checked against what must hold in all.

Each example draws a scenario -- 1-4 senders and receivers, every dedup kind
(durable or volatile), every retry policy and jitter, max_attempts and
delivery_timeout, durable outboxes, scheduled and random crashes of senders
and receivers, partitions, network duplication, FIFO links, Gilbert-Elliott
loss, several workers, bounded queues under each full-queue policy (negative
acks included), LIFO service, pauses and slow-downs, deduplication on
arrival and discarding expired work, the sender's retry budget and circuit
breaker -- runs it briefly and checks:

* the run's own books (``World.conservation``, which names each identity that
  fails -- a message or a packet gone missing, a duplicate or a loss without
  a cause -- as a failed ``books_*`` check of the result);
* time never decreases (the trace is in time order);
* no message is sent more often than its sender may: once at-most-once,
  ``max_attempts`` times otherwise;
* at-most-once processes nothing twice unless the network duplicated it;
* with deduplication on arrival no two copies of a message are ever in
  progress at once (no ``concurrent_copy`` duplicate);
* a retry budget bounds retransmissions: <= burst + ratio x first
  transmissions per sender (in exact arithmetic, as the bucket counts);
* a message is held by a breaker only after one opened;
* a sequence store that saw every message processed holds one mark per
  connection and nothing else.

A second test draws pipelines (producer -> broker -> consumers): every
broker store kind, 1-3 consumers with every consumer store kind (a sequence
store belongs to the broker), leases shorter and longer than processing,
nacks, poison messages, ``max_deliveries``, prefetch, polled reclaim, start
delays, lease extensions, pull consumers, a bounded broker
queue under each overflow behaviour (publishes nacked by ``reject-publish``
included), crashes of the producer, the broker and the consumers, durable
and volatile brokers and stores -- and checks the pipeline's books
(``Pipeline.conservation``, per hop), time order, the producer's attempt
limit, the broker's delivery limit, and that only a bounded queue drops or
refuses, each by its own behaviour.

Sized to run in well under a minute together with a fixed set of examples (the
"alosim" hypothesis profile is derandomised).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alosim
from tests.conftest import make

BASE = """
name: mix
messages: 200
network:
  data: {latency: {dist: exponential, mean: 10ms}}
  ack: {latency: {dist: exponential, mean: 10ms}}
observe: {trace_messages: 200}
max_time: 20s
"""

DEDUP = st.sampled_from([
    {"kind": "none"},
    {"kind": "set"},
    {"kind": "ttl", "window": 0.15},
    {"kind": "lru", "capacity": 20},
    {"kind": "sequence"},
    {"kind": "bloom", "capacity": 100, "fp_rate": 0.05},
])

LOSS = st.sampled_from([0.0, 0.1, 0.4, {"model": "gilbert-elliott", "p": 0.05, "r": 0.3}])

RETRY_BUDGET = st.sampled_from([None, None, {"ratio": 0.1, "burst": 2}, {"ratio": 0, "burst": 1},
                                {"ratio": 0.5, "burst": 5}])
CIRCUIT_BREAKER = st.sampled_from([
    None, None, {"failure_ratio": 0.5, "window": 4, "open_for": 0.1},
    {"failure_ratio": 0.2, "window": 10, "open_for": 0.5, "probes": 2},
    {"failure_ratio": 1, "window": 1, "open_for": 0.05, "probes": 3}])


@st.composite
def crash(draw: st.DrawFn, senders: int, receivers: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["sender", "receiver"]))
    index = draw(st.integers(0, (senders if kind == "sender" else receivers) - 1))
    if draw(st.booleans()):
        return {"target": f"{kind}-{index}", "at": draw(st.sampled_from([0.05, 0.3])),
                "for": draw(st.sampled_from([0.02, 0.4, 1.5]))}
    return {"target": f"{kind}-{index}", "mtbf": 0.5, "mttr": draw(st.sampled_from([0.05, 0.3]))}


@st.composite
def slowdown(draw: st.DrawFn, receivers: int) -> dict[str, Any]:
    target = draw(st.sampled_from(["receivers"] + [f"receiver-{i}" for i in range(receivers)]))
    kind = draw(st.sampled_from([{"kind": "pause"}, {"kind": "slow", "factor": 5}]))
    if draw(st.booleans()):
        return {"target": target, **kind, "at": draw(st.sampled_from([0.05, 0.2])),
                "for": draw(st.sampled_from([0.05, 0.5]))}
    return {"target": target, **kind, "mtbf": 0.3, "mttr": 0.1}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[alosim.Scenario, dict[str, Any]]:
    senders, receivers = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    semantics = draw(st.sampled_from(["at-most-once", "at-least-once", "exactly-once"]))
    dedup = draw(DEDUP)
    if semantics == "exactly-once" and dedup["kind"] == "none":
        dedup = {"kind": "set"}
    if semantics == "at-least-once":
        dedup = {"kind": "none"} if draw(st.booleans()) else dedup
    dedup = {**dedup, "durable": draw(st.booleans()),
             "write_delay": draw(st.sampled_from([0, 0.002, 0.02]))}
    retry: dict[str, Any] = {"timeout": draw(st.sampled_from([0.02, 0.08]))}
    if semantics != "at-most-once":
        retry["policy"] = draw(st.sampled_from(["fixed", "exponential", "adaptive"]))
        jitters = ["none", "full", "equal"] + (["decorrelated"] if retry["policy"] != "adaptive" else [])
        retry["jitter"] = draw(st.sampled_from(jitters))
        retry["max_attempts"] = draw(st.sampled_from([None, 2, 4]))
        retry["delivery_timeout"] = draw(st.sampled_from([None, 0.2, 1.0]))
    sender: dict[str, Any] = {
        "count": senders,
        "window": draw(st.integers(1, 16)),
        "durable_outbox": draw(st.booleans()),
        "retry": retry,
    }
    if draw(st.booleans()):
        sender["rate"] = draw(st.sampled_from([100.0, 400.0]))
    link: dict[str, Any] = {"latency": {"dist": "exponential", "mean": 0.01}}
    data = {**link, "loss": draw(LOSS), "duplicate": draw(st.sampled_from([0.0, 0.05])),
            "fifo": draw(st.booleans())}
    ack = {**link, "loss": draw(LOSS), "duplicate": draw(st.sampled_from([0.0, 0.05])),
           "fifo": draw(st.booleans())}
    partitions = draw(st.sampled_from([[], [{"at": 0.1, "for": 0.2, "direction": "data"}],
                                       [{"at": 0.2, "for": 0.3, "direction": "both"}]]))
    faults = draw(st.lists(crash(senders, receivers), max_size=2))
    slowdowns = draw(st.lists(slowdown(receivers), max_size=1))
    queue = draw(st.sampled_from([
        {}, {"capacity": 2}, {"capacity": 3, "when_full": "reject"},
        {"capacity": 2, "when_full": "drop-oldest"}, {"lifo_above": 1},
        {"capacity": 4, "when_full": "reject", "lifo_above": 2}]))
    overrides = {
        "semantics": semantics,
        "seed": draw(st.integers(0, 2**16)),
        "sender": sender,
        "receiver": {"count": receivers, "dedup": dedup,
                     "ack": draw(st.sampled_from(["after-processing", "before-processing"])),
                     "processing": draw(st.sampled_from([
                         {"dist": "constant", "value": 0}, {"dist": "exponential", "mean": 0.002}])),
                     "workers": draw(st.sampled_from([1, 1, 3])), "queue": queue,
                     "dedup_on_arrival": draw(st.booleans()),
                     "discard_expired": draw(st.booleans())},
        "network.data": data,
        "network.ack": ack,
        "network.partitions": partitions,
        "faults": faults + slowdowns,
        # Sometimes cut the run short: copies and acks still travelling, work
        # in progress, messages unsettled must be accounted for too.
        "max_time": draw(st.sampled_from([20.0, 0.3])),
    }
    # Drawn last, so that the examples drawn before these existed stay as they were.
    sender["retry_budget"] = draw(RETRY_BUDGET)
    sender["circuit_breaker"] = draw(CIRCUIT_BREAKER)
    return make(BASE, **overrides), overrides


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_combination_keeps_the_books(drawn):
    scenario, overrides = drawn
    r = alosim.simulate(scenario)
    assert not r.bugs, r.bugs  # every book holds (see alosim.model.books)
    s, trace = r.summary, r.trace or []

    times = [e.time_s for e in trace]
    assert all(a <= b for a, b in zip(times, times[1:])), "time went backwards"

    sends = Counter(e.message for e in trace if e.event == "send")
    limit = scenario.sender.retry.max_attempts
    if limit is not None:
        assert max(sends.values(), default=0) <= limit, "a message was sent too often"
    if scenario.semantics == "at-most-once" and not scenario.network.data.duplicate:
        assert s["duplicate_processing"] == 0
    check_mitigations(scenario, s)

    if scenario.receiver.dedup_on_arrival:
        assert s["duplicates_concurrent_copy"] == 0, "two copies of a message in progress at once"

    if scenario.receiver.dedup.kind == "sequence" and s["lost"] == 0 and s["unsettled"] == 0:
        volatile_crash = not scenario.receiver.dedup.durable and any(
            f.target.startswith("receiver") for f in scenario.faults)
        if not volatile_crash:
            # Every number of every connection was processed: nothing is out of order.
            senders = {e.message: e.actor for e in trace if e.event == "create"}
            connections = {(senders[m], m % scenario.receiver.count) for m in senders}
            assert s["dedup_entries_final"] == len(connections), "the sequence store kept gaps"


def check_mitigations(scenario: alosim.Scenario, s: dict[str, Any]) -> None:
    """The retry budget's bound and the breaker's counters, where configured."""
    budget, breaker = scenario.sender.retry_budget, scenario.sender.circuit_breaker
    assert ("retries_suppressed" in s) == (budget is not None)
    assert ("breaker_opened" in s) == (breaker is not None)
    if budget is not None:
        ratio = Fraction(repr(float(budget.ratio)))
        first = s["transmissions"] - s["retransmissions"]
        assert s["retransmissions"] <= scenario.sender.count * budget.burst + ratio * first
        if s["lost_retry_budget"]:
            assert s["retries_suppressed"] > 0
    if breaker is not None:
        assert s["short_circuited"] == 0 or s["breaker_opened"] > 0
        if s["lost_circuit_open"]:
            assert s["short_circuited"] > 0


PIPELINE_BASE = """
name: pipe
messages: 150
network:
  data: {latency: {dist: exponential, mean: 10ms}}
  ack: {latency: {dist: exponential, mean: 10ms}}
broker: {}
consumer: {}
observe: {trace_messages: 150}
max_time: 20s
"""

BROKER_DEDUP = st.sampled_from([
    {"kind": "none"},
    {"kind": "set"},
    {"kind": "ttl", "window": 0.15},
    {"kind": "lru", "capacity": 20},
    {"kind": "sequence"},
    {"kind": "bloom", "capacity": 60, "fp_rate": 0.05},
])

CONSUMER_DEDUP = st.sampled_from([
    {"kind": "none"},
    {"kind": "set"},
    {"kind": "ttl", "window": 0.15},
    {"kind": "lru", "capacity": 20},
    {"kind": "bloom", "capacity": 60, "fp_rate": 0.05},
])


@st.composite
def pipeline_crash(draw: st.DrawFn, consumers: int) -> dict[str, Any]:
    target = draw(st.sampled_from(["sender-0", "broker", "consumers"]
                                  + [f"consumer-{i}" for i in range(consumers)]))
    if draw(st.booleans()):
        return {"target": target, "at": draw(st.sampled_from([0.05, 0.3])),
                "for": draw(st.sampled_from([0.02, 0.4]))}
    return {"target": target, "mtbf": 0.5, "mttr": draw(st.sampled_from([0.05, 0.3]))}


@st.composite
def pipelines(draw: st.DrawFn) -> alosim.Scenario:
    consumers = draw(st.integers(1, 3))
    semantics = draw(st.sampled_from(["at-most-once", "at-least-once", "exactly-once"]))
    consumer_dedup = draw(CONSUMER_DEDUP)
    if semantics == "exactly-once" and consumer_dedup["kind"] == "none":
        consumer_dedup = {"kind": "set"}
    consumer_dedup = {**consumer_dedup, "durable": draw(st.booleans()),
                      "write_delay": draw(st.sampled_from([0, 0.005]))}
    broker_dedup = {**draw(BROKER_DEDUP), "durable": draw(st.booleans())}
    retry: dict[str, Any] = {"timeout": draw(st.sampled_from([0.03, 0.1]))}
    if semantics != "at-most-once":
        retry["policy"] = draw(st.sampled_from(["fixed", "exponential"]))
        retry["max_attempts"] = draw(st.sampled_from([None, 2, 4]))
    link: dict[str, Any] = {"latency": {"dist": "exponential", "mean": 0.01}}

    def lossy() -> dict[str, Any]:
        return {**link, "loss": draw(st.sampled_from([0.0, 0.1, 0.3])),
                "duplicate": draw(st.sampled_from([0.0, 0.05]))}

    broker: dict[str, Any] = {
        "durable": draw(st.booleans()),
        "dedup": broker_dedup,
        "visibility_timeout": draw(st.sampled_from([0.01, 0.05, 1.0])),  # shorter or longer than work
        "max_deliveries": draw(st.sampled_from([None, 1, 3])),
        "redelivery_backoff": draw(st.sampled_from([0.0, 0.02])),
        "prefetch": draw(st.sampled_from([None, 1, 4])),
        "service": draw(st.sampled_from([{"dist": "constant", "value": 0},
                                         {"dist": "exponential", "mean": 0.002}])),
    }
    consumer: dict[str, Any] = {
        "count": consumers,
        "concurrency": draw(st.integers(1, 3)),
        "ack": draw(st.sampled_from(["after-processing", "before-processing"])),
        "nack_probability": draw(st.sampled_from([0.0, 0.1])),
        "poison_probability": draw(st.sampled_from([0.0, 0.05])),
        "processing": draw(st.sampled_from([{"dist": "constant", "value": 0},
                                            {"dist": "exponential", "mean": 0.02}])),
        "dedup": consumer_dedup,
    }
    overrides = {
        "semantics": semantics,
        "seed": draw(st.integers(0, 2**16)),
        "sender": {"window": draw(st.integers(1, 16)), "retry": retry,
                   "durable_outbox": draw(st.booleans())},
        "network.data": lossy(),
        "network.ack": lossy(),
        "network.consume": {"data": lossy(), "ack": lossy()},
        "broker": broker,
        "consumer": consumer,
        "faults": draw(st.lists(pipeline_crash(consumers), max_size=2)),
        "max_time": draw(st.sampled_from([20.0, 0.3])),
    }
    overrides["sender"]["retry_budget"] = draw(RETRY_BUDGET)  # drawn last, see scenarios()
    overrides["sender"]["circuit_breaker"] = draw(CIRCUIT_BREAKER)
    # Drawn after everything else, for the same reason.
    max_length = draw(st.sampled_from([None, None, 1, 3, 10]))
    if max_length is not None:
        broker["max_length"] = max_length
        broker["overflow"] = draw(st.sampled_from(["drop-head", "reject-publish"]))
    # What real brokers and clients add, drawn last as well.
    broker["reclaim"] = draw(st.sampled_from([None, None, {"interval": 0.01},
                                              {"interval": 0.05, "jitter": True}]))
    consumer["start_delay"] = draw(st.sampled_from([None, None, {"dist": "uniform", "low": 0.001,
                                                                 "high": 0.005}]))
    consumer["pull"] = draw(st.sampled_from([None, None, {"batch": 1}, {"batch": 4}]))
    if consumer["ack"] == "after-processing" and draw(st.booleans()):
        lease = broker["visibility_timeout"]
        consumer["lease_extension"] = {"every": lease / 3,
                                       "max": draw(st.sampled_from([None, 2 * lease]))}
    return make(PIPELINE_BASE, **overrides)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines())
def test_every_pipeline_keeps_the_books(scenario):
    r = alosim.simulate(scenario)
    assert not r.bugs, r.bugs  # every book holds (see alosim.model.books)
    s, trace = r.summary, r.trace or []

    times = [e.time_s for e in trace]
    assert all(a <= b for a, b in zip(times, times[1:])), "time went backwards"
    sends = Counter(e.message for e in trace if e.event == "send")
    limit = scenario.sender.retry.max_attempts
    if limit is not None:
        assert max(sends.values(), default=0) <= limit, "a message was published too often"
    max_deliveries = scenario.broker.max_deliveries
    if max_deliveries is not None:
        # Each broker entry of a message is delivered at most max_deliveries times.
        entries = Counter(e.message for e in trace if e.event == "stored")
        deliveries = Counter(e.message for e in trace if e.event == "deliver")
        assert all(n <= max_deliveries * entries[m] for m, n in deliveries.items())
    assert s["duplicates_publish"] + s["duplicates_consume"] == s["duplicate_processing"]
    assert s["processed"] + s["lost"] + s["unsettled"] >= s["messages"]
    check_mitigations(scenario, s)
    if scenario.broker.max_length is None:
        assert "broker_overflow_dropped" not in s and s["nacks_sent"] == 0
    else:
        rejecting = scenario.broker.overflow == "reject-publish"
        assert s["broker_overflow_dropped" if rejecting else "broker_publishes_rejected"] == 0
        assert s["nacks_sent"] == s["broker_publishes_rejected"]
        if rejecting:
            # A refused publish made no entry: its message is lost to the
            # overflow only if the producer gave up on it (or crashed with it).
            assert s["lost_broker_overflow"] <= s["gave_up"] + s["abandoned"]
        else:
            assert s["lost_broker_overflow"] <= s["broker_overflow_dropped"]


LOG_BASE = """
name: log
messages: 150
network:
  data: {latency: {dist: exponential, mean: 10ms}}
  ack: {latency: {dist: exponential, mean: 10ms}}
broker: {kind: log}
consumer: {}
observe: {trace_messages: 150}
max_time: 20s
"""

POLICIES = ["after-each", "after-batch", "interval", "before-processing", "transactional"]


@st.composite
def logs(draw: st.DrawFn) -> alosim.Scenario:
    """Pipelines on a log: partitions, keys, retention, idempotence, every commit
    policy, rebalances by crashes, session timeouts and stalls, broker crashes."""
    consumers = draw(st.integers(1, 3))
    policy = draw(st.sampled_from(POLICIES))
    semantics = {"transactional": "exactly-once", "before-processing": "at-most-once"}.get(
        policy, "at-least-once")
    retry: dict[str, Any] = {"timeout": draw(st.sampled_from([0.03, 0.1]))}
    if semantics != "at-most-once":
        retry["max_attempts"] = draw(st.sampled_from([None, 2, 4]))
    link: dict[str, Any] = {"latency": {"dist": "exponential", "mean": 0.01}}

    def lossy() -> dict[str, Any]:
        return {**link, "loss": draw(st.sampled_from([0.0, 0.1, 0.3])),
                "duplicate": draw(st.sampled_from([0.0, 0.05]))}

    commit: dict[str, Any] = {"policy": policy, "latency": draw(st.sampled_from([0.0, 0.005]))}
    if policy == "interval":
        commit["interval"] = draw(st.sampled_from([0.01, 0.1]))
    broker = {
        "kind": "log",
        "partitions": draw(st.integers(1, 5)),
        "partitioner": draw(st.sampled_from(["key", "round-robin"])),
        "keys": {"count": draw(st.sampled_from([1, 7, 50])), "dist": draw(st.sampled_from(["uniform", "zipf"]))},
        "retention": draw(st.sampled_from([None, 0.05, 1.0])),
        "dedup": {"kind": draw(st.sampled_from(["none", "sequence"]))},
    }
    consumer = {
        "count": consumers,
        "assignment": draw(st.sampled_from(["range", "round-robin"])),
        "fetch_batch": draw(st.sampled_from([1, 4, 50])),
        "processing": draw(st.sampled_from([{"dist": "constant", "value": 0},
                                            {"dist": "exponential", "mean": 0.005}])),
        "session_timeout": draw(st.sampled_from([0.05, 1.0])),
        "max_poll_interval": draw(st.sampled_from([0.02, 10.0])),
        "rebalance_delay": draw(st.sampled_from([0.0, 0.02])),
        "commit": commit,
    }
    return make(LOG_BASE, **{
        "semantics": semantics,
        "seed": draw(st.integers(0, 2**16)),
        "sender": {"window": draw(st.integers(1, 8)), "retry": retry,
                   "durable_outbox": draw(st.booleans())},
        "network.data": lossy(),
        "network.ack": lossy(),
        "broker": broker,
        "consumer": consumer,
        "faults": draw(st.lists(pipeline_crash(consumers), max_size=2)),
        "max_time": draw(st.sampled_from([20.0, 0.3])),
    })


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_every_log_keeps_the_books(scenario):
    r = alosim.simulate(scenario)
    assert not r.bugs, r.bugs  # every book holds (see alosim.model.books)
    s, trace = r.summary, r.trace or []
    times = [e.time_s for e in trace]
    assert all(a <= b for a, b in zip(times, times[1:])), "time went backwards"
    assert s["duplicates_publish"] + s["duplicates_consume"] == s["duplicate_processing"]
    assert s["processed"] + s["lost"] + s["unsettled"] >= s["messages"]
    policy = scenario.consumer.commit.policy
    if policy == "transactional" and scenario.broker.dedup.kind == "sequence" and not any(
            f.target == "sender-0" for f in scenario.faults) and not scenario.network.data.duplicate:
        assert s["duplicate_processing"] == 0, "a transactional sink processed a record twice"
    if scenario.broker.dedup.kind == "sequence" and scenario.broker.partitioner == "key":
        # An idempotent producer appends in order: only replays reorder effects.
        assert s["out_of_order_key_producer_retry_reordered"] == 0
    if policy != "before-processing":
        assert s["lost_commit_before_processing_crash"] == 0
