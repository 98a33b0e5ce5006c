"""Each duplicate effect after a broker crash is charged to the event that caused it.

A queue broker charges a redelivery's second effect to how the lease of the
effect before it ended without its ack (:class:`alosim.model.broker.Entry`):
a broker crash revoked it (``broker_crash`` -- whether the effect came before
or after the crash), it ran out after the ack was lost (``consumer_ack_lost``)
or without an ack (``lease_expired``), or the network delivered the same
lease twice (``network_duplicate``: both copies took effect, or one took
effect and the other's nack ended the lease). A late effect of a delivery the
broker had replaced already is charged to how that delivery's lease ended. Here the trace is read independently of
the model: for every second effect, the events of its message -- deliveries,
lease expiries, broker crashes, lost acks, settlements -- say what caused it,
and the counts must be the model's, cause by cause.

The broker's store is durable so that each message has one entry (leases
then name its deliveries); the consumers keep no store, so that a redelivery
is charged to the broker's reason alone.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alosim
from alosim.simulate import RunResult
from tests.conftest import make

BASE = """
name: broker-crash-causes
messages: 120
sender: {window: 8, rate: 100/s, retry: {timeout: 100ms}}
network:
  data: {latency: {dist: exponential, mean: 2ms}}
  ack: {latency: {dist: exponential, mean: 2ms}}
  consume:
    data: {duplicate: 0.05, latency: {dist: exponential, mean: 2ms}}
    ack: {loss: 0.1, latency: {dist: exponential, mean: 2ms}}
broker:
  dedup: {kind: set, durable: true}
  visibility_timeout: 40ms
consumer: {count: 2, concurrency: 2, processing: {dist: exponential, mean: 15ms}}
faults: [{target: broker, mtbf: 100ms, mttr: 10ms}]
observe: {trace_messages: 120}
"""

CAUSES = ("broker_crash", "consumer_ack_lost", "lease_expired", "network_duplicate")


def causes_from_the_trace(r: RunResult) -> Counter[str]:
    """Every second (third, ...) effect of a message, charged by what the trace shows."""
    by_message: dict[int, list[Any]] = {}
    crashes: list[float] = []
    for e in r.trace or []:
        if e.actor == "broker" and e.event == "crash":
            crashes.append(e.time_s)
        elif e.message >= 0:
            by_message.setdefault(e.message, []).append(e)
    found: Counter[str] = Counter()
    for events in by_message.values():
        assert sum(e.event == "stored" for e in events) <= 1  # one entry: leases name deliveries
        latest = 0  # the newest lease that caused an effect
        for i, e in enumerate(events):
            if e.event != "processed":
                continue
            if latest:
                found[why_again(events[:i], latest, e.attempt, crashes)] += 1
            latest = max(latest, e.attempt)
    return found


def why_again(before: list[Any], latest: int, lease: int, crashes: list[float]) -> str:
    """Why an effect of ``lease`` follows one of ``latest``: how the earlier of the
    two deliveries ended without its ack settling the message."""
    if lease == latest:
        return "network_duplicate"
    earlier = min(lease, latest)
    delivered = next(e.time_s for e in before if e.event == "deliver" and e.attempt == earlier)
    # Its lease ended at its expiry, a nack (of a second copy the network made)
    # or a broker crash, whichever came first (the next delivery, made after
    # any of them, bounds them all).
    ends = [e for e in before if e.time_s >= delivered and (
        (e.event in ("lease_expired", "nacked") and e.attempt == earlier)
        or (e.event == "deliver" and e.attempt > earlier))]
    first = min(e.time_s for e in ends)
    if any(delivered <= t <= first for t in crashes):
        return "broker_crash"
    if any(e.event == "nacked" and e.time_s == first for e in ends):
        return "network_duplicate"
    if lease > latest and any(e.event == "consumer_ack_lost" and e.attempt == earlier
                              and sent.event == "ack_sent" for sent, e in zip(before, before[1:])):
        return "consumer_ack_lost"  # (its ack, not the nack of a duplicated delivery)
    return "lease_expired"


def model_causes(s: dict[str, Any]) -> Counter[str]:
    return Counter({c: s[f"duplicates_consume_{c}"] for c in CAUSES if s[f"duplicates_consume_{c}"]})


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("durable", [True, False], ids=["durable", "volatile"])
def test_every_redelivered_effect_is_charged_to_the_event_that_caused_it(seed: int, durable: bool):
    r = alosim.simulate(make(BASE, seed=seed, **{"broker.durable": durable}))
    s = r.summary
    assert s["broker_crashes"] > 0
    assert s["duplicates_publish"] == 0
    assert s["duplicates_consume"] == sum(model_causes(s).values())  # no store: no other cause
    assert model_causes(s) == causes_from_the_trace(r)


def test_an_effect_after_the_crash_that_revoked_its_lease_is_charged_to_the_crash():
    # One message, delivered at 1 ms; the consumer works 30 ms on it. The
    # broker crashes at 10 ms (revoking the lease) and restarts at 15 ms,
    # redelivering it to the other consumer: the first effect comes at 32 ms,
    # the second at 46 ms. No lease ran out (it lasts a second): the crash
    # alone caused the second effect.
    r = alosim.simulate(make("""
name: effect-after-crash
messages: 1
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
  consume:
    data: {latency: {dist: constant, value: 1ms}}
    ack: {latency: {dist: constant, value: 1ms}}
broker: {visibility_timeout: 1s}
consumer: {count: 2, processing: {dist: constant, value: 30ms}}
faults: [{target: broker, at: 10ms, for: 5ms}]
observe: {trace_messages: 1}
"""))
    s = r.summary
    assert [e.time_s for e in r.trace if e.event == "processed"] == pytest.approx([0.032, 0.046])
    assert s["lease_expiries"] == 0
    assert s["duplicates_consume_broker_crash"] == s["duplicate_processing"] == 1


@st.composite
def crashing_brokers(draw: st.DrawFn) -> alosim.Scenario:
    """Queue pipelines whose broker crashes, with every way a lease can end."""
    return make(BASE, **{
        "seed": draw(st.integers(0, 2**16)),
        "messages": draw(st.integers(5, 60)),
        "broker.durable": draw(st.booleans()),
        "broker.visibility_timeout": draw(st.sampled_from([0.005, 0.02, 0.04, 0.2])),
        "broker.prefetch": draw(st.sampled_from([None, 1, 3])),
        "broker.max_deliveries": draw(st.sampled_from([None, 2, 5])),
        "broker.redelivery_backoff": draw(st.sampled_from([0.0, 0.01])),
        "consumer.concurrency": draw(st.integers(1, 3)),
        "consumer.nack_probability": draw(st.sampled_from([0.0, 0.2])),
        "network.consume.ack.loss": draw(st.sampled_from([0.0, 0.2])),
        "faults": [{"target": "broker", "mtbf": draw(st.sampled_from([0.03, 0.1])),
                    "mttr": draw(st.sampled_from([0.002, 0.02]))}]
        + draw(st.sampled_from([[], [{"target": "consumer-1", "mtbf": 0.1, "mttr": 0.01}]])),
        "max_time": draw(st.sampled_from([0.2, 5.0])),
    })


@settings(max_examples=40, suppress_health_check=list(HealthCheck))
@given(crashing_brokers())
def test_redelivered_effects_are_charged_to_their_causes_in_random_crashing_brokers(scenario):
    r = alosim.simulate(scenario)
    assert model_causes(r.summary) == causes_from_the_trace(r)
