"""A receiver's capacity: workers, a bounded queue and its policies, LIFO
service, pauses and slow-downs -- and the books that count what they refuse."""

from __future__ import annotations

import pytest

import alosim
from alosim.model.world import World
from alosim.scenario import ScenarioError
from tests.conftest import make

BASE = """
name: capacity
semantics: at-least-once
duration: 10s
sender: {rate: 70/s, window: null, retry: {timeout: 200ms}}
network:
  data: {latency: {dist: constant, value: 5ms}}
  ack: {latency: {dist: constant, value: 5ms}}
receiver: {processing: {dist: exponential, mean: 10ms}}
observe: {trace_messages: 100000}
"""

PAUSED = [{"target": "receiver-0", "kind": "pause", "at": 2.0, "for": 1.0}]


def test_a_pause_stops_processing_and_queues_arrivals():
    r = alosim.simulate(make(BASE, faults=PAUSED))
    processed = [e.time_s for e in r.trace if e.event == "processed"]
    # Work in progress may finish just after the pause begins; nothing starts in it.
    during = [t for t in processed if 2.05 < t < 3.0]
    assert during == []
    assert any(3.0 <= t < 3.05 for t in processed)
    assert r.summary["slowdowns"] == 1
    assert max(r.series["queue_length"]) >= 50  # 70/s for a second, plus their retries


def test_a_slow_down_multiplies_processing_times():
    constant = {"dist": "constant", "value": 0.004}
    fast = alosim.simulate(make(BASE, **{"sender.rate": 5, "receiver.processing": constant}))
    slow = alosim.simulate(make(BASE, **{"sender.rate": 5, "receiver.processing": constant, "faults": [
        {"target": "receivers", "kind": "slow", "factor": 2.5, "at": 0.0, "for": 100.0}]}))
    # Arrivals 5 ms after creation; an uncontended message is processed 4 (10) ms later.
    assert fast.summary["delivery_latency_p50_s"] == pytest.approx(0.009, rel=0.05)
    assert slow.summary["delivery_latency_p50_s"] == pytest.approx(0.015, rel=0.1)


def test_more_workers_serve_more_at_once():
    busy = {"sender.rate": 250, "duration": 3.0, "sender.retry.max_attempts": 2,
            "receiver.processing": {"dist": "constant", "value": 0.01}}
    one = alosim.simulate(make(BASE, **busy)).summary
    three = alosim.simulate(make(BASE, **busy, **{"receiver.workers": 3}))
    assert one["timeouts"] > 0  # 2.5 times over capacity: waits grow past the timeout
    assert three.summary["timeouts"] == 0 and three.summary["queued"] > 0
    assert max(three.series["busy_workers"]) <= 3


@pytest.mark.parametrize(("policy", "counter"), [
    ("drop-new", "queue_dropped"), ("reject", "queue_rejected"), ("drop-oldest", "queue_evicted")])
def test_a_full_queue_refuses_by_its_policy_and_the_loss_is_charged_to_it(policy, counter):
    s = alosim.simulate(make(BASE, faults=PAUSED, **{
        "sender.retry.max_attempts": 2, "receiver.queue": {"capacity": 10, "when_full": policy}})).summary
    refused = {"queue_dropped", "queue_rejected", "queue_evicted"}
    assert s[counter] > 0 and all(s[c] == 0 for c in refused - {counter})
    assert s["lost"] > 0 and s["lost"] == s["lost_queue_full"]
    if policy == "reject":
        assert s["nacks_sent"] == s["queue_rejected"]
        assert s["nacks_received"] > 0


def test_a_negative_ack_retries_at_once_and_its_timer_does_not_fire():
    r = alosim.simulate(make(BASE, faults=PAUSED, **{
        "sender.retry.max_attempts": 3, "receiver.queue": {"capacity": 5, "when_full": "reject"}}))
    nacked = [e for e in r.trace if e.event == "nacked"]
    assert nacked
    sends = {(e.message, e.attempt): e.time_s for e in r.trace if e.event == "send"}
    for e in nacked:
        if (e.message, e.attempt + 1) in sends:
            assert sends[(e.message, e.attempt + 1)] == e.time_s
    # The nacked transmission's timer is stale: no timeout follows a nack for that attempt.
    timeouts = {(e.message, e.attempt) for e in r.trace if e.event == "timeout"}
    assert not timeouts & {(e.message, e.attempt) for e in nacked}


def test_lifo_serves_the_newest_while_the_queue_is_long():
    # A timeout far above any wait: no retries (with them, FIFO after a pause
    # serves copies whose senders have retried already -- see the overload scenario).
    patient = {"sender.retry.timeout": 100.0}
    fifo = alosim.simulate(make(BASE, faults=PAUSED, **patient)).summary
    lifo = alosim.simulate(make(BASE, faults=PAUSED, **patient,
                                **{"receiver.queue": {"lifo_above": 0}})).summary
    # The newest arrivals are served first: the median gets better, the tail worse.
    assert lifo["delivery_latency_p50_s"] < fifo["delivery_latency_p50_s"]
    assert lifo["delivery_latency_max_s"] > fifo["delivery_latency_max_s"]


