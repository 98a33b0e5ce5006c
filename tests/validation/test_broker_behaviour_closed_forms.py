"""Polled reclaim, start delay, lease extension and pull consumers against
the closed forms of :mod:`alosim.analytic`.

Each scenario keeps its form's assumptions: Poisson publishes (so the first
delivery of a message falls at a uniform phase of the reclaim grid),
exponential processing, one constant latency both ways on the consume
links, no loss, unbounded consumer concurrency, no consumer store, and no
producer retry (each run is checked for that). Redeliveries per message are
independent from message to message, so their mean pooled over seeds has a
99 % normal interval from the closed-form variance. For the outage counts
(pull against push) the count per outage is Poisson, with its mean as its
variance. Seeds are fixed: the outcome is the same on every run.
"""

from __future__ import annotations

import json
import math
from functools import cache

import pytest

from alosim import analytic
from alosim.dists import Empirical, Mixture
from tests.conftest import make

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3, 4)
LEVEL = 0.99

# The Redis Streams case of the conformance measurements: Poisson 200/s,
# processing Exp(50 ms), unbounded concurrency, min-idle (lease) 100 ms.
REDIS = """
name: polled-reclaim
messages: 8000
sender: {rate: 200/s, window: null, retry: {timeout: 1000s}}
network:
  data: {latency: {dist: constant, value: 0.1ms}}
  ack: {latency: {dist: constant, value: 0.1ms}}
  consume:
    data: {latency: {dist: constant, value: 0.0}}
    ack: {latency: {dist: constant, value: 0.0}}
broker: {visibility_timeout: 100ms, reclaim: {interval: 50ms}}
consumer: {concurrency: 1000000, processing: {dist: exponential, mean: 50ms}}
"""


def runs(text: str, overrides: tuple[tuple[str, object], ...]) -> list[dict]:
    return _runs(text, json.dumps(overrides))


@cache
def _runs(text: str, overrides: str) -> list[dict]:
    from alosim.simulate import simulate

    scenario = make(text, **dict(json.loads(overrides)))
    out = [simulate(scenario, seed).summary for seed in SEEDS]
    assert all(s["retransmissions"] == 0 and s["unsettled"] == 0 for s in out)  # the forms' assumptions
    return out


def pooled(summaries: list[dict], column: str) -> tuple[float, int]:
    messages = sum(s["messages"] for s in summaries)
    return sum(s[column] for s in summaries) / messages, messages


def check(summaries: list[dict], column: str, expected: float, variance: float) -> None:
    measured, n = pooled(summaries, column)
    interval = analytic.normal_interval(measured, variance, n, LEVEL)
    assert expected in interval, f"{column}: {expected} not in {interval}"


@pytest.mark.parametrize(("visibility", "interval", "jitter"), [
    (0.1, 0.05, False),   # Redis polled every 50 ms: the slow-poll case
    (0.1, 0.005, False),  # polled every 5 ms: nearly the plain lease
    (0.12, 0.05, False),  # a lease that is not a whole number of intervals
    (0.1, 0.05, True),    # jittered scans
])
def test_polled_reclaim_redeliveries_match_the_closed_form(visibility: float, interval: float,
                                                           jitter: bool) -> None:
    summaries = runs(REDIS, (("broker.visibility_timeout", visibility),
                             ("broker.reclaim", {"interval": interval, "jitter": jitter})))
    options = {"reclaim_interval_s": interval, "jitter": jitter}
    expected = analytic.polled_lease_redeliveries(visibility, 0.0, 0.05, **options)
    variance = analytic.polled_lease_redeliveries_variance(visibility, 0.0, 0.05, **options)
    for column in ("consume_redeliveries", "duplicate_processing"):
        check(summaries, column, expected, variance)


def test_slow_polling_is_not_the_plain_lease() -> None:
    """The slow-poll case is told apart from a lease that ends at its deadline."""
    summaries = runs(REDIS, ())
    plain = analytic.lease_redeliveries(0.1, 0.0, 0.05)
    measured, n = pooled(summaries, "duplicate_processing")
    variance = analytic.polled_lease_redeliveries_variance(0.1, 0.0, 0.05, reclaim_interval_s=0.05)
    assert plain not in analytic.normal_interval(measured, variance, n, LEVEL)


def test_dead_lettering_is_decided_at_the_scan() -> None:
    """With max_deliveries D a message is dead-lettered iff its D-th lease ends
    unacked at a scan: P(R >= D) of the unbounded form."""
    summaries = runs(REDIS, (("broker.visibility_timeout", 0.05), ("broker.max_deliveries", 2)))
    tail = analytic.polled_lease_tail(0.05, 0.0, 0.05, reclaim_interval_s=0.05)
    p = tail[1]
    check(summaries, "dead_lettered", p, p * (1 - p))
    # no message gets a third delivery
    assert sum(s["consume_deliveries"] for s in summaries) == sum(
        s["messages"] + s["consume_redeliveries"] for s in summaries)
    expected = tail[0]
    check(summaries, "consume_redeliveries", expected, expected * (1 - expected))


