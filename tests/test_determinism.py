"""Every shipped scenario gives the same fingerprint in separate processes
with different hash seeds (what ``alosim run --check-determinism`` checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from alosim import determinism
from tests.conftest import SCENARIOS
from tests.shipped import NAMES, shipped_run


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


@pytest.mark.shipped
@pytest.mark.parametrize("name", NAMES)
def test_shipped_scenario_is_deterministic(name):
    # The same fingerprint in two processes with different hash seeds: this one (whose run the
    # other tests of the scenario share) and a fresh `alosim fingerprint` with another hash seed.
    here = os.environ.get("PYTHONHASHSEED")  # unset or "random": this process drew its own
    other = "2" if here == "1" else "1"
    child = subprocess.Popen([sys.executable, "-m", "alosim", "fingerprint", str(SCENARIOS / f"{name}.yaml")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONHASHSEED": other})
    try:
        fingerprint_here = shipped_run(name).fingerprint  # while the child runs
        out, err = child.communicate(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    verdict = determinism.Verdict({here or "random": fingerprint_here, other: json.loads(out)["fingerprint"]})
    assert verdict.ok, verdict.describe()


def test_a_difference_is_reported_clearly():
    verdict = determinism.Verdict({"1": "aaaa", "2": "bbbb"})
    assert not verdict.ok
    assert verdict.describe() == (
        "NOT deterministic: fingerprints differ between processes "
        "(PYTHONHASHSEED=1: aaaa, PYTHONHASHSEED=2: bbbb)")
