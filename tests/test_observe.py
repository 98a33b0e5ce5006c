import math
import tracemalloc

import numpy as np
import pytest

import alosim
from alosim.guarantees import checks
from alosim.observe import LatencyHistogram
from tests.conftest import make


@pytest.mark.parametrize("q", [1, 50, 95, 99, 100])
def test_histogram_percentiles_within_bin_precision(q):
    values = np.random.default_rng(3).lognormal(-3, 1.2, 200_000)
    h = LatencyHistogram()
    for v in values.tolist():
        h.add(v)
    exact = float(np.percentile(values, q, method="inverted_cdf"))
    assert h.percentile(q) == pytest.approx(exact, rel=2.4e-3)
    assert h.total == len(values)
    assert h.mean == pytest.approx(values.mean(), rel=1e-12)
    assert h.max == values.max() and h.min == values.min()


def test_histogram_of_identical_values_is_exact_and_empty_is_nan():
    h = LatencyHistogram()
    for _ in range(10):
        h.add(0.02)
    assert h.percentile(50) == 0.02 and h.percentile(99) == 0.02
    assert math.isnan(LatencyHistogram().percentile(50))
    zero = LatencyHistogram()
    zero.add(0.0)
    assert zero.percentile(50) == 0.0


def test_checks_per_semantics():
    ok = {"duplicate_processing": 0, "acked_not_processed": 0, "lost": 0}
    assert checks("at-most-once", ok) == {"no_duplicate_processing": True}
    assert set(checks("exactly-once", ok)) == {"no_duplicate_processing", "acked_were_processed",
                                               "none_lost"}
    assert checks("at-least-once", {**ok, "lost": 3})["none_lost"] is False


def test_same_seed_same_result_and_fingerprint(small):
    a, b = alosim.simulate(small), alosim.simulate(small)
    assert a.summary == b.summary and a.series == b.series
    assert a.fingerprint == b.fingerprint
    c = alosim.simulate(small, seed=small.seed + 1)
    assert c.fingerprint != a.fingerprint


def test_series_is_sampled_at_the_interval_and_ends_at_the_end(small):
    r = alosim.simulate(small.with_overrides({"observe.sample_every": "100ms"}))
    t = r.series["time_s"]
    assert t[0] == 0 and t[-1] == r.summary["sim_time_s"]
    assert np.allclose(np.diff(t[:-1]), 0.1)
    assert r.series["messages"][-1] == r.summary["messages"]
    assert r.series["duplicate_deliveries"][-1] == r.summary["duplicate_deliveries"]
    assert all(np.diff(r.series["transmissions"]) >= 0)
    frame = r.series_frame()
    assert list(frame.columns)[:3] == ["time_s", "dedup_entries", "dedup_bytes"]


def test_dedup_bytes_are_entries_times_bytes_per_entry(small):
    r = alosim.simulate(small.with_overrides({"semantics": "exactly-once",
                                              "receiver.dedup.bytes_per_entry": 100}))
    s = r.summary
    assert s["dedup_entries_final"] == s["messages"]
    assert s["dedup_bytes_peak"] == 100 * s["dedup_entries_peak"]


def peak_bytes(scenario) -> int:
    tracemalloc.start()
    alosim.simulate(scenario)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_messages_without_a_store(small):
    # Without a dedup store, what is held is what is in flight: ten times the
    # messages may not need more than a little more memory (the series grows
    # with simulated time, a few rows per second).
    small = small.with_overrides({"observe.sample_every": "10s"})
    few = peak_bytes(small.with_overrides({"messages": 10_000}))
    many = peak_bytes(small.with_overrides({"messages": 60_000}))
    assert many < 1.25 * few, (few, many)


def test_adding_a_value_many_times_in_one_step_is_the_same_as_one_at_a_time():
    one_by_one, at_once = LatencyHistogram(), LatencyHistogram()
    for value in (0.003, 0.5, 0.0):
        for _ in range(7):
            one_by_one.add(value)
        at_once.add_repeated(value, 7)
    at_once.add_repeated(1.0, 0)  # nothing
    assert at_once.total == one_by_one.total == 21
    for q in (1, 50, 95, 100):
        assert at_once.percentile(q) == one_by_one.percentile(q)
    assert at_once.mean == pytest.approx(one_by_one.mean, rel=1e-15)
    assert (at_once.min, at_once.max) == (one_by_one.min, one_by_one.max) == (0.0, 0.5)


def test_a_closed_loop_never_waits_in_its_outbox(small):
    s = alosim.simulate(small).summary
    assert s["outbox_wait_max_s"] == s["outbox_wait_mean_s"] == s["outbox_wait_p99_s"] == 0.0
