"""Sweeps: expansion and validation, common random numbers, executors, failures, resuming."""

from __future__ import annotations

import filecmp
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import alosim
from alosim.executors import (
    AutoExecutor,
    DaskExecutor,
    ExecutorError,
    ProcessExecutor,
    SerialExecutor,
    default_jobs,
    make_executor,
)
from alosim.scenario import ScenarioError
from alosim.store import RUNS_DIR, load_results
from alosim.sweep import RunTask, SweepInterrupted, expand, latency_sample, run_sweep, run_task
from tests.conftest import ROOT, make

# 3 semantics x 2 ack losses x 2 replications = 12 short runs.
SWEEP = """
name: tiny-sweep
seed: 11
messages: 300
sender: {window: 16, retry: {timeout: 200ms}}
network:
  data: {loss: 0.05, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.1, latency: {dist: exponential, mean: 10ms}}
observe: {sample_every: 100ms, trace_messages: 50}
sweep:
  grid:
    semantics: [at-most-once, at-least-once, exactly-once]
    network.ack.loss: [0.0, 0.3]
  replications: 2
"""

TABLES = ("runs.parquet", "runs.csv", "series.parquet", "latency.parquet")


def tiny(**overrides: object) -> alosim.Scenario:
    return make(SWEEP, **overrides)


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sweep run once in this process: the reference for every other way of running it."""
    out = tmp_path_factory.mktemp("serial")
    return run_sweep(tiny(), out=out).folder


def same_tables(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(load_results(a), load_results(b))
    for name in TABLES:
        assert filecmp.cmp(a / name, b / name, shallow=False), name


# -- expansion -------------------------------------------------------------------------


def test_grid_is_a_cartesian_product_crossed_with_the_zipped_lists():
    scenario = tiny().with_overrides({"sweep": {
        "grid": {"semantics": ["at-least-once", "exactly-once"], "network.ack.loss": [0.1, 0.2, 0.3]},
        "zip": {"sender.retry.timeout": ["100ms", "1s"], "sender.window": [4, 8]},
    }})
    plan = expand(scenario)
    assert plan.parameters == ("semantics", "network.ack.loss", "sender.retry.timeout", "sender.window")
    assert len(plan.points) == 2 * 3 * 2 and [p.index for p in plan.points] == list(range(12))
    # The first grid key varies slowest, the zipped tuple fastest.
    assert plan.points[0].written == (("semantics", "at-least-once"), ("network.ack.loss", 0.1),
                                      ("sender.retry.timeout", "100ms"), ("sender.window", 4))
    assert plan.points[1].written[2:] == (("sender.retry.timeout", "1s"), ("sender.window", 8))
    assert plan.points[2].written[:2] == (("semantics", "at-least-once"), ("network.ack.loss", 0.2))
    assert plan.points[6].written[0] == ("semantics", "exactly-once")
    # Values are resolved (units) and each point is a scenario of its own.
    assert dict(plan.points[0].values)["sender.retry.timeout"] == 0.1
    assert plan.points[1].scenario.sender.retry.timeout == 1.0
    assert plan.points[7].scenario.network.ack.loss == 0.1


def test_each_point_resolves_its_semantics_preset_afresh():
    plan = expand(tiny())
    by_semantics = {p.scenario.semantics: p.scenario for p in plan.points}
    assert by_semantics["at-most-once"].sender.retry.max_attempts == 1
    assert by_semantics["at-least-once"].sender.retry.max_attempts is None
    assert by_semantics["exactly-once"].receiver.dedup.kind == "set"
    assert all(p.scenario.sweep is None for p in plan.points)


def test_replication_r_uses_the_same_seed_at_every_point():
    plan = expand(tiny())
    tasks = plan.tasks()
    assert len(tasks) == plan.runs == 12
    for r in range(2):
        assert {t.seed for t in tasks if t.replication == r} == {11 + r}


def test_common_random_numbers_pair_the_points(serial_sweep):
    runs = load_results(serial_sweep)
    # At-most-once never retries: whatever the ack loss, replication r sees the
    # same data-path losses, so its losses are identical at both ack losses.
    amo = runs[runs["semantics"] == "at-most-once"].set_index(["network.ack.loss", "replication"])["lost"]
    assert amo.loc[0.0].tolist() == amo.loc[0.3].tolist()
    # At-least-once and exactly-once differ only in the store: same traffic, same deliveries.
    alo = runs[runs["semantics"] == "at-least-once"]["deliveries"].tolist()
    eo = runs[runs["semantics"] == "exactly-once"]["deliveries"].tolist()
    assert alo == eo


BAD_SWEEPS = {
    "unknown path": ({"grid": {"network.ack.los": [0.1]}}, "network.ack.los", "did you mean 'loss'"),
    "bad value": ({"grid": {"network.ack.loss": [0.1, 1.5]}}, "network.ack.loss",
                  "sweep point 1: network.ack.loss=1.5"),
    "contradiction": ({"grid": {"semantics": ["at-most-once"], "sender.retry.max_attempts": [3]}}, "",
                      "at-most-once"),
    "zip lengths": ({"zip": {"network.ack.loss": [0.1, 0.2], "sender.window": [4]}}, "sweep.zip",
                    "network.ack.loss has 2, sender.window has 1"),
    "seed": ({"grid": {"seed": [1, 2]}}, "sweep.grid.seed", "replications choose the seeds"),
    "overlap": ({"grid": {"network.ack": [{"loss": 0.1}]}, "zip": {"network.ack.loss": [0.2]}},
                "sweep.zip.network.ack.loss", "overlaps 'network.ack'"),
    "empty list": ({"grid": {"network.ack.loss": []}}, "sweep.grid.network.ack.loss", "non-empty list"),
    "not a mapping": ({"grid": {"messages.count": [1]}}, "messages.count", "messages is not a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_SWEEPS))
def test_a_bad_sweep_fails_naming_the_path_before_anything_runs(tmp_path, case):
    sweep, path, message = BAD_SWEEPS[case]
    scenario = tiny().with_overrides({"sweep": sweep})
    with pytest.raises(ScenarioError) as info:
        run_sweep(scenario, out=tmp_path / "out")
    text = str(info.value)
    assert text.startswith("<test>: ")
    assert path in text and message in text
    assert not (tmp_path / "out").exists()


def test_a_scenario_without_a_sweep_section_is_refused():
    with pytest.raises(ScenarioError, match="no sweep section"):
        expand(make(SWEEP).with_overrides({}, drop_sweep=True))


def test_the_folder_hash_ignores_the_file_path_and_description_but_not_the_values(tmp_path):
    a = tmp_path / "a.yaml"
    b = tmp_path / "sub" / "b.yaml"
    b.parent.mkdir()
    a.write_text(SWEEP)
    b.write_text(SWEEP.replace("name: tiny-sweep", "name: tiny-sweep\ndescription: another text"))
    assert expand(alosim.load_scenario(a)).digest == expand(alosim.load_scenario(b)).digest
    more = alosim.load_scenario(a, ["sweep.replications=5"])
    assert expand(more).digest == expand(alosim.load_scenario(a)).digest  # replications extend a sweep
    other = alosim.load_scenario(a, ["messages=301"])
    assert expand(other).digest != expand(alosim.load_scenario(a)).digest


# -- running -----------------------------------------------------------------------------


def test_the_run_table_has_one_row_per_point_and_replication(serial_sweep):
    runs = load_results(serial_sweep)
    assert list(runs.columns[:5]) == ["point", "semantics", "network.ack.loss", "replication", "seed"]
    assert list(zip(runs["point"], runs["replication"])) == [(p, r) for p in range(6) for r in range(2)]
    assert (runs["error"] == "").all()
    assert "wall_time_s" not in runs
    assert (runs["messages"] == 300).all()
    at_least_once = runs[(runs["semantics"] == "at-least-once") & (runs["network.ack.loss"] == 0.3)]
    assert (at_least_once["duplicate_processing"] > 0).all()
    expected = at_least_once["duplicate_processing"] / at_least_once["messages"]
    assert at_least_once["duplicate_processing_per_message"].tolist() == expected.tolist()


def test_process_pool_and_dask_give_the_serial_tables(serial_sweep, tmp_path):
    with ProcessExecutor(2) as pool:
        local = run_sweep(tiny(), out=tmp_path / "local", executor=pool)
    same_tables(serial_sweep, local.folder)
    with DaskExecutor(2) as dask:  # starts a LocalCluster of two worker processes
        assert dask.workers == 2
        on_dask = run_sweep(tiny(), out=tmp_path / "dask", executor=dask)
        # A second client given the scheduler's address, as with --scheduler.
        with make_executor("dask", scheduler=dask._cluster.scheduler_address) as remote:
            assert remote.workers == 2
            on_address = run_sweep(tiny(), out=tmp_path / "address", executor=remote)
    same_tables(serial_sweep, on_dask.folder)
    same_tables(serial_sweep, on_address.folder)


def test_the_auto_executor_stays_serial_where_a_pool_would_not_pay(serial_sweep, tmp_path):
    # 12 runs of a few milliseconds: far less work than starting a pool costs.
    with make_executor("auto", jobs=2) as auto:
        assert isinstance(auto, AutoExecutor)
        small = run_sweep(tiny(), out=tmp_path, executor=auto)
        assert auto.pooled == 0 and auto._pool is None
    same_tables(serial_sweep, small.folder)


def test_the_auto_executor_starts_one_pool_and_sends_it_chunks_once_it_pays(serial_sweep, tmp_path):
    # A pool that costs nothing to start pays after the first run: the other
    # 11 go to it, in chunks, and the tables are the serial ones.
    with AutoExecutor(2, pool_start_s=0.0, chunk_s=10.0, loadavg=lambda: (0.0, 0.0, 0.0)) as auto:
        pooled = run_sweep(tiny(), out=tmp_path / "a", executor=auto)
        assert auto.pooled == 11
        pool = auto._pool
        assert pool is not None
        again = run_sweep(tiny(), out=tmp_path / "b", executor=auto)  # the same pool serves it
        assert auto._pool is pool and auto.pooled == 23
    same_tables(serial_sweep, pooled.folder)
    same_tables(serial_sweep, again.folder)


def test_the_auto_executor_stays_serial_on_a_machine_busy_with_other_work(tmp_path):
    # Every core taken by other work: a pool would only share them.
    busy = float(default_jobs() + 1)
    with AutoExecutor(2, pool_start_s=0.0, loadavg=lambda: (busy, busy, busy)) as auto:
        done = list(auto.imap_unordered(_fails_on_odd, range(0, 20, 2)))
        assert len(done) == 10 and auto.pooled == 0 and auto._pool is None


def _fails_on_odd(n: int) -> int:
    if n % 2:
        raise ValueError(f"odd {n}")
    return n * n


def test_a_run_that_fails_in_a_chunk_is_that_runs_error_alone():
    with AutoExecutor(2, pool_start_s=0.0, chunk_s=10.0, loadavg=lambda: (0.0, 0.0, 0.0)) as auto:
        done = {f.item: f for f in auto.imap_unordered(_fails_on_odd, range(10))}
    assert sorted(done) == list(range(10))
    assert all(done[n].value == n * n and done[n].error is None for n in range(0, 10, 2))
    assert all(str(done[n].error) == f"odd {n}" and done[n].value is None for n in range(1, 10, 2))


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(ExecutorError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:1"):
        DaskExecutor(address="tcp://127.0.0.1:1", timeout_s=1)


def test_running_the_same_sweep_again_computes_nothing(serial_sweep, tmp_path):
    first = run_sweep(tiny(), out=tmp_path)
    again = run_sweep(tiny(), out=tmp_path)
    assert (first.computed, again.computed, again.reused) == (12, 0, 12)
    same_tables(serial_sweep, again.folder)


def test_more_replications_reuse_the_stored_ones(tmp_path):
    two = run_sweep(tiny(), out=tmp_path)
    three = run_sweep(tiny(**{"sweep.replications": 3}), out=tmp_path)
    assert three.folder == two.folder
    assert (three.reused, three.computed, three.total) == (12, 6, 18)
    assert sorted(set(load_results(three.folder)["replication"])) == [0, 1, 2]
    # Going back to two replications shows two again (the third stays on disk).
    back = run_sweep(tiny(), out=tmp_path)
    assert back.computed == 0 and len(load_results(back.folder)) == 12


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    simulate_module = importlib.import_module("alosim.simulate")  # the module, not the function
    real = simulate_module.simulate

    def flaky(scenario, seed=None):
        if scenario.semantics == "exactly-once" and scenario.network.ack.loss == 0.3 and seed == 12:
            raise RuntimeError("boom")
        return real(scenario, seed)

    monkeypatch.setattr(simulate_module, "simulate", flaky)
    outcome = run_sweep(tiny(), out=tmp_path)
    assert (outcome.computed, outcome.errors) == (12, 1)
    runs = load_results(outcome.folder)
    failed = runs[runs["error"] != ""]
    assert failed[["point", "replication"]].values.tolist() == [[5, 1]]
    assert failed["error"].iloc[0].startswith("RuntimeError: boom")
    assert pd.isna(failed["messages"].iloc[0])
    assert runs["messages"].dtype == "Int64"  # a failure does not change a column's type
    assert alosim.aggregate(runs, ["lost"]).set_index("point").loc[5, ["runs", "errors"]].tolist() == [1, 1]
    # A failed run counts as done; --retry-errors runs it again.
    assert run_sweep(tiny(), out=tmp_path).computed == 0
    monkeypatch.setattr(simulate_module, "simulate", real)
    retried = run_sweep(tiny(), out=tmp_path, retry_errors=True)
    assert (retried.computed, retried.errors) == (1, 0)


def test_an_executor_failure_is_reported_for_the_run_it_hit(tmp_path):
    def explode(task):
        raise OSError("worker lost")

    class Broken(SerialExecutor):
        def imap_unordered(self, fn, items):
            return super().imap_unordered(explode, items)

    outcome = run_sweep(tiny(), out=tmp_path, executor=Broken())
    runs = load_results(outcome.folder)
    assert outcome.errors == 12 and runs["error"].str.startswith("OSError: worker lost").all()


def interrupt_after(n: int):
    seen = []

    def on_result(record):
        seen.append(record.key)
        if len(seen) == n:
            raise KeyboardInterrupt

    return on_result


@pytest.mark.parametrize("executor", ["serial", "local", "auto"])
def test_an_interrupted_sweep_resumes_with_only_the_missing_runs(serial_sweep, tmp_path, executor):
    with make_executor(executor, jobs=2) as ex, pytest.raises(SweepInterrupted) as info:
        run_sweep(tiny(), out=tmp_path, executor=ex, on_result=interrupt_after(6))
    stopped = info.value.outcome
    assert stopped.stored == stopped.computed == 6
    assert isinstance(info.value, KeyboardInterrupt)
    partial = load_results(stopped.folder)  # the tables hold every finished run
    assert len(partial) == 6
    stored = len(list((stopped.folder / RUNS_DIR).glob("*.json")))
    assert stored == 6
    resumed = run_sweep(tiny(), out=tmp_path)
    assert (resumed.reused, resumed.computed) == (6, 6)
    same_tables(serial_sweep, resumed.folder)


def test_ctrl_c_in_a_terminal_keeps_finished_runs_and_a_rerun_finishes_the_sweep(serial_sweep, tmp_path):
    scenario = tmp_path / "slow.yaml"
    # Bigger runs, so that the sweep is still running when Ctrl-C comes.
    scenario.write_text(SWEEP.replace("messages: 300", "messages: 3000").replace("replications: 2",
                                                                              "replications: 4"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "alosim", "sweep", str(scenario), "--out", str(out), "-j", "2",
               "--no-plot", "--no-progress"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    runs_dir = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list(out.glob(f"tiny-sweep/sweep-*/{RUNS_DIR}/*.json"))
        if len(found) >= 4:
            runs_dir = found[0].parent
            break
        time.sleep(0.05)
    assert runs_dir is not None, process.communicate(timeout=30)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted:" in stderr and "run the same command again" in stderr
    assert "Traceback" not in stderr
    kept = len(list(runs_dir.glob("*.json")))
    assert 4 <= kept < 24
    assert len(load_results(runs_dir.parent)) == kept
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"runs: 24 ({kept} stored before, {24 - kept} computed, 0 failed)" in rerun.stdout
    straight = run_sweep(alosim.load_scenario(scenario), out=tmp_path / "straight",
                         executor=SerialExecutor())
    same_tables(straight.folder, runs_dir.parent)


# -- what a run keeps ----------------------------------------------------------------------


def test_a_run_keeps_its_series_and_the_latency_of_its_traced_messages():
    scenario = tiny().with_overrides({"observe.trace_messages": 300}, drop_sweep=True)
    record = run_task(RunTask(point=0, replication=0, seed=11, values=(), scenario=scenario))
    result = alosim.simulate(scenario, seed=11)
    assert record.error == "" and record.summary["fingerprint"] == result.fingerprint
    assert record.series == result.series
    # Every message was traced: the sample is the whole latency distribution.
    assert len(record.latency_s) == result.summary["processed"] - result.summary["duplicate_processing"]
    assert max(record.latency_s) == pytest.approx(result.summary["delivery_latency_max_s"], rel=1e-9)
    assert min(record.latency_s) > 0


def test_latency_sample_pairs_creation_with_first_processing():
    from alosim.observe import TraceEvent

    trace = [
        TraceEvent(0.0, "sender-0", "create", 0, 0),
        TraceEvent(0.1, "sender-0", "create", 1, 0),
        TraceEvent(0.3, "receiver-0", "processed", 1, 1),
        TraceEvent(0.5, "receiver-0", "processed", 0, 2),
        TraceEvent(0.9, "receiver-0", "processed", 0, 3, "again"),
        TraceEvent(1.0, "sender-0", "create", 2, 0),  # never processed
    ]
    assert latency_sample(trace) == pytest.approx([0.5, 0.2])
    assert latency_sample([]) is None


def test_make_executor_refuses_what_cannot_work():
    with pytest.raises(ExecutorError, match="needs the dask executor"):
        make_executor("local", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ExecutorError, match="unknown executor"):
        make_executor("threads")
    with pytest.raises(ExecutorError, match="at least one job"):
        make_executor("serial", jobs=0)


# -- the command line ----------------------------------------------------------------------


def alosim_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alosim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_sweep_command_runs_stores_prints_and_plots(serial_sweep, tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SWEEP)
    p = alosim_cli("sweep", str(scenario), "--out", str(tmp_path / "out"), "--executor", "serial",
                   "--no-progress", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "tiny-sweep: 6 points x 2 replications = 12 runs (semantics, network.ack.loss)" in p.stdout
    assert "runs: 12 (0 stored before, 12 computed, 0 failed)" in p.stdout
    (folder,) = (tmp_path / "out" / "tiny-sweep").iterdir()
    same_tables(serial_sweep, folder)
    plots = sorted(f.name for f in (folder / "plots").iterdir())
    assert plots == sorted(f"{k}.{ext}" for k in ("duplicates", "store", "latency", "tradeoff")
                           for ext in ("png", "svg"))


def test_sweep_command_reports_a_bad_sweep_in_one_line(tmp_path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(SWEEP.replace("network.ack.loss: [0.0, 0.3]", "network.ack.loss: [0.0, 3]"))
    p = alosim_cli("sweep", str(scenario), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith(f"alosim: error: {scenario}: network.ack.loss: ")
    assert "sweep point 1" in p.stderr
    assert not (tmp_path / "out").exists()


def test_sweep_command_refuses_a_scheduler_without_dask(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SWEEP)
    p = alosim_cli("sweep", str(scenario), "--executor", "local", "--scheduler", "tcp://127.0.0.1:1",
                   "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert p.returncode == 2 and "needs the dask executor" in p.stderr and "Traceback" not in p.stderr


def test_the_ready_sweeps_expand(tmp_path):
    for name in ("compare-semantics.yaml", "dedup-window-sizing.yaml"):
        scenario = alosim.load_scenario(ROOT / "scenarios" / name)
        plan = expand(scenario)
        assert plan.runs >= 20 and len(scenario.description) > 80


# -- every swept value reaches the table, the legend and runs.csv -----------------------

KINDS = """
name: kinds
seed: 3
messages: 20
sender: {rate: 100/s, retry: {timeout: 200ms}}
broker: {}
consumer: {processing: {dist: constant, value: 5ms}}
sweep:
  grid:
    broker.kind: [queue, log]
    guarantees.max_lost: [0, 3]
