"""The closed forms: exact values, brute-force enumeration, and Monte Carlo under fixed seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alosim import analytic as a

# -- the retry model, exactly --------------------------------------------------------


def test_duplicates_per_message_small_cases() -> None:
    assert a.duplicates_per_message(0.0, 0.0) == 0.0
    assert a.duplicates_per_message(0.0, 0.5) == pytest.approx(1.0)
    assert a.duplicates_per_message(0.3, 0.2) == pytest.approx(0.25)
    # Data losses add transmissions, never deliveries.
    assert a.duplicates_per_message(0.9, 0.2) == a.duplicates_per_message(0.0, 0.2)
    assert a.duplicates_per_message(0.1, 1.0) == math.inf


def test_transmissions_per_message_small_cases() -> None:
    assert a.transmissions_per_message(0.0, 0.0) == 1.0
    assert a.transmissions_per_message(0.5, 0.5) == pytest.approx(4.0)
    assert a.transmissions_per_message(0.1, 0.2) == pytest.approx(1 / 0.72)
    assert a.transmissions_per_message(1.0, 0.0) == math.inf


def test_one_attempt_is_at_most_once() -> None:
    p_d, p_a = 0.3, 0.2
    assert a.transmissions_per_message(p_d, p_a, 1) == pytest.approx(1.0)
    assert a.deliveries_per_message(p_d, p_a, 1) == pytest.approx(0.7)
    assert a.duplicates_per_message(p_d, p_a, 1) == pytest.approx(0.0, abs=1e-15)
    assert a.never_delivered_probability(p_d, 1) == pytest.approx(a.at_most_once_loss(p_d))
    assert a.gave_up_probability(p_d, p_a, 1) == pytest.approx(1 - 0.7 * 0.8)
    assert a.at_most_once_loss(0.25) == 0.25


def test_two_attempts_by_hand() -> None:
    # s = 0.56, 1 - s = 0.44: the second attempt happens with probability 0.44.
    assert a.transmissions_per_message(0.3, 0.2, 2) == pytest.approx(1.44)
    assert a.deliveries_per_message(0.3, 0.2, 2) == pytest.approx(0.7 * 1.44)
    assert a.never_delivered_probability(0.3, 2) == pytest.approx(0.09)
    assert a.gave_up_probability(0.3, 0.2, 2) == pytest.approx(0.44**2)


def _enumerate(p_d: float, p_a: float, k: int) -> tuple[float, float, float, float, float, float]:
    """Moments of T, D and duplicates by summing over every outcome sequence of k attempts."""
    outcomes = (("lost", p_d), ("ack lost", (1 - p_d) * p_a), ("acked", (1 - p_d) * (1 - p_a)))
    moments = np.zeros(6)
    seen = set()
    for seq in itertools.product(outcomes, repeat=k):
        # The sender stops at the first ack: cut the sequence there.
        names = [name for name, _ in seq]
        stop = names.index("acked") + 1 if "acked" in names else k
        path = tuple(seq[:stop])
        if path in seen:
            continue
        seen.add(path)
        prob = math.prod(p for _, p in path)
        t = len(path)
        d = sum(1 for name, _ in path if name != "lost")
        dup = max(d - 1, 0)
        moments += prob * np.array([t, t * t, d, d * d, dup, dup * dup])
    t1, t2, d1, d2, u1, u2 = moments
    return t1, t2 - t1**2, d1, d2 - d1**2, u1, u2 - u1**2


@pytest.mark.parametrize(("p_d", "p_a", "k"), [(0.3, 0.2, 1), (0.3, 0.2, 3), (0.5, 0.4, 5), (0.1, 0.6, 4)])
def test_limited_attempts_agree_with_enumeration(p_d: float, p_a: float, k: int) -> None:
    t1, tv, d1, dv, u1, uv = _enumerate(p_d, p_a, k)
    moments = a.per_message(p_d, p_a, k)
    assert moments.transmissions_mean == pytest.approx(t1, rel=1e-12)
    assert moments.transmissions_variance == pytest.approx(tv, rel=1e-12)
    assert moments.deliveries_mean == pytest.approx(d1, rel=1e-12)
    assert moments.deliveries_variance == pytest.approx(dv, rel=1e-12)
    assert moments.duplicates_mean == pytest.approx(u1, rel=1e-12, abs=1e-15)
    assert moments.duplicates_variance == pytest.approx(uv, rel=1e-9, abs=1e-15)
    assert a.transmissions_per_message(p_d, p_a, k) == pytest.approx(t1, rel=1e-12)
    assert a.deliveries_per_message(p_d, p_a, k) == pytest.approx(d1, rel=1e-12)
    assert a.duplicates_per_message(p_d, p_a, k) == pytest.approx(u1, rel=1e-12, abs=1e-15)


def test_unlimited_variances_are_geometric() -> None:
    p_d, p_a = 0.1, 0.2
    s = 0.9 * 0.8
    assert a.duplicates_variance(p_d, p_a) == pytest.approx(p_a / (1 - p_a) ** 2)
    assert a.deliveries_variance(p_d, p_a) == pytest.approx(p_a / (1 - p_a) ** 2)
    assert a.transmissions_variance(p_d, p_a) == pytest.approx((1 - s) / s**2)
    assert a.never_delivered_probability(p_d, None) == 0.0
    assert a.gave_up_probability(p_d, p_a, None) == 0.0


def test_many_attempts_approach_unlimited() -> None:
    limited = a.per_message(0.2, 0.3, 200)
    unlimited = a.per_message(0.2, 0.3)
    assert limited.transmissions_mean == pytest.approx(unlimited.transmissions_mean, rel=1e-12)
    assert limited.transmissions_variance == pytest.approx(unlimited.transmissions_variance, rel=1e-9)
    assert limited.duplicates_mean == pytest.approx(unlimited.duplicates_mean, rel=1e-12)
    assert limited.duplicates_variance == pytest.approx(unlimited.duplicates_variance, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(p_d=st.floats(0, 0.95), p_a=st.floats(0, 0.95), k=st.integers(1, 40))
def test_limited_attempts_properties(p_d: float, p_a: float, k: int) -> None:
    m, more = a.per_message(p_d, p_a, k), a.per_message(p_d, p_a, k + 1)
    assert 1 <= m.transmissions_mean <= k + 1e-9
    assert m.transmissions_mean <= more.transmissions_mean + 1e-12
    assert m.deliveries_mean <= a.deliveries_per_message(p_d, p_a) + 1e-12
    assert m.duplicates_mean >= -1e-12
    assert min(m.transmissions_variance, m.deliveries_variance, m.duplicates_variance) >= -1e-9
    assert m.transmissions_mean == pytest.approx(a.transmissions_per_message(p_d, p_a, k), rel=1e-9)
    assert m.delivered == pytest.approx(1 - a.never_delivered_probability(p_d, k))
    # Giving up includes every message never delivered, and more.
    assert a.gave_up_probability(p_d, p_a, k) >= a.never_delivered_probability(p_d, k) - 1e-15


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="p_data"):
        a.transmissions_per_message(1.5, 0.1)
    with pytest.raises(ValueError, match="p_ack"):
        a.duplicates_per_message(0.1, -0.1)
    with pytest.raises(ValueError, match="max_attempts"):
        a.per_message(0.1, 0.1, 0)
    with pytest.raises(ValueError, match="level"):
        a.normal_interval(1.0, 1.0, 10, level=1.0)
    with pytest.raises(ValueError, match="two samples"):
        a.mean_interval([1.0])


# -- the retry model, by Monte Carlo ------------------------------------------------------


def _simulate_attempts(rng: np.random.Generator, n: int, p_d: float, p_a: float,
                       k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-message transmissions and deliveries, attempt by attempt, for n messages."""
    arrived = rng.random((n, k)) >= p_d
    acked = arrived & (rng.random((n, k)) >= p_a)
    settled = acked.any(axis=1)
    first = np.where(settled, acked.argmax(axis=1) + 1, k)  # transmissions made
    made = np.arange(1, k + 1) <= first[:, None]
    return first, (arrived & made).sum(axis=1)


