"""A damaged results store: every file alosim reads back is a regular file within
its size cap whose content matches its schema, or it is named as damaged in one
line -- never read for ever, never blocking, never taken at its word.

The commands run in a child process whose address space is capped
(:data:`MEMORY_CAP`), so that reading a file without a bound fails the test
quickly instead of taking the machine's memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import alosim
from alosim.files import OutputError
from alosim.results import write_run
from alosim.store import MANIFEST, RUNS_DIR, RUNS_TABLE, load_sweep, run_file_name
from alosim.sweep import run_sweep
from tests.conftest import ROOT, make

MEMORY_CAP = 3 << 30  # far above what listing a results folder needs
DEV_ZERO = Path("/dev/zero")

SWEEP = """
name: tiny
seed: 1
messages: 60
sender: {window: 8, retry: {timeout: 200ms}}
network: {ack: {loss: 0.1}}
sweep:
  grid: {network.ack.loss: [0.0, 0.2]}
  replications: 2
"""


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def alosim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "alosim", *args], capture_output=True, text=True,
                          timeout=120, env=env, preexec_fn=_capped)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A results folder with two runs and a sweep: (results, one run, the sweep)."""
    out = tmp_path / "results"
    scenario = make("name: one\nmessages: 50\nsender: {window: 4}\n")
    first = write_run(alosim.simulate(scenario), out, plot=False, command="alosim run one.yaml")
    write_run(alosim.simulate(scenario.with_seed(2)), out, plot=False, command="alosim run one.yaml")
    sweep = run_sweep(make(SWEEP), out=out).folder
    return out, first, sweep


def listing(out: Path) -> list[str]:
    p = alosim_cli("results", str(out))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return p.stdout.splitlines()


def damaged_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.split()[1:2] == ["damaged"]]


def other_run_still_listed(lines: list[str]) -> bool:
    damaged = damaged_lines(lines)
    return sum(1 for line in lines if line.strip().startswith("run ") and line not in damaged) == 1


@pytest.mark.skipif(not DEV_ZERO.exists(), reason="no /dev/zero")
def test_a_manifest_that_is_dev_zero_is_one_damaged_line(store):
    out, run, _ = store
    (run / "manifest.json").unlink()
    (run / "manifest.json").symlink_to(DEV_ZERO)
    lines = listing(out)
    (line,) = damaged_lines(lines)
    assert str(run) in line and "manifest.json: " in line and "not a regular file" in line
    assert other_run_still_listed(lines)


def test_a_manifest_that_is_a_fifo_does_not_block(store):
    out, run, _ = store
    (run / "manifest.json").unlink()
    os.mkfifo(run / "manifest.json")
    lines = listing(out)  # would wait for a writer for ever (the timeout fails it)
    (line,) = damaged_lines(lines)
    assert "manifest.json: is not a regular file" in line
    assert other_run_still_listed(lines)


def test_a_huge_sparse_manifest_is_refused_by_its_size(store):
    out, run, _ = store
    with open(run / "manifest.json", "r+b") as f:
        f.truncate(3 << 30)  # 3 GiB of holes: costs nothing on disk, everything to read
    lines = listing(out)
    (line,) = damaged_lines(lines)
    assert "manifest.json: is 3 GiB; a run manifest may be at most 1 MiB" in line
    assert other_run_still_listed(lines)


@pytest.mark.parametrize("field, value, problem", [
    ("replications", -3, "'replications': Input should be greater than or equal to 1, got -3"),
    ("replications", True, "'replications': Input should be a valid integer, got true"),
    ("replications", "2", "'replications': Input should be a valid integer, got \"2\""),
    ("parameters", [1], "'parameters.0': Input should be a valid string, got 1"),
])
def test_a_tampered_sweep_json_is_listed_as_damaged_not_complete(store, field, value, problem):
    out, _, sweep = store
    manifest = json.loads((sweep / MANIFEST).read_text())
    manifest[field] = value
    (sweep / MANIFEST).write_text(json.dumps(manifest))
    lines = listing(out)
    (line,) = damaged_lines(lines)
    assert line.strip() == f"sweep  damaged  {sweep}: sweep.json: {problem}"
    assert not any("complete" in line for line in lines)
    assert sum(1 for line in lines if line.strip().startswith("run ")) == 2


def test_a_tampered_run_manifest_is_damaged(store):
    out, run, _ = store
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "seed": "3\x1b[2J"}))
    lines = listing(out)
    (line,) = damaged_lines(lines)
    assert "manifest.json: 'seed': Input should be a valid integer, got \"3\\u001b[2J\"" in line
    assert "\x1b" not in "\n".join(lines)


def test_a_run_file_with_a_boolean_for_its_point_is_damaged(store):
    _, _, sweep = store
    path = sweep / RUNS_DIR / run_file_name((1, 0))
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "point": True}))  # int(True) == 1: the right key, by accident
    (sweep / RUNS_TABLE).unlink()
    with pytest.raises(OutputError, match=r"damaged \('point': Input should be a valid integer"):
        load_sweep(sweep)


def test_a_damaged_run_file_is_counted_in_the_listing(store):
    out, _, sweep = store
    path = sweep / RUNS_DIR / run_file_name((1, 1))
    path.unlink()
    os.mkfifo(path)
    lines = listing(out)
    assert damaged_lines(lines) == []
    assert any("3 of 4 runs stored, 1 damaged" in line for line in lines)


def test_a_history_that_is_a_fifo_does_not_block_the_listing(store):
    out, _, sweep = store
    (sweep / "history.jsonl").unlink(missing_ok=True)
    os.mkfifo(sweep / "history.jsonl")
    lines = listing(out)
    assert any("history.jsonl is damaged: is not a regular file" in line for line in lines)
    assert any("complete" in line for line in lines)


def test_a_fifo_among_the_tables_is_rebuilt_from_the_run_files(store):
    _, _, sweep = store
    expected = load_sweep(sweep).runs
    (sweep / "series.parquet").unlink()
    os.mkfifo(sweep / "series.parquet")
    p = subprocess.run(
        [sys.executable, "-c", f"import alosim; print(len(alosim.load_results({str(sweep)!r})))"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=_capped)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(len(expected))


def test_a_stored_search_run_that_is_a_fifo_is_run_again(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    os.mkfifo(runs / "run-000000.json")
    (runs / "run-000001.json").write_text(json.dumps(
        {"index": True, "drawn": {}, "overrides": {}, "violations": [], "skipped": ""}))
    (runs / "run-000002.json").write_text(json.dumps(
        {"index": 2, "drawn": {}, "overrides": {}, "violations": [], "skipped": ""}))
    code = ("from pathlib import Path; from alosim.explore import _stored; "
            f"print(sorted(_stored(Path({str(runs)!r}), 5)))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_capped)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[2]"


def test_compare_refuses_a_huge_sparse_summary(store):
    _, run, _ = store
    with open(run / "summary.csv", "r+b") as f:
        f.truncate(5 << 30)
    p = alosim_cli("compare", str(run), str(run))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().endswith("summary.csv: the results store is damaged: is 5 GiB; "
                                     "a results table may be at most 4 GiB")
