"""A run's picture drawn ahead in a process of its own: the same bytes as drawn here,
drawn here whenever that process cannot, and never outliving the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import alosim
from alosim import plots
from alosim.plots import ahead
from alosim.plots.ahead import PictureProcess
from alosim.scenario import load_scenario
from alosim.simulate import simulate
from tests.conftest import SCENARIOS

TREE = str(Path(alosim.__file__).parent.parent)


@pytest.fixture(scope="module")
def series() -> dict[str, list[float]]:
    scenario = load_scenario(SCENARIOS / "store-growth-ttl.yaml", ["messages=2000"])
    return simulate(scenario).series_columns()


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh ``alosim run``: matplotlib not loaded yet, two cores."""
    monkeypatch.setattr(ahead, "worth_starting", lambda: True)


def test_the_process_draws_the_bytes_this_process_draws(fresh: None, series: dict[str, list[float]],
                                                        tmp_path: Path) -> None:
    plots.draw_growth(series, "store-growth-ttl (seed 3)", tmp_path / "here.png")
    with PictureProcess() as picture:
        assert picture.started
        picture.draw_growth(series, "store-growth-ttl (seed 3)", tmp_path / "there.png")
    assert (tmp_path / "there.png").read_bytes() == (tmp_path / "here.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here.png", "there.png"]


def test_a_process_that_failed_leaves_the_picture_to_this_one(fresh: None, series: dict[str, list[float]],
                                                              tmp_path: Path) -> None:
    plots.draw_growth(series, "t", tmp_path / "here.png")
    with PictureProcess() as picture:
        assert picture._process is not None
        picture._process.kill()  # died before the request came (out of memory, say)
        picture.draw_growth(series, "t", tmp_path / "fallback.png")
    assert (tmp_path / "fallback.png").read_bytes() == (tmp_path / "here.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fallback.png", "here.png"]


def test_a_process_too_slow_is_ended_and_the_picture_drawn_here(fresh: None, series: dict[str, list[float]],
                                                                tmp_path: Path) -> None:
    plots.draw_growth(series, "t", tmp_path / "here.png")
    with PictureProcess(wait_s=0.0) as picture:
        process = picture._process
        picture.draw_growth(series, "t", tmp_path / "late.png")
    assert process is not None and process.returncode is not None
    assert (tmp_path / "late.png").read_bytes() == (tmp_path / "here.png").read_bytes()


def test_a_run_that_stops_before_its_picture_ends_the_process(fresh: None) -> None:
    with PictureProcess() as picture:
        process = picture._process
    assert process is not None and process.returncode is not None


def test_nothing_is_started_where_matplotlib_is_loaded_already(series: dict[str, list[float]],
                                                               tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.figure  # noqa: F401 -- as in a notebook or a test session

    monkeypatch.setattr(ahead, "idle_cores", lambda: 2.0)
    with PictureProcess() as picture:
        assert not picture.started
        picture.draw_growth(series, "t", tmp_path / "here.png")
    assert (tmp_path / "here.png").read_bytes()[:4] == b"\x89PNG"


def test_alosim_run_draws_its_picture_without_loading_matplotlib_itself(tmp_path: Path) -> None:
    """The run's own process never loads matplotlib (about 0.3 s); its picture has the
    bytes of a picture drawn in one process (write_run)."""
    probe = ("import sys\nfrom alosim.cli import cli\nfrom alosim.plots import ahead\n"
             "ahead.worth_starting = lambda: True  # as on an idle machine of two cores\n"
             "try:\n    cli.main(sys.argv[1:], prog_name='alosim')\n"
             "except SystemExit:\n    pass\nprint('matplotlib' in sys.modules, file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=TREE)
    args = ["run", str(SCENARIOS / "ack-lost.yaml"), "--set", "messages=10", "--out", str(tmp_path / "cli")]
    done = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "False"
    from alosim.results import write_run

    scenario = load_scenario(SCENARIOS / "ack-lost.yaml", ["messages=10"])
    here = write_run(simulate(scenario), tmp_path / "here", command="alosim " + " ".join(args[:4]),
                     overrides=["messages=10"])
    there = next((tmp_path / "cli" / "ack-lost").iterdir())
    assert (there / "growth.png").read_bytes() == (here / "growth.png").read_bytes()
    assert sorted(p.name for p in there.iterdir()) == sorted(p.name for p in here.iterdir())


@pytest.mark.parametrize(("load", "started"), [(0.2, True), (1.2, True), (1.6, False), (4.0, False)])
def test_a_busy_machine_gets_no_second_process(load: float, started: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "matplotlib.figure", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    with PictureProcess() as picture:
        assert picture.started == started


def test_the_picture_process_starts_before_the_schema_loads(tmp_path: Path) -> None:
    """Started first, it loads matplotlib while this process loads the schema (pydantic):
    nothing before ``run`` loads the schema, not even the handler of its errors."""
    probe = ("import sys\nfrom alosim.plots import ahead\n"
             "ahead.worth_starting = lambda: print('schema loaded:', 'alosim.scenario' in sys.modules, "
             "file=sys.stderr) or False\n"
             "from alosim.cli import cli\ntry:\n    cli.main(sys.argv[1:], prog_name='alosim')\n"
             "except SystemExit:\n    pass\n")
    env = dict(os.environ, PYTHONPATH=TREE)
    args = ["run", str(SCENARIOS / "ack-lost.yaml"), "--set", "messages=10", "--out", str(tmp_path)]
    done = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=True)
    assert "schema loaded: False" in done.stderr.splitlines()


def test_a_bad_scenario_is_one_line_with_the_picture_process_started(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmessages: -3\n", encoding="utf-8")
    probe = ("import sys\nfrom alosim.plots import ahead\nahead.worth_starting = lambda: True\n"
             "sys.argv = ['alosim', *sys.argv[1:]]\nfrom alosim.cli import main\nmain()\n")
    env = dict(os.environ, PYTHONPATH=TREE)
    done = subprocess.run([sys.executable, "-c", probe, "run", str(bad), "--out", str(tmp_path / "out")],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith(f"alosim: error: {bad}") and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))
