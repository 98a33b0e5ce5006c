"""One run of each shipped scenario per test process, shared by the tests that check it.

Several tests look at the default run of every shipped scenario: its
expectations (tests/test_scenario_expectations.py), its ack books
(tests/test_shipped_scenarios.py), its closed forms (tests/test_theory.py)
and its fingerprint against a run in another process
(tests/test_determinism.py). Each used to simulate all of them again; here
each scenario is simulated once per test process and what those tests read
is kept (not the whole run: its series and trace are dropped).

:func:`group_shipped_tests` keeps the tests of one scenario next to each
other in the collection, so that pytest-xdist hands them to the same worker
and the run is shared there as well.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pytest

import alosim
from alosim.expect import check_scenario
from tests.conftest import SCENARIOS

#: The shipped scenarios, by name (the file's stem).
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


@dataclass(frozen=True)
class ShippedRun:
    """What the tests read of one shipped scenario's default run."""

    summary: dict[str, Any]
    fingerprint: str
    theory_z: list[tuple[str, float]]  # (quantity, z) of each closed form that applies
    failed_expectations: list[str]


@functools.cache
def shipped_run(name: str) -> ShippedRun:
    """The default run (the scenario's own seed) of ``scenarios/<name>.yaml``, once per process."""
    scenario = alosim.load_scenario(SCENARIOS / f"{name}.yaml")
    result = alosim.simulate(scenario)
    return ShippedRun(
        summary=dict(result.summary),
        fingerprint=result.fingerprint,
        theory_z=[(row.quantity, row.z) for row in result.theory().itertuples()],
        failed_expectations=[o.describe() for o in check_scenario(scenario, result.summary) if not o.ok])


def group_shipped_tests(items: list[pytest.Item]) -> None:
    """Reorder ``items`` in place: the tests parametrized by a shipped scenario's ``name`` that
    use :func:`shipped_run` (marked ``shipped``) run scenario by scenario, where the first of
    them was; every other test keeps its place."""
    grouped = [item for item in items if item.get_closest_marker("shipped")]
    if not grouped:
        return
    first = items.index(grouped[0])

    def key(item: pytest.Item) -> tuple[int, str]:
        name = getattr(item, "callspec", None) and item.callspec.params.get("name")
        # Tests over all the scenarios go last, when every run is there to share.
        return (1, "") if name is None else (0, str(name))

    rest = [item for item in items if not item.get_closest_marker("shipped")]
    items[:] = rest[:first] + sorted(grouped, key=key) + rest[first:]