"""

MIXED = """
name: mixed
seed: 3
messages: 20
sender: {rate: 100/s, retry: {timeout: 200ms}}
sweep:
  grid:
    sender.circuit_breaker: [null, {failure_ratio: 0.5, window: 20, open_for: 1s}]
    receiver.dedup_on_arrival: [true, false]
    sender.window: [null, 8]
"""

BREAKER_JSON = '{"failure_ratio": 0.5, "open_for": 1.0, "probes": 1, "window": 20}'


def _shown(folder: Path) -> tuple[pd.DataFrame, list[list[str]], list[list[str]]]:
    """The run table, runs.csv's swept cells, and the sweep table's swept cells (row by row)."""
    import csv

    from alosim.cli import format_sweep_table
    from alosim.store import aggregate, parameters

    runs = load_results(folder)
    params = parameters(runs)
    with (folder / "runs.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    in_csv = [[row[p] for p in params] for row in rows]
    # A mapping is shown as its JSON text, which holds spaces: one token here.
    table = format_sweep_table(aggregate(runs), params).replace(BREAKER_JSON, "BREAKER")
    in_table = [line.split()[: len(params)] for line in table.splitlines()[3:]]
    return runs, in_csv, in_table


def test_a_sweep_over_the_broker_kind_and_the_guarantees_carries_their_values(tmp_path):
    from alosim.plots import metric_against_parameter

    plan = expand(make(KINDS))
    assert [dict(p.values) for p in plan.points] == [
        {"broker.kind": kind, "guarantees.max_lost": lost} for kind in ("queue", "log") for lost in (0, 3)]
    runs, in_csv, in_table = _shown(run_sweep(plan, out=tmp_path).folder)
    expected = [[kind, lost] for kind in ("queue", "log") for lost in ("0", "3")]
    assert runs["broker.kind"].tolist() == ["queue", "queue", "log", "log"]
    assert runs["guarantees.max_lost"].tolist() == [0, 3, 0, 3]
    assert in_csv == expected
    assert in_table == expected
    fig = metric_against_parameter(runs, "guarantees.max_lost", "lost_per_message", lines=["broker.kind"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["queue", "log"]


def test_swept_nulls_booleans_and_mappings_are_spelt_as_the_file_writes_them(tmp_path):
    from alosim.plots import metric_against_parameter

    runs, in_csv, in_table = _shown(run_sweep(make(MIXED), out=tmp_path).folder)
    flags = [flag for _ in range(2) for flag in ("True", "True", "False", "False")]
    assert [row[1:] for row in in_csv] == [[flag, window] for flag, window in zip(flags, ["null", "8"] * 4)]
    assert [row[0] for row in in_csv] == ["null"] * 4 + [BREAKER_JSON] * 4
    assert in_table == [[breaker, flag.lower(), window] for breaker, flag, window
                        in zip(["null"] * 4 + ["BREAKER"] * 4, flags, ["null", "8"] * 4)]
    assert runs["sender.window"].isna().tolist() == [True, False] * 4  # a swept null stays a null
    fig = metric_against_parameter(runs, "sender.window", "lost_per_message",
                                   lines=["sender.circuit_breaker"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["null", BREAKER_JSON]
