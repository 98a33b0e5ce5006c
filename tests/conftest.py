from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

import alosim

if TYPE_CHECKING:
    from alosim.model.world import World

# The same examples on every run and machine: a property test that fails in CI
# fails the same way on a laptop.
settings.register_profile("alosim", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("alosim")

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The tests that share one run of each shipped scenario, next to each other (tests/shipped.py).
    from tests.shipped import group_shipped_tests

    group_shipped_tests(items)


@pytest.fixture(autouse=True)
def books_balance(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every simulation of the suite (in this process) keeps its books.

    A run whose books fail reports it as a failed ``books_*`` check instead of
    raising (see :mod:`alosim.model.books`); here any such failure fails the
    test, so every test that simulates checks the books too. A test that breaks
    them on purpose is marked ``books_may_fail``."""
    if request.node.get_closest_marker("books_may_fail"):
        return
    from alosim.model.world import World

    run = World.run

    def run_and_check(self: World) -> None:
        run(self)
        assert not self.broken_books, "the books do not balance: " + "; ".join(
            map(str, self.broken_books))

    monkeypatch.setattr(World, "run", run_and_check)


def make(yaml_text: str, **overrides: object) -> alosim.Scenario:
    """A scenario from YAML text, with dotted-path overrides.

    The overrides are applied before validation: the text alone may be a
    fragment that is not valid without them (e.g. loss 1 before max_attempts).
    """
    from alosim.scenario import set_path, validate_scenario
    from alosim.yamlread import loads

    data = loads(yaml_text)
    for path, value in overrides.items():
        set_path(data, path, value, "<test>")
    return validate_scenario(data, "<test>")


def assert_books_catch(world: World, breaks: Callable[[World], None], expected: list[str]) -> None:
    """After ``world``'s run its books balance; ``breaks(world)`` miscounts one
    thing, and exactly the identities whose numbers start with ``expected`` fail."""
    in_flight = world.packets_in_flight()
    assert world.conservation(in_flight) == []
    breaks(world)
    broken = world.conservation(in_flight)
    for start in expected:
        assert any(b.detail.startswith(start) for b in broken), (start, broken)
    assert len(broken) == len(expected), broken


SMALL = """
name: small
seed: 3
semantics: at-least-once
messages: 2000
sender: {window: 16, retry: {timeout: 200ms}}
network:
  data: {loss: 0.1, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.2, latency: {dist: exponential, mean: 10ms}}
receiver: {processing: {dist: exponential, mean: 1ms}}
"""


@pytest.fixture
def small() -> alosim.Scenario:
    return make(SMALL)
