"""What the shipped scenarios are there to show, checked on their output."""

from __future__ import annotations

import numpy as np
import pytest

import alosim
from tests.conftest import SCENARIOS
from tests.shipped import NAMES, shipped_run


def run(name: str) -> alosim.RunResult:
    return alosim.simulate(alosim.load_scenario(SCENARIOS / f"{name}.yaml"))


def test_ttl_window_shorter_than_the_retry_schedule_lets_duplicates_escape():
    short, long = run("dedup-ttl-too-short").summary, run("dedup-ttl-long-enough").summary
    assert short["duplicate_processing"] > 100
    assert short["duplicates_window_expired"] == short["duplicate_processing"]
    assert long["duplicate_processing"] == 0
    # Same traffic (common random numbers): the same duplicates arrived at both.
    assert short["duplicate_deliveries"] == long["duplicate_deliveries"]


def test_volatile_store_crash_lets_duplicates_escape_and_a_durable_one_does_not():
    volatile, durable = run("crash-volatile-store").summary, run("crash-durable-store").summary
    assert volatile["crashes"] == durable["crashes"] == 1
    assert volatile["duplicates_store_lost_in_crash"] == volatile["duplicate_processing"] > 0
    assert durable["duplicate_processing"] == 0


def test_set_grows_linearly_while_ttl_levels_off_near_rate_times_window():
    set_run, ttl_run = run("store-growth-set"), run("store-growth-ttl")
    rate = 200.0  # messages per second, from the scenario files
    window = 10.0
    s = set_run.series_frame()
    sending = s[(s.time_s >= 10) & (s.time_s <= 110)]
    slope, _ = np.polyfit(sending.time_s, sending.dedup_entries, 1)
    assert slope == pytest.approx(rate, rel=0.05)  # one entry per message, for ever
    assert set_run.summary["dedup_entries_final"] == set_run.summary["messages"]

    t = ttl_run.series_frame()
    plateau = t[(t.time_s >= 30) & (t.time_s <= 110)].dedup_entries.mean()
    assert plateau == pytest.approx(rate * window, rel=0.05)
    assert ttl_run.summary["dedup_entries_peak"] < 0.15 * set_run.summary["dedup_entries_peak"]
    assert ttl_run.summary["duplicate_processing"] == 0


# A topology's acks are its hops': each hop's ack identity is in its books, which the
# suite checks on every run (tests/conftest.py).
ONE_SENDER = [name for name in NAMES
              if "\ntopology:" not in (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")]


@pytest.mark.shipped
@pytest.mark.parametrize("name", ONE_SENDER)
def test_every_ack_is_accounted_for(name):
    # The run stops once every message's fate is known; acks still on the
    # wire then are reported, not lost from the count. (No shipped scenario
    # duplicates acks in the network, which would add arrivals.)
    s = shipped_run(name).summary
    assert s["acked"] + s["late_acks"] + s["acks_lost"] + s["acks_in_flight"] == s["acks_sent"]
    assert s["acks_dropped_while_down"] <= s["acks_lost"]


# -- what the topology scenarios' descriptions say of their variants ------------------


def _variant(name: str, *overrides: str) -> dict:
    return alosim.simulate(alosim.load_scenario(SCENARIOS / f"{name}.yaml", list(overrides))).summary


def test_keeping_the_key_catches_every_repeated_payment_on_the_same_traffic():
    minted, kept = shipped_run("end-to-end-vs-hop-dedup").summary, _variant(
        "end-to-end-vs-hop-dedup", "topology.nodes.payments.onward.identity=keep")
    assert minted["duplicate_processing"] > 0 and kept["duplicate_processing"] == 0
    assert kept["calls"] == minted["calls"] and kept["provider_repeats_caught"] > 0


def test_a_receiver_that_acks_duplicates_again_lets_its_sender_give_up_only_when_every_ack_is_lost():
    dropped = shipped_run("duplicate-dropped-without-ack").summary
    assert dropped["retransmissions"] == 4 * dropped["gave_up"]
    reacked = _variant("duplicate-dropped-without-ack", "receiver.on_duplicate=ack")
    # Binomial(5000, 0.2^5): mean 1.6, and P(more than 7) < 0.001.
    assert reacked["gave_up"] <= 7 and reacked["duplicate_processing"] == 0


def test_a_dedup_window_shorter_than_a_repeat_lets_repeats_reach_the_payment_provider():
    short = _variant("outbox-relay-log-consumer-payment", "topology.nodes.provider.receiver.dedup.window=50ms")
    assert short["duplicate_processing"] > 0
    assert short["duplicates_window_expired"] == short["duplicate_processing"]


def test_retrying_only_at_the_edge_puts_at_most_three_queries_per_request_on_the_database():
    layered = shipped_run("retry-amplification-three-layers").summary
    edge = _variant("retry-amplification-three-layers", "topology.nodes.gateway.sender.retry.max_attempts=1",
                    "topology.nodes.orders.sender.retry.max_attempts=1")
    assert edge["database_transmissions_per_message"] <= 3
    assert edge["database_calls"] < layered["database_calls"] / 3


def test_a_slow_subscription_s_redeliveries_stay_on_its_own_queue():
    import yaml

    from alosim.scenario import validate_scenario

    with_analytics = shipped_run("pubsub-queues-fan-out").summary
    data = yaml.safe_load((SCENARIOS / "pubsub-queues-fan-out.yaml").read_text(encoding="utf-8"))
    del data["topology"]["nodes"]["analytics"], data["expect"]
    data["topology"]["links"] = [link for link in data["topology"]["links"] if link["to"] != "analytics"]
    without = alosim.simulate(validate_scenario(data, "<variant>")).summary
    assert with_analytics["analytics_redeliveries"] > with_analytics["billing_redeliveries"]
    for name in ("billing", "email"):
        for figure in ("effects", "duplicate_effects", "redeliveries", "calls"):
            assert with_analytics[f"{name}_{figure}"] == without[f"{name}_{figure}"], (name, figure)