@pytest.mark.parametrize(("p_d", "p_a", "k"), [(0.1, 0.2, None), (0.4, 0.3, None), (0.3, 0.2, 3)])
def test_monte_carlo_agrees_with_closed_forms(p_d: float, p_a: float, k: int | None) -> None:
    rng = np.random.default_rng(20240611)
    n = 200_000
    # 60 attempts stand for "unlimited": P(no ack after 60) < 1e-13 here.
    t, d = _simulate_attempts(rng, n, p_d, p_a, k or 60)
    dup = np.maximum(d - 1, 0)
    moments = a.per_message(p_d, p_a, k)
    for values, mean, var in ((t, moments.transmissions_mean, moments.transmissions_variance),
                              (d, moments.deliveries_mean, moments.deliveries_variance),
                              (dup, moments.duplicates_mean, moments.duplicates_variance)):
        assert mean in a.normal_interval(float(values.mean()), var, n)
        # The variance too: it is the mean of (x - mu)^2, an i.i.d. sample of its own.
        squares = (values - mean) ** 2
        assert var in a.normal_interval(float(squares.mean()), float(squares.var(ddof=1)), n)
    lost = float((d == 0).mean())
    p_lost = a.never_delivered_probability(p_d, k)
    if p_lost > 0:
        assert p_lost in a.normal_interval(lost, p_lost * (1 - p_lost), n)
    else:
        assert lost == 0.0


