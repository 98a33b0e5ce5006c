"""Overload: the derived rates, the recovery criterion, the fixed point, the
retry-amplification theory rule, the metastable scenario's mitigations, and
the two pictures."""

from __future__ import annotations

import math
import re

import pytest

import alosim
from alosim import analytic, overload, theory
from alosim.scenario import ScenarioError
from tests.conftest import SCENARIOS, make

PAUSED = """
name: paused
seed: 1
duration: 40s
sender: {rate: 100/s, window: null}
receiver: {processing: {dist: exponential, mean: 1ms}}
faults: [{target: receiver-0, kind: pause, at: 10s, for: 2s}]
"""


def _series(created, unique, dups=None, step=1.0):
    n = len(created)
    return {"time_s": [i * step for i in range(n)], "messages": list(created),
            "processed_unique": list(unique), "duplicate_processing": list(dups or [0] * n),
            "busy_workers": [1] * n, "queue_length": [0] * n}


# -- derived rates ------------------------------------------------------------------


def test_rates_are_per_interval_differences_of_the_cumulative_series():
    series = _series([0, 10, 30, 40], [0, 10, 20, 40], [0, 0, 10, 10], step=2.0)
    series["busy_workers"] = [0, 1, 2, 1]
    got = overload.rates(series, workers=2)
    assert got["time_s"] == [2.0, 4.0, 6.0]
    assert got["offered_per_s"] == [5.0, 10.0, 5.0]
    assert got["goodput_per_s"] == [5.0, 5.0, 10.0]
    assert got["throughput_per_s"] == [5.0, 10.0, 10.0]
    assert got["duplicate_work_fraction"] == [0.0, 0.5, 0.0]
    assert got["utilisation"] == [0.5, 1.0, 0.5]


def test_an_interval_without_processing_has_no_duplicate_fraction():
    got = overload.rates(_series([0, 5], [0, 0]), workers=1)
    assert math.isnan(got["duplicate_work_fraction"][0])


# -- the recovery criterion ----------------------------------------------------------


def _cumulative(rates):
    out, total = [0], 0
    for r in rates:
        total += r
        out.append(total)
    return out


def test_recovery_starts_at_the_first_window_that_stays_healthy_for_the_hold():
    scenario = make(PAUSED)  # the pause ends at 12 s; 5 s windows, 10 s hold
    created = _cumulative([100] * 40)
    good = [100] * 10 + [0, 0] + [50] * 6 + [100] * 22  # healthy again from 18 s
    verdict = overload.recovery(scenario, _series(created, _cumulative(good)))
    assert (verdict.recovered, verdict.recovery_time_s) == (True, 6.0)
    assert "recovered 6 s after the pause ended at 12 s" in verdict.describe()


def test_a_run_that_never_gets_back_did_not_recover_and_a_short_one_is_undecided():
    scenario = make(PAUSED)
    created = _cumulative([100] * 40)
    stuck = _cumulative([100] * 10 + [30] * 30)
    verdict = overload.recovery(scenario, _series(created, stuck))
    assert verdict.recovered is False and verdict.recovery_time_s is None
    assert verdict.describe().startswith("recovery: did not recover within 28 s after the pause ended")
    short = make(PAUSED, duration="20s")  # arrivals end 8 s after the pause: less than the hold
    verdict = overload.recovery(short, _series(created[:21], stuck[:21]))
    assert verdict.undecided and verdict.recovered is None
    assert "undecided: the run's arrivals ended 8 s after the trigger" in verdict.describe()


def test_goodput_above_the_offered_load_by_more_than_the_tolerance_is_not_recovered_yet():
    scenario = make(PAUSED, **{"observe.recovery": {"tolerance": 0.05, "hold": "5s", "window": "1s"}})
    created = _cumulative([100] * 40)
    draining = _cumulative([100] * 10 + [0, 0] + [150] * 4 + [100] * 24)  # backlog cleared by 16 s
    verdict = overload.recovery(scenario, _series(created, draining))
    assert verdict.recovery_time_s == 4.0


def test_no_scheduled_slowdown_means_no_verdict_and_empty_summary_columns():
    result = alosim.simulate(make(PAUSED, faults=[], duration="5s"))
    assert result.summary["recovered"] is None and result.summary["recovery_time_s"] is None
    assert result.summary["duplicate_work_fraction"] == 0.0
    assert result.recovery().describe() == "recovery: no scheduled pause or slow-down to recover from"


