"""The explore: and guarantees: sections of a scenario: read, validated, and kept out of runs."""

from __future__ import annotations

import pytest

from alosim.scenario import ScenarioError, parse_scenario
from alosim.simulate import simulate

BASE = "name: t\nsemantics: exactly-once\nmessages: 20\n"
SECTIONS = """
explore:
  crashes: [{target: receivers, max: 2, at: [0s, 1s], for: [10ms, 200ms]}]
  partitions: {max: 1, direction: [ack]}
  vary: {network.ack.loss: {min: 0, max: 0.3}, receiver.dedup.durable: [true, false]}
  bias: 0.25
guarantees: {max_duplicate_effects: 0, max_lost: 0, max_dedup_entries: 100, max_latency_p99: 2s}
"""


def test_sections_are_read_with_units() -> None:
    scenario = parse_scenario(BASE + SECTIONS)
    assert scenario.explore is not None and scenario.guarantees is not None
    crash = scenario.explore.crashes[0]
    assert (crash.target, crash.max, crash.at, crash.for_) == ("receivers", 2, (0.0, 1.0), (0.01, 0.2))
    assert scenario.explore.partitions.direction == ["ack"]
    assert scenario.explore.vary["network.ack.loss"] == {"min": 0, "max": 0.3}
    assert scenario.guarantees.max_latency_p99 == 2.0


def test_sections_do_not_enter_the_run() -> None:
    plain, searched = parse_scenario(BASE), parse_scenario(BASE + SECTIONS)
    assert plain.resolved() == searched.resolved()
    assert "explore" not in searched.to_yaml() and "guarantees" not in searched.to_yaml()
    assert simulate(plain).fingerprint == simulate(searched).fingerprint


def test_a_scenario_without_them_has_none() -> None:
    scenario = parse_scenario(BASE)
    assert scenario.explore is None and scenario.guarantees is None


@pytest.mark.parametrize(("text", "expected"), [
    ("explore: {crashs: []}", "f.yaml: explore.crashs: unknown key; did you mean 'crashes'?"),
    ("explore: {crashes: [{max: 1, min: 3}]}", "f.yaml: explore.crashes.0: min must be at most max"),
    ("explore: {crashes: [{at: [2s, 1s]}]}", 'f.yaml: explore.crashes.0.at: expected 0 <= low <= high, got ["2s", "1s"]'),
    ("explore: {crashes: [{for: [0s, 1s]}]}", "f.yaml: explore.crashes.0: 'for' must start above 0 (a crash lasts some time)"),
    ("explore: {crashes: [{target: brokers}]}", "f.yaml: explore.crashes.0.target: 'brokers' is not an actor "
     "here (receiver-N, sender-N, receivers, senders; a pipeline's broker, consumer-N, consumers)"),
    ("explore: {vary: {a.b: 3}}", "f.yaml: explore.vary.a.b: expected a list of values or a range {min: low, max: high}, got 3"),
    ("explore: {vary: {a.b: {min: 1}}}", 'f.yaml: explore.vary.a.b: expected a range {min: low, max: high}, got {"min": 1}'),
    ("explore: {vary: {a.b: []}}", "f.yaml: explore.vary.a.b: expected a non-empty list of values, or a range {min: low, max: high}"),
    ("explore: {partitions: {direction: [up]}}", "f.yaml: explore.partitions.direction.0: Input should be 'both', 'data' or 'ack', got 'up'"),
    ("explore: {bias: 2}", "f.yaml: explore.bias: Input should be less than or equal to 1, got 2"),
    ("guarantees: {max_lost: -1}", "f.yaml: guarantees.max_lost: Input should be greater than or equal to 0, got -1"),
    ("guarantees: {max_latency_p99: soon}", "f.yaml: guarantees.max_latency_p99: "),
    ("guarantees: {max_dupes: 0}", "f.yaml: guarantees.max_dupes: unknown key"),
])
def test_bad_sections_get_one_line_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BASE + text, "f.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(expected)
