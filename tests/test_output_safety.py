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