def test_the_recovery_criterion_is_validated_by_the_schema():
    with pytest.raises(ScenarioError, match=r"observe\.recovery\.tolerance"):
        make(PAUSED, **{"observe.recovery.tolerance": 1.5})
    with pytest.raises(ScenarioError, match=r"observe\.recovery\.hold"):
        make(PAUSED, **{"observe.recovery.hold": "-1s"})


def test_adding_the_overload_columns_leaves_the_fingerprint_to_the_counted_data():
    a = alosim.simulate(make(PAUSED, duration="20s"))
    b = alosim.simulate(make(PAUSED, duration="20s", **{"observe.recovery": {"hold": "2s", "window": "1s"}}))
    assert a.fingerprint == b.fingerprint  # the criterion reads the run, it never changes it
    # 8 s after the pause are less than the default 10 s hold; a 2 s hold fits.
    assert (a.summary["recovered"], b.summary["recovered"]) == (None, True)


# -- the fixed point ------------------------------------------------------------------


@pytest.mark.parametrize("lam, mu, timeout", [(10, 100, 0.03), (5, 100, 0.02), (70, 100, 0.2)])
def test_the_amplified_rate_solves_its_fixed_point(lam, mu, timeout):
    amplified = analytic.retry_amplification(lam, mu, timeout)
    assert amplified is not None and lam < amplified < mu
    copies = 1 + sum(math.exp(-(mu - amplified) * k * timeout) for k in range(1, 10_000))
    assert amplified == pytest.approx(lam * copies, rel=1e-9)


def test_no_fixed_point_above_the_collapse_load_and_one_just_below():
    mu, timeout = 100.0, 0.04
    load = analytic.collapse_load(mu, timeout)
    assert 0 < load < 1
    assert analytic.retry_amplification(0.999 * load * mu, mu, timeout) is not None
    assert analytic.retry_amplification(1.001 * load * mu, mu, timeout) is None
    # Longer timeouts (in service times) leave more room: the collapse load rises towards 1.
    loads = [analytic.collapse_load(1.0, u) for u in (2, 5, 20, 50, 200)]
    assert loads == sorted(loads) and loads[-1] > 0.96


# -- the theory rule ------------------------------------------------------------------

AMPLIFIED = """
name: amplified
seed: 0
messages: 3000
sender: {rate: 15/s, window: null, retry: {policy: fixed, timeout: 32ms}}
network: {data: {latency: {dist: constant, value: 1ms}}, ack: {latency: {dist: constant, value: 1ms}}}
receiver: {processing: {dist: exponential, mean: 10ms}}
"""


def _rule(scenario):
    result = alosim.simulate(scenario)
    return dict(theory.applicability(scenario, result.summary, result.series))["retry amplification"]


def test_the_retry_amplification_rule_applies_and_agrees():
    verdict = _rule(make(AMPLIFIED))
    assert isinstance(verdict, theory.Comparison), verdict
    assert verdict.expected == pytest.approx(analytic.retry_amplification(15, 100, 0.030))
    assert verdict.expected / 15 > 1.05  # amplification is material here
    assert abs(verdict.z) < analytic.normal_quantile(0.995)


@pytest.mark.parametrize("overrides, reason", [
    ({"receiver.queue.lifo_above": 5}, "LIFO"),
    ({"sender.retry.jitter": "equal", "sender.retry.policy": "exponential"}, "fixed timeout"),
    ({"receiver.dedup.kind": "set"}, "dedup"),
    ({"sender.window": 8}, "window"),
    ({"network.data.latency": {"dist": "exponential", "mean": "1ms"}}, "not constant"),
    ({"receiver.workers": 2}, "several workers"),
])
def test_the_retry_amplification_rule_steps_aside_when_an_assumption_fails(overrides, reason):
    verdict = _rule(make(AMPLIFIED, messages=200, **overrides))
    assert isinstance(verdict, str) and reason in verdict


# -- the metastable scenario and its mitigations ------------------------------------


def test_serving_the_newest_first_recovers_from_the_storm_within_seconds():
    storm = alosim.load_scenario(SCENARIOS / "metastable-retry-storm.yaml")
    lifo = alosim.simulate(storm.with_overrides({"receiver.queue.lifo_above": 20})).summary
    assert lifo["recovered"] is True and lifo["recovery_time_s"] <= 5
    assert lifo["duplicate_work_fraction"] < 0.15
    calm = alosim.simulate(storm.with_overrides({"faults": []})).summary
    assert calm["recovered"] is None and calm["duplicate_processing"] == 0  # the load alone is safe
    assert calm["goodput_per_s"] == pytest.approx(calm["offered_per_s"], rel=0.02)


