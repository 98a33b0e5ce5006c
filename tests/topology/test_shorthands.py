"""The shorthand sections are the topology they stand for: one run, either way.

Every shipped scenario written with ``sender``, ``network`` and ``receiver``
(a single hop) or with ``broker`` and ``consumer`` (a queue or log pipeline)
is expanded into its topology (:func:`alosim.expand.as_topology`) and both are
run, cut to a few thousand messages (or seconds) to stay fast: the same
duplicates, losses, retransmissions, store sizes and causes, the same series
and the same trace, lanes renamed. A scenario that cannot be expanded says
which field stops it.
"""

from __future__ import annotations

import pytest

import alosim
from alosim.expand import NoExpansion, as_topology
from tests.conftest import SCENARIOS

SHORTHANDS = sorted(p.stem for p in SCENARIOS.glob("*.yaml") if not alosim.load_scenario(p).is_topology)

#: A single hop's summary columns and the sink node's figures that count the same things.
SINK_FIGURES = {"messages": "receiver_calls", "transmissions": "receiver_transmissions",
                "retransmissions": "receiver_retransmissions", "duplicate_processing": "receiver_duplicate_effects",
                "duplicates_detected": "receiver_duplicates_caught", "gave_up": "receiver_calls_gave_up",
                "dedup_entries_peak": "receiver_dedup_entries_peak"}
#: A pipeline's summary columns and its nodes' figures that count the same things.
PIPELINE_FIGURES = {"consume_redeliveries": "consumers_redeliveries", "dead_lettered": "consumers_dead_lettered",
                    "lease_expiries": "broker_lease_expiries"}


def small(scenario: alosim.Scenario) -> alosim.Scenario:
    """``scenario`` cut to at most 3,000 messages or 20 s (the rest of it as written)."""
    if scenario.messages is not None and scenario.messages > 3000:
        return scenario.with_overrides({"messages": 3000})
    if scenario.duration is not None and scenario.duration > 20:
        return scenario.with_overrides({"duration": 20})
    return scenario


@pytest.mark.parametrize("name", SHORTHANDS)
def test_a_shorthand_and_its_topology_are_one_run(name: str) -> None:
    scenario = small(alosim.load_scenario(SCENARIOS / f"{name}.yaml"))
    try:
        expanded = as_topology(scenario)
    except NoExpansion as exc:
        # Only what a topology's node cannot be: several senders or receivers in one, or
        # one consumer of several crashed alone.
        assert "count: a topology's node is one" in str(exc) or "one actor of a node" in str(exc), str(exc)
        pytest.skip(str(exc))
    hop, graph = alosim.simulate(scenario), alosim.simulate(expanded)
    a, b = hop.summary, graph.summary
    same = [k for k in a if k in b and k not in ("fingerprint", "events", "scenario")]
    assert len(same) >= 17
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    if scenario.is_pipeline:
        pairs = [(k, v) for k, v in PIPELINE_FIGURES.items() if k in a and v in b]
        assert len(pairs) == (0 if scenario.broker.kind == "log" else 3), pairs
        assert [a[k] for k, _ in pairs] == [b[v] for _, v in pairs]
    else:
        assert {k: a[k] for k in SINK_FIGURES if k in a} == {k: b[v] for k, v in SINK_FIGURES.items() if k in a}
        assert a["processed"] == b["receiver_effects"]  # every processing, duplicates included
        assert a["crashes"] == b.get("receiver_crashes", 0) + b.get("sender_crashes", 0)
    # One more event in the topology: the stop event that ends its run.
    assert b["events"] - a["events"] in (0, 1)
    for column, values in hop.series.items():
        if column in graph.series:
            assert graph.series[column] == values, column


def test_the_trace_is_the_same_with_its_lanes_named_after_the_nodes() -> None:
    scenario = alosim.load_scenario(SCENARIOS / "ack-lost.yaml", ["observe.trace_messages=5", "messages=40"])
    hop, graph = alosim.simulate(scenario), alosim.simulate(as_topology(scenario))
    lanes = {"sender-0": "sender", "receiver-0": "receiver", "network": "sender>receiver"}
    assert hop.trace and [(e.time_s, lanes[e.actor], e.event, e.message, e.attempt, e.detail) for e in hop.trace] \
        == [(e.time_s, e.actor, e.event, e.message, e.attempt, e.detail) for e in graph.trace or []]


def test_what_a_topology_cannot_say_is_refused_naming_the_field() -> None:
    scenario = alosim.load_scenario(SCENARIOS / "lossy-both-ways.yaml")
    with pytest.raises(NoExpansion, match=r"\(as a topology\): sender.count: a topology's node is one sender, got 2"):
        as_topology(scenario)


def test_validate_prints_the_topology_a_scenario_stands_for(tmp_path) -> None:
    from click.testing import CliRunner

    from alosim.cli import cli

    result = CliRunner().invoke(cli, ["validate", "--as-topology", str(SCENARIOS / "ack-lost.yaml")])
    assert result.exit_code == 0, result.output
    first, _, text = result.output.partition("\n")
    assert first.endswith("ok (ack-lost, at-least-once)")
    path = tmp_path / "ack-lost-topology.yaml"
    path.write_text(text)
    expanded = alosim.load_scenario(path)  # what it prints is a scenario of its own
    assert expanded.is_topology and list(expanded.topology.nodes) == ["sender", "receiver"]
    assert alosim.simulate(expanded.with_overrides({"messages": 500})).summary["duplicate_processing"] == \
        alosim.simulate(alosim.load_scenario(SCENARIOS / "ack-lost.yaml", ["messages=500"])).summary[
            "duplicate_processing"]
