"""What a log run reports: the CLI's sections, the lag series, the order check."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import alosim
from alosim.cli import cli
from tests.conftest import make
from tests.log.test_model import BASE, CRASHES


def test_run_prints_the_log_the_group_and_causes(tmp_path: Path) -> None:
    path = tmp_path / "log.yaml"
    path.write_text(BASE.replace("faults: []", "faults: [{target: consumers, mtbf: 1s, mttr: 100ms}]")
                    + "\n")
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = result.output
    for line in ("log (producer -> partitions)", "consumer group", "rebalances",
                 "replays (per crash)", "by hop and cause", "consume: replay after crash"):
        assert line in out, line
    # A log leads with its crashes and what each costs.
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["consumer", "replays", "losses"]


def test_lag_is_sampled_per_partition_and_bounded() -> None:
    r = alosim.simulate(make(BASE, **{"broker.partitions": 12}))
    series = r.series
    assert "log_lag" in series and "log_commit_lag" in series
    assert "log_lag_p7" in series and "log_lag_p8" not in series
    rows = len(series["time_s"])
    assert len(series["log_lag_p0"]) == rows
    for t in range(rows):
        assert series["log_lag"][t] >= sum(series[f"log_lag_p{p}"][t] for p in range(8))
        assert series["log_commit_lag"][t] >= series["log_lag"][t]


def test_exactly_once_on_a_log_checks_key_order() -> None:
    lossy = {"semantics": "exactly-once", "consumer.commit.policy": "transactional",
             "network.data.loss": 0.1, "network.ack.loss": 0.1, "faults": CRASHES}
    unordered = alosim.simulate(make(BASE, **lossy))
    assert unordered.checks["key_order"] is False  # idempotence off: retries reorder
    ordered = alosim.simulate(make(BASE, **lossy, **{"broker.dedup.kind": "sequence"}))
    assert ordered.checks == {"no_duplicate_processing": True, "acked_were_processed": True,
                              "none_lost": True, "key_order": True}
    at_least_once = alosim.simulate(make(BASE))
    assert "key_order" not in at_least_once.checks


THEORY = """
name: theory
duration: 100s
sender: {rate: 400/s, window: null}
broker: {kind: log, partitions: 2}
consumer: {count: 1, commit: {policy: interval, interval: 0.5s}}
faults: [{target: consumer-0, mtbf: 3s, mttr: 5ms}]
"""


def test_theory_holds_the_log_to_its_closed_forms_where_they_apply() -> None:
    from alosim import theory

    for commit in ({"policy": "interval", "interval": 0.5}, {"policy": "after-each", "latency": 0.001}):
        scenario = make(THEORY, **{"consumer.commit": commit})
        r = alosim.simulate(scenario)
        comparisons = theory.compare(scenario, r.summary)
        assert len(comparisons) == 1, comparisons
        assert abs(comparisons[0].z) < 2.58, comparisons  # within its 99 % interval
    # An assumption broken, the form steps aside with its reason.
    slow = make(THEORY, **{"consumer.processing": {"dist": "constant", "value": 0.001}})
    verdicts = dict(theory.applicability(slow, alosim.simulate(slow).summary))
    assert verdicts["auto-commit replays per crash"] == "processing is not instant"
    queue = dict(theory.applicability(make("name: q\nmessages: 5\nbroker: {}\n"), {"messages": 5}))
    assert "auto-commit replays per crash" not in queue
