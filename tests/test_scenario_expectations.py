"""Every shipped scenario's ``expect:`` block holds on its run, and the block
itself behaves: validated by the schema, ignored by the simulation."""

from __future__ import annotations

import pytest

import alosim
from alosim.expect import check
from alosim.scenario import Expectation, ScenarioError
from tests.conftest import SCENARIOS, make
from tests.shipped import NAMES, shipped_run

SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


def test_every_shipped_scenario_states_what_its_description_claims():
    # A scenario made for `alosim explore` (explore-*.yaml) claims what the
    # search finds, not what one run measures: tests/test_explore.py checks it.
    missing = [p.name for p in SHIPPED
               if not alosim.load_scenario(p).expect and not p.name.startswith("explore-")]
    assert missing == []


@pytest.mark.shipped
@pytest.mark.parametrize("name", NAMES)
def test_shipped_scenario_meets_its_expectations(name):
    assert shipped_run(name).failed_expectations == []


def test_expectations_are_validated_by_the_schema():
    with pytest.raises(ScenarioError, match=r"expect\.lost: expected a value"):
        make("name: x\nmessages: 10\nexpect: {lost: {tol: 3}}")
    with pytest.raises(ScenarioError, match=r"expect\.lost\.tol"):
        make("name: x\nmessages: 10\nexpect: {lost: {value: 3, tol: -1}}")
    with pytest.raises(ScenarioError, match=r"expect\.lost\.tolerance: unknown key"):
        make("name: x\nmessages: 10\nexpect: {lost: {value: 3, tolerance: 1}}")
    with pytest.raises(ScenarioError, match="snake_case"):
        make("name: x\nmessages: 10\nexpect: {Lost Messages: 0}")


def test_expectations_pass_and_fail_on_the_numbers():
    scenario = make("name: x\nmessages: 10\nexpect: {lost: 0, abandoned: {value: 54, tol: 1}, "
                    "crashes: {min: 1, max: 3}, gave_up: {value: 100, rel: 0.1}, check_none_lost: true, "
                    "lost_per_message: {max: 0.01}}")
    summary = {"lost": 0, "abandoned": 56, "crashes": 3, "gave_up": 111, "check_none_lost": False,
               "messages": 10}
    # A column the summary lacks (the schema refuses one no run reports; a stored
    # summary from an older version may still lack one).
    expectations = {**(scenario.expect or {}), "nope": Expectation(value=1)}
    verdicts = {o.column: o.ok for o in check(summary, expectations)}
    assert verdicts == {"lost": True, "abandoned": False, "crashes": True, "gave_up": False,
                        "check_none_lost": False, "lost_per_message": True, "nope": False}
    assert "no such column" in check(summary, {"nope": expectations["nope"]})[0].describe()


def test_expectations_do_not_change_a_run_or_a_sweep_hash():
    plain = make("name: x\nseed: 2\nmessages: 300\nsweep: {grid: {network.ack.loss: [0.1, 0.2]}}")
    quoted = make("name: x\nseed: 2\nmessages: 300\nsweep: {grid: {network.ack.loss: [0.1, 0.2]}}\n"
                  "expect: {lost: 0}")
    assert alosim.simulate(plain).fingerprint == alosim.simulate(quoted).fingerprint
    from alosim.sweep import expand

    assert expand(plain).digest == expand(quoted).digest


def test_the_readme_example_scenario_is_valid_and_writes_its_own_folder():
    from tests.conftest import ROOT

    readme = (ROOT / "docs" / "guide" / "scenario-files.md").read_text(encoding="utf-8")
    section = readme[readme.index("# Scenario files"):]
    text = section[section.index("```yaml") + len("```yaml"):section.index("```", section.index("```yaml") + 7)]
    example = alosim.parse_scenario(text, source="docs/guide/scenario-files.md")
    assert example.name not in {alosim.load_scenario(p).name for p in SHIPPED}
    assert example.network.ack.loss == 0.3  # the description says 30% of acks are lost
    assert "30% of acks are lost" in example.description