START_DELAYS = [
    {"dist": "mixture", "components": [{"weight": 0.8, "dist": "uniform", "low": "1ms", "high": "3ms"},
                                       {"weight": 0.2, "dist": "constant", "value": "10ms"}]},
    {"dist": "empirical", "values": ["1ms", "2ms", "2ms", "4ms", "15ms"]},
]


@pytest.mark.parametrize("delay", START_DELAYS, ids=["mixture", "empirical"])
def test_start_delay_redeliveries_match_the_closed_form(delay: dict) -> None:
    from pydantic import TypeAdapter

    from alosim.dists import Distribution

    dist = TypeAdapter(Distribution).validate_python(delay)
    assert isinstance(dist, (Mixture, Empirical))
    summaries = runs(REDIS, (("broker.reclaim", None), ("consumer.start_delay", delay),
                             ("network.consume.data.latency.value", 0.001),
                             ("network.consume.ack.latency.value", 0.001)))
    options = {"start_delay_mgf": dist.mgf(1 / 0.05), "start_delay_max_s": dist.upper_bound}
    expected = analytic.polled_lease_redeliveries(0.1, 0.001, 0.05, **options)
    variance = analytic.polled_lease_redeliveries_variance(0.1, 0.001, 0.05, **options)
    check(summaries, "duplicate_processing", expected, variance)
    # and the delay matters: without it the form says markedly fewer
    assert analytic.lease_redeliveries(0.1, 0.001, 0.05) < expected - 4 * math.sqrt(
        variance / sum(s["messages"] for s in summaries))


@pytest.mark.parametrize(("interval", "cap"), [(None, 0.2), (0.05, 0.2), (None, 0.25)])
def test_lease_extension_holds_the_lease_to_its_maximum(interval: float | None, cap: float) -> None:
    reclaim = None if interval is None else {"interval": interval}
    summaries = runs(REDIS, (("broker.reclaim", reclaim),
                             ("consumer.lease_extension", {"every": "40ms", "max": cap}),
                             ("consumer.processing.mean", 0.1),
                             ("network.consume.data.latency.value", 0.001),
                             ("network.consume.ack.latency.value", 0.001)))
    lease = analytic.extended_lease(0.1, 0.04, cap, latency_s=0.001)
    options = {"reclaim_interval_s": interval}
    expected = analytic.polled_lease_redeliveries(lease, 0.001, 0.1, **options)
    variance = analytic.polled_lease_redeliveries_variance(lease, 0.001, 0.1, **options)
    check(summaries, "duplicate_processing", expected, variance)
    assert all(s["lease_extensions_lost"] == 0 and s["lease_extensions_applied"] > 0
               for s in summaries)


OUTAGES = """
name: outages
duration: 40s
sender: {rate: 200/s, window: null, retry: {timeout: 1000s}}
network:
  data: {latency: {dist: constant, value: 0.1ms}}
  ack: {latency: {dist: constant, value: 0.1ms}}
  consume:
    data: {latency: {dist: constant, value: 0.0}}
    ack: {latency: {dist: constant, value: 0.0}}
broker: {visibility_timeout: 1s}
consumer: {concurrency: 1000000}
faults:
""" + "".join(f"  - {{target: consumer-0, at: {t}s, for: 200ms}}\n" for t in range(2, 40, 4))


@pytest.mark.parametrize("pull", [False, True])
def test_a_pull_consumer_receives_nothing_while_down(pull: bool) -> None:
    """Push: every publish during an outage of d is delivered to the crashed
    consumer, dropped, and redelivered a lease later -- Poisson(rate * d) per
    outage. Pull: nothing is delivered while it is down; at its restart it
    fetches the backlog at once (no message waits longer than the outage)."""
    overrides: tuple[tuple[str, object], ...] = (("consumer.pull", {"batch": 100000}),) if pull else ()
    summaries = runs(OUTAGES, overrides)
    outages = sum(s["consumer_crashes"] for s in summaries)
    assert outages == 10 * len(SEEDS)
    per_outage = analytic.deliveries_while_down(200.0, 0.2, pull=pull)
    if pull:
        assert per_outage == 0
        assert sum(s["consumer_dropped_while_down"] + s["consume_redeliveries"] for s in summaries) == 0
        assert max(s["consume_latency_max_s"] for s in summaries) <= 0.2 + 1e-6
        assert min(s["consume_latency_max_s"] for s in summaries) > 0.15
        return
    measured = sum(s["consumer_dropped_while_down"] for s in summaries) / outages
    assert per_outage in analytic.normal_interval(measured, per_outage, outages, LEVEL)
    assert sum(s["consume_redeliveries"] for s in summaries) == sum(
        s["consumer_dropped_while_down"] for s in summaries)
