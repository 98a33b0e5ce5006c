"""alosim's predictions held to NATS JetStream and Redis Streams on loopback.

Each case plays one scenario of ``scenarios/`` against the real broker
(:mod:`alosim.conform`) and asserts that every figure agrees with alosim's
prediction over several seeds: the difference within three standard errors
of the difference plus the allowance for the timer overshoot measured during
the run. The report (real against simulated, the overshoot) is printed; run
``pytest -m conformance -s`` to see it.

A case that needs a field the scenario schema does not have yet is skipped
with the field's name, and runs as soon as the field exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from alosim import scenario as schema
from alosim.conform import compare, format_report, make_plan
from alosim.conform.play import measure
from alosim.scenario import load_scenario

from .conftest import SCENARIOS

pytestmark = pytest.mark.conformance

#: Seeds of alosim's prediction in a case.
SEEDS = 8

#: Runs of a case before giving up on a machine too busy to hold its timers.
ATTEMPTS = 3


@dataclass(frozen=True)
class Case:
    scenario: str
    broker: str  # "nats" or "redis"
    needs: tuple[str, ...] = ()  # schema fields as section.field


def missing_fields(needs: tuple[str, ...]) -> list[str]:
    """The fields of ``needs`` the scenario schema does not have."""
    sections = {"broker": schema.Broker, "consumer": schema.Consumer}
    return [field for field in needs
            if field.split(".")[1] not in sections[field.split(".")[0]].model_fields]


CASES = [
    Case("jetstream-lease-mean", "nats"),
    Case("jetstream-lease-2x-mean", "nats"),
    Case("jetstream-max-deliver", "nats"),
    Case("redis-reclaim-fast", "redis"),
    Case("redis-reclaim-slow", "redis", needs=("broker.reclaim",)),
    Case("redis-dead-letter", "redis"),
    Case("redis-crash-before-ack", "redis"),
    Case("jetstream-pull-crash", "nats", needs=("consumer.pull",)),
]


def _param(case: Case):  # -> pytest ParameterSet
    missing = missing_fields(case.needs)
    marks = [pytest.mark.skip(reason=f"needs {', '.join(missing)} in the scenario schema")] if missing else []
    return pytest.param(case, id=case.scenario, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_alosim_agrees_with_the_broker(case: Case, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{case.broker}_url")
    scenario = load_scenario(SCENARIOS / f"{case.scenario}.yaml")
    plan = make_plan(scenario)
    for _attempt in range(ATTEMPTS):
        measurement = measure(plan, url)
        comparison = compare(scenario, plan, measurement, url, seeds=SEEDS)
        report = format_report(comparison)
        print(report)
        if comparison.too_busy is None:
            break
    else:
        pytest.skip(f"not measured: {comparison.too_busy} in each of {ATTEMPTS} runs")
    if plan.max_deliveries is None:
        assert measurement.never_effected == 0, report  # nothing may be lost
    if plan.crashes:
        assert len(measurement.down_s) == len(plan.crashes), report
    assert comparison.agrees, report


def test_missing_fields_reads_the_schema() -> None:
    assert missing_fields(("broker.visibility_timeout", "consumer.processing")) == []
    assert missing_fields(("broker.no_such_field",)) == ["broker.no_such_field"]
