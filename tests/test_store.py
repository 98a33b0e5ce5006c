"""The sweep results store: run files, tables, reading back, aggregation."""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
import pandas as pd
import pytest

import alosim
from alosim.results import OutputError
from alosim.store import (
    RUNS_CSV,
    RUNS_DIR,
    RUNS_TABLE,
    STALE_TEMPORARY_S,
    ResultsError,
    RunRecord,
    SweepStore,
    aggregate,
    load_results,
    load_sweep,
    measures,
    parameters,
    tables,
    thin,
)
from alosim.sweep import run_sweep
from tests.conftest import make

SWEEP = """
name: store-sweep
seed: 2
messages: 200
sender: {window: 8, retry: {timeout: 200ms}}
network:
  data: {loss: 0.05, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.2, latency: {dist: exponential, mean: 10ms}}
sweep:
  grid: {semantics: [at-least-once, exactly-once]}
  replications: 2
"""


def record(point: int, replication: int, summary: dict | None = None, error: str = "",
           values: tuple = (("network.ack.loss", 0.1),)) -> RunRecord:
    return RunRecord(point, replication, seed=100 + replication, values=values, summary=summary,
                     series={"time_s": [0.0, 1.0], "dedup_entries": [0, point + replication]},
                     latency_s=[0.01 * (replication + 1)], error=error, wall_time_s=0.5)


def summary(messages: int = 10, lost: int = 1, ok: bool = True) -> dict:
    return {"scenario": "s", "semantics": "at-least-once", "seed": 1, "messages": messages,
            "duplicate_processing": 2, "lost": lost, "delivery_latency_p99_s": 0.25,
            "check_none_lost": ok, "fingerprint": "abc"}


# -- run files ---------------------------------------------------------------------


def test_a_run_record_survives_its_file_exactly():
    r = RunRecord(3, 7, 9, (("a.b", 0.1), ("c", "x")), {"m": 1, "p": math.nan, "f": 0.1 + 0.2},
                  {"time_s": [0.0, 0.5]}, [1e-3], "", 1.25)
    back = RunRecord.from_json(r.to_json())
    assert back.values == r.values and back.series == r.series and back.latency_s == r.latency_s
    assert back.summary["f"] == 0.1 + 0.2 and math.isnan(back.summary["p"])
    assert back.key == (3, 7) and back.wall_time_s == 1.25


def test_thin_keeps_at_most_max_rows_evenly_with_both_ends():
    series = {"time_s": [float(i) for i in range(10_001)], "x": list(range(10_001))}
    out = thin(series, max_rows=101)
    assert len(out["time_s"]) == 101
    assert out["time_s"][0] == 0.0 and out["time_s"][-1] == 10_000.0
    assert np.allclose(np.diff(out["time_s"]), 100.0)
    assert out["x"] == [int(t) for t in out["time_s"]]
    short = {"time_s": [0.0, 1.0]}
    assert thin(short, max_rows=101) == short


def test_store_writes_run_files_atomically_and_lists_them(tmp_path):
    store = SweepStore.open(tmp_path, "s", "abc123", {"format": 1}, "name: s\n")
    stale = store.runs_dir / ".p000000-r000000.json.x.tmp"  # an interrupted write, long ago
    stale.write_text("half")
    os.utime(stale, (time.time() - 2 * STALE_TEMPORARY_S,) * 2)
    fresh = store.runs_dir / ".p000000-r000001.json.y.tmp"  # another sweep writing right now
    fresh.write_text("half")
    store = SweepStore.open(tmp_path, "s", "abc123", {"format": 1}, "name: s\n")
    assert list(store.runs_dir.glob(".*")) == [fresh]
    fresh.unlink()
    store.add(record(0, 1, summary()))
    store.add(record(0, 0, error="ValueError: x"))
    (store.runs_dir / "p000001-r000000.json").write_text("{not json")  # unreadable: computed again
    assert store.stored() == {(0, 0): "ValueError: x", (0, 1): ""}
    assert [r.key for r in store.records()] == [(0, 0), (0, 1)]
    assert not [p for p in store.runs_dir.iterdir() if p.name.startswith(".")]


