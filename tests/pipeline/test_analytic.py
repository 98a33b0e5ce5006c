"""The pipeline's closed forms on cases worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alosim import analytic


def test_dead_lettering_by_hand() -> None:
    # q = 1/2, D = 3: N is 1, 2, 3 with probabilities 1/2, 1/4, 1/4
    assert analytic.dead_letter_probability(0.5, 3) == 0.125
    assert analytic.dead_letter_deliveries(0.5, 3) == pytest.approx(1.75)
    assert analytic.dead_letter_deliveries_variance(0.5, 3) == pytest.approx(3.75 - 1.75**2)
    assert analytic.dead_letter_deliveries(1.0, 4) == 4
    assert analytic.dead_letter_deliveries(0.0, 4) == 1
    with pytest.raises(ValueError):
        analytic.dead_letter_probability(0.5, 0)


def test_lease_redeliveries_by_hand() -> None:
    # One term dominates when e^{-(V - 2L)/s} is small: P(R >= 1) = e^{-(1 - 0.2)/0.5}
    first = math.exp(-1.6)
    second = first * math.exp(-3.6)
    assert analytic.lease_redeliveries(1.0, 0.1, 0.5) == pytest.approx(first + second, rel=1e-3)
    # instantaneous processing and a round trip shorter than the lease: never redelivered
    assert analytic.lease_redeliveries(1.0, 0.1, 0.0) == 0
    # a round trip longer than the first lease: at least one redelivery for sure
    assert analytic.lease_redeliveries(0.1, 0.1, 0.01) >= 1
    assert analytic.lease_redeliveries_variance(1.0, 0.1, 0.0) == 0
    with pytest.raises(ValueError):
        analytic.lease_redeliveries(0.0, 0.1, 0.5)


def test_two_hops_multiply_the_effects_of_each_hop() -> None:
    hops = analytic.two_hop_duplicates(0.0, 0.2, 0.0, 0.5)
    assert hops.publish == pytest.approx(0.25)  # p / (1 - p)
    assert hops.consume == pytest.approx(1.25 * 1.0)
    assert hops.total == pytest.approx(1.25 * 2 - 1)
    assert hops.total == pytest.approx(hops.publish + hops.consume)


# -- polled reclaim, start delay, lease extension ----------------------------------


def test_the_first_reclaim_on_a_grid_is_the_issues_closed_form():
    # P(redeliver) = E[exp(-(V + U)/m)], U ~ Uniform(0, I) = e^{-V/m} m/I (1 - e^{-I/m})
    v, i, m = 0.1, 0.05, 0.05
    tail = analytic.polled_lease_tail(v, 0.0, m, reclaim_interval_s=i)
    assert tail[0] == pytest.approx(math.exp(-v / m) * m / i * (1 - math.exp(-i / m)))
    # the redelivered copy's lease, made at a scan, ends on the scan V later: e^{-2 V/m} more
    assert tail[1] == pytest.approx(tail[0] * math.exp(-2 * v / m))


def test_polling_ever_faster_tends_to_the_plain_lease():
    plain = analytic.lease_redeliveries(0.1, 0.002, 0.05)
    fast = analytic.polled_lease_redeliveries(0.1, 0.002, 0.05, reclaim_interval_s=1e-6)
    assert fast == pytest.approx(plain, rel=1e-4)
    assert analytic.polled_lease_redeliveries(0.1, 0.002, 0.05) == pytest.approx(plain)


def test_the_jittered_wait_is_the_equilibrium_forward_recurrence_time():
    interval, s = 0.05, 30.0
    u = (np.arange(200_000) + 0.5) / 200_000 * 2 * interval  # midpoint rule on [0, 2I]
    density = (1 - u / (2 * interval)) / interval
    numeric = float(np.sum(np.exp(-s * u) * density) * (2 * interval / len(u)))
    assert analytic.reclaim_wait_laplace(s, interval, jitter=True) == pytest.approx(numeric, rel=1e-6)
    assert analytic.reclaim_wait_laplace(0.0, interval, jitter=True) == 1.0
    assert analytic.reclaim_wait_laplace(s, interval) == pytest.approx(
        (1 - math.exp(-s * interval)) / (s * interval))


def test_a_constant_start_delay_acts_as_latency():
    # a constant delay d before processing is as a round trip longer by d
    delayed = analytic.polled_lease_redeliveries(0.1, 0.001, 0.05, start_delay_mgf=math.exp(0.004 / 0.05),
                                                 start_delay_max_s=0.004)
    assert delayed == pytest.approx(analytic.lease_redeliveries(0.1, 0.003, 0.05))


def test_an_extended_lease_is_its_maximum_and_the_forms_refuse_what_they_do_not_cover():
    assert analytic.extended_lease(1.0, 0.4, 5.0, latency_s=0.01) == 5.0
    assert analytic.extended_lease(1.0, 0.4, None) == math.inf
    assert analytic.polled_lease_redeliveries(math.inf, 0.0, 0.05) == 0.0
    with pytest.raises(ValueError, match="extension may arrive after"):
        analytic.extended_lease(1.0, 0.99, 5.0, latency_s=0.01)
    with pytest.raises(ValueError, match="not longer than the round trip"):
        analytic.polled_lease_tail(0.01, 0.004, 0.05, start_delay_max_s=0.003)
    assert analytic.deliveries_while_down(200.0, 0.2, consumers=4) == pytest.approx(10.0)
    assert analytic.deliveries_while_down(200.0, 0.2, pull=True) == 0.0
