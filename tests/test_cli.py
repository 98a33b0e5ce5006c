"""The command line as a person uses it: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SCENARIOS


def alosim(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alosim", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_run_prints_a_summary_and_writes_a_complete_results_folder(tmp_path):
    out = tmp_path / "res"
    p = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--set", "messages=500",
               cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "duplicate deliveries" in p.stdout and "fingerprint" in p.stdout
    (folder,) = (out / "ack-lost").iterdir()
    names = sorted(f.name for f in folder.iterdir())
    assert names == ["growth.png", "manifest.json", "scenario.yaml", "summary.csv", "timeseries.csv"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["fingerprint"] in folder.name
    assert manifest["seed"] == 7 and manifest["alosim_version"]
    assert "wall_time_s" in manifest
    assert "wall_time" not in (folder / "summary.csv").read_text()
    assert (folder / "growth.png").read_bytes()[:4] == b"\x89PNG"


def test_same_scenario_same_bytes_under_any_hash_seed(tmp_path):
    summaries = set()
    fingerprints = set()
    for i, hash_seed in enumerate(["0", "1", "2", "random"]):
        out = tmp_path / f"r{i}"
        p = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot",
                   "--set", "messages=3000", cwd=tmp_path, env={"PYTHONHASHSEED": hash_seed})
        assert p.returncode == 0, p.stderr
        (folder,) = (out / "ack-lost").iterdir()
        summaries.add((folder / "summary.csv").read_bytes() + (folder / "timeseries.csv").read_bytes())
        fingerprints.add(json.loads((folder / "manifest.json").read_text())["fingerprint"])
    assert len(summaries) == 1 and len(fingerprints) == 1


def test_seed_option_changes_the_run(tmp_path):
    p1 = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path), "--no-plot",
                "--set", "messages=300", "--seed", "1", cwd=tmp_path)
    p2 = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path), "--no-plot",
                "--set", "messages=300", "--seed", "2", cwd=tmp_path)
    assert p1.returncode == p2.returncode == 0
    assert sorted(d.name.split("-")[1] for d in (tmp_path / "ack-lost").iterdir()) == ["1", "2"]


BAD_INPUTS = {
    "misspelt key": ("name: t\nmessages: 10\nnetwork: {ack: {los: 0.1}}\n",
                     "network.ack.los: unknown key; did you mean 'loss'?"),
    "probability": ("name: t\nmessages: 10\nnetwork: {ack: {loss: 1.5}}\n", "network.ack.loss"),
    "negative timeout": ("name: t\nmessages: 10\nsender: {retry: {timeout: -1s}}\n",
                         "sender.retry.timeout"),
    "unknown unit": ("name: t\nmessages: 10\nsender: {retry: {timeout: 3 weeks}}\n",
                     "unknown duration unit"),
    "malformed yaml": ("name: t\nmessages: [10\n", "not valid YAML"),
    "escaping name": ("name: ../../x\nmessages: 10\n", "name:"),
    "python tag": ("name: !!python/object/apply:os.getcwd []\nmessages: 1\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_one_clear_message_and_writes_nothing(tmp_path, case):
    text, expected = BAD_INPUTS[case]
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text)
    out = tmp_path / "out"
    p = alosim("run", str(scenario), "--out", str(out), cwd=tmp_path)
    assert p.returncode == 2
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith(f"alosim: error: {scenario}: ")
    assert expected in p.stderr
    assert not out.exists()


def test_missing_file_and_bad_set_value(tmp_path):
    p = alosim("run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 2 and "no such file" in p.stderr and "Traceback" not in p.stderr
    p = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--set", "network.ack.loss=2",
               "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 2 and "network.ack.loss" in p.stderr
    assert not (tmp_path / "o").exists()


def test_validate_checks_every_file_and_reports_each_bad_one(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nmessages: 0\n")
    p = alosim("validate", *map(str, sorted(SCENARIOS.glob("*.yaml"))), str(bad), cwd=ROOT)
    assert p.returncode == 2
    assert p.stdout.count(": ok (") == len(list(SCENARIOS.glob("*.yaml")))
    assert f"{bad}: messages" in p.stderr


def test_schema_is_json_for_editors(tmp_path):
    p = alosim("schema", cwd=tmp_path)
    assert p.returncode == 0
    schema = json.loads(p.stdout)
    assert "network" in schema["properties"]


def test_trace_shows_the_classic_ack_lost_sequence(tmp_path):
    p = alosim("trace", str(SCENARIOS / "ack-lost.yaml"), "--messages", "3",
               "--mermaid", str(tmp_path / "d.mmd"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    diagram = (tmp_path / "d.mmd").read_text()
    assert diagram in p.stdout
    lines = [line.strip() for line in diagram.splitlines()]
    # m0: sent, ack lost, timeout, resent, duplicate detected, acked.
    m0 = [line for line in lines if "m0" in line]
    assert m0 == [
        "S0->>R0: m0 #1",
        "Note over R0: process m0",
        "R0--xS0: ack m0 LOST",
        "Note over S0: timeout m0 #1",
        "S0->>R0: m0 #2 (resend)",
        "Note over R0: duplicate m0 detected, dropped",
        "R0-->>S0: ack m0",
    ]
    assert "time" in p.stdout and "ack_lost" in p.stdout
