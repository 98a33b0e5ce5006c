"""The pipeline against the closed forms of :mod:`alosim.analytic`.

Each scenario keeps its closed form's assumptions, and each run is checked
for them where a run can tell (no producer retry where the form assumes
none). Per-message counts are independent from message to message, so the
mean pooled over seeds has a 99 % normal interval from the closed-form
variance; where no variance formula is at hand, a Student t interval over
the per-seed means is used. Seeds are fixed: the outcome is the same on
every run.
"""

from __future__ import annotations

from functools import cache

import pytest

from alosim import analytic
from tests.conftest import make

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3, 4)
LEVEL = 0.99


def summaries(text: str, seeds: tuple[int, ...] = SEEDS, **overrides: object) -> list[dict]:
    from alosim.simulate import simulate

    scenario = make(text, **overrides)
    return [simulate(scenario, seed).summary for seed in seeds]


def pooled(runs: list[dict], column: str) -> tuple[float, int]:
    messages = sum(s["messages"] for s in runs)
    return sum(s[column] for s in runs) / messages, messages


LEASE = """
name: lease
messages: 20000
sender: {window: 64, retry: {timeout: 1s}}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
  consume:
    data: {latency: {dist: constant, value: 100ms}}
    ack: {latency: {dist: constant, value: 100ms}}
broker: {visibility_timeout: 1s}
consumer: {concurrency: 1000000, processing: {dist: exponential, mean: 500ms}}
"""


@cache
def lease_runs(visibility: float, latency: float, mean: float) -> list[dict]:
    return summaries(LEASE, **{"broker.visibility_timeout": visibility,
                               "network.consume.data.latency.value": latency,
                               "network.consume.ack.latency.value": latency,
                               "consumer.processing.mean": mean})


@pytest.mark.parametrize(("visibility", "latency", "mean"),
                         [(1.0, 0.1, 0.5), (0.5, 0.05, 0.5), (2.0, 0.0, 1.0)])
def test_lease_expiry_redeliveries_match_the_closed_form(visibility: float, latency: float,
                                                         mean: float) -> None:
    runs = lease_runs(visibility, latency, mean)
    assert all(s["retransmissions"] == 0 and s["lost"] == 0 for s in runs)  # the form's assumptions
    expected = analytic.lease_redeliveries(visibility, latency, mean)
    variance = analytic.lease_redeliveries_variance(visibility, latency, mean)
    for column in ("consume_redeliveries", "duplicates_consume_lease_expired"):
        measured, n = pooled(runs, column)
        interval = analytic.normal_interval(measured, variance, n, LEVEL)
        assert expected in interval, f"{column}: {expected} not in {interval}"
    # without a consumer store every redelivery is processed again
    assert sum(s["duplicate_processing"] for s in runs) == sum(s["consume_redeliveries"] for s in runs)


DLQ = """
name: dlq
messages: 20000
sender: {window: 64}
network:  # constant latency: no publish is retried, each message is one broker entry
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
broker: {max_deliveries: 3}
consumer: {concurrency: 64, nack_probability: 0.5}
"""


@pytest.mark.parametrize(("q", "d"), [(0.5, 3), (0.3, 4), (0.8, 2)])
def test_dead_lettering_matches_q_to_the_d(q: float, d: int) -> None:
    runs = summaries(DLQ, **{"consumer.nack_probability": q, "broker.max_deliveries": d})
    assert all(s["retransmissions"] == 0 for s in runs)
    p = analytic.dead_letter_probability(q, d)
    measured, n = pooled(runs, "dead_lettered")
    assert p in analytic.normal_interval(measured, p * (1 - p), n, LEVEL)
    lost, _ = pooled(runs, "lost_dead_lettered")
    assert lost == measured  # a failed delivery has no effect: every dead letter is a loss
    expected = analytic.dead_letter_deliveries(q, d)
    variance = analytic.dead_letter_deliveries_variance(q, d)
    measured, n = pooled(runs, "consume_deliveries")
    assert expected in analytic.normal_interval(measured, variance, n, LEVEL)


TWO_HOPS = """
name: two-hops
messages: 20000
sender: {window: 64, retry: {timeout: 100ms}}
network:
  data: {loss: 0.05, latency: {dist: uniform, low: 5ms, high: 15ms}}
  ack: {loss: 0.2, latency: {dist: uniform, low: 5ms, high: 15ms}}
  consume:
    data: {loss: 0.05, latency: {dist: uniform, low: 5ms, high: 15ms}}
    ack: {loss: 0.1, latency: {dist: uniform, low: 5ms, high: 15ms}}
broker: {visibility_timeout: 100ms}
consumer: {concurrency: 1000000}
"""


def test_two_hops_in_series_add_as_the_per_hop_formulas_say() -> None:
    runs = summaries(TWO_HOPS, seeds=(1, 2, 3, 4, 5, 6))
    assert all(s["late_acks"] == 0 and s["consumer_acks_stale"] == 0 for s in runs)  # loss-driven only
    expected = analytic.two_hop_duplicates(0.05, 0.2, 0.05, 0.1)
    # publish hop: i.i.d. per message with the single-hop variance
    measured, n = pooled(runs, "duplicates_publish_no_dedup")
    variance = analytic.duplicates_variance(0.05, 0.2)
    assert expected.publish in analytic.normal_interval(measured, variance, n, LEVEL)
    for column, value in (("duplicates_consume_consumer_ack_lost", expected.consume),
                          ("duplicate_processing", expected.total)):
        per_seed = [s[column] / s["messages"] for s in runs]
        interval = analytic.mean_interval(per_seed, LEVEL)
        assert value in interval, f"{column}: {value} not in {interval}"
    assert sum(s["lost"] for s in runs) == 0