def test_alosim_run_prints_the_recovery_verdict(tmp_path):
    from click.testing import CliRunner

    from alosim.cli import cli

    path = tmp_path / "paused.yaml"
    path.write_text(PAUSED.replace("duration: 40s", "duration: 25s"), encoding="utf-8")
    out = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "r"), "--no-plot"])
    assert out.exit_code == 0, out.output
    # About 1,000 copies of 1 ms wait at the end of the pause: a second or two of work.
    found = re.search(r"recovery: recovered ([0-9.]+) s after the pause ended at 12 s", out.output)
    assert found and 0 <= float(found.group(1)) <= 5, out.output
    # An overload run leads with its answer: offered load, goodput, duplicate work, the verdict.
    lines = out.output.splitlines()
    assert lines[1].strip() == "goodput, duplicate work and recovery"
    assert [line.split()[0] for line in lines[2:4]] == ["offered", "goodput"]
    assert re.match(r"\s+goodput\s+[0-9.]+/s$", lines[3])
    assert any(line.strip().startswith("duplicate work (fraction)") for line in lines[4:8])
    assert next(i for i, line in enumerate(lines) if "recovery: recovered" in line) < 10


# -- pictures ------------------------------------------------------------------------


def test_the_overload_plot_draws_queue_goodput_offered_load_and_the_shaded_pause(tmp_path):
    from alosim.plots.overload import overload as draw

    scenario = make(PAUSED, duration="25s")
    result = alosim.simulate(scenario)
    fig = draw(result.series, scenario)
    top, bottom = fig.axes
    assert [line.get_label() for line in top.get_lines()] == ["queue length"]
    labels = [line.get_label() for line in bottom.get_lines()]
    assert labels[:3] == ["offered load (created/s)", "throughput (processed/s, duplicates too)",
                          "goodput (unique/s)"]
    assert labels[3].startswith("recovered")
    goodput = bottom.get_lines()[2].get_ydata()
    assert list(goodput) == overload.rates(result.series, 1)["goodput_per_s"]
    shaded = [p for p in top.patches]
    assert len(shaded) == 1 and shaded[0].get_label() == "pause 2 s"
    assert "(recovered)" in top.get_title()


def test_the_collapse_plot_has_a_line_per_policy_and_the_fixed_point_collapse_load():
    import pandas as pd

    from alosim.plots.overload import collapse

    rows = []
    for point, (policy, rate, goodput) in enumerate(
            [("fixed", 50, 50), ("fixed", 100, 40), ("exponential", 50, 50), ("exponential", 100, 35)]):
        rows.append({"point": point, "sender.rate": rate, "sender.retry.policy": policy,
                     "replication": 0, "error": "", "goodput_per_s": goodput})
    runs = pd.DataFrame(rows)
    scenario = make(AMPLIFIED)
    fig = collapse(runs, scenarios={0: scenario})
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "fixed" in labels and "exponential" in labels and "goodput = offered load" in labels
    expected = analytic.collapse_load(100, 0.030) * 100
    vertical = [line for line in ax.get_lines() if line.get_label().startswith("fixed-point collapse")]
    assert len(vertical) == 1 and vertical[0].get_xdata()[0] == pytest.approx(expected)


