"""The pipeline scenarios say what they show: each description's numbers, checked.

Where a description gives a closed form, the run is compared with it with a
99 % interval (per-message counts are independent from message to message);
where it gives an exact count, the count is checked exactly.
"""

from __future__ import annotations

import math

import pytest

import alosim
from alosim import analytic
from tests.conftest import SCENARIOS

LEVEL = 0.99


def run(name: str, **overrides: object) -> dict:
    scenario = alosim.load_scenario(SCENARIOS / f"{name}.yaml")
    if overrides:
        scenario = scenario.with_overrides(overrides, drop_sweep=True)
    return alosim.simulate(scenario).summary


def within(expected: float, measured_total: int, messages: int, variance: float) -> bool:
    interval = analytic.normal_interval(measured_total / messages, variance, messages, LEVEL)
    return expected in interval


def test_sqs_fifo_window_covers_the_retries_and_a_few_receives_outlast_the_lease() -> None:
    s = run("sqs-fifo")
    assert s["retransmissions"] > 0 and s["duplicates_publish"] == 0
    expected = analytic.lease_redeliveries(30, 0.010, 5)
    assert expected == pytest.approx(0.00248, abs=5e-5)
    variance = analytic.lease_redeliveries_variance(30, 0.010, 5)
    assert within(expected, s["duplicates_consume_lease_expired"], s["messages"], variance)
    assert s["duplicate_processing"] == s["duplicates_consume_lease_expired"]
    assert s["dead_lettered"] == 0 and s["lost"] == 0


def test_nats_jetstream_duplicates_come_from_lost_consumer_acks() -> None:
    s = run("nats-jetstream")
    assert s["retransmissions"] > 0 and s["duplicates_publish"] == 0
    expected = analytic.two_hop_duplicates(0, 0, 0, 0.01).consume
    assert expected == pytest.approx(0.0101, abs=1e-4)
    variance = analytic.duplicates_variance(0, 0.01)
    assert within(expected, s["duplicates_consume_consumer_ack_lost"], s["messages"], variance)
    assert s["duplicate_processing"] == s["duplicates_consume_consumer_ack_lost"]
    assert s["broker_in_flight_peak"] <= 1000


def test_azure_service_bus_dead_letters_after_ten_failed_deliveries() -> None:
    s = run("azure-service-bus")
    p = analytic.dead_letter_probability(0.5, 10)
    assert p == pytest.approx(0.000977, abs=1e-6)
    assert within(p, s["dead_lettered"], s["messages"], p * (1 - p))
    assert s["lost"] == s["lost_dead_lettered"] == s["dead_lettered"]
    # every broker entry is one message here (the 10-minute window catches every retry)
    assert s["duplicates_publish"] == 0 and s["duplicate_processing"] == 0
    expected = analytic.dead_letter_deliveries(0.5, 10)
    variance = analytic.dead_letter_deliveries_variance(0.5, 10)
    assert within(expected, s["consume_deliveries"], s["messages"], variance)


def test_rabbitmq_quorum_queue_dead_letters_the_poison_messages() -> None:
    s = run("rabbitmq-quorum-queue")
    assert s["retransmissions"] == 0 and s["duplicate_processing"] == 0
    p = 0.005  # poison; a healthy message is dead-lettered with probability 0.1^20
    assert within(p, s["dead_lettered"], s["messages"], p * (1 - p))
    assert s["lost"] == s["lost_dead_lettered"] == s["dead_lettered"]
    healthy_mean = analytic.dead_letter_deliveries(0.1, 20)
    healthy_second = analytic.dead_letter_deliveries_variance(0.1, 20) + healthy_mean**2
    mean = (1 - p) * healthy_mean + p * 20
    variance = (1 - p) * healthy_second + p * 400 - mean**2
    assert mean == pytest.approx(1.21, abs=0.005)
    assert within(mean, s["consume_deliveries"], s["messages"], variance)


def test_a_lease_shorter_than_processing_makes_duplicates_a_store_cannot_stop() -> None:
    bare = run("visibility-timeout-too-short", **{"consumer.dedup.kind": "none"})
    store = run("visibility-timeout-too-short", **{"consumer.dedup.kind": "set"})
    expected = analytic.lease_redeliveries(30, 0.010, 20)
    assert expected == pytest.approx(0.235, abs=5e-4)
    variance = analytic.lease_redeliveries_variance(30, 0.010, 20)
    assert within(expected, bare["duplicate_processing"], bare["messages"], variance)
    assert bare["duplicate_processing"] == bare["duplicates_consume_lease_expired"]
    # the store saves a few at most; what it lets through is still the lease's doing
    assert 0.9 * bare["duplicate_processing"] <= store["duplicate_processing"] <= bare["duplicate_processing"]
    assert store["duplicate_processing"] == store["duplicates_consume_lease_expired"]


def test_a_poison_message_is_delivered_d_times_then_dead_lettered() -> None:
    s = run("poison-message-dlq")
    assert s["retransmissions"] == 0 and s["lease_expiries"] == 0
    assert s["consume_deliveries"] == s["messages"] + 4 * s["dead_lettered"]
    assert s["lost"] == s["lost_dead_lettered"] == s["dead_lettered"]
    assert within(0.01, s["dead_lettered"], s["messages"], 0.01 * 0.99)


def test_a_crash_between_effect_and_ack_repeats_about_rate_times_gap_effects() -> None:
    s = run("consumer-crash-before-ack")
    crashes = s["consumer_crashes"]
    assert crashes >= 3 and s["lost"] == 0
    assert s["duplicate_processing"] == s["duplicates_consume_crash_before_ack"]
    # Little's law: a Poisson number with mean rate x write_delay = 20 per crash
    interval = analytic.normal_interval(s["duplicate_processing"] / crashes, 20.0, crashes, LEVEL)
    assert 20.0 in interval


@pytest.mark.parametrize(("broker", "consumer", "publish", "consume"), [
    ("none", "none", 0.05 / 0.95, (1 + 0.05 / 0.95) * 0.02 / 0.98),
    ("ttl", "none", 0.0, 0.02 / 0.98),
    ("none", "set", 0.0, 0.0),
    ("ttl", "set", 0.0, 0.0),
])
def test_where_the_dedup_store_sits(broker: str, consumer: str, publish: float, consume: float) -> None:
    overrides: dict[str, object] = {"broker.dedup.kind": broker, "consumer.dedup.kind": consumer}
    if broker == "ttl":
        overrides["broker.dedup.window"] = "5min"
    s = run("broker-and-consumer-dedup", **overrides)
    hops = analytic.two_hop_duplicates(0, 0.05 if broker == "none" else 0, 0, 0.02)
    if consumer == "set":
        assert s["duplicate_processing"] == 0
        assert s["consumer_duplicates_caught"] > 0
        return
    assert math.isclose(hops.publish, publish) and math.isclose(hops.consume, consume)
    if broker == "none":
        assert within(publish, s["duplicates_publish_no_dedup"], s["messages"],
                      analytic.duplicates_variance(0, 0.05))
    else:
        assert s["duplicates_publish"] == 0 and s["publish_duplicates_caught"] > 0
        assert within(consume, s["duplicates_consume_consumer_ack_lost"], s["messages"],
                      analytic.duplicates_variance(0, 0.02))
    per_seed_total = s["duplicate_processing"] / s["messages"]
    assert per_seed_total == pytest.approx(publish + consume, abs=0.01)
