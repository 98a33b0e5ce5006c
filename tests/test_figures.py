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


def _columns_the_books_write(shape: str) -> set[str]:
    """Every column a run of ``shape`` can write, read off the functions that fill a summary
    (called on empty books with every optional column turned on), and the few columns
    :mod:`alosim.simulate` and :mod:`alosim.overload` add themselves."""
    from types import SimpleNamespace

    from alosim.guarantees import PROMISES
    from alosim.observe import (COUNTER_COLUMNS, RECEIVER_MITIGATION_COLUMNS, Recorder, cause_columns,
                                latency_columns, receiver_mitigation_columns, sender_mitigation_columns)
    from alosim.observe.log import LogStats
    from alosim.observe.pipeline import PipelineStats

    rec = Recorder()
    names = {"scenario", "semantics", "seed", "fingerprint", "events", "sim_time_s", "stopped_by",
             "duplicate_deliveries_per_message", "transmissions_per_message", "stall_cause",
             "stall_cause_count", *COUNTER_COLUMNS, *cause_columns(rec), *latency_columns(rec),
             *sender_mitigation_columns(rec, retry_budget=True, circuit_breaker=True)}
    if shape == figures.SINGLE_HOP:
        every_flag = SimpleNamespace(**dict.fromkeys(RECEIVER_MITIGATION_COLUMNS, True))
        names |= set(receiver_mitigation_columns(rec, every_flag))
        names |= {"duplicate_work_fraction", "recovered", "recovery_time_s", "offered_per_s", "goodput_per_s",
                  "throughput_per_s", "nacks_in_flight"}
    elif shape == figures.QUEUE:
        names |= set(PipelineStats().columns({}, 0, bounded=True, extending=True)) | {"nacks_in_flight"}
    else:
        names |= set(LogStats().columns({}, 0))
    # a guarantee is checked where the total it watches is written (alosim.guarantees.promises)
    return names | {f"check_{p.name}" for p in PROMISES if p.measure.total in names}


@pytest.mark.parametrize("shape", figures.SUMMARY_SHAPES)
def test_the_registry_knows_which_columns_each_shape_writes(shape):
    # Both ways: a column a shape writes has a figure for that shape (or a scenario's expect:
    # could not name it), and a figure a shape never writes is not offered for it (or an
    # expect: naming it would pass validation and then never be met).
    written = _columns_the_books_write(shape)
    known = figures.summary_columns(shape) - set(figures.DERIVED)
    assert sorted(written - known) == [] and sorted(known - written) == []


def test_the_columns_of_a_shape_include_every_derived_figure_and_refuse_other_shapes():
    assert set(figures.DERIVED) <= figures.summary_columns(figures.LOG)
    assert "lease_extensions_sent" in figures.summary_columns(figures.QUEUE)  # an optional column
    assert "check_key_order" not in figures.summary_columns(figures.SINGLE_HOP)
    with pytest.raises(ValueError, match="expected one of"):
        figures.summary_columns(figures.OVERLOAD)  # an overload run writes a single hop's columns


def test_a_derived_figure_is_the_ratio_the_registry_names():
    summary = {"duplicate_processing": 30, "messages": 120, "acks_lost": 3, "acks_sent": 0}
    assert figures.derived_value(summary, "duplicate_processing_per_message") == 0.25
    assert figures.derived_value(summary, "ack_loss_rate") == 3  # no acks sent: divided by 1
    assert figures.derived_value(summary, "lost_per_message") is None  # no lost column
    assert figures.derived_value(summary, "messages") is None  # not a derived figure
