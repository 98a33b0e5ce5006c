"""A log's trace: fetches, commits with their offsets and a rebalance, as rows, notes,
a mark across the consumer lanes, Mermaid text and trace.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from click.testing import CliRunner

import alosim
from alosim import seqdiagram, trace
from alosim.cli import cli
from alosim.seqdiagram.pipeline import LogNote, layout, mermaid
from alosim.sweep import latency_sample
from tests.conftest import make

# Two members, a partition each. consumer-0 crashes at 40 ms, after processing
# the three records of p0 and before the first auto-commit tick (50 ms); its
# session times out at 140 ms and the rebalance waits 20 ms: at 160 ms
# consumer-1 owns both partitions and processes p0 again from offset 0.
CRASH_S, SESSION_S, DELAY_S = 0.040, 0.100, 0.020
LOG = """
name: log-trace
messages: 6
sender: {rate: 200/s}
observe: {trace_messages: 6}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
broker: {kind: log, partitions: 2, partitioner: round-robin}
consumer:
  count: 2
  fetch_batch: 10
  processing: {dist: constant, value: 5ms}
  session_timeout: 100ms
  rebalance_delay: 20ms
  commit: {policy: interval, interval: 50ms}
faults:
  - {target: consumer-0, at: 40ms, for: 500ms}
