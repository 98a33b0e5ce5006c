"""Crashes of receivers and senders, ack policies, and the causes they are charged to."""

from __future__ import annotations

import pytest

import alosim
from tests.conftest import make

BASE = """
name: faults
messages: 2000
semantics: exactly-once
sender: {rate: 100/s, window: 32, retry: {timeout: 300ms}}
network:
  data: {loss: 0.05, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.3, latency: {dist: exponential, mean: 10ms}}
receiver: {processing: {dist: exponential, mean: 2ms}, dedup: {kind: set}}
faults: [{target: receiver-0, at: 5s, for: 1s}]
"""


def run(**overrides: object) -> dict:
    return alosim.simulate(make(BASE, **overrides)).summary


def test_volatile_store_lets_duplicates_through_and_they_are_charged_to_the_crash():
    s = run()
    assert s["crashes"] == 1
    assert s["data_dropped_while_down"] > 0
    assert s["duplicate_processing"] > 0
    assert s["duplicates_store_lost_in_crash"] == s["duplicate_processing"]
    assert s["check_no_duplicate_processing"] is False
    assert s["lost"] == 0  # retries recover what the crash dropped


def test_durable_store_survives_the_same_crash():
    s = run(**{"receiver.dedup.durable": True})
    assert s["crashes"] == 1 and s["duplicate_processing"] == 0
    assert s["check_no_duplicate_processing"] is True


def test_crash_between_side_effect_and_record():
    s = run(**{"receiver.dedup.durable": True, "receiver.dedup.write_delay": "20ms",
               "receiver.processing": {"dist": "constant", "value": 0.001},
               "faults": [{"target": "receiver-0", "mtbf": 1, "mttr": 0.2}]})
    assert s["crashes"] > 5
    assert s["duplicates_crash_before_record"] == s["duplicate_processing"] > 0


def test_ack_before_processing_loses_what_a_crash_interrupts():
    s = run(**{"semantics": "at-least-once", "receiver.ack": "before-processing",
               "receiver.dedup.kind": "none",
               "receiver.processing": {"dist": "constant", "value": 0.008},
               "faults": [{"target": "receiver-0", "mtbf": 0.5, "mttr": 0.05}]})
    assert s["lost"] > 0
    assert s["lost_acked_then_crashed"] == s["lost"] == s["acked_not_processed"]
    assert s["check_none_lost"] is False and s["check_acked_were_processed"] is False


def test_ack_after_processing_loses_nothing_to_the_same_crashes():
    s = run(**{"semantics": "at-least-once", "receiver.dedup.kind": "none",
               "receiver.processing": {"dist": "constant", "value": 0.008},
               "faults": [{"target": "receiver-0", "mtbf": 0.5, "mttr": 0.05}]})
    assert s["crashes"] > 10
    assert s["lost"] == 0 and s["acked_not_processed"] == 0


@pytest.mark.parametrize("durable", [False, True])
def test_sender_crash_abandons_or_keeps_its_outbox(durable):
    s = run(**{"semantics": "at-least-once", "receiver.dedup.kind": "none",
               "sender.durable_outbox": durable, "network.data.loss": 0.3,
               "faults": [{"target": "sender-0", "at": 5, "for": 1}]})
    assert s["crashes"] == 1
    if durable:
        assert s["abandoned"] == 0 and s["lost"] == 0
    else:
        assert s["abandoned"] > 0
        assert 0 < s["lost"] == s["lost_sender_crash"] <= s["abandoned"]
    assert s["messages"] == s["acked"] + s["gave_up"] + s["abandoned"] + s["unsettled"]


def test_fault_targets_are_checked():
    with pytest.raises(alosim.ScenarioError, match="there is no receiver-3"):
        make(BASE, faults=[{"target": "receiver-3", "at": 1, "for": 1}])
    with pytest.raises(alosim.ScenarioError, match="either scheduled"):
        make(BASE, faults=[{"target": "senders", "at": 1, "mtbf": 3}])


def test_bloom_false_positives_are_losses():
    s = run(**{"faults": [], "receiver.dedup": {"kind": "bloom", "capacity": 200, "fp_rate": 0.05}})
    assert s["false_positive_drops"] > 0
    assert s["lost_bloom_false_positive"] == s["lost"] > 0
    assert s["duplicate_processing"] == 0