# -- Gilbert bursts ----------------------------------------------------------------------


def test_gilbert_exact() -> None:
    assert a.gilbert_loss_rate(0.01, 0.25) == pytest.approx(0.01 / 0.26)
    assert a.gilbert_burst_length(0.25) == pytest.approx(4.0)
    assert a.gilbert_burst_length_variance(0.25) == pytest.approx(12.0)
    # With p + r = 1 the chain forgets at once: Bernoulli losses.
    assert a.gilbert_loss_rate_variance(0.3, 0.7) == pytest.approx(0.3 * 0.7)
    with pytest.raises(ValueError):
        a.gilbert_loss_rate(0.0, 0.0)


def _gilbert_chains(rng: np.random.Generator, chains: int, steps: int, p: float,
                    r: float) -> np.ndarray:
    """Loss indicators (chains x steps) of independent Gilbert chains started in equilibrium."""
    bad = rng.random(chains) < p / (p + r)
    u = rng.random((steps, chains))
    out = np.empty((steps, chains), dtype=bool)
    for i in range(steps):
        out[i] = bad
        bad = np.where(bad, u[i] >= r, u[i] < p)
    return out.T


def test_gilbert_monte_carlo() -> None:
    p, r = 0.02, 0.25
    chains, steps = 400, 2000
    losses = _gilbert_chains(np.random.default_rng(7), chains, steps, p, r)
    fractions = losses.mean(axis=1)
    pi = a.gilbert_loss_rate(p, r)
    asymptotic = a.gilbert_loss_rate_variance(p, r)
    assert pi in a.normal_interval(float(fractions.mean()), asymptotic, chains * steps)
    assert pi in a.mean_interval(fractions.tolist())
    # The variance formula: (chains - 1) s^2 / sigma^2 is chi-square with chains - 1
    # degrees of freedom, about normal with mean chains - 1 and variance 2 (chains - 1).
    ratio = float(fractions.var(ddof=1)) * steps / asymptotic
    z = a.normal_quantile(0.995)
    assert abs(ratio - 1) <= z * math.sqrt(2 / (chains - 1))
    # Burst lengths: runs of losses that start and end inside a chain.
    bursts = []
    for row in losses:
        edges = np.diff(row.astype(np.int8))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        ends = ends[ends > starts[0]] if len(starts) else ends[:0]
        n = min(len(starts), len(ends))
        bursts.extend((ends[:n] - starts[:n]).tolist())
    burst_mean = float(np.mean(bursts))
    interval = a.normal_interval(burst_mean, a.gilbert_burst_length_variance(r), len(bursts))
    assert a.gilbert_burst_length(r) in interval


