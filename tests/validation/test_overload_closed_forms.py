"""Retry amplification against the fixed point of :func:`alosim.analytic.retry_amplification`.

The scenarios keep the approximation's assumptions: one receiver with one
worker and exponential processing (mu = 100/s), Poisson arrivals, a fixed
timeout T without jitter, no loss, no dedup (every copy processed), an
unbounded FIFO queue and window, and no network latency (so T is the time
from a transmission to the end of its processing). Timeouts of 2 and 3
service times make the amplification material (lambda'/lambda >= 1.05) at
loads well below the predicted collapse (0.33 and 0.42 of capacity).

The criterion is the one the approximation is held to: the simulated
transmission rate (transmissions per message, pooled over seeds, times
lambda) within 10 % of lambda'. The copies are not Poisson and a message
is retried only while un-acked, so the approximation is not exact. Measured
on seeds 1-8 (60 s each), transmissions per second:

====  ========  ===========  ==========  =======
T     load      predicted    measured    gap
====  ========  ===========  ==========  =======
3/mu  0.10      10.74        10.79       +0.5 %
3/mu  0.15      16.33        16.47       +0.9 %
2/mu  0.05      5.898        5.965       +1.1 %
2/mu  0.10      12.08        12.59       +4.2 %
====  ========  ===========  ==========  =======

The gap grows with the amplification: the simulation retries a little more
than the model.

The collapse load is checked against the simulation's own collapse: with
T = 50 service times (the scenario overload-collapse), the fixed point
stops existing at 0.903 of capacity. A run of finite length collapses only
once a queue excursion exceeds the timeout, so near that load the outcome is
a matter of time and chance (metastability): measured over 20 s on seeds 1-3,
goodput is 86.6, 86.0, 85.5/s at 0.85 (healthy) and 57.6, 43.3, 47.0/s at
1.05 (collapsed). Shorter timeouts collapse well below their predicted load
instead: at T = 4 service times (predicted 0.49) 100 s runs collapsed at
0.25-0.30 -- there a normal queue excursion already exceeds T. The test asks for that
with a margin: healthy at 0.80 (0.89 of the predicted load), collapsed at
1.10 (1.22 of it) -- the fixed point places the collapse within that band.
"""

from __future__ import annotations

import pytest

import alosim
from alosim import analytic
from tests.conftest import make

pytestmark = pytest.mark.slow

MU = 100.0
BASE = """
name: amplification
seed: 0
semantics: at-least-once
sender: {window: null, retry: {policy: fixed}}
network: {data: {latency: {dist: constant, value: 0}}, ack: {latency: {dist: constant, value: 0}}}
receiver: {processing: {dist: exponential, mean: 10ms}}
"""
SEEDS = (1, 2, 3, 4, 5, 6, 7, 8)


def _run(rate: float, timeout_s: float, duration_s: float, seed: int) -> dict:
    scenario = make(BASE, seed=seed, duration=f"{duration_s}s", max_time=f"{duration_s}s",
                    **{"sender.rate": f"{rate}/s", "sender.retry.timeout": f"{timeout_s}s"})
    return alosim.simulate(scenario).summary


@pytest.mark.parametrize("service_times, load", [(3, 0.10), (3, 0.15), (2, 0.05), (2, 0.10)])
def test_the_transmission_rate_is_within_10_percent_of_the_fixed_point(service_times, load):
    rate, timeout = load * MU, service_times / MU
    predicted = analytic.retry_amplification(rate, MU, timeout)
    assert predicted is not None and predicted / rate >= 1.05  # amplification is material
    runs = [_run(rate, timeout, 60.0, seed) for seed in SEEDS]
    assert all(r["unsettled"] < 50 for r in runs), "a run collapsed: the fixed point does not describe it"
    measured = sum(r["transmissions"] for r in runs) / sum(r["messages"] for r in runs) * rate
    table = (f"load {load:g}, T = {service_times} service times: "
             f"predicted {predicted:.4g}/s, measured {measured:.4g}/s")
    assert abs(measured - predicted) <= 0.10 * predicted, table


def test_the_simulation_collapses_between_0_9_and_1_2_times_the_predicted_collapse_load():
    timeout = 0.5
    predicted = analytic.collapse_load(MU, timeout)
    assert predicted == pytest.approx(0.903, abs=0.001)
    for load, healthy in ((0.80, True), (1.10, False)):
        for seed in (1, 2, 3):
            summary = _run(load * MU, timeout, 20.0, seed)
            ratio = summary["goodput_per_s"] / summary["offered_per_s"]
            assert (ratio > 0.95) == healthy, (load, seed, ratio)
            if not healthy:
                assert ratio < 0.7, (load, seed, ratio)
