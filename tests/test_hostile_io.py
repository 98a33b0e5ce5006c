"""Hostile surroundings: every command that reads or writes, against every way the
file system can refuse. Each failure is one line ``alosim: error: ...`` naming
the path and what is wrong, exit status 2, no traceback, nothing half-written.

The conditions:

* ``readonly``  -- a folder that cannot be written (immutable for root, which
  ignores permissions; mode 0555 for anyone else);
* ``missing``   -- a parent folder that does not exist (created for a results
  folder, ``--out``; an error for a single file the user named);
* ``file``      -- a file where a folder should be;
* ``proc``      -- a path under ``/proc``, where nothing can be created;
* ``full``      -- the disk fills up while writing (the flush to disk of every
  written file fails with ENOSPC).
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import alosim
from alosim import files, plots
from alosim.cli import cli
from alosim.files import OutputError
from alosim.results import write_run
from alosim.store import MANIFEST, RUNS_DIR, RUNS_TABLE, load_sweep, run_file_name
from alosim.sweep import run_sweep
from tests.conftest import ROOT, SCENARIOS
from tests.test_sweep import SWEEP

CONDITIONS = ("readonly", "missing", "file", "proc", "full")
SCENARIO = str(SCENARIOS / "ack-lost.yaml")
SMALL = ["--set", "messages=300"]


@pytest.fixture
def readonly(tmp_path: Path) -> Iterator[Path]:
    """A folder nothing can be created in, even by root."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    immutable = False
    if os.geteuid() == 0 and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    else:
        folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        pass
    else:
        pytest.skip("no way to make a folder unwritable here")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def disk_full(monkeypatch: pytest.MonkeyPatch, only: tuple[str, ...] = ()) -> None:
    """Every file alosim flushes to disk (or only those whose name holds one of ``only``) fails with ENOSPC."""
    real = files._sync

    def full(path: Path) -> None:
        name = Path(path).name  # a temporary name: .<name>.<random>.tmp
        if not only or any(part in name for part in only):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path)

    monkeypatch.setattr(files, "_sync", full)


