"""Child processes end with the command that started them: the two runs of
``alosim run --check-determinism`` and the worker pool of a sweep, whether the
command is stopped by Ctrl-C, SIGTERM or kill -9 (which runs no clean-up).
Real processes, every wait bounded."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, SCENARIOS
from tests.test_sweep import SWEEP

psutil = pytest.importorskip("psutil")

#: How long children may outlive their parent.
GRACE_S = 10.0


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def assert_all_end(children: list[psutil.Process]) -> float:
    """Every child ends within GRACE_S; returns how long the last one took."""
    start = time.monotonic()
    try:
        wait_for(lambda: not any(running(c) for c in children), GRACE_S, "the children to end")
    finally:
        for child in children:  # never leave one behind, even when the test fails
            if running(child):
                child.kill()
    return time.monotonic() - start


def start(args: list[str], log: Path) -> subprocess.Popen:
    # Output into a file, not a pipe: a child that outlives its parent would hold a pipe open.
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "alosim", *args], stdout=subprocess.DEVNULL,
                                stderr=err, cwd=ROOT)


def stop(parent: subprocess.Popen, sig: int, children: list[psutil.Process]) -> float:
    """Send ``sig`` to the parent alone; how long until its last child ended."""
    try:
        parent.send_signal(sig)
        parent.wait(timeout=60)
        return assert_all_end(children)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for child in children:
            if running(child):
                child.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_check_determinism_children_end_with_the_command(sig, tmp_path):
    out = tmp_path / "out"
    parent = start(["run", str(SCENARIOS / "ack-lost.yaml"), "--check-determinism",
                    "--set", "messages=5000000", "--out", str(out)], tmp_path / "err.txt")
    try:
        # A child's command line is its parent's until it has exec'd: wait for both.
        children = wait_for(
            lambda: len(kids := psutil.Process(parent.pid).children()) == 2
            and all("fingerprint" in c.cmdline() for c in kids) and kids, 60,
            "the two determinism runs to start")
        time.sleep(0.5)  # well into their simulations
    except BaseException:
        parent.kill()
        parent.wait()
        raise
    assert stop(parent, sig, children) < GRACE_S
    assert "Traceback" not in (tmp_path / "err.txt").read_text()
    assert [p for p in out.rglob("*") if p.name != "ack-lost"] == []  # nothing written


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_sweep_workers_end_with_the_command(sig, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.replace("messages: 300", "messages: 2000000"))
    parent = start(["sweep", str(path), "--executor", "local", "--jobs", "2", "--out", str(tmp_path / "out"),
                    "--no-progress", "--no-plot"], tmp_path / "err.txt")
    try:
        # The fork server, its two workers (and the resource tracker).
        wait_for(lambda: len(descendants(parent.pid)) >= 3, 60, "the pool's workers to start")
        time.sleep(1.0)  # the workers are simulating
        children = descendants(parent.pid)
    except BaseException:
        parent.kill()
        parent.wait()
        raise
    assert stop(parent, sig, children) < GRACE_S
    assert "Traceback" not in (tmp_path / "err.txt").read_text()