def test_store_refuses_to_leave_the_results_folder(tmp_path):
    with pytest.raises(OutputError, match="refusing to write outside"):
        SweepStore.open(tmp_path / "out", "..", "abc", {"format": 1}, "")


# -- tables ----------------------------------------------------------------------------


def test_tables_are_sorted_by_key_and_typed_by_content_not_by_failures():
    records = [record(1, 0, summary(lost=0)), record(0, 1, error="RuntimeError: boom"),
               record(0, 0, summary(messages=20, lost=5, ok=False))]
    data = tables(records, ["network.ack.loss"])
    runs = data.runs
    assert list(zip(runs["point"], runs["replication"])) == [(0, 0), (0, 1), (1, 0)]
    assert list(runs.columns) == [
        "point", "network.ack.loss", "replication", "seed", "scenario", "semantics", "messages",
        "duplicate_processing", "lost", "delivery_latency_p99_s", "check_none_lost", "fingerprint",
        "duplicate_processing_per_message", "lost_per_message", "error",
    ]
    assert runs["messages"].dtype == "Int64" and pd.isna(runs["messages"][1])
    assert runs["check_none_lost"].dtype == "boolean"
    assert runs["error"].tolist() == ["", "RuntimeError: boom", ""]
    assert runs["lost_per_message"].tolist()[0] == 0.25 and math.isnan(runs["lost_per_message"][1])
    assert runs["seed"].tolist() == [100, 101, 100]
    assert data.series["dedup_entries"].tolist() == [0, 0, 0, 1, 0, 1]
    assert data.latency["latency_s"].tolist() == [0.01, 0.02, 0.01]
    assert data.timings["wall_time_s"].tolist() == [0.5, 0.5, 0.5]
    assert "wall_time_s" not in runs


def test_a_swept_summary_column_keeps_the_parameter_and_renames_the_measure():
    values = (("semantics", "at-least-once"), ("messages", 10))
    runs = tables([record(0, 0, summary(messages=9), values=values)], ["semantics", "messages"]).runs
    assert runs["messages"].tolist() == [10]  # the parameter: what the scenario asked for
    assert runs["messages_measured"].tolist() == [9]  # what the run counted
    assert list(runs.columns).count("semantics") == 1


def test_parameter_values_that_are_mappings_are_stored_as_json():
    values = (("network.ack.latency", {"dist": "constant", "value": 0.01}),)
    runs = tables([record(0, 0, summary(), values=values)], ["network.ack.latency"]).runs
    assert json.loads(runs["network.ack.latency"][0]) == {"dist": "constant", "value": 0.01}


# -- reading back --------------------------------------------------------------------------


@pytest.fixture
def swept(tmp_path):
    return run_sweep(make(SWEEP), out=tmp_path / "results")


def test_load_results_accepts_the_folder_a_file_in_it_or_the_scenario_folder(swept):
    expected = load_results(swept.folder)
    assert len(expected) == 4 and parameters(expected) == ["semantics"]
    for path in (swept.folder / RUNS_CSV, swept.folder.parent):
        pd.testing.assert_frame_equal(load_results(path), expected)
    assert pd.read_csv(swept.folder / RUNS_CSV)["lost"].tolist() == expected["lost"].tolist()


def test_load_results_rebuilds_tables_a_crash_left_stale_or_missing(swept):
    expected = load_results(swept.folder)
    (swept.folder / RUNS_TABLE).unlink()
    pd.testing.assert_frame_equal(load_results(swept.folder), expected)
    os.remove(swept.folder / RUNS_DIR / "p000001-r000001.json")
    assert len(load_results(swept.folder)) == 3  # the table on disk says 4: it is stale