def test_alosim_plot_overload_writes_the_picture_of_a_stored_run(tmp_path):
    from click.testing import CliRunner

    from alosim.cli import cli

    path = tmp_path / "paused.yaml"
    path.write_text(PAUSED.replace("duration: 40s", "duration: 15s"), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["run", str(path), "--out", str(tmp_path / "r"), "--no-plot"]).exit_code == 0
    out = runner.invoke(cli, ["plot", str(tmp_path / "r" / "paused"), "--kind", "overload",
                              "--out", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "p" / "overload.png").stat().st_size > 0
    assert (tmp_path / "p" / "overload.svg").is_file()
    bad = runner.invoke(cli, ["plot", str(tmp_path), "--kind", "overload"])
    assert bad.exit_code == 2 and "needs one run's folder" in bad.output


# -- the verdict does not depend on the series budget ---------------------------------

# The storm with a breaker that oscillates: on seed 1 it never holds 5 % for 10 s, on
# seed 5 it does from 29 s after the pause. A series coarsened to 16 rows (windows
# of 4 s and more) called both "recovered" within 1-5 s.
BREAKER = "sender.circuit_breaker={failure_ratio: 0.5, window: 20, open_for: 1s}"


def test_the_recovery_verdict_and_time_are_the_same_whatever_budget_series_rows():
    storm = alosim.load_scenario(SCENARIOS / "metastable-retry-storm.yaml", [BREAKER])
    for seed, expected in ((1, (False, None)), (5, (True, 29.0))):
        fine = alosim.simulate(storm, seed)
        # The fine series is not coarsened: the criterion read off it is the reference.
        assert len(fine.series["time_s"]) < storm.budget.series_rows
        reference = overload.recovery(storm, fine.series)
        assert (reference.recovered, reference.recovery_time_s) == expected
        for rows in (16, 64):
            coarse = alosim.simulate(storm.with_overrides({"budget.series_rows": rows}), seed)
            assert len(coarse.series["time_s"]) <= rows
            got = (coarse.summary["recovered"], coarse.summary["recovery_time_s"])
            assert got == expected, (seed, rows)
            assert coarse.recovery() == fine.recovery() == reference
            for column in ("offered_per_s", "goodput_per_s", "throughput_per_s"):
                assert coarse.summary[column] == fine.summary[column]


def test_alosim_run_prints_the_same_recovery_line_whatever_budget_series_rows(tmp_path):
    from click.testing import CliRunner

    from alosim.cli import cli

    def verdict(*extra):
        out = CliRunner().invoke(cli, ["run", str(SCENARIOS / "metastable-retry-storm.yaml"), "--seed", "1",
                                       "--set", BREAKER, *extra, "--out", str(tmp_path), "--no-plot"])
        assert out.exit_code == 0, out.output
        return [line.strip() for line in out.output.splitlines() if line.strip().startswith("recovery:")]

    default = verdict()
    assert default[0].startswith("recovery: did not recover within 49 s after the pause ended at 11 s")
    assert verdict("--set", "budget.series_rows=16") == default


def test_a_verdict_read_off_a_coarsened_series_says_how_coarse_it_was():
    scenario = make(PAUSED)  # sampled every 1 s; the pause ends at 12 s
    created = _cumulative([100] * 40)
    good = _cumulative([100] * 10 + [0, 0] + [50] * 6 + [100] * 22)
    fine = overload.recovery(scenario, _series(created, good))
    assert not fine.coarse and "read off" not in fine.describe()
    coarse = overload.recovery(scenario, _series(created[::4], good[::4], step=4.0))
    assert coarse.coarse and coarse.step_s == 4.0
    assert coarse.describe().endswith("; read off a series sampled every 4 s, coarser than "
                                      "observe.sample_every = 1 s")


def test_the_online_detector_applies_the_criterion_of_the_stored_series_sample_by_sample():
    from alosim import budget

    scenario = make(PAUSED)
    created = _cumulative([100] * 40)
    for good in ([100] * 10 + [0, 0] + [50] * 6 + [100] * 22, [100] * 10 + [30] * 30):
        series = _series(created, _cumulative(good))
        detector = overload.RecoveryDetector.for_scenario(scenario)
        assert detector is not None
        for row in zip(series["time_s"], series["messages"], series["processed_unique"],
                       series["duplicate_processing"]):
            detector.observe(*row)
        assert detector.verdict() == overload.recovery(scenario, series)
        # It keeps the samples of one window, not the run's (what the memory budget counts),
        # and none once the verdict is decided.
        kept = len(detector._recent)
        assert kept == 0 if detector.verdict().recovered else 0 < kept <= budget.recovery_samples(scenario)


def test_the_overload_plot_of_a_stored_run_shows_the_verdict_the_run_measured(tmp_path):
    from alosim.plots.overload import stored_verdict, write_overload_plot
    from alosim.results import write_run

    storm = alosim.load_scenario(SCENARIOS / "metastable-retry-storm.yaml",
                                 [BREAKER, "budget.series_rows=16"])
    result = alosim.simulate(storm, 5)
    folder = write_run(result, tmp_path / "r", plot=False)
    series = result.series
    assert overload.recovery(storm, series).recovery_time_s != 29.0  # the coarse series alone
    verdict = stored_verdict(folder, storm, series)
    assert (verdict.recovered, verdict.recovery_time_s, verdict.coarse) == (True, 29.0, False)
    assert [p.name for p in write_overload_plot(folder, tmp_path / "p")] == ["overload.png", "overload.svg"]


def test_the_samples_the_recovery_criterion_keeps_count_against_the_memory_budget():
    from alosim import budget

    scenario = make(PAUSED)
    # One window of 5 s sampled every second (and the sample before it), at most.
    assert budget.recovery_samples(scenario) == 7
    assert budget.recovery_samples(make(PAUSED, faults=[])) == 0  # no verdict, nothing kept
    with pytest.raises(ScenarioError, match=r"observe\.recovery\.window: .*recovery criterion's last"):
        make(PAUSED, **{"observe.recovery.window": "1000000s", "observe.sample_every": "1ms"})
