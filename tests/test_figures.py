"""The registry of figures: every summary column is described once, and printed from it."""

from __future__ import annotations

import pytest

import alosim
from alosim import figures, theory
from tests.conftest import SCENARIOS

SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_summary_column_of_every_shipped_scenario_has_a_figure(path):
    # Which columns a run has depends on its configuration, not on how long it
    # runs: a short run has them all.
    scenario = alosim.load_scenario(path, ["max_time=2s"])
    summary = alosim.simulate(scenario).summary
    assert figures.unregistered(summary) == []


def test_every_figure_names_a_known_shape_unit_and_theory_rule():
    rules = {name for name, _ in (*theory.RULES, *theory.PIPELINE_RULES, *theory.LOG_RULES)}
    for fig in [*figures.FIGURES.values(), *figures.DERIVED.values()]:
        assert fig.shapes and set(fig.shapes) <= set(figures.SHAPES), fig.name
        assert set(fig.headline) <= set(fig.shapes), fig.name
        assert fig.kind in figures.KINDS, fig.name
        assert fig.meaning and "\n" not in fig.meaning, fig.name
        assert fig.theory is None or fig.theory in rules, fig.name


def test_every_cause_of_the_guarantees_registry_has_a_meaning():
    from alosim.guarantees import DUPLICATES, LOSSES

    for cause in (*LOSSES.causes, *DUPLICATES.causes):
        assert figures.figure(f"{DUPLICATES.prefix if cause in DUPLICATES.causes else LOSSES.prefix}{cause}")


def test_every_shape_has_headline_figures():
    for shape in figures.SHAPES:
        assert figures.headlines(shape), shape


@pytest.mark.parametrize(("kind", "value", "shown"), [
    ("count", 4478, "4,478"),
    ("ratio", 392.56, "393"),
    ("ratio", 0.44494, "0.445"),
    ("ratio", 1.0, "1"),
    ("ratio", 0.0, "0"),
    ("verdict", True, "yes"),
    ("verdict", False, "NO"),
    ("duration", 1e-3, "1 ms"),
    ("duration", 86400.0, "24 h"),
    ("rate", 69.96, "70/s"),
    ("count", None, "-"),
])
def test_values_print_readably(kind, value, shown):
    assert figures.format_value(kind, value) == shown


def test_headers_carry_units():
    assert figures.axis_label("delivery_latency_p99_s") == "create -> processed p99 (s)"
    assert figures.label("delivery_latency_p99_s") == "create -> processed p99"  # its values say "ms"
    assert figures.label("duplicates_per_consumer_crash") == "replays (per crash)"
    assert figures.label("redeliveries_per_message") == "redeliveries (per message)"