def place(condition: str, tmp_path: Path, request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> Path:
    """A location under the hostile condition: where to ask alosim to write."""
    if condition == "readonly":
        return request.getfixturevalue("readonly") / "out"
    if condition == "missing":
        return tmp_path / "missing" / "deeper" / "out"
    if condition == "file":
        (tmp_path / "a-file").write_text("in the way\n")
        return tmp_path / "a-file" / "out"
    if condition == "proc":
        return Path("/proc/alosim-nowhere/out")
    disk_full(monkeypatch)
    return tmp_path / "out"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def assert_one_error(code: int, err: str, *names: str) -> str:
    """Exit 2, exactly one line on standard error, naming each of ``names``."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("alosim: error: "), err
    for name in names:
        assert name in lines[0], (name, err)
    return lines[0]


def leftovers(*roots: Path) -> list[Path]:
    """Temporary files or folders a write left behind."""
    found = []
    for root in roots:
        if root.exists():
            found += [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    return found


def blocker(condition: str, where: Path) -> str:
    """The path an error under ``condition`` must name."""
    if condition == "file":
        return str(where.parent)
    if condition == "proc":
        return "/proc/alosim-nowhere"
    return str(where.parent) if condition != "full" else str(where)


def sweep_file(tmp_path: Path, **replace: str) -> Path:
    text = SWEEP
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def stored_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stored")
    return run_sweep(alosim.parse_scenario(SWEEP, source="<test>"), out=out).folder


@pytest.fixture
def sweep_copy(stored_sweep: Path, tmp_path: Path) -> Path:
    """A fresh copy of a stored sweep, to damage."""
    return Path(shutil.copytree(stored_sweep, tmp_path / "copy" / "tiny-sweep" / stored_sweep.name))


# -- run -------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", CONDITIONS)
def test_run_out(condition, tmp_path, request, monkeypatch):
    out = place(condition, tmp_path, request, monkeypatch)
    simulated = []
    module = importlib.import_module("alosim.simulate")  # the module, not the function
    real = module.simulate

    def spy(*args, **kwargs):
        simulated.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "simulate", spy)
    code, text, err = invoke("run", SCENARIO, "--out", str(out), *SMALL)
    if condition == "missing":
        assert code == 0, err
        assert "results:" in text and (out / "ack-lost").is_dir()
        return
    line = assert_one_error(code, err, blocker(condition, out))
    # Writability is known before simulating, except a disk that fills up meanwhile.
    assert simulated == ([1] if condition == "full" else []), line
    assert leftovers(tmp_path) == []
    if condition == "full":
        assert "no space left on device" in line
        assert list((out / "ack-lost").iterdir()) == []


def test_run_into_a_read_only_folder_refuses_before_simulating(readonly, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("simulated although the output cannot be written")

    monkeypatch.setattr(importlib.import_module("alosim.simulate"), "simulate", never)
    code, _, err = invoke("run", SCENARIO, "--out", str(readonly))
    line = assert_one_error(code, err, str(readonly))
    assert "operation not permitted" in line or "permission denied" in line


def run_folder_name(tmp_path: Path) -> str:
    """The folder name of ``ack-lost`` with SMALL (its fingerprint), from a first run."""
    code, _, err = invoke("run", SCENARIO, "--out", str(tmp_path / "first"), *SMALL, "--no-plot")
    assert code == 0, err
    (folder,) = (tmp_path / "first" / "ack-lost").iterdir()
    return folder.name


@pytest.mark.parametrize("junk", ["a file", "a folder of junk", "a folder with a foreign manifest"])
def test_something_else_at_the_run_path_is_refused_and_kept(tmp_path, junk):
    name = run_folder_name(tmp_path)
    target = tmp_path / "out" / "ack-lost" / name
    target.parent.mkdir(parents=True)
    if junk == "a file":
        target.write_text("not a run\n")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("mine\n")
        if junk == "a folder with a foreign manifest":
            (target / "manifest.json").write_text(json.dumps({"fingerprint": "0" * 16}))
            (target / "summary.csv").write_text("x\n1\n")
    before = sorted(p.name for p in target.iterdir()) if target.is_dir() else target.read_text()
    code, text, err = invoke("run", SCENARIO, "--out", str(tmp_path / "out"), *SMALL)
    line = assert_one_error(code, err, str(target.resolve()), "is in the way")
    assert "results:" not in text, line
    after = sorted(p.name for p in target.iterdir()) if target.is_dir() else target.read_text()
    assert after == before
    assert leftovers(tmp_path) == []


def test_a_complete_run_already_at_the_path_is_kept(tmp_path):
    name = run_folder_name(tmp_path)
    code, text, err = invoke("run", SCENARIO, "--out", str(tmp_path / "first"), *SMALL)
    assert code == 0, err
    assert str(tmp_path / "first" / "ack-lost" / name) in text


@pytest.mark.parametrize("condition", ["readonly", "file", "proc", "full"])
def test_write_run_in_python(condition, tmp_path, request, monkeypatch, small):
    result = alosim.simulate(small.with_overrides({"messages": 200}))
    out = place(condition, tmp_path, request, monkeypatch)
    with pytest.raises(OutputError, match="cannot") as caught:
        write_run(result, out)
    assert blocker(condition, out) in str(caught.value)
    assert leftovers(tmp_path) == []


# -- trace -------------------------------------------------------------------------------


@pytest.mark.parametrize("option,suffix", [("--mermaid", ".mmd"), ("--png", ".png"), ("--svg", ".svg")])
@pytest.mark.parametrize("condition", CONDITIONS)
def test_trace_outputs(condition, option, suffix, tmp_path, request, monkeypatch):
    target = place(condition, tmp_path, request, monkeypatch) / f"diagram{suffix}"
    if condition in ("missing", "full"):
        target = tmp_path / ("missing" if condition == "missing" else "") / f"diagram{suffix}"
    code, _, err = invoke("trace", SCENARIO, "--messages", "2", option, str(target))
    if condition == "missing":  # created, as a results folder is
        assert code == 0, err
        assert target.stat().st_size > 0
        return
    expected = str(target) if condition in ("full", "readonly") else blocker(condition, target.parent)
    line = assert_one_error(code, err, str(target) if condition != "proc" else "/proc", expected)
    assert not target.exists()
    assert leftovers(tmp_path) == []
    if condition == "full":
        assert "no space left on device" in line


def test_trace_into_a_folder_or_a_stream(tmp_path):
    code, _, err = invoke("trace", SCENARIO, "--mermaid", str(tmp_path))
    assert code == 2 and str(tmp_path) in err and "is a directory" in err  # click's usage error
    with pytest.raises(OutputError, match=f"cannot write {tmp_path}: it is a folder"):
        files.write_text_atomic(tmp_path, "x")
    code, _, err = invoke("trace", SCENARIO, "--messages", "2", "--mermaid", os.devnull)
    assert code == 0, err
    assert Path(os.devnull).exists() and not Path(os.devnull).is_file()  # still the device


def test_a_diagram_over_an_existing_file_replaces_it_whole(tmp_path):
    target = tmp_path / "d.svg"
    target.write_text("old")
    link = tmp_path / "link.svg"
    link.symlink_to(target)
    code, _, err = invoke("trace", SCENARIO, "--messages", "2", "--svg", str(link))
    assert code == 0, err
    assert link.is_symlink() and target.read_text().startswith("<?xml")
    assert leftovers(tmp_path) == []


# -- sweep and plot ---------------------------------------------------------------------


@pytest.mark.parametrize("condition", CONDITIONS)
def test_sweep_out(condition, tmp_path, request, monkeypatch):
    path = sweep_file(tmp_path)
    out = place(condition, tmp_path, request, monkeypatch)
    code, text, err = invoke("sweep", str(path), "--executor", "serial", "--out", str(out), "--no-progress")
    if condition == "missing":
        assert code == 0, err
        assert (out / "tiny-sweep").is_dir()
        return
    line = assert_one_error(code, err, blocker(condition, out))
    assert leftovers(tmp_path) == []
    if condition == "full":
        assert "no space left on device" in line


def test_disk_full_while_a_sweep_draws_its_plots_keeps_its_runs(tmp_path, monkeypatch):
    path = sweep_file(tmp_path)
    disk_full(monkeypatch, only=(".png.", ".svg."))
    code, text, err = invoke("sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "out"),
                             "--no-progress")
    (folder,) = (tmp_path / "out" / "tiny-sweep").iterdir()
    assert_one_error(code, err, str(folder / "plots"), "no space left on device")
    assert len(alosim.load_results(folder)) == 12  # every run stored and tabled
    assert list((folder / "plots").iterdir()) == []  # no half picture
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("condition", CONDITIONS)
def test_plot_out(condition, stored_sweep, tmp_path, request, monkeypatch):
    out = place(condition, tmp_path, request, monkeypatch)
    code, text, err = invoke("plot", str(stored_sweep), "--out", str(out))
    if condition == "missing":
        assert code == 0, err
        made = sorted(p.name for p in out.iterdir())
        assert made and made == sorted(f"{p.stem}{s}" for p in out.glob("*.png") for s in (".png", ".svg"))
        return
    line = assert_one_error(code, err, blocker(condition, out))
    assert leftovers(tmp_path, stored_sweep) == []
    if condition == "full":
        assert "no space left on device" in line
        assert list(out.iterdir()) == []


@pytest.mark.parametrize("condition", ["readonly", "file", "proc", "full"])
def test_python_writers_of_a_sweep(condition, stored_sweep, tmp_path, request, monkeypatch):
    out = place(condition, tmp_path, request, monkeypatch)
    data = load_sweep(stored_sweep)
    with pytest.raises(OutputError) as caught:
        plots.write_sweep_plots(data, out)
    assert blocker(condition, out) in str(caught.value)
    with pytest.raises(OutputError) as caught:
        plots.save(plots.store_growth(data.series[data.series["point"] == 0]), out / "growth.png")
    assert str(out) in str(caught.value) or blocker(condition, out) in str(caught.value)
    with pytest.raises(OutputError) as caught:
        run_sweep(alosim.parse_scenario(SWEEP, source="<test>"), out=out)
    assert blocker(condition, out) in str(caught.value)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("sub", [RUNS_DIR, "plots"])
def test_a_symlinked_sweep_subfolder_is_refused(sub, sweep_copy, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(sweep_copy / sub, ignore_errors=True)
    (sweep_copy / sub).symlink_to(elsewhere)
    path = sweep_file(tmp_path)
    code, _, err = invoke("sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "copy"),
                          "--no-progress")
    assert_one_error(code, err, str(sweep_copy / sub), "symbolic link")
    if sub == "plots":
        code, _, err = invoke("plot", str(sweep_copy))
        assert_one_error(code, err, str(sweep_copy / sub), "symbolic link")
    assert list(elsewhere.iterdir()) == []


# -- damaged store files ------------------------------------------------------------------


def damage_manifest(folder: Path, how: str) -> None:
    path = folder / MANIFEST
    if how == "not json":
        path.write_text('{"format": 1, "points": [')
        return
    if how == "not text":
        path.write_bytes(b"\xff\xfe\x00garbage")
        return
    if how == "a list":
        path.write_text("[1, 2]")
        return
    manifest = json.loads(path.read_text())
    if how == "replications a string":
        manifest["replications"] = "two"
    elif how == "no points":
        del manifest["points"]
    elif how == "a point without its number":
        manifest["points"][0] = {"values": {}}
    elif how == "parameters a mapping":
        manifest["parameters"] = {"a": 1}
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("how", ["not json", "not text", "a list", "replications a string", "no points",
                                 "a point without its number", "parameters a mapping"])
def test_a_tampered_sweep_json_is_named(how, sweep_copy):
    damage_manifest(sweep_copy, how)
    code, _, err = invoke("plot", str(sweep_copy))
    line = assert_one_error(code, err, str(sweep_copy / MANIFEST))
    assert "damaged" in line or "not a sweep manifest" in line
    with pytest.raises(OutputError, match=MANIFEST):
        alosim.load_results(sweep_copy)


@pytest.mark.parametrize("how", ["summary a list", "series a number", "truncated", "values not pairs",
                                 "another run's key"])
def test_a_damaged_run_file_is_named(how, sweep_copy):
    run_file = sweep_copy / RUNS_DIR / run_file_name((1, 0))
    data = json.loads(run_file.read_text())
    if how == "summary a list":
        data["summary"] = [1, 2, 3]
    elif how == "series a number":
        data["series"] = 7
    elif how == "values not pairs":
        data["values"] = [["semantics"]]
    elif how == "another run's key":
        data["point"] = 2
    text = json.dumps(data)
    run_file.write_text(text[: len(text) // 2] if how == "truncated" else text)
    (sweep_copy / RUNS_TABLE).unlink()  # the tables are rebuilt from the run files
    code, _, err = invoke("plot", str(sweep_copy))
    line = assert_one_error(code, err, str(run_file), "damaged")
    assert "alosim sweep" in line  # and what to do about it


def test_a_damaged_run_file_is_computed_again_by_the_sweep(sweep_copy, tmp_path):
    run_file = sweep_copy / RUNS_DIR / run_file_name((1, 0))
    data = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**data, "summary": [1]}))
    outcome = run_sweep(alosim.parse_scenario(SWEEP, source="<test>"), out=tmp_path / "copy")
    assert (outcome.reused, outcome.computed) == (11, 1)
    assert len(alosim.load_results(sweep_copy)) == 12


@pytest.mark.parametrize("table", ["runs.parquet", "series.parquet", "latency.parquet", "timings.csv"])
def test_a_truncated_table_is_rebuilt_from_the_run_files(table, sweep_copy, stored_sweep):
    path = sweep_copy / table
    path.write_bytes(path.read_bytes()[:40])
    code, text, err = invoke("plot", str(sweep_copy), "--kind", "duplicates")
    assert code == 0, err
    import pandas as pd

    pd.testing.assert_frame_equal(alosim.load_results(sweep_copy), alosim.load_results(stored_sweep))


# -- reading scenarios, standard output, the scheduler --------------------------------------


@pytest.mark.parametrize("where", ["a folder", "missing", "under a file", "proc"])
def test_validate_and_run_of_an_unreadable_file(where, tmp_path):
    path = {"a folder": tmp_path, "missing": tmp_path / "nope.yaml",
            "under a file": tmp_path / "a-file" / "x.yaml", "proc": Path("/proc/alosim-nowhere.yaml")}[where]
    (tmp_path / "a-file").write_text("x")
    for command in ("validate", "run", "trace", "sweep"):
        code, _, err = invoke(command, str(path))
        assert code == 2 and "Traceback" not in err, (command, err)
        assert str(path) in err.strip().splitlines()[-1], (command, err)


@pytest.mark.parametrize("command", [["schema"], ["validate", SCENARIO],
                                     ["run", SCENARIO, *SMALL, "--no-plot"]])
def test_standard_output_on_a_full_disk(command, tmp_path):
    with open("/dev/full", "w") if Path("/dev/full").exists() else pytest.skip("no /dev/full") as full:
        p = subprocess.run([sys.executable, "-m", "alosim", *command, "--out", str(tmp_path)]
                           if command[0] == "run" else [sys.executable, "-m", "alosim", *command],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT)
    assert_one_error(p.returncode, p.stderr, "standard output", "no space left on device")


@pytest.mark.parametrize("address", ["garbage://x", "tcp://[::1", "tcp://"])
def test_a_malformed_scheduler_address(address, tmp_path):
    path = sweep_file(tmp_path)
    code, _, err = invoke("sweep", str(path), "--scheduler", address, "--out", str(tmp_path / "out"))
    assert_one_error(code, err, address)


# -- two sweeps of one folder at once ------------------------------------------------------


def test_concurrent_sweeps_with_different_replications_leave_a_consistent_folder(tmp_path):
    """The longer sweep starts first and finishes last; the shorter one starts while it
    runs. Whatever the order, sweep.json and the tables must describe the same runs."""
    import pandas as pd

    out = tmp_path / "out"

    def start(replications: int) -> subprocess.Popen:
        path = tmp_path / f"sweep-{replications}.yaml"
        path.write_text(SWEEP.replace("messages: 300", "messages: 20000")
                        .replace("replications: 2", f"replications: {replications}"))
        return subprocess.Popen([sys.executable, "-m", "alosim", "sweep", str(path), "--executor", "serial",
                                 "--out", str(out), "--no-plot", "--no-progress"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    longer = start(5)
    deadline = time.monotonic() + 60
    while not list(out.glob(f"tiny-sweep/*/{RUNS_DIR}/*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    shorter = start(2)
    for child in (shorter, longer):
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    (folder,) = (out / "tiny-sweep").iterdir()
    replications = json.loads((folder / MANIFEST).read_text())["replications"]
    table = pd.read_parquet(folder / RUNS_TABLE)
    assert sorted(set(table["replication"])) == list(range(replications))
    assert len(table) == 6 * replications
    assert len(alosim.load_results(folder)) == 6 * replications


# -- interrupted plotting ------------------------------------------------------------------


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_a_plot_interrupted_while_written_leaves_the_previous_file_whole(interruption, stored_sweep,
                                                                          tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM (which alosim turns into the same unwinding) half-way through
    writing a picture: the previous picture stays as it was, no temporary file remains."""
    from matplotlib.figure import Figure

    data = load_sweep(stored_sweep)
    out = tmp_path / "plots"
    (previous,) = [p for p in plots.write_sweep_plots(data, out, ["duplicates"]) if p.suffix == ".png"]
    before = previous.read_bytes()
    real = Figure.savefig

    def interrupted(self, fname, *args, **kwargs):
        real(self, fname, *args, **kwargs)
        Path(fname).write_bytes(Path(fname).read_bytes()[:10])  # half-written...
        raise interruption  # ...when the signal arrives

    monkeypatch.setattr(Figure, "savefig", interrupted)
    with pytest.raises(interruption):
        plots.write_sweep_plots(data, out, ["duplicates"])
    assert previous.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_kill_9_while_plotting_leaves_only_temporary_files_never_a_partial_picture(tmp_path):
    """kill -9 runs no clean-up: whatever was being written stays under its
    temporary name, which no reader takes for a picture."""
    script = tmp_path / "plot_forever.py"
    script.write_text(
        "import os, sys\n"
        "from matplotlib.figure import Figure\n"
        "from alosim import plots\n"
        "real = Figure.savefig\n"
        "def stuck(self, fname, *a, **k):\n"
        "    real(self, fname, *a, **k)\n"
        "    print('written', flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
        "Figure.savefig = stuck\n"
        "fig = Figure(); fig.add_subplot().plot([0, 1])\n"
        f"plots.save(fig, {str(tmp_path / 'duplicates.png')!r})\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == -9 and "written" in p.stdout
    assert not (tmp_path / "duplicates.png").exists()
    (tmp,) = leftovers(tmp_path)
    assert tmp.name.startswith(".duplicates.png.")


def test_disk_full_while_a_sweep_stores_its_runs(tmp_path, monkeypatch):
    path = sweep_file(tmp_path)
    disk_full(monkeypatch, only=(".p000003-r000001.json.",))  # the eighth run
    code, text, err = invoke("sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "out"),
                             "--no-progress")
    (folder,) = (tmp_path / "out" / "tiny-sweep").iterdir()
    assert_one_error(code, err, str(folder / RUNS_DIR / "p000003-r000001.json"), "no space left on device")
    assert len(list((folder / RUNS_DIR).glob("*.json"))) == 7  # the runs before it are kept
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    code, text, err = invoke("sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "out"),
                             "--no-progress", "--no-plot")
    assert code == 0 and "7 stored before, 5 computed" in text, err


@pytest.mark.parametrize("condition", ["missing", "file", "proc"])
def test_plot_of_results_that_are_not_there(condition, tmp_path):
    where = {"missing": tmp_path / "nope", "file": tmp_path / "a-file",
             "proc": Path("/proc/alosim-nowhere")}[condition]
    (tmp_path / "a-file").write_text("x")
    code, _, err = invoke("plot", str(where))
    assert_one_error(code, err, str(where) if condition != "file" else str(tmp_path))


@pytest.mark.parametrize("address", ["garbage://x", "tcp://[::1"])
def test_a_client_that_failed_to_connect_is_gone_before_the_error(address):
    """A half-built Dask Client left to the garbage collector closes itself in its
    __del__, whenever the collector runs -- inside the next Client's start, which
    then waits for ever (a sweep hung that way). It must be collected before the
    executor reports the failure."""
    import gc

    from distributed import Client

    from alosim.executors import ExecutorError, make_executor

    gc.collect()
    before = sum(isinstance(o, Client) for o in gc.get_objects())
    gc.disable()  # only the executor's own collection may run
    try:
        with pytest.raises(ExecutorError):
            make_executor("dask", None, address)
        left = sum(isinstance(o, Client) for o in gc.get_objects())
    finally:
        gc.enable()
    assert left == before


def test_an_interrupt_just_after_the_temporary_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl-C can land between any two bytecodes: also between making the temporary
    file and the block that removes it on failure (a stray .tmp in an explore folder)."""
    import alosim.files as files

    real_close = os.close

    def close_then_interrupt(fd: int) -> None:
        real_close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "close", close_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.write_text_atomic(tmp_path / "run.json", "{}")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
