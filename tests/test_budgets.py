"""Budgets: what a scenario would cost is refused at validation where it can be
known, and bounded while running where it cannot. The expensive cases run
under small budgets, so every test here is quick."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import alosim
from alosim.budget import CHECK_EVERY, Sampling, memory_estimate
from alosim.scenario import ScenarioError, parse_scenario
from alosim.sweep import MAX_POINTS, MAX_RUNS, expand
from alosim.units import parse_size
from tests.conftest import ROOT, SCENARIOS, make

BASE = """
name: b
messages: 200
sender: {window: 8, retry: {timeout: 100ms}}
network:
  data: {latency: {dist: constant, value: 5ms}}
  ack: {latency: {dist: constant, value: 5ms}}
"""

NO_END = ("set sender.retry.max_attempts, sender.retry.delivery_timeout or max_time so that the run "
          "can end")


def refused(**overrides: object) -> str:
    with pytest.raises(ScenarioError) as info:
        make(BASE, **overrides)
    return str(info.value)


# -- static: runs that could never settle ------------------------------------------------


@pytest.mark.parametrize("direction", ["data", "ack"])
def test_certain_loss_with_unlimited_retries_is_refused(direction):
    assert refused(**{f"network.{direction}.loss": 1}) == (
        f"<test>: network.{direction}.loss: every {direction} packet is lost and retries are "
        f"unlimited: no message would ever settle; {NO_END}")


@pytest.mark.parametrize("limit", [{"sender.retry.max_attempts": 5},
                                   {"sender.retry.delivery_timeout": "2s"},
                                   {"max_time": "10s"}])
def test_certain_loss_is_fine_when_something_ends_the_run(limit):
    result = alosim.simulate(make(BASE, **{"network.ack.loss": 1, **limit}))
    assert result.summary["acked"] == 0


def test_a_gilbert_elliott_link_that_never_recovers_is_refused():
    always = {"model": "gilbert-elliott", "p": 0.1, "r": 0.5, "loss_good": 1, "loss_bad": 1}
    assert "every data packet is lost" in refused(**{"network.data.loss": always})
    slow = {"model": "gilbert-elliott", "p": 0.1, "r": 1e-9}
    assert refused(**{"network.data.loss": slow}) == (
        "<test>: network.data.loss.r: r = 1e-09: a loss burst lasts 1e+09 packets on average "
        f"(at most 1e+07 with unlimited retries); raise r or {NO_END}")
    make(BASE, **{"network.data.loss": {**slow, "r": 1e-3}})  # bursts of 1,000 packets are fine


def test_a_partition_of_forever_is_refused():
    assert refused(**{"network.partitions": [{"at": 1, "for": 1e300}]}) == (
        "<test>: network.partitions.0.for: 1e+300 s is longer than alosim simulates "
        "(1e+09 s, about 31.7 years)")
    assert refused(**{"network.partitions": [{"at": 1, "for": "1000d"}]}) == (
        "<test>: network.partitions.0.for: an outage of 8.64e+07 s with a retry every 0.1 s makes "
        "each message in flight retransmit about 8.64e+08 times (at most 1e+06 with unlimited "
        f"retries); shorten it, set sender.retry.max_timeout, or {NO_END}")
    # Backoff capped at ten minutes makes the same partition cheap.
    make(BASE, **{"network.partitions": [{"at": 1, "for": "1000d"}],
                  "sender.retry": {"policy": "exponential", "timeout": 0.1, "max_timeout": 600}})


def test_a_receiver_that_is_almost_never_up_is_refused():
    assert refused(**{"faults": [{"target": "receivers", "mtbf": 0.001, "mttr": 100}]}) == (
        "<test>: faults.0.mtbf: receivers would be up 1e-05 of the time (mtbf 0.001 s, mttr 100 s; "
        f"at least 0.0001 with unlimited retries); {NO_END}")
    assert "shorter than alosim simulates" in refused(
        **{"faults": [{"target": "receivers", "mtbf": 1e-9, "mttr": 1}]})


# -- static: time scales ------------------------------------------------------------------


@pytest.mark.parametrize(("path", "value", "message"), [
    ("sender.retry.timeout", 1e-300, "sender.retry.timeout: 1e-300 s is shorter than alosim simulates "
     "(at least 1 us): each second would cost more than a million events"),
    ("observe.sample_every", 1e-9, "observe.sample_every: 1e-09 s is shorter than alosim simulates"),
    ("network.data.latency", {"dist": "constant", "value": 1e12},
     "network.data.latency: a mean of 1e+12 s is longer than alosim simulates (1e+09 s, about 31.7 years)"),
    ("receiver.processing", {"dist": "exponential", "mean": "100000000d"},
     "receiver.processing: a mean of 8.64e+12 s is longer than alosim simulates"),
    ("max_time", 1e300, "max_time: 1e+300 s is longer than alosim simulates"),
])
def test_absurd_time_scales_are_refused(path, value, message):
    assert message in refused(**{path: value})


def test_a_rate_of_one_message_per_eon_is_refused():
    assert refused(**{"sender.rate": 1e-300}) == (
        "<test>: sender.rate: 1e-300/s sends less than one message in 1e+09 s (about 31.7 years)")


def test_a_duration_that_sends_too_many_messages_is_refused():
    assert refused(**{"messages": None, "duration": "1000d", "sender.rate": "1/us"}) == (
        "<test>: duration: sends about 8.64e+13 messages (duration x sender.rate x sender.count); "
        "at most 1e+10")


# -- static: memory -------------------------------------------------------------------------


def test_a_bloom_filter_beyond_the_memory_budget_is_refused_with_its_size():
    huge = {"kind": "bloom", "capacity": 10**9, "fp_rate": 1e-300}
    assert refused(**{"semantics": "exactly-once", "receiver.dedup": huge}) == (
        "<test>: receiver.dedup: the scenario would allocate about 167 GiB (1 Bloom filter of "
        "167 GiB (1,000,000,000 ids at fp_rate 1e-300): 167 GiB; 8 messages in flight: 7.81 KiB), "
        "more than budget.memory = 2 GiB; shrink it or raise budget.memory")
    fifty = {"semantics": "exactly-once", "receiver.count": 50,
             "receiver.dedup": {"kind": "bloom", "capacity": 10**9, "fp_rate": 1e-9}}
    assert "50 Bloom filters of 5.02 GiB" in refused(**fifty)
    # Raising the budget accepts it (it is not run here).
    make(BASE, **fifty, **{"budget.memory": "300GiB"})


def test_a_set_store_for_ten_billion_messages_is_refused():
    message = refused(**{"semantics": "exactly-once", "messages": 10**10})
    assert "a set store of up to 10,000,000,000 ids: 931 GiB" in message


def test_a_window_of_a_billion_messages_is_refused():
    message = refused(**{"messages": 10**9, "sender.window": 10**9})
    assert message.startswith("<test>: sender.window: the scenario would allocate about 931 GiB")


def test_without_a_window_every_message_may_be_in_flight():
    make(BASE, **{"sender.window": None, "sender.rate": "100/s"})
    message = refused(**{"sender.window": None, "sender.rate": "100/s", "messages": 10**7})
    assert message.startswith("<test>: sender.window: the scenario would allocate about 9.31 GiB "
                              "(no window: up to 10,000,000 messages in flight: 9.31 GiB)")


def test_a_large_trace_counts_against_the_budget():
    make(BASE, **{"observe.trace_messages": 1000})
    message = refused(**{"messages": 10**6, "observe.trace_messages": 10**6, "budget.memory": "1GiB"})
    assert "the trace of 1,000,000 messages: 1.86 GiB" in message


def test_the_estimate_of_a_shipped_scenario_is_modest():
    scenario = alosim.load_scenario(SCENARIOS / "bloom-filter-dedup.yaml")
    parts = {path: size for path, _, size in memory_estimate(scenario)}
    assert 0 < parts["receiver.dedup"] < 1 << 20


def test_sizes_take_units():
    assert parse_size("2GiB") == 2 << 30 and parse_size("500MB") == 500 * 10**6
    assert parse_size(1048576) == 1 << 20 and parse_size("1.5 KiB") == 1536
    for bad in ("2 gigs", True, "GiB", float("inf")):
        with pytest.raises(ValueError):
            parse_size(bad)


# -- runtime: the stall budget ----------------------------------------------------------------

# Nearly every ack is lost: valid (acks do get through, eventually), but each
# message needs about ten million attempts.
STALLING = {"network.ack.loss": 0.9999999, "budget.stall_events": 20_000}


def test_a_run_that_stops_making_progress_ends_with_its_messages_unsettled():
    started = time.perf_counter()
    result = alosim.simulate(make(BASE, **STALLING))
    assert time.perf_counter() - started < 5
    s = result.summary
    assert s["stopped_by"] == "stall"
    assert s["unsettled"] == 8  # the window: every message in flight is still retrying
    assert s["acked"] == 0 and s["lost"] == 0
    # Stopped within one check interval past the budget, which counts the events
    # and the retransmissions (one timer's wake-up may retransmit many messages).
    work = s["events"] + s["retransmissions"]
    assert 20_000 <= work <= 20_000 + 4 * CHECK_EVERY + 1000
    assert s["stall_cause"] == "retransmissions" and 0 < s["stall_cause_count"] <= s["retransmissions"]
    again = alosim.simulate(make(BASE, **STALLING))
    assert again.fingerprint == result.fingerprint


def test_an_outbox_that_outgrows_the_memory_budget_stops_the_run():
    # Messages arrive faster than a stuck window drains: the outbox would grow
    # to two million messages. The budget of 1 MiB holds about a thousand.
    result = alosim.simulate(make(BASE, **{"network.ack.loss": 0.9999999, "messages": 2_000_000,
                                           "sender.rate": "100000/s", "budget.memory": "1MiB"}))
    s = result.summary
    assert s["stopped_by"] == "memory"
    assert 1048 < s["unsettled"] <= 1048 + CHECK_EVERY  # checked every CHECK_EVERY events
    assert s["messages"] == s["unsettled"] < 10_000


def test_the_stall_budget_does_not_change_a_run_that_settles():
    low = alosim.simulate(make(BASE, **{"network.ack.loss": 0.2, "budget.stall_events": 1000}))
    high = alosim.simulate(make(BASE, **{"network.ack.loss": 0.2, "budget.stall_events": 10**12}))
    assert low.summary["stopped_by"] == high.summary["stopped_by"] == "settled"
    assert low.summary["unsettled"] == 0
    assert low.fingerprint == high.fingerprint


def test_stopped_by_max_time():
    result = alosim.simulate(make(BASE, **{"network.ack.loss": 1, "max_time": "3s"}))
    assert result.summary["stopped_by"] == "max_time" and result.summary["sim_time_s"] == 3.0


def test_alosim_run_says_why_it_stopped(tmp_path):
    args = [f"--set=network.ack.loss={STALLING['network.ack.loss']}", "--set=budget.stall_events=20000",
            "--set=messages=100"]
    p = subprocess.run([sys.executable, "-m", "alosim", "run", str(SCENARIOS / "ack-lost.yaml"),
                        "--out", str(tmp_path), "--no-plot", *args], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    # All 100: 32 in flight (the window), the rest waiting in the outbox.
    lines = [line for line in p.stdout.splitlines() if line.startswith("stopped: ")]
    assert len(lines) == 1
    assert lines[0].startswith("stopped: the run did budget.stall_events = 20,000 units of work more "
                               "than its progress paid for; 100 messages left unsettled. Meanwhile: ")
    assert lines[0].endswith(f" retransmissions by the senders. Retries that cannot succeed never "
                             f"end: {NO_END}, or raise budget.stall_events")


# -- runtime: the series budget ---------------------------------------------------------------


@pytest.mark.parametrize("max_rows", [8, 9])
def test_sampling_drops_every_other_row_and_doubles_the_interval(max_rows):
    sampling = Sampling(1.0, max_rows=max_rows)
    series = {"time_s": [], "x": []}
    t = 0.0
    while t <= 100:
        series["time_s"].append(t)
        series["x"].append(t * 10)
        t += sampling.fit(series)
    assert len(series["time_s"]) <= 8
    times = series["time_s"]
    assert times[0] == 0 and all(b - a == sampling.every for a, b in zip(times, times[1:]))
    assert series["x"] == [v * 10 for v in times]
    assert sampling.every == 16.0


def test_a_long_run_keeps_a_bounded_series_at_a_bounded_cost():
    # One message whose packet takes 30 years: a sample per simulated second
    # would be 10^9 rows; the series budget keeps 100.
    started = time.perf_counter()
    result = alosim.simulate(make(BASE, **{"messages": 1, "budget.series_rows": 100,
                                           "sender.retry.max_attempts": 1,
                                           "network.data.latency": {"dist": "constant", "value": 9e8}}))
    assert time.perf_counter() - started < 5
    times = result.series["time_s"]
    assert len(times) <= 100
    assert times[-1] == result.summary["sim_time_s"] == pytest.approx(9e8 + 0.005)
    assert result.summary["processed"] == 1 and result.summary["stopped_by"] == "settled"


def test_a_round_trip_far_longer_than_the_timeout_is_refused():
    assert refused(**{"network.data.latency": {"dist": "constant", "value": 9e8}}) == (
        "<test>: sender.retry.timeout: a round trip takes 9e+08 s on average and a retry comes every "
        "0.1 s: each message would be retransmitted about 9e+09 times before its first ack (at most "
        f"1e+06 with unlimited retries); raise the timeout, use policy exponential, or {NO_END}")


def test_a_short_run_is_not_coarsened():
    result = alosim.simulate(make(BASE, **{"observe.sample_every": "10ms"}))
    times = result.series["time_s"]
    assert len(times) < 10_000 and times[1] - times[0] == pytest.approx(0.01)


# -- sweeps ---------------------------------------------------------------------------------------


def test_a_grid_of_a_million_points_is_refused_before_expansion():
    values = list(range(1, 1001))
    scenario = parse_scenario(
        f"name: g\nmessages: 10\nsweep: {{grid: {{sender.window: {values}, sender.count: {values}}}}}\n",
        source="g.yaml")
    started = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        expand(scenario)
    assert time.perf_counter() - started < 1
    assert str(info.value) == (f"g.yaml: sweep: expands to 1,000,000 points (1,000 x 1,000); at most "
                               f"{MAX_POINTS:,} are allowed: vary fewer values at once")


def test_too_many_runs_are_refused_with_the_count():
    scenario = parse_scenario("name: g\nmessages: 10\nsweep: {grid: {sender.window: [1, 2, 3]}, "
                              "replications: 50000}\n", source="g.yaml")
    with pytest.raises(ScenarioError) as info:
        expand(scenario)
    assert str(info.value) == (f"g.yaml: sweep: expands to 150,000 runs (3 points x 50,000 "
                               f"replications); at most {MAX_RUNS:,} are allowed")


def test_every_sweep_point_is_checked_for_cost():
    scenario = parse_scenario("name: g\nmessages: 10\nsweep: {grid: {network.ack.loss: [0.5, 1]}}\n",
                              source="g.yaml")
    with pytest.raises(ScenarioError) as info:
        expand(scenario)
    assert "network.ack.loss: every ack packet is lost" in str(info.value)
    assert "(in sweep point 1: network.ack.loss=1)" in str(info.value)


def test_a_grid_at_the_limit_expands_in_seconds_and_little_memory():
    # Each point once copied the whole grid: 10,000 points took 48 s.
    import resource

    values = list(range(1, MAX_POINTS + 1))
    scenario = parse_scenario(f"name: g\nmessages: 10\nsweep: {{grid: {{sender.window: {values}}}}}\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    plan = expand(scenario)
    assert time.perf_counter() - started < 20
    assert len(plan.points) == MAX_POINTS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000  # kB
    assert "sweep" not in plan.points[0].scenario._source
