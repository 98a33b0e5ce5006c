"""Results are complete or absent: never half-written, never mixed, never
outside the chosen folder."""

from __future__ import annotations

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
