from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

import alosim

# The same examples on every run and machine: a property test that fails in CI
# fails the same way on a laptop.
settings.register_profile("alosim", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("alosim")

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


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
