"""Results are complete or absent: never half-written, never mixed, never
outside the chosen folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import alosim
from alosim.results import OutputError, safe_child, write_run
from tests.conftest import SCENARIOS, make


def start_run(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "alosim", "run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out),
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_run_stopped_by_a_signal_leaves_nothing_behind(tmp_path, sig):
    out = tmp_path / "out"
    child = start_run(out, "--set", "messages=3000000")
    time.sleep(2.5)
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0
    assert "Traceback" not in err
    assert [f for f in files_under(out) if not f.endswith("ack-lost")] == []


def test_two_runs_writing_the_same_folder_at_once_do_not_mix(tmp_path):
    out = tmp_path / "out"
    children = [start_run(out, "--set", "messages=20000") for _ in range(2)]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    (folder,) = (out / "ack-lost").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "growth.png", "manifest.json", "scenario.yaml", "summary.csv", "timeseries.csv"]
    assert not [p for p in (out / "ack-lost").iterdir() if p.name.startswith(".")]


def test_an_interrupted_write_removes_its_temporary_folder(tmp_path, monkeypatch, small):
    result = alosim.simulate(small.with_overrides({"messages": 200}))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("alosim.plots.save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_run(result, tmp_path)
    assert files_under(tmp_path) == ["small"]


def test_nothing_is_written_outside_the_results_folder(tmp_path):
    with pytest.raises(OutputError):
        safe_child(tmp_path, "..", "escape")
    with pytest.raises(OutputError):
        safe_child(tmp_path, "/etc")
    assert safe_child(tmp_path, "a", "b") == (tmp_path / "a" / "b").resolve()
    # A name that could escape never gets past validation in the first place.
    with pytest.raises(alosim.ScenarioError):
        make("name: ok\nmessages: 1\n", name="../../x")


def test_set_cannot_rename_a_run_out_of_its_folder(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "alosim", "run", str(SCENARIOS / "ack-lost.yaml"), "--out",
         str(tmp_path / "out"), "--set", "name=../../../escaped"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=dict(os.environ))
    assert p.returncode == 2 and "name:" in p.stderr
    assert files_under(tmp_path) == []


# -- sweeps -----------------------------------------------------------------------------

def sweep_file(tmp_path: Path, messages: int = 300) -> Path:
    from tests.test_sweep import SWEEP

    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.replace("messages: 300", f"messages: {messages}"))
    return path


def start_sweep(path: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "alosim", "sweep", str(path), "--executor", "serial", "--out", str(out),
         "--no-plot", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_sweeps_writing_the_same_folder_at_once_give_one_clean_table(tmp_path):
    from alosim.sweep import run_sweep

    path = sweep_file(tmp_path)
    children = [start_sweep(path, tmp_path / "out") for _ in range(2)]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    reference = run_sweep(alosim.load_scenario(path), out=tmp_path / "reference").folder
    (folder,) = (tmp_path / "out" / "tiny-sweep").iterdir()
    import pandas as pd

    pd.testing.assert_frame_equal(alosim.load_results(folder), alosim.load_results(reference))
    assert not [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_sigterm_during_a_sweep_keeps_finished_runs_and_the_rerun_completes_it(tmp_path):
    from alosim.store import RUNS_DIR

    path = sweep_file(tmp_path, messages=20_000)
    out = tmp_path / "out"
    child = start_sweep(path, out)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list(out.glob(f"tiny-sweep/*/{RUNS_DIR}/*.json"))
        if len(done) >= 2:
            break
        time.sleep(0.2)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode != 0 and "Traceback" not in err
    (folder,) = (out / "tiny-sweep").iterdir()
    kept = list((folder / RUNS_DIR).glob("*.json"))
    assert 2 <= len(kept) < 12
    assert not [p for p in folder.rglob("*") if p.name.startswith(".")]
    rerun = start_sweep(path, out)
    text, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert f"{len(kept)} stored before" in text
    assert len(alosim.load_results(folder)) == 12


# -- printed strings that came from input or storage ------------------------------------

#: What a hostile input or a tampered store puts in a string: a newline that would
#: start a line of alosim's own, a terminal escape, a carriage return, a separator.
HOSTILE = "h\nFORGED: alosim: error: forged\x1b[2J\r\u2028end"

PIPELINE = """
name: pipe
seed: 3
messages: 40
sender: {window: 8, retry: {timeout: 200ms}}
broker: {visibility_timeout: 50ms, max_deliveries: 3}
consumer: {count: 2, processing: {dist: exponential, mean: 20ms}, nack_probability: 0.1}
"""
LOG = """
name: log
seed: 3
messages: 40
sender: {window: 8, retry: {timeout: 200ms}}
broker: {kind: log, partitions: 2}
consumer: {count: 2, processing: {dist: constant, value: 1ms}, commit: {policy: after-batch}}
"""
OVERLOAD = """
name: slow
seed: 3
messages: 300
sender: {rate: 80/s, window: null, retry: {timeout: 100ms}}
receiver: {processing: {dist: exponential, mean: 10ms}}
faults: [{target: receivers, kind: pause, at: 1s, for: 1s}]
observe: {sample_every: 100ms, recovery: {hold: 500ms, window: 200ms}}
"""
EXPLORE = """
name: search
seed: 1
messages: 20
semantics: exactly-once
receiver: {dedup: {kind: ttl, window: 10ms}}
network: {ack: {loss: 0.3}}
explore: {crashes: [], vary: {network.ack.loss: [0.3, 0.5]}}
"""


def assert_escaped(text: str) -> None:
    """Every line printable, none forged, and the hostile string shown (escaped), not dropped."""
    lines = text.split("\n")
    assert all(line.isprintable() for line in lines), [line for line in lines if not line.isprintable()]
    assert not [line for line in lines if line.startswith("FORGED")]
    assert "\\x1b[2J" in text


def cli_output(*args: str) -> str:
    from click.testing import CliRunner

    from alosim.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.stdout + result.stderr


def scenario_file(folder: Path, text: str) -> Path:
    # The file's name is input too: it is printed in notes and errors.
    path = folder / f"{HOSTILE}.yaml"
    path.write_text(text)
    return path


def _run_outputs(tmp_path: Path) -> list[str]:
    """alosim run of a pipeline, a log and an overload scenario into a hostile --out."""
    out = tmp_path / HOSTILE
    return [cli_output("run", str(scenario_file(tmp_path, text)), "--out", str(out), "--no-plot")
            for text in (PIPELINE, LOG, OVERLOAD)]


def _trace_output(tmp_path: Path) -> list[str]:
    path = scenario_file(tmp_path, PIPELINE)
    return [cli_output("trace", str(path), "--messages", "3", "--mermaid", str(tmp_path / f"{HOSTILE}.mmd"))]


def _compare_outputs(tmp_path: Path) -> list[str]:
    """A --with value, and a stored run whose summary names a hostile scenario."""
    path = scenario_file(tmp_path, PIPELINE)
    varied = cli_output("compare", str(path), "--with", f"consumer.count=1,description={HOSTILE}")
    result = alosim.simulate(make(PIPELINE))
    folder = write_run(result, tmp_path / "stored", plot=False)
    summary = (folder / "summary.csv").read_text().split("\n")
    header = summary[0].split(",")
    cells = summary[1].split(",")
    cells[header.index("scenario")] = '"' + HOSTILE + '"'
    (folder / "summary.csv").write_text("\n".join([summary[0], ",".join(cells), *summary[2:]]))
    stored = cli_output("compare", str(folder), str(path))
    return [varied, stored]


def _results_and_plot_outputs(tmp_path: Path) -> list[str]:
    """A stored manifest with a hostile command and scenario; the overload plot of a
    run stored under a hostile folder name."""
    out = tmp_path / "res"
    folder = write_run(alosim.simulate(make(OVERLOAD)), out, plot=False, command=f"alosim run {HOSTILE}")
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "written_at": HOSTILE}))
    listed = cli_output("results", str(out))
    moved = tmp_path / HOSTILE
    moved.mkdir()
    run = folder.rename(moved / folder.name)
    drawn = cli_output("plot", str(run), "--kind", "overload", "--out", str(tmp_path / HOSTILE / "p"))
    return [listed, drawn]


def _sweep_output(tmp_path: Path) -> list[str]:
    """A sweep resumed from a stored run whose error message is hostile."""
    from alosim.store import RUNS_DIR, run_file_name

    path = scenario_file(tmp_path, PIPELINE + "sweep: {grid: {consumer.count: [1, 2]}}\n")
    cli_output("sweep", str(path), "--out", str(tmp_path / "out"), "--executor", "serial", "--no-plot",
               "--no-progress")
    (folder,) = (tmp_path / "out" / "pipe").iterdir()
    run_file = folder / RUNS_DIR / run_file_name((1, 0))
    record = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**record, "error": HOSTILE, "summary": None}))
    again = cli_output("sweep", str(path), "--out", str(tmp_path / "out"), "--executor", "serial",
                       "--no-plot", "--no-progress")
    assert "1 failed" in again  # the stored failure is taken as it is, and shown
    return [again]


def _explore_output(tmp_path: Path) -> list[str]:
    """A search resumed from stored runs, one of them tampered."""
    path = scenario_file(tmp_path, EXPLORE)
    out = tmp_path / HOSTILE
    first = cli_output("explore", str(path), "--runs", "2", "--out", str(out), "--executor", "serial",
                       "--no-progress", "--no-plot")
    (stored,) = out.glob("search/*/runs/run-000001.json")
    outcome = json.loads(stored.read_text())
    stored.write_text(json.dumps({**outcome, "drawn": {HOSTILE: 1}, "violations": [[HOSTILE, HOSTILE, 1]]}))
    again = cli_output("explore", str(path), "--runs", "3", "--out", str(out), "--executor", "serial",
                       "--no-progress", "--no-plot")
    return [first, again]


@pytest.mark.parametrize("printouts", [_run_outputs, _trace_output, _compare_outputs,
                                       _results_and_plot_outputs, _sweep_output, _explore_output],
                         ids=lambda f: f.__name__.strip("_"))
def test_every_printed_string_from_input_or_storage_is_escaped(tmp_path, monkeypatch, printouts):
    monkeypatch.chdir(tmp_path)
    for text in printouts(tmp_path):
        assert_escaped(text)