# -- Bloom filters -----------------------------------------------------------------------


def test_bloom_exact() -> None:
    assert a.bloom_false_positive_rate(1000, 10_000, 7) == pytest.approx((1 - math.exp(-0.7)) ** 7)
    assert a.bloom_false_positive_rate(0, 100, 3) == 0.0
    assert a.bloom_optimal_bits(1000, 0.01) == pytest.approx(9585.06, abs=0.01)
    assert a.bloom_optimal_hashes(9585.06, 1000) == pytest.approx(-math.log2(0.01), rel=1e-6)
    assert a.bloom_parameters(1000, 0.01) == a.BloomParameters(m_bits=9593, k_hashes=7)
    # The often quoted 1.44 log2(1/fp) bits per item: 14.4 bits per item at 0.1 %.
    large = a.bloom_parameters(1_000_000, 0.001)
    assert large.k_hashes == 10
    assert large.m_bits == pytest.approx(1_000_000 * 1.4427 * math.log2(1000), rel=1e-4)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 10**7), fp=st.floats(1e-6, 0.5))
def test_bloom_parameters_are_the_fewest_bits_for_their_k(n: int, fp: float) -> None:
    params = a.bloom_parameters(n, fp)
    assert a.bloom_false_positive_rate(n, params.m_bits, params.k_hashes) <= fp * (1 + 1e-12)
    if params.m_bits > 1:
        assert a.bloom_false_positive_rate(n, params.m_bits - 1, params.k_hashes) > fp * (1 - 1e-9)
    assert params.m_bits >= a.bloom_optimal_bits(n, fp) * (1 - 1e-9)


def test_bloom_monte_carlo() -> None:
    """Ideal hashing: each item sets k independent uniform bits of m."""
    rng = np.random.default_rng(11)
    n, m, k = 1000, 10_000, 7
    filters, queries = 300, 10_000
    rates = []
    for _ in range(filters):
        bits = np.zeros(m, dtype=bool)
        bits[rng.integers(0, m, size=n * k)] = True
        probes = rng.integers(0, m, size=(queries, k))
        rates.append(float(bits[probes].all(axis=1).mean()))
    # Filters are independent, so the per-filter rates are i.i.d. samples of the rate.
    assert a.bloom_false_positive_rate(n, m, k) in a.mean_interval(rates)


# -- TTL stores ---------------------------------------------------------------------------


def test_ttl_store_exact() -> None:
    assert a.ttl_store_entries(100, 300) == 30_000
    assert a.ttl_store_entries_variance(100, 300) == 30_000
    assert a.ttl_store_bytes(100, 300, 64) == 1_920_000


def test_ttl_store_monte_carlo() -> None:
    """Poisson insertions at 50/s kept 2 s: the store's size at a time is Poisson(100)."""
    rng = np.random.default_rng(5)
    rate, window = 50.0, 2.0
    arrivals = np.cumsum(rng.exponential(1 / rate, size=1_000_000))
    # Look at non-overlapping windows so that the counts are independent.
    times = np.arange(window, arrivals[-1], window)
    sizes = np.diff(np.searchsorted(arrivals, times, side="right"))
    expected = a.ttl_store_entries(rate, window)
    assert expected in a.normal_interval(float(sizes.mean()), a.ttl_store_entries_variance(rate, window),
                                         len(sizes))
    squares = (sizes - expected) ** 2.0
    assert a.ttl_store_entries_variance(rate, window) in a.normal_interval(
        float(squares.mean()), float(squares.var(ddof=1)), len(sizes))


