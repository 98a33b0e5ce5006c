"""Finding results again: readable sweep folders, choosing among sweeps, ``alosim results``."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings

import pandas as pd
import pytest
from click.testing import CliRunner

import alosim
from alosim.catalog import entries
from alosim.cli import cli
from alosim.store import RUNS_DIR, folder_name, load_results
from alosim.sweep import expand
from tests.conftest import SCENARIOS, make

SWEEP = """
name: tiny
seed: 1
messages: 150
sender: {rate: 200/s, window: 64, retry: {timeout: 200ms}}
network: {data: {loss: 0.05}, ack: {loss: 0.1}}
sweep:
  grid: {semantics: [at-least-once, exactly-once], network.ack.loss: [0.0, 0.2]}
  replications: 2
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def two_sweeps(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SWEEP)
    out = tmp_path / "res"
    first = invoke("sweep", str(scenario), "--out", str(out), "--executor", "serial", "--no-plot",
                   "--no-progress")
    assert first.exit_code == 0, first.output
    # The listing orders by the manifests' dates, to the second: let the second sweep be later.
    time.sleep(1.05)
    second = invoke("sweep", str(scenario), "--out", str(out), "--executor", "serial", "--no-plot",
                    "--no-progress", "--set", "messages=160")
    assert second.exit_code == 0, second.output
    older, newer = (sorted((out / "tiny").glob("sweep-*"), key=lambda p: (p / "sweep.json").stat().st_mtime))
    # Make "most recent" unambiguous whatever the file system's timestamp resolution.
    os.utime(older / "sweep.json", (1_000_000_000, 1_000_000_000))
    return scenario, out, older, newer


def test_sweep_folders_name_what_was_swept_and_keep_the_hash():
    plan = expand(make(SWEEP))
    assert folder_name(plan.parameters, plan.digest) == f"sweep-semantics_ack.loss-{plan.digest}"
    assert folder_name((), "abc") == "sweep-abc"
    long = folder_name([f"receiver.dedup.field{i}" for i in range(20)], "abc")
    assert len(long) <= len("sweep--abc") + 60 and long.endswith("-abc")


def test_a_sweep_written_under_an_old_folder_name_is_read_and_resumed(tmp_path):
    scenario = make(SWEEP)
    plan = expand(scenario)
    done = alosim.run_sweep(scenario, out=tmp_path)
    legacy = done.folder.parent / f"sweep-{plan.digest}"
    done.folder.rename(legacy)
    (legacy / RUNS_DIR / "p000001-r000001.json").unlink()
    again = alosim.run_sweep(scenario, out=tmp_path)
    assert again.folder == legacy and again.reused == 7 and again.computed == 1
    assert len(load_results(legacy)) == 8


def test_results_lists_every_run_and_sweep_with_its_command_and_completeness(two_sweeps):
    scenario, out, older, newer = two_sweeps
    assert invoke("run", str(scenario), "--out", str(out), "--no-plot").exit_code == 0
    (older / RUNS_DIR / "p000000-r000000.json").unlink()
    listed = invoke("results", str(out))
    assert listed.exit_code == 0
    text = listed.stdout
    assert text.index(str(newer)) < text.index(str(older))  # newest first
    assert "semantics x network.ack.loss: 4 points x 2 replications = 8 runs; complete" in text
    assert "8 runs; 7 of 8 runs stored" in text
    assert f"made by: alosim sweep {scenario} --out {out} --executor serial --no-plot --no-progress " \
           "--set messages=160" in text
    assert f"made by: alosim run {scenario} --out {out} --no-plot" in text
    kinds = sorted(e.kind for e in entries(out))
    assert kinds == ["run", "sweep", "sweep"]
    assert invoke("results", str(out / "nowhere")).exit_code == 2


def test_plot_and_load_results_take_the_most_recent_sweep_and_say_so(two_sweeps):
    _, out, older, newer = two_sweeps
    drawn = invoke("plot", str(out / "tiny"), "--kind", "duplicates", "--out", str(out / "p"))
    assert drawn.exit_code == 0
    assert f"holds 2 sweeps; using the most recent, {newer.name}" in drawn.stderr
    assert "--sweep NAME" in drawn.stderr
    with pytest.warns(UserWarning, match=newer.name):
        runs = alosim.load_results(out / "tiny")
    pd.testing.assert_frame_equal(runs, load_results(newer))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(alosim.load_results(out / "tiny", sweep=older.name[-12:]),
                                      load_results(older))
    chosen = invoke("plot", str(out / "tiny"), "--sweep", older.name, "--kind", "duplicates",
                    "--out", str(out / "q"))
    assert chosen.exit_code == 0 and chosen.stderr == ""
    wrong = invoke("plot", str(out / "tiny"), "--sweep", "nothing-like-it")
    assert wrong.exit_code == 2 and "matches no sweep" in wrong.stderr


def test_sweep_table_explains_the_interval_and_prints_counts_as_integers(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SWEEP)
    result = invoke("sweep", str(scenario), "--out", str(tmp_path), "--executor", "serial", "--no-plot",
                    "--no-progress")
    lines = result.stdout.splitlines()
    legend = next(i for i, line in enumerate(lines) if line.startswith("mean over each point"))
    assert "95% confidence interval (Student t" in lines[legend]
    top, header = lines[legend + 1], lines[legend + 2]
    assert "duplicate deliveries" in top and "duplicate processing" in top
    assert header.split().count("message)") == 3 and "dup/msg" not in result.stdout  # "(per message)"
    exactly_once = [line for line in lines[legend + 3:] if line.strip().startswith("exactly-once")]
    assert exactly_once and all(line.rstrip().endswith("150 ± 0") for line in exactly_once)


def test_the_history_records_each_command_that_wrote_a_sweep(two_sweeps):
    scenario, out, older, _ = two_sweeps
    shutil.copy(scenario, scenario.with_name("again.yaml"))
    invoke("sweep", str(scenario.with_name("again.yaml")), "--out", str(out), "--executor", "serial",
           "--no-plot", "--no-progress")
    history = [json.loads(line) for line in (older / "history.jsonl").read_text().splitlines()]
    assert [h["computed"] for h in history] == [8, 0]
    assert history[1]["command"].startswith("alosim sweep ") and "again.yaml" in history[1]["command"]


def test_a_run_entry_shows_the_headline_figures_of_its_shape(tmp_path):
    out = tmp_path / "res"
    assert invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot",
                  "--set", "messages=300").exit_code == 0
    listed = invoke("results", str(out)).stdout.splitlines()
    assert listed[2].strip().startswith("seed 7; duplicate processing 0, lost (never processed) 0, "
                                        "duplicate deliveries ")
    assert listed[2].endswith("; ok")
