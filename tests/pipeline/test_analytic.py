"""The pipeline's closed forms on cases worked by hand."""

from __future__ import annotations

import math

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
