"""The registry of figures: every summary column is described once, and printed from it."""

from __future__ import annotations

import pytest

from alosim import figures, theory
from tests.shipped import NAMES, shipped_run


@pytest.mark.shipped
@pytest.mark.parametrize("name", NAMES)
def test_every_summary_column_of_every_shipped_scenario_has_a_figure(name):
    # The scenario's own run, shared with the other tests that read it (tests/shipped.py).
    assert figures.unregistered(shipped_run(name).summary) == []


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


def test_a_sweep_table_shows_the_headline_figures_of_its_shape_with_units():
    import pandas as pd

    from alosim.cli import format_sweep_table

    agg = pd.DataFrame([{
        "consumer.commit.interval": interval, "runs": 5.0,
        **{f"{name}_{end}": value + (0.5 if end == "ci_high" else 0) for name, value in (
            ("log_consumer_crashes", 30.0), ("duplicates_per_consumer_crash", 392.56 * interval),
            ("lost_per_consumer_crash", 0.0), ("duplicate_processing_per_message", 0.01),
            ("lost_per_message", 0.0), ("duplicate_effects_per_message", 0.01),
            ("duplicate_deliveries_per_message", 0.0), ("dedup_entries_peak", 0.0))
           for end in ("mean", "ci_high")}} for interval in (1.0, 5.0)])
    lines = format_sweep_table(agg, ["consumer.commit.interval"], shape="log").splitlines()
    assert "consumer crashes" in lines[1] and "replays" in lines[1] and "losses" in lines[1]
    assert "(per crash)" in lines[2]
    assert "dedup" not in "\n".join(lines) and "duplicate deliveries" not in "\n".join(lines)
    first = lines[3].split()
    assert first[:3] == ["1", "s", "5"]  # the swept duration with its unit; runs as a whole number
    assert "393" in first  # three significant figures


def test_swept_and_set_values_are_printed_with_the_unit_of_their_field():
    from alosim.fieldunits import format_setting, unit_of

    assert format_setting("broker.visibility_timeout", 30.0) == "30 s"
    assert format_setting("sender.rate", 200.0) == "200/s"
    assert format_setting("network.ack.loss", 0.3) == "0.3"
    assert format_setting("semantics", "exactly-once") == "exactly-once"
    assert unit_of("faults.0.for") == "duration" and unit_of("nope.x") is None


def test_the_reference_documentation_is_made_from_the_registry():
    from tests.conftest import ROOT

    shown = (ROOT / "docs" / "figures.md").read_text(encoding="utf-8")
    assert shown == figures.reference() + "\n", "regenerate: python -m alosim.figures > docs/figures.md"
    assert "`duplicates_per_consumer_crash` | replays (per crash)" in shown


def test_the_columns_a_configuration_adds_have_figures_too():
    from alosim.observe.pipeline import COUNTERS, LEASE_EXTENSION_COLUMNS
    from alosim.observe import COUNTER_COLUMNS

    assert figures.unregistered([*COUNTERS, *LEASE_EXTENSION_COLUMNS, *COUNTER_COLUMNS, "nacks_in_flight"]) == []
    # A failed identity of alosim's books is a column only when it fails: named by pattern.
    assert figures.figure("check_books_deliveries").kind == "verdict"
    assert figures.figure("books_deliveries").section == "guarantees"


def test_every_column_a_shape_may_report_has_a_figure():
    from alosim import columns

    for shape in columns.SHAPES:
        assert figures.unregistered(sorted(columns.summary_columns(shape))) == [], shape
