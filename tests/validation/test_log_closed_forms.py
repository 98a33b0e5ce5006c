"""The log's commit policies against their closed forms (alosim.analytic),
pooled over seeds, with 99 % intervals from the closed-form variances."""

from __future__ import annotations

import pytest

from alosim import analytic
from alosim.simulate import simulate
from tests.conftest import make

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3)

ONE = """
name: one
duration: 150s
sender: {rate: 400/s, window: null, retry: {timeout: 1s}}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
broker: {kind: log, partitions: 3}
consumer: {count: 1, fetch_batch: 1000, session_timeout: 1s}
faults: [{target: consumer-0, mtbf: 3s, mttr: 5ms}]
"""


def runs(**overrides: object) -> list[dict]:
    scenario = make(ONE, **overrides)
    return [simulate(scenario, seed).summary for seed in SEEDS]


@pytest.mark.parametrize("interval", [0.2, 1.0])
def test_auto_commit_replays_lambda_t_over_two_per_crash(interval: float) -> None:
    summaries = runs(**{"consumer.commit": {"policy": "interval", "interval": interval}})
    crashes = sum(s["log_consumer_crashes"] for s in summaries)
    replays = sum(s["duplicates_consume_replay_after_crash"] for s in summaries)
    expected = analytic.auto_commit_duplicates_per_crash(400.0, interval)
    variance = analytic.auto_commit_duplicates_variance(400.0, interval)
    ci = analytic.normal_interval(replays / crashes, variance, crashes)
    assert crashes > 100
    assert ci.low <= expected <= ci.high, (ci, expected)
    assert replays / crashes <= 400.0 * interval  # and at most lambda T


@pytest.mark.parametrize("latency", [0.0005, 0.001])
def test_commit_after_each_replays_at_most_one_per_crash(latency: float) -> None:
    summaries = runs(**{"consumer.commit": {"policy": "after-each", "latency": latency}})
    crashes = sum(s["log_consumer_crashes"] for s in summaries)
    replays = sum(s["duplicates_consume_replay_after_crash"] for s in summaries)
    p = analytic.commit_after_each_duplicates_per_crash(400.0, latency)
    ci = analytic.normal_interval(replays / crashes, p * (1 - p), crashes)
    assert ci.low <= p <= ci.high, (ci, p)
    assert replays <= crashes


@pytest.mark.parametrize("batch", [1, 5])
def test_commit_before_processing_loses_what_is_in_progress(batch: int) -> None:
    # Saturated: 400/s arrive, 200/s can be processed; the run stops at max_time.
    summaries = runs(**{"consumer.commit.policy": "before-processing", "semantics": "at-most-once",
                        "consumer.fetch_batch": batch, "duration": 60.0, "max_time": 60.0,
                        "consumer.processing": {"dist": "constant", "value": 0.005}})
    crashes = sum(s["log_consumer_crashes"] for s in summaries)
    lost = sum(s["lost_commit_before_processing_crash"] for s in summaries)
    expected = analytic.commit_before_processing_losses_per_crash(batch)
    variance = (batch * batch - 1) / 12  # uniform on 1..b
    if variance == 0:
        assert lost == crashes  # exactly the one in progress, every time
        return
    ci = analytic.normal_interval(lost / crashes, variance, crashes)
    assert ci.low <= expected <= ci.high, (ci, expected)


REORDER = """
name: reorder
messages: 20000
sender: {window: 5, retry: {timeout: 100ms}}
network:
  data: {loss: 0.05, latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
broker: {kind: log, partitions: 1, keys: {count: 1}}
consumer: {commit: {policy: after-each}}
"""


@pytest.mark.parametrize(("p", "window", "idempotent"),
                         [(0.05, 5, False), (0.2, 5, False), (0.2, 1, False), (0.2, 5, True)])
def test_out_of_order_rate_without_and_with_idempotence(p: float, window: int, idempotent: bool) -> None:
    scenario = make(REORDER, **{"network.data.loss": p, "sender.window": window,
                                "broker.dedup.kind": "sequence" if idempotent else "none"})
    summaries = [simulate(scenario, seed).summary for seed in SEEDS]
    messages = sum(s["messages"] for s in summaries)
    reordered = sum(s["out_of_order_partition"] for s in summaries)
    expected = analytic.reordered_per_message(p, window, idempotent)
    if expected == 0:
        assert reordered == 0
        return
    ci = analytic.normal_interval(reordered / messages, expected * (1 - expected), messages)
    assert ci.low <= expected <= ci.high, (ci, expected)


def test_the_closed_forms_refuse_what_they_do_not_cover() -> None:
    with pytest.raises(ValueError):
        analytic.commit_after_each_duplicates_per_crash(1000.0, 0.002)  # rho >= 1
    with pytest.raises(ValueError):
        analytic.auto_commit_duplicates_per_crash(1.0, 0.0)
    with pytest.raises(ValueError):
        analytic.commit_before_processing_losses_per_crash(0)
    assert analytic.auto_commit_duplicates_per_crash(1000.0, 5.0) == 2500.0
    assert analytic.reordered_per_message(0.1, 5, idempotent=True) == 0.0
