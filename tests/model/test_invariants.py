"""The guarantees of each delivery semantics, and the accounting identities
that tie the counters together, checked on many random scenarios."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alosim
from tests.conftest import make

BASE = """
name: prop
messages: 300
sender: {window: 8, retry: {timeout: 50ms}}
network:
  data: {latency: {dist: exponential, mean: 10ms}}
  ack: {latency: {dist: exponential, mean: 10ms}}
observe: {trace_messages: 300}
max_time: 30s   # a retry storm (timeout far below the queueing delay) may not drain soon
"""

params = st.fixed_dictionaries(
    {
        "semantics": st.sampled_from(["at-most-once", "at-least-once", "exactly-once"]),
        "network.data.loss": st.sampled_from([0.0, 0.05, 0.3, 0.6]),
        "network.ack.loss": st.sampled_from([0.0, 0.1, 0.5]),
        "sender.window": st.integers(1, 40),
        "sender.count": st.integers(1, 3),
        "receiver.count": st.integers(1, 3),
        "sender.retry.timeout": st.sampled_from([0.005, 0.03, 0.2]),
        "receiver.processing": st.sampled_from(
            [{"dist": "constant", "value": 0}, {"dist": "exponential", "mean": 0.004}]),
        "seed": st.integers(0, 2**32),
    }
)


def processed_per_message(result: alosim.RunResult) -> Counter[int]:
    return Counter(e.message for e in result.trace or [] if e.event == "processed")


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(params)
def test_guarantees_and_accounting(values):
    scenario = make(BASE, **values)
    r = alosim.simulate(scenario)
    s = r.summary
    per_message = processed_per_message(r)

    # Guarantees of the semantics.
    if scenario.semantics in ("at-most-once", "exactly-once"):
        assert s["duplicate_processing"] == 0
        assert max(per_message.values(), default=0) <= 1
    if scenario.semantics in ("at-least-once", "exactly-once"):
        acked = {e.message for e in r.trace if e.event == "acked"}
        assert all(per_message[m] >= 1 for m in acked)
        assert s["acked_not_processed"] == 0
        assert s["lost"] == 0 and s["gave_up"] == 0  # unlimited retries
        assert s["transmissions"] >= s["messages"]
    assert r.ok
    assert s["messages"] == s["acked"] + s["gave_up"] + s["unsettled"]
    if s["unsettled"]:
        assert s["sim_time_s"] == pytest.approx(30)
        return

    # Accounting: the run drained, so every copy was handled.
    assert s["deliveries"] == s["transmissions"] - s["data_lost"]
    assert s["deliveries"] == s["processed"] + s["duplicates_detected"]
    assert s["acks_sent"] == s["deliveries"]
    # The run ends when every message's fate is known; acks of settled
    # messages may still be on the wire then: they are reported.
    assert s["acked"] + s["late_acks"] + s["acks_lost"] + s["acks_in_flight"] == s["acks_sent"]
    assert s["messages"] == s["acked"] + s["gave_up"]
    # A duplicate delivery is an arrival of a message already processed.
    processed: set[int] = set()
    after_processed = 0
    for e in r.trace:
        if e.event == "arrive":
            after_processed += e.message in processed
        elif e.event == "processed":
            processed.add(e.message)
    assert s["duplicate_deliveries"] == after_processed
    assert sum(per_message.values()) == s["processed"]
    assert len(per_message) + s["lost"] == s["messages"]
    assert s["dedup_entries_final"] == (len(per_message) if scenario.receiver.dedup.kind == "set" else 0)


def test_at_most_once_loses_what_the_network_drops_and_never_retries():
    r = alosim.simulate(make(BASE, **{"semantics": "at-most-once", "network.data.loss": 0.3}))
    s = r.summary
    assert s["transmissions"] == s["messages"]
    assert s["retransmissions"] == 0
    assert s["lost"] == s["data_lost"]
    assert s["gave_up"] == s["messages"] - s["acked"]


def test_max_time_leaves_unsettled_messages_counted_not_lost():
    scenario = make(BASE, **{"network.data.loss": 1.0, "max_time": 0.5})
    s = alosim.simulate(scenario).summary
    assert s["sim_time_s"] == pytest.approx(0.5)
    assert s["unsettled"] == scenario.sender.window
    assert s["lost"] == 0
    assert s["messages"] == s["unsettled"]


def test_messages_are_routed_to_receivers_by_id():
    r = alosim.simulate(make(BASE, **{"receiver.count": 3, "sender.count": 2}))
    for e in r.trace:
        if e.actor.startswith("receiver-"):
            assert int(e.actor.split("-")[1]) == e.message % 3
    senders = {e.actor for e in r.trace if e.event == "create"}
    assert senders == {"sender-0", "sender-1"}
    assert r.summary["messages"] == 300


def test_open_loop_duration_mode_creates_at_the_rate():
    scenario = make("name: d\nduration: 20s\nsender: {rate: 100/s, window: 64}\n")
    s = alosim.simulate(scenario).summary
    # Poisson count over 20 s at 100/s: mean 2000, sd 44.7; 4 sd either side.
    assert 2000 - 180 <= s["messages"] <= 2000 + 180
    assert s["unsettled"] == 0


def test_periodic_arrivals_are_exact():
    scenario = make("name: p\nmessages: 50\nsender: {rate: 10/s, arrivals: periodic}\n"
                    "observe: {trace_messages: 50}\n")
    r = alosim.simulate(scenario)
    created = [e.time_s for e in r.trace if e.event == "create"]
    assert created == pytest.approx([0.1 * (i + 1) for i in range(50)])