"""


def run() -> alosim.RunResult:
    return alosim.simulate(alosim.parse_scenario(LOG))


def test_the_trace_holds_the_assignment_commits_and_one_row_per_rebalance() -> None:
    result = run()
    events = result.trace
    group = [e for e in events if e.actor == "group"]
    assert [(e.event, e.message, e.detail) for e in group] == [
        ("assigned", -1, "c0 {0} c1 {1}"),
        ("rebalance", -1, "crash consumer-0 | 20 ms | c0 {} c1 {0,1}"),
    ]
    assert abs(group[1].time_s - (CRASH_S + SESSION_S + DELAY_S)) < 1e-9
    # Each commit's offset is the next to read: one past the last record the
    # committing member processed on that partition before it.
    commits = [e for e in events if e.event == "commit"]
    assert commits and all(e.message == -1 for e in commits)
    for c in commits:
        p = c.detail.partition("@")[0]
        done = [e.attempt for e in events if e.event == "processed" and e.actor == c.actor
                and e.detail.split()[0] == p and e.time_s <= c.time_s]
        assert c.detail == f"{p}@{max(done) + 1}" and c.attempt == max(done) + 1
    assert [(e.actor, e.detail) for e in commits] == [("consumer-1", "p1@3"), ("consumer-1", "p0@3")]
    assert result.summary["log_rebalances"] == 1


def test_fetches_commits_and_replays_are_notes_on_the_consumer_lanes() -> None:
    diagram = layout(run().trace)
    assert diagram.actors == ("sender-0", "broker", "consumer-0", "consumer-1")
    assert all(a.fate == "arrived" for a in diagram.arrows)  # a publish ends where it was appended
    log_notes = [(n.kind, n.actor, n.label) for n in diagram.notes if isinstance(n, LogNote)]
    assert ("fetch", "consumer-1", "fetch p0@0..2") in log_notes  # the replay after the rebalance
    assert [label for kind, _, label in log_notes if kind == "commit"] == ["commit p1@3", "commit p0@3"]
    again = [n.message for n in diagram.notes if n.kind == "processed_again"]
    assert again == [0, 2, 4]  # the records of p0 consumer-0 processed and never committed


def test_the_rebalance_is_a_mark_across_the_consumer_lanes_with_the_partitions_moving() -> None:
    marks = layout(run().trace).marks
    assert [m.kind for m in marks] == ["assigned", "rebalance"]
    start, rebalance = marks
    assert start.owners == (("consumer-0", (0,)), ("consumer-1", (1,)))
    assert rebalance.actors == ("consumer-0", "consumer-1")
    assert rebalance.owners == (("consumer-0", ()), ("consumer-1", (0, 1)))
    assert rebalance.detail == "crash consumer-0"
    assert abs(rebalance.since_s - (CRASH_S + SESSION_S)) < 1e-9
    assert abs(rebalance.time_s - rebalance.since_s - DELAY_S) < 1e-9
    assert rebalance.label == "rebalance after crash c0, 20 ms: c0 {} c1 {0,1}"


def test_the_mermaid_text_has_the_commits_and_the_rebalance_in_order() -> None:
    events = run().trace
    text = mermaid(events)
    assert text == trace.mermaid(events)
    lines = text.splitlines()
    assert "    Note over C0,C1: assigned: c0 {0} c1 {1}" in lines
    rebalance = lines.index("    Note over C0,C1: rebalance after crash c0, 20 ms: c0 {} c1 {0,1}")
    # The new owner's fetch of the partition it took over comes after the mark.
    assert lines.index("    Note over C1: fetch p0@0..2") > rebalance
    assert lines.index("    Note over C1: commit p1@3") < rebalance < lines.index("    Note over C1: commit p0@3")
    assert "    Note over C1: processed m0 AGAIN" in lines


def test_the_picture_draws_the_mark_its_band_and_the_commit_labels() -> None:
    fig = seqdiagram.draw(run().trace)
    ax = fig.axes[0]
    gids = {a.get_gid() for a in ax.get_children() if a.get_gid()}
    assert {"rebalance 1", "rebalance band 1", "label rebalance 1"} <= gids
    assert {"commit consumer-1 p1@3", "commit consumer-1 p0@3", "fetch consumer-1 p0@0..2"} <= gids
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert texts["label rebalance 1"] == "rebalance after crash c0, 20 ms: c0 {} c1 {0,1}"
    assert texts["label commit consumer-1 p0@3"] == "commit p0@3"
    # The assignment at the start is in the consumer lanes' names.
    assert texts["lane name consumer-0"] == "consumer-0 {0}"
    assert texts["lane name consumer-1"] == "consumer-1 {1}"
    assert "labels left out" not in gids


def test_a_crowded_picture_keeps_to_the_layout_rules() -> None:
    # The storm cut down: four members, twelve partitions, crashes every 10 s on
    # average; 40 traced messages in two seconds. Whatever finds no room is counted.
    storm = Path("scenarios/kafka-rebalance-storm.yaml").read_text().replace("mtbf: 10s", "mtbf: 1s")
    scenario = make(storm, **{"messages": 400, "sender.rate": "200/s", "observe.trace_messages": 40})
    events = alosim.simulate(scenario).trace
    diagram = layout(events)
    assert sum(m.kind == "rebalance" for m in diagram.marks) >= 1
    fig = seqdiagram.draw(events)
    ax = fig.axes[0]
    drawn = [t for t in ax.texts if (t.get_gid() or "").startswith("label ")]
    expected = (len(diagram.arrows) + len(diagram.notes)
                + sum(m.kind == "rebalance" for m in diagram.marks))
    note = [t.get_text() for t in ax.texts if t.get_gid() == "labels left out"]
    left_out = int(note[0].split()[0]) if note else 0
    assert len(drawn) + left_out == expected


def test_trace_csv_has_the_group_rows_and_the_latency_sample_ignores_them(tmp_path: Path) -> None:
    path = tmp_path / "log.yaml"
    path.write_text(LOG)
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (csv_path,) = (tmp_path / "out").rglob("trace.csv")
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rebalance = [r for r in rows if r["event"] == "rebalance"]
    assert [(r["actor"], r["message"], r["detail"]) for r in rebalance] == [
        ("group", "-1", "crash consumer-0 | 20 ms | c0 {} c1 {0,1}")]
    assert [(r["actor"], r["message"], r["attempt"], r["detail"]) for r in rows if r["event"] == "commit"] == [
        ("consumer-1", "-1", "3", "p1@3"), ("consumer-1", "-1", "3", "p0@3")]
    # What the results store keeps of a trace: the latency of each traced message, no -1.
    assert len(latency_sample(run().trace)) == 6


def test_a_long_run_traces_the_group_only_while_traced_records_are_open() -> None:
    # A minute of the storm, three messages traced: the group's rows stop once
    # the three records are committed past, not at the end of the run.
    scenario = alosim.load_scenario(Path("scenarios/kafka-rebalance-storm.yaml"),
                                    ["observe.trace_messages=3"])
    result = alosim.simulate(scenario)
    events = result.trace
    assert result.summary["log_rebalances"] >= 20
    assert sum(e.event == "rebalance" for e in events) < result.summary["log_rebalances"]
    assert sum(e.event == "commit" for e in events) < result.summary["log_commits_landed"] / 100
    # Every traced commit is of a partition a traced record was appended to,
    # and the group's rows end long before the run does.
    appended_to = {e.detail.split("@")[0] for e in events if e.event == "appended"}
    assert {e.detail.split("@")[0] for e in events if e.event == "commit"} <= appended_to
    group_rows = [e.time_s for e in events if e.actor == "group" or e.event in ("commit", "fetch")]
    assert max(group_rows) < 0.1 * result.summary["sim_time_s"]