def test_load_results_explains_what_is_wrong(tmp_path, swept):
    with pytest.raises(ResultsError, match="no such results folder"):
        load_results(tmp_path / "nowhere")
    with pytest.raises(ResultsError, match="not a sweep results folder"):
        load_results(tmp_path)
    other = make(SWEEP.replace("messages: 200", "messages: 201"))
    newer = run_sweep(other, out=swept.folder.parent.parent).folder
    with pytest.warns(UserWarning, match=f"holds 2 sweeps; using the most recent, {newer.name}"):
        pd.testing.assert_frame_equal(load_results(swept.folder.parent), load_results(newer))
    with pytest.raises(ResultsError, match="matches several sweeps"):
        load_results(swept.folder.parent, sweep="sweep-")


def test_load_sweep_returns_series_and_timings_keyed_like_the_runs(swept):
    data = load_sweep(swept.folder)
    keys = set(zip(data.runs["point"], data.runs["replication"]))
    assert set(zip(data.series["point"], data.series["replication"])) == keys
    assert set(zip(data.timings["point"], data.timings["replication"])) == keys
    assert (data.timings["wall_time_s"] > 0).all()
    assert data.latency.empty  # nothing was traced


# -- aggregation ---------------------------------------------------------------------------


def run_table(values: dict[int, list[float]], errors: dict[int, int] | None = None) -> pd.DataFrame:
    rows = []
    for point, xs in values.items():
        for r, x in enumerate(xs):
            rows.append({"point": point, "p": f"v{point}", "replication": r, "seed": r, "x": x,
                         "flag": True, "error": ""})
        for r in range((errors or {}).get(point, 0)):
            rows.append({"point": point, "p": f"v{point}", "replication": len(xs) + r, "seed": 0,
                         "x": 1e9, "flag": True, "error": "boom"})
    return pd.DataFrame(rows).astype({"flag": "boolean"})


def test_aggregate_gives_the_mean_and_a_student_t_interval_per_point():
    runs = run_table({0: [1.0, 2.0, 3.0], 1: [5.0, 5.0], 2: [4.0]}, errors={0: 1})
    agg = aggregate(runs)
    assert agg["point"].tolist() == [0, 1, 2] and agg["p"].tolist() == ["v0", "v1", "v2"]
    assert agg["runs"].tolist() == [3, 2, 1] and agg["errors"].tolist() == [1, 0, 0]
    assert agg["x_mean"].tolist() == [2.0, 5.0, 4.0]  # the failed run's value is left out
    half = 4.302652729749464 * 1.0 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n)
    assert agg["x_ci_low"][0] == pytest.approx(2.0 - half, rel=1e-9)
    assert agg["x_ci_high"][0] == pytest.approx(2.0 + half, rel=1e-9)
    assert agg["x_ci_low"][1] == agg["x_ci_high"][1] == 5.0  # no spread
    assert math.isnan(agg["x_ci_low"][2])  # one run says nothing about spread
    assert "flag_mean" not in agg and "seed_mean" not in agg  # flags and seeds are not measures


def test_aggregate_at_another_confidence_and_of_chosen_columns():
    runs = run_table({0: [1.0, 2.0, 3.0, 4.0]})
    agg = aggregate(runs, ["x"], confidence=0.99)
    half = 5.840909309733 * math.sqrt(5 / 3) / 2  # t(0.995, 3) * s / sqrt(4)
    assert agg["x_ci_high"][0] - 2.5 == pytest.approx(half, rel=1e-9)
    assert list(agg.columns) == ["point", "p", "runs", "errors", "x_mean", "x_ci_low", "x_ci_high"]
    with pytest.raises(ResultsError, match="no such column"):
        aggregate(runs, ["nope"])
    with pytest.raises(ValueError, match="confidence"):
        aggregate(runs, confidence=95)


def test_aggregate_of_a_real_sweep_covers_the_measures(swept):
    runs = load_results(swept.folder)
    names = measures(runs)
    assert "duplicate_processing_per_message" in names and "semantics" not in names
    agg = alosim.aggregate(runs)
    assert len(agg) == 2 and (agg["runs"] == 2).all()
    eo = agg[agg["semantics"] == "exactly-once"].iloc[0]
    assert eo["duplicate_processing_mean"] == 0 and eo["dedup_entries_peak_mean"] == 200
