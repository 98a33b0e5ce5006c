"""One registry of causes (:mod:`alosim.guarantees`): a run's checks and explore's
violations read the same counts, on a single hop, a queue pipeline and a log."""

from __future__ import annotations

import pytest

from alosim.explore import violations
from alosim.guarantees import DUPLICATES, LOSSES, UNEXPLAINED, charged, checks
from alosim.scenario import parse_scenario
from alosim.simulate import simulate
from tests.test_explore_shapes import SHAPES


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_explore_reads_the_same_violations_as_the_run_on_every_shape(shape: str) -> None:
    scenario = parse_scenario(SHAPES[shape])
    result = simulate(scenario)
    failed = {name for name, held in result.checks.items() if not held}
    assert failed, "each of these scenarios breaks a promise of its semantics"
    found = {g for g, _, _ in violations(scenario, result.summary)}
    assert found & set(result.checks) == failed
    # Every violation has a cause the summary counted: none is unexplained.
    assert all(c != UNEXPLAINED for _, c, _ in violations(scenario, result.summary))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_cause_column_of_every_shape_is_in_the_registry(shape: str) -> None:
    summary = simulate(parse_scenario(SHAPES[shape])).summary
    totals = {"duplicates_detected", "duplicates_publish", "duplicates_consume",
              "duplicates_per_consumer_crash", "lost_per_consumer_crash"}
    for measure in (DUPLICATES, LOSSES):
        columns = {k for k in summary if k.startswith(measure.prefix)} - totals
        assert columns <= set(measure.columns()), columns - set(measure.columns())
        # The causes add up to the total: nothing left to charge to "unexplained".
        causes = charged(measure, summary)
        assert sum(n for _, n in causes) == summary[measure.total]
        assert sum(summary[c] for c in columns) == summary[measure.total]




def test_a_total_its_causes_do_not_cover_is_charged_to_unexplained() -> None:
    summary = {"duplicate_processing": 5, "duplicates_window_expired": 2, "duplicates_consume_lease_expired": 1,
               "acked_not_processed": 0, "lost": 0}
    assert charged(DUPLICATES, summary) == [("window_expired", 2), ("consume_lease_expired", 1), (UNEXPLAINED, 2)]
    assert checks("exactly-once", summary) == {"no_duplicate_processing": False, "acked_were_processed": True,
                                               "none_lost": True}
