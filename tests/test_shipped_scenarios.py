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
