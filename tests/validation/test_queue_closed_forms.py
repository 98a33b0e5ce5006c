"""A receiver's capacity against the queueing formulas of :mod:`alosim.analytic`.

The scenarios keep the formulas' assumptions: Poisson arrivals at a rate, a
constant data latency (which shifts the arrival process, so arrivals at the
receiver stay Poisson), exponential processing, no loss, and a retry
timeout (1000 s) far above any wait, so that nothing is retransmitted (every
run is checked for that). For the blocking probability the sender has a
single attempt, so that a copy turned away is not offered again.

The quantities -- the fraction of arrivals that waited, the mean time from
creation to processed, the fraction turned away by a full queue -- are
averaged within each run; successive arrivals are correlated, so the seeds'
run averages (independent) make a Student t interval at 99 %, which must
contain the closed form. Seeds are fixed: the outcome is the same on every run.
"""

from __future__ import annotations

import pytest

import alosim
from alosim import analytic
from tests.conftest import make

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3, 4, 5, 6, 7, 8)
LATENCY_S = 0.001

BASE = """
name: queue-closed-forms
duration: 60s
sender: {rate: 240, window: null, retry: {timeout: 1000s}}
network:
  data: {loss: 0.0, latency: {dist: constant, value: 1ms}}
  ack: {loss: 0.0, latency: {dist: constant, value: 1ms}}
receiver: {processing: {dist: exponential, mean: 10ms}}
"""


def _runs(**overrides: object) -> list[dict[str, object]]:
    summaries = []
    for seed in SEEDS:
        s = alosim.simulate(make(BASE, seed=seed, **overrides)).summary
        assert s["retransmissions"] == 0, "a retransmission would add arrivals"
        summaries.append(s)
    return summaries


@pytest.mark.parametrize(("workers", "rate"), [(1, 70.0), (3, 240.0), (8, 600.0)])
def test_mmc_wait_probability_and_mean_sojourn_match_erlang_c(workers, rate):
    mu = 100.0
    runs = _runs(**{"receiver.workers": workers, "sender.rate": rate})
    p_wait = analytic.mean_interval([s["queued"] / s["deliveries"] for s in runs])
    assert analytic.erlang_c(workers, rate, mu) in p_wait, p_wait
    sojourn = analytic.mean_interval([s["delivery_latency_mean_s"] - LATENCY_S for s in runs])
    assert analytic.mmc_mean_sojourn(workers, rate, mu) in sojourn, sojourn


@pytest.mark.parametrize(("rate", "capacity", "when_full"),
                         [(70.0, 3, "drop-new"), (100.0, 5, "reject"), (150.0, 2, "drop-new")])
def test_mm1k_blocking_probability(rate, capacity, when_full):
    runs = _runs(**{"sender.rate": rate, "sender.retry.max_attempts": 1,
                    "receiver.queue": {"capacity": capacity, "when_full": when_full}})
    refused = "queue_rejected" if when_full == "reject" else "queue_dropped"
    blocked = analytic.mean_interval([s[refused] / s["deliveries"] for s in runs])
    # K places: the queue's and the one being processed.
    assert analytic.mm1k_blocking(rate, 100.0, capacity + 1) in blocked, blocked
