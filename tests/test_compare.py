"""alosim compare: runs side by side on common random numbers, differences with paired intervals."""

from __future__ import annotations

import math
import statistics

import pytest
from click.testing import CliRunner

import alosim
from alosim import compare as comparing
from alosim.analytic import student_t_quantile
from alosim.cli import _split_variant, cli
from tests.conftest import SCENARIOS, make

SMALL = """
name: small
seed: 3
messages: 1500
sender: {rate: 200/s, window: 32, durable_outbox: false, retry: {timeout: 300ms}}
network:
  data: {loss: 0.1, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.2, latency: {dist: exponential, mean: 10ms}}
faults: [{target: sender-0, at: 3s, for: 1s}]
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def row(result: comparing.Comparison, measure: str) -> comparing.Row:
    return next(r for r in result.rows if r.measure == measure)


def test_a_scenario_compared_with_itself_differs_by_nothing():
    scenario = make(SMALL)
    result = comparing.compare([comparing.Input("a", scenario), comparing.Input("b", scenario)],
                               replications=3)
    for r in result.rows:
        diff, half = r.differences[0]
        assert diff == 0 and half == 0, r
    assert result.seeds == (3, 4, 5)


def test_differences_are_paired_over_common_seeds_with_a_t_interval():
    base = make(SMALL)
    durable = base.with_overrides({"sender.durable_outbox": True})
    result = comparing.compare([comparing.Input("volatile", base), comparing.Input("durable", durable)],
                               replications=4, confidence=0.95)
    per_seed = [alosim.simulate(durable, seed=s).summary["duplicate_deliveries"]
                - alosim.simulate(base, seed=s).summary["duplicate_deliveries"] for s in (3, 4, 5, 6)]
    diff, half = row(result, "duplicate_deliveries").differences[0]
    assert diff == pytest.approx(statistics.fmean(per_seed))
    assert half == pytest.approx(student_t_quantile(0.975, 3) * statistics.stdev(per_seed) / 2)
    abandoned = row(result, "abandoned")
    assert abandoned.values[1] == 0 and abandoned.values[0] > 0
    assert abandoned.differences[0][0] == -abandoned.values[0]


def test_cli_compares_files_variants_and_stored_runs(tmp_path):
    shown = invoke("compare", str(SCENARIOS / "sender-crash.yaml"), "--with", "sender.durable_outbox=true")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert "seed 15 for every scenario (common random numbers)" in lines[0]
    assert lines[1:3] == ["[1] sender-crash", "[2] sender-crash [durable_outbox=true]"]
    assert lines[3].split() == ["[1]", "[2]", "[2]", "-", "[1]"]
    abandoned = next(line for line in lines if line.startswith("abandoned in a sender crash"))
    assert abandoned.split()[-3:] == ["54", "0", "-54"]

    out = tmp_path / "res"
    assert invoke("run", str(SCENARIOS / "sender-crash.yaml"), "--out", str(out), "--no-plot").exit_code == 0
    (folder,) = (out / "sender-crash").iterdir()
    stored = invoke("compare", str(folder), str(SCENARIOS / "sender-crash.yaml"))
    assert stored.exit_code == 0, stored.output
    for line in stored.stdout.splitlines()[4:]:
        if line.startswith(("transmissions ", "abandoned", "lost (never")):
            assert line.split()[-1] in ("0", "+0"), line  # the same seed: the same run


def test_cli_refuses_what_it_cannot_compare(tmp_path):
    alone = invoke("compare", str(SCENARIOS / "ack-lost.yaml"))
    assert alone.exit_code == 2 and "needs two inputs" in alone.stderr
    missing = invoke("compare", str(SCENARIOS / "ack-lost.yaml"), str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "nope.yaml: no such file" in missing.stderr
    out = tmp_path / "res"
    invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot", "--set", "messages=200")
    replicated = invoke("compare", str(out / "ack-lost"), str(SCENARIOS / "ack-lost.yaml"), "-n", "3")
    assert replicated.exit_code == 2 and "cannot be replicated" in replicated.stderr
    bad = invoke("compare", str(SCENARIOS / "ack-lost.yaml"), "--with", "network.ack.loss")
    assert bad.exit_code == 2 and "expected PATH=VALUE" in bad.stderr


def test_with_splits_changes_at_commas_that_start_a_path():
    assert _split_variant("sender.retry.policy=fixed,sender.retry.timeout=300ms") == [
        "sender.retry.policy=fixed", "sender.retry.timeout=300ms"]
    assert _split_variant("network.partitions=[{at: 1, for: 2}]") == ["network.partitions=[{at: 1, for: 2}]"]


def test_frame_has_values_and_interval_ends():
    scenario = make(SMALL)
    result = comparing.compare([comparing.Input("a", scenario),
                                comparing.Input("b", scenario.with_overrides({"network.ack.loss": 0.3}))])
    frame = result.frame()
    assert {"measure", "a", "b", "b - a", "b - a ci_low", "b - a ci_high"} <= set(frame.columns)
    assert math.isnan(frame["b - a ci_low"].iloc[0])  # one replication: no interval


def test_by_default_the_table_shows_headline_rows_and_rows_that_differ_and_all_with_every():
    base = make(SMALL)
    result = comparing.compare([comparing.Input("a", base),
                                comparing.Input("b", base.with_overrides({"sender.durable_outbox": True}))])
    short = comparing.format_comparison(result)
    full = comparing.format_comparison(result, every=True)
    labels = [line.split("  ")[0] for line in short.splitlines()[4:]]
    assert labels[0] == "duplicate processing"  # the single hop's headline first
    assert "messages created" not in labels  # equal for both: left out by default
    assert "abandoned in a sender crash" in labels  # differs
    assert "messages created" in full and "--all shows every row" in short
    assert len(full.splitlines()) > len(short.splitlines())


def test_a_table_wider_than_the_terminal_is_cut_into_blocks_of_columns():
    base = make(SMALL)
    items = [comparing.Input(f"v{i}", base.with_overrides({"network.ack.loss": 0.1 * i})) for i in range(1, 5)]
    result = comparing.compare(items, replications=2)
    text = comparing.format_comparison(result, width=70)
    table = text.splitlines()[5:]
    assert max(len(line) for line in table if not line.startswith("(")) <= 70
    headers = [line for line in table if line.lstrip().startswith("[")]
    assert len(headers) >= 2  # the differences continue in a second block, labels repeated


def test_every_difference_gets_an_interval_recovery_time_and_per_crash_figures_included(monkeypatch):
    import sys

    simulating = sys.modules["alosim.simulate"]

    def fake(scenario, seed=None, **_):
        plus = 1.0 if scenario.name == "b" else 0.0
        summary = {"messages": 100, "recovery_time_s": 2.0 + plus + 0.1 * seed, "recovered": True,
                   "duplicates_per_consumer_crash": 50.0 + 10 * plus + seed, "check_none_lost": True}
        return type("R", (), {"summary": summary})()

    monkeypatch.setattr(simulating, "simulate", fake)
    a, b = make("name: a\nmessages: 10"), make("name: b\nmessages: 10")
    result = comparing.compare([comparing.Input("a", a), comparing.Input("b", b)], replications=3)
    for measure in ("recovery_time_s", "duplicates_per_consumer_crash"):
        diff, half = row(result, measure).differences[0]
        assert diff == pytest.approx(1.0 if measure == "recovery_time_s" else 10.0) and half == pytest.approx(0)
    text = comparing.format_comparison(result)
    assert "recovery time" in text and "replays (per crash)" in text
    assert "recovered after the slowdown" not in text  # equal for both
    assert "3/3 yes" in comparing.format_comparison(result, every=True)  # a verdict over replications


def test_common_random_numbers_are_claimed_only_when_the_runs_recorded_the_same_seeds(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    out = tmp_path / "res"
    for seed in ("3", "4"):
        assert invoke("run", str(path), "--seed", seed, "--out", str(out), "--no-plot").exit_code == 0
    three, four = sorted((out / "small").iterdir())  # seed-3-..., seed-4-...
    # A stored run keeps the seed it was made with: against a scenario run with seed 3 ...
    same = invoke("compare", str(three), str(path)).stdout.splitlines()[0]
    assert same.startswith("seed 3 for every scenario (common random numbers)")
    # A stored run cannot be replicated (compare refuses it): no advice to replicate.
    assert "--replications" not in same and "a stored run cannot be replicated" in same
    assert "--replications N" in invoke("compare", str(path), str(path)).stdout.splitlines()[0]
    # ... and against one made with seed 4, nothing is shared.
    other = invoke("compare", str(four), str(path)).stdout.splitlines()[0]
    assert "common random numbers" in other and "no common random numbers" in other
    assert "[1] seed 4; [2] seed 3" in other and "for every scenario" not in other
    result = comparing.compare([comparing.stored_run(four), comparing.Input("small", make(SMALL))])
    assert result.recorded_seeds == ((4,), (3,)) and not result.common_seeds
