"""Every shipped scenario gives the same fingerprint in separate processes
with different hash seeds (``alosim run --check-determinism``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alosim import determinism
from tests.conftest import SCENARIOS


def test_run_check_determinism_end_to_end(tmp_path):
    name = "ack-lost"
    p = subprocess.run(
        [sys.executable, "-m", "alosim", "run", str(SCENARIOS / f"{name}.yaml"),
         "--check-determinism", "--no-plot", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert p.returncode == 0, p.stderr
    assert "deterministic: the same fingerprint" in p.stderr
    (folder,) = (tmp_path / name).iterdir()
    fingerprint = folder.name.rsplit("-", 1)[1]
    assert f"PYTHONHASHSEED=1: {fingerprint}" in p.stderr  # the third run agrees too


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
def test_shipped_scenario_is_deterministic(name):
    # What run --check-determinism does before it runs: two processes, two hash seeds.
    verdict = determinism.check(SCENARIOS / f"{name}.yaml")
    assert verdict.ok, verdict.describe()


def test_a_difference_is_reported_clearly():
    verdict = determinism.Verdict({"1": "aaaa", "2": "bbbb"})
    assert not verdict.ok
    assert verdict.describe() == (
        "NOT deterministic: fingerprints differ between processes "
        "(PYTHONHASHSEED=1: aaaa, PYTHONHASHSEED=2: bbbb)")
