"""Retry policies: when retransmissions happen, and when the sender gives up."""

from __future__ import annotations

import numpy as np
import pytest

import alosim
from tests.conftest import make

# Every data packet is lost, so a message's transmissions follow its retry schedule exactly.
DEAD_LINK = """
name: retry
messages: {messages}
semantics: at-least-once
sender: {{window: 1000}}
network:
  data: {{loss: 1.0, latency: {{dist: constant, value: 1ms}}}}
  ack: {{latency: {{dist: constant, value: 1ms}}}}
observe: {{trace_messages: 1000}}
"""


def send_times(result: alosim.RunResult, message: int = 0) -> list[float]:
    return [e.time_s for e in result.trace if e.event == "send" and e.message == message]


def schedule(messages: int = 1, **retry: object) -> alosim.RunResult:
    overrides = {f"sender.retry.{k}": v for k, v in retry.items()}
    return alosim.simulate(make(DEAD_LINK.format(messages=messages), **overrides))


def test_fixed_timeout():
    r = schedule(timeout=0.5, max_attempts=4)
    assert np.diff(send_times(r)) == pytest.approx([0.5, 0.5, 0.5])
    assert r.summary["gave_up"] == 1 and r.summary["lost_max_attempts"] == 1


def test_exponential_backoff_with_cap():
    r = schedule(policy="exponential", timeout=0.1, multiplier=3, max_timeout=1.0, max_attempts=6)
    assert np.diff(send_times(r)) == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0])


@pytest.mark.parametrize(("jitter", "low", "high"), [("full", 0.0, 1.0), ("equal", 0.5, 1.0)])
def test_jitter_draws_within_its_range(jitter, low, high):
    r = schedule(messages=200, timeout=0.2, policy="exponential", multiplier=2, max_attempts=3,
                 jitter=jitter)
    first, second = [], []
    for m in range(200):
        gaps = np.diff(send_times(r, m))
        first.append(gaps[0] / 0.2)
        second.append(gaps[1] / 0.4)
    for ratios in (first, second):
        assert low <= min(ratios) and max(ratios) <= high
        # Uniform on [low, high]: mean within 4 standard errors.
        mean, se = (low + high) / 2, (high - low) / np.sqrt(12 * len(ratios))
        assert abs(np.mean(ratios) - mean) < 4 * se


def test_decorrelated_jitter_stays_between_base_and_three_times_the_last_wait():
    r = schedule(messages=50, timeout=0.1, jitter="decorrelated", max_timeout=2.0, max_attempts=8)
    for m in range(50):
        gaps = np.diff(send_times(r, m))
        previous = 0.1
        for gap in gaps:
            assert 0.1 - 1e-12 <= gap <= min(2.0, 3 * previous) + 1e-12
            previous = gap


def test_delivery_timeout_gives_up_on_time_whatever_the_attempts():
    r = schedule(timeout=0.3, delivery_timeout=1.0)
    times = send_times(r)
    assert np.diff(times) == pytest.approx([0.3, 0.3, 0.3])
    gave_up = [e.time_s for e in r.trace if e.event == "gave_up"]
    assert gave_up == pytest.approx([times[0] + 1.0])
    assert r.summary["lost_delivery_timeout"] == 1 and r.summary["lost_max_attempts"] == 0


ADAPTIVE = """
name: adaptive
messages: 3000
sender: {window: 4, retry: {policy: adaptive, timeout: 1s}}
network:
  data: {latency: {dist: constant, value: 30ms}}
  ack: {latency: {dist: constant, value: 20ms}}
"""


def test_adaptive_timeout_learns_the_round_trip():
    from alosim.model.world import World

    scenario = make(ADAPTIVE)
    world = World(scenario, 0)
    world.run()
    sender = world.senders[0]
    # A constant 50 ms round trip: SRTT -> 50 ms, RTTVAR -> 0, RTO -> SRTT + G.
    assert sender.srtt == pytest.approx(0.05)
    assert sender.rttvar < 1e-6
    assert sender.rto == pytest.approx(0.051, rel=1e-4)
    assert world.rec.retransmissions == 0


def test_adaptive_timeout_backs_off_on_timeouts():
    r = schedule(policy="adaptive", timeout=0.1, max_timeout=1.0, max_attempts=6)
    assert np.diff(send_times(r)) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])


def test_bad_retry_settings_are_refused():
    with pytest.raises(alosim.ScenarioError, match="max_timeout must be at least timeout"):
        make(DEAD_LINK.format(messages=1), **{"sender.retry.timeout": 2, "sender.retry.max_timeout": 1})