def test_copies_racing_on_two_workers_are_duplicates_of_a_concurrent_copy():
    # The network delivers some packets twice, both copies at once: two free
    # workers check the store before either has recorded the id.
    s = alosim.simulate(make(BASE, **{
        "receiver.workers": 4, "receiver.dedup": {"kind": "set"}, "network.data.duplicate": 0.2,
        "receiver.processing": {"dist": "constant", "value": 0.02}, "sender.rate": 20})).summary
    assert s["duplicates_concurrent_copy"] > 0
    assert s["duplicates_concurrent_copy"] == s["duplicate_processing"]


def test_the_books_catch_a_miscounted_refusal():
    world = World(make(BASE, faults=PAUSED, **{
        "receiver.queue": {"capacity": 5, "when_full": "reject"}}), 0)
    world.run()
    in_flight = world.packets_in_flight()
    assert world.conservation(in_flight) == []
    world.rec.queue_rejected += 1  # a rejection counted twice
    broken = world.conservation(in_flight)
    assert {b.name for b in broken} == {"deliveries", "nacks"}
    world.rec.queue_rejected -= 1
    world.rec.nacks_ignored += 1  # a negative ack counted twice
    assert [b.name for b in world.conservation(in_flight)] == ["acks"]
    world.rec.nacks_ignored -= 1
    world.receivers[0].busy += 1  # a worker that is not at work
    assert any("busy workers" in b.detail for b in world.conservation(in_flight))


@pytest.mark.parametrize(("fault", "message"), [
    ({"target": "receiver-0", "kind": "slow", "at": 1, "for": 1}, "factor"),
    ({"target": "receiver-0", "kind": "pause", "factor": 2, "at": 1, "for": 1}, "factor"),
    ({"target": "sender-0", "kind": "pause", "at": 1, "for": 1}, "targets receivers"),
])
def test_a_slowdown_is_validated(fault, message):
    with pytest.raises(ScenarioError, match=message):
        make(BASE, faults=[fault])


# A copy refused by a full queue, then a later copy acked before processing and
# under way: the refusal no longer explains what becomes of the message.
ACKED_AFTER_REFUSAL = """
name: acked-after-refusal
semantics: at-least-once
messages: 40
sender: {rate: 20/s, window: null, retry: {timeout: 5s}}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
receiver:
  ack: before-processing
  processing: {dist: constant, value: 300ms}
  queue: {capacity: 1, when_full: reject}
"""


def test_a_message_acked_and_under_way_when_the_run_stops_is_unsettled_whatever_was_refused():
    summary = alosim.simulate(make(ACKED_AFTER_REFUSAL + "max_time: 3.5s\n"), seed=1).summary
    assert summary["queue_rejected"] > 0
    # Acked before processing, processing under way at the stop: its fate is not known.
    assert summary["lost"] == 0 and summary["acked_not_processed"] == 0
    assert summary["unsettled"] == 40 - (summary["processed"] - summary["duplicate_processing"])


def test_a_crash_loses_an_acked_message_to_the_crash_not_to_an_earlier_refusal():
    summary = alosim.simulate(make(ACKED_AFTER_REFUSAL
                            + "faults: [{target: receiver-0, at: 3.45s, for: 1s}]\n"), seed=1).summary
    assert summary["queue_rejected"] > 0 and summary["lost"] >= 1
    assert summary["lost_acked_then_crashed"] == summary["lost"]
    assert summary["lost_queue_full"] == 0


NACKS_AT_THE_END = """
name: nacks-in-flight
messages: 200
max_time: 0.5s
sender: {window: 16, retry: {timeout: 1s}}
network:
  data: {latency: {dist: constant, value: 5ms}}
  ack: {latency: {dist: constant, value: 20ms}}
"""


@pytest.mark.parametrize("refusing", [
    {"receiver": {"processing": {"dist": "constant", "value": 0.01},
                  "queue": {"capacity": 1, "when_full": "reject"}}},
    {"broker": {"max_length": 1, "overflow": "reject-publish", "prefetch": 1},
     "consumer": {"processing": {"dist": "constant", "value": 0.01}}},
], ids=["receiver-queue", "broker-queue"])
def test_acks_and_nacks_still_travelling_are_counted_apart(refusing):
    # Cut short while a full queue is refusing: nacks are still on the ack link.
    s = alosim.simulate(make(NACKS_AT_THE_END, **refusing)).summary
    assert s["nacks_in_flight"] > 0
    assert s["acked"] + s["late_acks"] + s["acks_lost"] + s["acks_in_flight"] == s["acks_sent"]
    assert (s["nacks_received"] + s["nacks_ignored"] + s["nacks_lost"] + s["nacks_in_flight"]
            == s["nacks_sent"])


def test_nacks_in_flight_is_a_column_only_where_a_nack_can_be_sent():
    # (so that the runs of every other scenario keep their summaries and fingerprints)
    s = alosim.simulate(make(NACKS_AT_THE_END)).summary
    assert "nacks_in_flight" not in s and s["acked"] == s["acks_sent"] - s["acks_in_flight"]
