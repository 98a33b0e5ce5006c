"""The simulator against the closed forms of :mod:`alosim.analytic`.

Each scenario keeps the closed forms' assumptions: Bernoulli losses, bounded
latency (5-15 ms each way, no processing time), and a retry timeout (100 ms)
well above the largest round trip (30 ms), so that a retransmission happens
only when no ack will ever come. Every run is checked for that (no ack ever
arrives after its message settled).

Per-message counts are then independent and identically distributed, so the
mean over all N messages pooled across seeds has standard error
sqrt(Var / N) with the closed-form per-message variance; a 99 % normal
interval around the simulated mean must contain the closed form. The same is
checked without the variance formula, with a Student t interval over the
per-seed means. Seeds are fixed, so the outcome is the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import pytest

import alosim
from alosim import analytic
from tests.conftest import make

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3, 4, 5, 6)  # 40,000 messages each: 240,000 per point, about 3 s
LEVEL = 0.99

BASE = """
name: closed-forms
messages: 40000
sender:
  window: 64
  retry: {timeout: 100ms}
network:
  data: {loss: 0.0, latency: {dist: uniform, low: 5ms, high: 15ms}}
  ack: {loss: 0.0, latency: {dist: uniform, low: 5ms, high: 15ms}}
"""


@dataclass(frozen=True)
class Runs:
    """The summaries of one scenario run once per seed."""

    summaries: tuple[dict[str, object], ...]

    @property
    def messages(self) -> int:
        return self.total("messages")

    def total(self, column: str) -> int:
        return sum(int(s[column]) for s in self.summaries)  # type: ignore[call-overload]

    def per_message(self, column: str) -> float:
        """``column`` per message, pooled over every seed."""
        return self.total(column) / self.messages

    def per_seed(self, column: str) -> list[float]:
        """``column`` per message, one value per seed."""
        return [int(s[column]) / int(s["messages"]) for s in self.summaries]  # type: ignore[call-overload]


@cache
def run(semantics: str, p_data: float, p_ack: float, max_attempts: int | None,
        seeds: Sequence[int] = SEEDS) -> Runs:
    overrides: dict[str, object] = {
        "semantics": semantics,
        "network.data.loss": p_data,
        "network.ack.loss": p_ack,
    }
    if semantics != "at-most-once":
        overrides["sender.retry.max_attempts"] = max_attempts
    scenario = make(BASE, **overrides)
    round_trip = scenario.network.data.latency.upper_bound + scenario.network.ack.latency.upper_bound
    assert scenario.sender.retry.timeout > 3 * round_trip, "the closed forms need a timeout above the RTT"
    summaries = []
    for seed in seeds:
        summary = alosim.simulate(scenario, seed=seed).summary
        # The assumption behind every formula here: no ack is merely late.
        assert summary["late_acks"] == 0
        assert summary["unsettled"] == 0
        summaries.append(summary)
    return Runs(tuple(summaries))


def assert_agrees(runs: Runs, column: str, expected: float, variance: float) -> None:
    """``expected`` lies in the pooled normal interval and in the per-seed t interval."""
    pooled = analytic.normal_interval(runs.per_message(column), variance, runs.messages, LEVEL)
    assert expected in pooled, f"{column} per message: closed form {expected:.6g}, simulated {pooled}"
    by_seed = analytic.mean_interval(runs.per_seed(column), LEVEL)
    assert expected in by_seed, (f"{column} per message over seeds: closed form {expected:.6g}, "
                                 f"simulated {by_seed}")


@pytest.mark.parametrize(("p_data", "p_ack"), [(0.0, 0.2), (0.4, 0.2), (0.1, 0.05)])
def test_unlimited_retries(p_data: float, p_ack: float) -> None:
    """Duplicates per message p_a/(1 - p_a) whatever p_d; transmissions 1/((1 - p_d)(1 - p_a))."""
    runs = run("at-least-once", p_data, p_ack, None)
    assert_agrees(runs, "duplicate_deliveries", analytic.duplicates_per_message(p_data, p_ack),
                  analytic.duplicates_variance(p_data, p_ack))
    assert_agrees(runs, "transmissions", analytic.transmissions_per_message(p_data, p_ack),
                  analytic.transmissions_variance(p_data, p_ack))
    assert runs.total("lost") == runs.total("gave_up") == 0
    # Every duplicate delivery follows a lost ack, and every timeout a lost packet.
    assert runs.total("acks_lost") == runs.total("duplicate_deliveries")
    assert runs.total("timeouts") == runs.total("data_lost") + runs.total("acks_lost")


def test_duplicates_depend_on_the_ack_link_alone() -> None:
    """With common random numbers the count is not merely close but equal across p_d.

    Every message needs one ack through, and no ack is late, so a run's
    duplicates are the lost acks before the N-th ack that got through: a
    function of the ack link's own random stream, which data losses do not
    touch.
    """
    clean, lossy = run("at-least-once", 0.0, 0.2, None), run("at-least-once", 0.4, 0.2, None)
    assert clean.per_seed("duplicate_deliveries") == lossy.per_seed("duplicate_deliveries")
    assert clean.total("transmissions") < lossy.total("transmissions")


def test_at_most_k_attempts() -> None:
    """P(never delivered) = p_d^K; deliveries, transmissions and giving up as in analytic.per_message."""
    p_data, p_ack, k = 0.3, 0.2, 3
    runs = run("at-least-once", p_data, p_ack, k)
    moments = analytic.per_message(p_data, p_ack, k)
    never = analytic.never_delivered_probability(p_data, k)
    assert_agrees(runs, "lost", never, never * (1 - never))
    gave_up = analytic.gave_up_probability(p_data, p_ack, k)
    assert_agrees(runs, "gave_up", gave_up, gave_up * (1 - gave_up))
    assert_agrees(runs, "deliveries", moments.deliveries_mean, moments.deliveries_variance)
    assert_agrees(runs, "transmissions", moments.transmissions_mean, moments.transmissions_variance)
    assert_agrees(runs, "duplicate_deliveries", moments.duplicates_mean, moments.duplicates_variance)


def test_at_most_once_loses_p_data() -> None:
    p_data, p_ack = 0.2, 0.1
    runs = run("at-most-once", p_data, p_ack, 1)
    loss = analytic.at_most_once_loss(p_data)
    assert_agrees(runs, "lost", loss, loss * (1 - loss))
    assert runs.total("transmissions") == runs.messages
    assert runs.total("duplicate_deliveries") == runs.total("duplicate_processing") == 0
    assert runs.total("deliveries") == runs.messages - runs.total("lost")