# -- confidence intervals ------------------------------------------------------------------


@pytest.mark.parametrize(("prob", "df", "table"), [
    (0.975, 1, 12.7062), (0.995, 1, 63.6567), (0.975, 2, 4.3027), (0.95, 5, 2.0150),
    (0.995, 4, 4.6041), (0.975, 10, 2.2281), (0.995, 30, 2.7500), (0.975, 120, 1.9799),
    (0.995, 1000, 2.5808),
])
def test_t_quantiles_match_tables(prob: float, df: int, table: float) -> None:
    assert a.student_t_quantile(prob, df) == pytest.approx(table, abs=6e-5)
    assert a.student_t_quantile(1 - prob, df) == pytest.approx(-table, abs=6e-5)


def test_t_cdf_closed_forms() -> None:
    for t in (-3.0, -0.5, 0.0, 0.7, 4.0):
        assert a.student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi)  # Cauchy
        assert a.student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(t * t + 2)))
    assert a.student_t_cdf(0.0, 9) == 0.5
    for df in (3, 8, 51):
        q = a.student_t_quantile(0.9, df)
        assert a.student_t_cdf(q, df) == pytest.approx(0.9, abs=1e-12)


def test_t_quantile_joins_the_large_df_expansion_smoothly() -> None:
    below = a.student_t_quantile(0.995, 200)
    above = a.student_t_quantile(0.995, 201)
    assert 0 < below - above < 2e-4
    assert a.student_t_quantile(0.975, 10**7) == pytest.approx(a.normal_quantile(0.975), abs=1e-6)


def test_intervals() -> None:
    interval = a.mean_interval([1.0, 2.0, 3.0, 4.0, 5.0], level=0.95)
    assert interval.estimate == 3.0
    assert interval.half_width == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5), abs=1e-3)
    assert 1.1 in interval and 0.9 not in interval
    normal = a.normal_interval(0.25, 0.3125, 200_000, level=0.99)
    assert normal.half_width == pytest.approx(2.5758 * math.sqrt(0.3125 / 200_000), rel=1e-4)
    assert "99% CI" in str(normal)


def test_erlang_c_and_the_mmc_waits() -> None:
    # c = 1 is M/M/1: P(wait) = rho, mean wait rho/(mu - lambda).
    assert a.erlang_c(1, 0.5, 1.0) == pytest.approx(0.5)
    assert a.mmc_mean_wait(1, 0.5, 1.0) == pytest.approx(1.0)
    # c = 2, a = 1: (1/2)/(1 - 1/2) over 1 + 1 + 1.
    assert a.erlang_c(2, 1.0, 1.0) == pytest.approx(1 / 3)
    assert a.mmc_mean_sojourn(2, 1.0, 1.0) == pytest.approx(1 / 3 + 1)
    assert a.erlang_c(3, 2.4, 1.0) == pytest.approx(0.6471910, abs=1e-7)  # tables
    assert a.erlang_c(200, 150.0, 1.0) < 1e-3  # many workers: no factorial overflow
    with pytest.raises(ValueError, match="utilisation"):
        a.erlang_c(2, 2.0, 1.0)


def test_mm1k_blocking() -> None:
    assert a.mm1k_blocking(0.5, 1.0, 1) == pytest.approx(1 / 3)  # rho/(1 + rho)
    assert a.mm1k_blocking(1.0, 1.0, 4) == pytest.approx(1 / 5)
    assert a.mm1k_blocking(2.0, 1.0, 2) == pytest.approx(4 * -1 / (1 - 8))
    with pytest.raises(ValueError, match="capacity"):
        a.mm1k_blocking(1.0, 1.0, 0)
