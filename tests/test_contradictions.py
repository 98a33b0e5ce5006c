"""Inputs that contradict themselves are refused, and misuse of the Python API is
named: one clear error, never a traceback from alosim's insides."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import alosim
from alosim.figures import LOG, QUEUE, SINGLE_HOP, summary_columns
from alosim.plots.overload import overload
from alosim.results import write_run
from alosim.scenario import ScenarioError
from tests.conftest import ROOT, make

BASE = "name: x\nmessages: 10\n"


def problems(text: str) -> dict[str, str]:
    with pytest.raises(ScenarioError) as caught:
        make(text)
    return dict(caught.value.problems)


# -- a receiver's queue ------------------------------------------------------------------


@pytest.mark.parametrize("when_full", ["reject", "drop-oldest"])
def test_a_full_queue_policy_needs_a_capacity(when_full):
    found = problems(BASE + f"receiver: {{queue: {{when_full: {when_full}}}}}\n")
    assert found == {"receiver.queue": f"when_full: {when_full} applies to a bounded queue: set capacity "
                                       "(an unbounded queue is never full)"}
    make(BASE + f"receiver: {{queue: {{when_full: {when_full}, capacity: 5}}}}\n")  # bounded: fine


@pytest.mark.parametrize("lifo_above", [5, 9])
def test_newest_first_above_the_capacity_is_refused(lifo_above):
    found = problems(BASE + f"receiver: {{queue: {{capacity: 5, lifo_above: {lifo_above}}}}}\n")
    assert found["receiver.queue"].startswith(f"lifo_above ({lifo_above}) must be below capacity (5)")
    make(BASE + "receiver: {queue: {capacity: 5, lifo_above: 4}}\n")
    make(BASE + "receiver: {queue: {lifo_above: 400}}\n")  # unbounded: any threshold can be passed


# -- expect --------------------------------------------------------------------------------


def test_expect_naming_an_unknown_column_is_refused_with_a_suggestion():
    found = problems(BASE + "expect: {duplicate_procesing: 0}\n")
    assert found == {"expect.duplicate_procesing": "a single-hop run reports no such summary column; "
                                                   "did you mean 'duplicate_processing'?"}


def test_expect_naming_a_column_of_another_shape_is_refused():
    found = problems(BASE + "expect: {log_rebalances: 0}\n")
    assert "expect.log_rebalances" in found and "single-hop run" in found["expect.log_rebalances"]
    log = BASE + "broker: {kind: log}\nexpect: {log_rebalances: 0, lost_per_message: 0}\n"
    assert make(log).expect is not None  # a log reports it; a derived ratio is known everywhere


def test_expect_may_name_an_optional_column_its_shape_writes():
    # nacks_in_flight (a queue that rejects) and a lease extension's counters are written by
    # these runs; the expect block could not name them before the registry knew their shapes.
    rejecting = BASE + "receiver: {queue: {capacity: 5, when_full: reject}}\nexpect: {nacks_in_flight: 0}\n"
    assert make(rejecting).expect is not None
    extending = (BASE + "broker: {visibility_timeout: 50ms}\nconsumer: {lease_extension: {every: 15ms, max: 120ms}}\n"
                 "expect: {lease_extensions_sent: {min: 0}}\n")
    scenario = make(extending)
    assert "lease_extensions_sent" in alosim.simulate(scenario).summary


def test_expect_naming_a_check_its_shape_never_writes_is_refused():
    # Only a log's summary has out_of_order_key, so only a log's run is checked for key order.
    found = problems(BASE + "expect: {check_key_order: true}\n")
    assert "single-hop run reports no such summary column" in found["expect.check_key_order"]
    assert make(BASE + "broker: {kind: log}\nexpect: {check_key_order: true}\n").expect is not None


# Runs of each shape with every optional column on: exactly-once (every check), the
# sender's and receiver's mitigations, a bounded queue, a transactional log.
SHAPES = {
    "single-hop": BASE + "semantics: exactly-once\nsender: {retry: {delivery_timeout: 10s}, "
    "retry_budget: {ratio: 0.1, burst: 10}, circuit_breaker: {failure_ratio: 0.5, window: 10, "
    "open_for: 1s}}\nreceiver: {dedup_on_arrival: true, discard_expired: true, queue: {capacity: 10}}\n",
    "queue pipeline": BASE + "semantics: exactly-once\nbroker: {max_length: 10}\n",
    "log pipeline": BASE + "semantics: exactly-once\nbroker: {kind: log}\n"
    "consumer: {commit: {policy: transactional}}\n",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_column_a_run_reports_is_known_before_it_runs(shape):
    reported = set(alosim.simulate(make(SHAPES[shape])).summary)
    registry_shape = {"single-hop": SINGLE_HOP, "queue pipeline": QUEUE, "log pipeline": LOG}[shape]
    unknown = reported - summary_columns(registry_shape)
    assert unknown == set(), f"give these figures the shape {registry_shape} (alosim.figures): {sorted(unknown)}"


def test_expect_with_min_above_max_is_refused():
    found = problems(BASE + "expect: {lost: {min: 5, max: 1}}\n")
    assert found == {"expect.lost": "min (5) is above max (1): no value meets both"}


# -- the overload picture -----------------------------------------------------------------


def test_the_overload_plot_of_a_pipeline_is_refused_in_one_line(tmp_path):
    scenario = make(BASE + "broker: {}\nconsumer: {processing: {dist: constant, value: 1ms}}\n")
    result = alosim.simulate(scenario)
    folder = write_run(result, tmp_path, plot=False)
    p = subprocess.run([sys.executable, "-m", "alosim", "plot", str(folder), "--kind", "overload",
                        "--out", str(tmp_path / "plots")], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    (line,) = p.stderr.splitlines()
    assert line.startswith(f"alosim: error: {folder}: the overload plot pictures a single hop's receiver")
    assert "x is a queue pipeline" in line
    assert not (tmp_path / "plots").exists()
    with pytest.raises(ValueError, match="is a queue pipeline"):
        overload(result.series, scenario)


# -- memory ------------------------------------------------------------------------------


ADDRESS_SPACE = 2 << 30


def _little_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def test_a_raised_memory_budget_the_machine_cannot_give_is_one_line(tmp_path):
    # A Bloom filter of 3.6 GB, allowed by a raised budget, in a process that may use 2 GiB.
    path = tmp_path / "bloom.yaml"
    path.write_text("name: bloom\nsemantics: exactly-once\nmessages: 10\n"
                    "receiver: {dedup: {kind: bloom, capacity: 1000000000, fp_rate: 0.000001}}\n"
                    "budget: {memory: 16GiB}\n")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "alosim", "run", str(path), "--out", str(out), "--no-plot"],
                       capture_output=True, text=True, timeout=120, preexec_fn=_little_memory,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    (line,) = p.stderr.splitlines()
    assert line.startswith(f"alosim: error: {path}: budget.memory: the run could not allocate the memory")
    assert [q for q in out.rglob("*") if q.is_file()] == []  # nothing written


# -- the Python API ----------------------------------------------------------------------


def _calls(scenario: alosim.Scenario) -> list[tuple[str, object]]:
    return [
        ("simulate(): scenario must be a Scenario", lambda: alosim.simulate(None)),
        ("simulate(): scenario must be a Scenario", lambda: alosim.simulate({"name": "x"})),
        ("simulate(): seed must be a whole number or None, got str", lambda: alosim.simulate(scenario, "3")),
        ("simulate(): seed must be a whole number or None, got bool",
         lambda: alosim.simulate(scenario, True)),
        ("load_scenario(): path must be a file or folder name", lambda: alosim.load_scenario(None)),
        ("load_scenario(): overrides must be a list", lambda: alosim.load_scenario("x.yaml", "a=1")),
        ("parse_scenario(): text must be the YAML text", lambda: alosim.parse_scenario(None)),
        ("parse_scenario(): each override must be", lambda: alosim.parse_scenario(BASE, overrides=[1])),
        ("run_sweep(): plan must be a Scenario", lambda: alosim.run_sweep(None)),
        ("load_results(): path must be a file or folder name", lambda: alosim.load_results(None)),
        ("aggregate(): runs must be a run table", lambda: alosim.aggregate(None)),
        ("aggregate(): runs must be a run table", lambda: alosim.aggregate({"point": [0]})),
        ("with_overrides(): values must be a mapping", lambda: scenario.with_overrides(None)),
        ("interact(): ranges must be a mapping", lambda: alosim.interact(scenario, None)),
    ]


@pytest.mark.parametrize("index", range(len(_calls(make(BASE)))))
def test_public_functions_name_what_they_expected(index):
    message, call = _calls(make(BASE))[index]
    with pytest.raises(TypeError) as caught:
        call()  # type: ignore[operator]
    assert str(caught.value).startswith(message)


def test_aggregate_still_takes_a_run_table():
    runs = pd.DataFrame({"point": [0, 0], "replication": [0, 1], "seed": [1, 2], "lost": [1.0, 3.0],
                         "error": ["", ""]})
    assert alosim.aggregate(runs)["lost_mean"].tolist() == [2.0]


def test_a_path_object_is_a_file_name(tmp_path):
    path = Path(tmp_path / "s.yaml")
    path.write_text(BASE)
    assert alosim.load_scenario(path).messages == 10
