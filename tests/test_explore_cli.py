"""alosim explore from the command line: the summary, the minimal scenario that
alosim run reproduces, determinism across executors and hash seeds, bad input, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, SCENARIOS


def alosim(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alosim", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300)


def test_explore_prints_findings_and_alosim_run_reproduces_the_minimal_scenario(tmp_path: Path) -> None:
    out = tmp_path / "res"
    p = alosim("explore", str(SCENARIOS / "explore-volatile-store.yaml"), "--runs", "40", "--executor", "serial",
               "--no-progress", "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "explore-volatile-store: 40 runs (explore seed 0), 0 draws skipped" in p.stdout
    assert "no_duplicate_processing (store_lost_in_crash):" in p.stdout
    story = next(line for line in p.stdout.splitlines() if line.startswith("  minimal: "))
    assert story.endswith("duplicate effect (store_lost_in_crash)")
    assert "1 message, receiver crash at" in story
    path = tmp_path / next(line for line in p.stdout.splitlines() if line.startswith("  scenario: "))[12:]
    assert str(path).startswith(str(out))  # shown relative to the working folder
    assert path.is_file() and (path.parent / "sequence.png").is_file() and (path.parent / "trace.txt").is_file()
    assert "processed               0    " in (path.parent / "trace.txt").read_text()

    again = alosim("run", str(path), "--out", str(tmp_path / "again"), "--no-plot", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "guarantee violated (exactly-once): no_duplicate_processing" in again.stdout
    (folder,) = (tmp_path / "again" / "explore-volatile-store-minimal").iterdir()
    with (folder / "summary.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["duplicates_store_lost_in_crash"]) >= 1
    assert int(row["duplicate_processing"]) == int(row["duplicates_store_lost_in_crash"])


def test_same_findings_on_any_executor_and_hash_seed(tmp_path: Path) -> None:
    file = str(SCENARIOS / "explore-ttl-window.yaml")
    a = alosim("explore", file, "--runs", "30", "--executor", "local", "--jobs", "2", "--no-progress",
               "--out", str(tmp_path / "a"), cwd=tmp_path, env={"PYTHONHASHSEED": "1"})
    b = alosim("explore", file, "--runs", "30", "--executor", "serial", "--no-progress",
               "--out", str(tmp_path / "b"), cwd=tmp_path, env={"PYTHONHASHSEED": "2"})
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    (fa,) = (tmp_path / "a" / "explore-ttl-window").iterdir()
    (fb,) = (tmp_path / "b" / "explore-ttl-window").iterdir()
    assert fa.name == fb.name
    files = sorted(str(p.relative_to(fa)) for p in fa.rglob("*") if p.is_file() and p.name != "summary.txt")
    assert "findings.json" in files and len(files) > 30
    for name in files:
        assert (fa / name).read_bytes() == (fb / name).read_bytes(), name
    assert json.loads((fa / "findings.json").read_text())["groups"][0]["cause"] == "window_expired"


def test_dask_gives_the_same_findings(tmp_path: Path) -> None:
    file = str(SCENARIOS / "explore-volatile-store.yaml")
    a = alosim("explore", file, "--runs", "8", "--executor", "dask", "--jobs", "1", "--no-progress", "--no-plot",
               "--out", str(tmp_path / "a"), cwd=tmp_path)
    b = alosim("explore", file, "--runs", "8", "--executor", "serial", "--no-progress", "--no-plot",
               "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    (fa,) = (tmp_path / "a" / "explore-volatile-store").iterdir()
    (fb,) = (tmp_path / "b" / "explore-volatile-store").iterdir()
    assert (fa / "findings.json").read_bytes() == (fb / "findings.json").read_bytes()


def test_bad_explore_section_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmessages: 5\nexplore: {crashes: [{target: receivers, max: 30}]}\n")
    p = alosim("explore", str(bad), "--out", str(tmp_path / "res"), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [
        f"alosim: error: {bad}: explore.crashes.0.max: Input should be less than or equal to 20, got 30"]
    assert not (tmp_path / "res").exists()
    vary = tmp_path / "vary.yaml"
    vary.write_text("name: vary\nmessages: 5\nexplore: {vary: {sender.retry.timeout: {min: 1s, max: 10ms}}}\n")
    p = alosim("explore", str(vary), "--executor", "serial", "--no-progress", "--out", str(tmp_path / "res"),
               cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [
        f"alosim: error: {vary}: explore.vary.sender.retry.timeout: expected min <= max, got 1s > 10ms"]
    vary.write_text("name: vary\nmessages: 5\nexplore: {vary: {sender.retry.timout: [1s]}}\n")
    p = alosim("explore", str(vary), "--executor", "serial", "--out", str(tmp_path / "res"), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [
        f"alosim: error: {vary}: explore.vary.sender.retry.timout: not a field of the scenario "
        "(sender.retry.timout: unknown key; did you mean 'timeout'?)"]
    assert not (tmp_path / "res").exists()


def test_ctrl_c_keeps_the_runs_made_and_a_rerun_continues(tmp_path: Path) -> None:
    out = tmp_path / "res"
    args = [sys.executable, "-m", "alosim", "explore", str(SCENARIOS / "explore-safe-config.yaml"), "--runs",
            "20000", "--executor", "serial", "--no-progress", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    runs = out / "explore-safe-config"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(runs.glob("*/runs/run-*.json"))) < 20:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "run the same command again to continue" in stderr and "Traceback" not in stderr
    (folder,) = runs.iterdir()
    made = json.loads((folder / "findings.json").read_text())["runs"]
    stored = len(list(folder.glob("runs/run-*.json")))
    assert 20 <= made == stored < 20000
    assert not list(folder.rglob(".*.tmp"))
    p = alosim("explore", str(SCENARIOS / "explore-safe-config.yaml"), "--runs", str(stored + 5), "--executor",
               "serial", "--no-progress", "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert f"{stored + 5} runs (explore seed 0)" in p.stdout and "no violation found" in p.stdout


def test_a_draw_space_without_a_valid_run_is_one_line_not_no_violation_found(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmessages: 5\nsender: {window: 2}\n"
                   "explore: {vary: {sender.retry.timeout: [-1s, -2s]}}\n")
    p = alosim("explore", str(bad), "--runs", "4", "--executor", "serial", "--no-progress", "--out",
               str(tmp_path / "res"), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "no violation found" not in p.stdout
    (line,) = p.stderr.splitlines()
    assert line.startswith(f"alosim: error: {bad}: explore: none of the 4 runs drew a valid scenario (run 0: "
                           "sender.retry.timeout: Input should be greater than 0")
    assert not list((tmp_path / "res").rglob("findings.json"))


def test_explore_finds_on_a_pipeline_what_alosim_run_reports(tmp_path: Path) -> None:
    from tests.test_explore_shapes import EXACTLY_ONCE_QUEUE

    file = tmp_path / "eo-queue.yaml"
    file.write_text(EXACTLY_ONCE_QUEUE)
    run = alosim("run", str(file), "--out", str(tmp_path / "runs"), "--no-plot", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "guarantee violated (exactly-once): no_duplicate_processing" in run.stdout
    p = alosim("explore", str(file), "--runs", "20", "--executor", "serial", "--no-progress", "--no-plot",
               "--out", str(tmp_path / "res"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "eo-queue: 20 runs (explore seed 0), 0 draws skipped" in p.stdout
    assert "no_duplicate_processing (consume_lease_expired): 20 runs" in p.stdout
    lines = p.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("no_duplicate_processing (consume_lease")))
    path = tmp_path / lines[start + 2].removeprefix("  scenario: ")
    assert (path.parent / "trace.txt").read_text().strip()
    again = alosim("run", str(path), "--out", str(tmp_path / "again"), "--no-plot", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "guarantee violated (exactly-once): no_duplicate_processing" in again.stdout
