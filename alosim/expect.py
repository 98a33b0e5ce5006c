"""A scenario's ``expect:`` block: the figures its description quotes, checked on a run.

A description that says "nothing is processed twice" or "the store levels
off near 2,000 ids" makes a claim about the run. The ``expect`` block states
those claims as summary columns with tolerances
(:class:`alosim.scenario.Expectation`), and :func:`check` compares them
with a run's summary, so a description can never silently drift away from
what the tool prints. The simulation never reads the block, and it is not
part of a run's fingerprint or a sweep's hash. A column that no run of the
scenario's shape reports is refused when the scenario is validated
(:func:`alosim.figures.summary_columns`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alosim.figures import derived_value
from alosim.scenario import Expectation, Scenario


@dataclass(frozen=True)
class Outcome:
    """One expected figure next to what the run measured."""

    column: str
    expected: str  # as a person reads it: "0", "54", "2000 ± 200", "at least 1"
    measured: Any
    ok: bool

    def describe(self) -> str:
        if self.measured is None:
            return f"{self.column}: expected {self.expected}, but the summary has no such column"
        verdict = "ok" if self.ok else "NOT MET"
        return f"{self.column}: expected {self.expected}, measured {self.measured} ({verdict})"




def measured(summary: Mapping[str, Any], column: str) -> Any:
    """``summary[column]``, or a derived figure (:data:`alosim.figures.DERIVED`); None when
    neither exists."""
    if column in summary:
        return summary[column]
    return derived_value(summary, column)


def _wording(want: Expectation) -> str:
    parts = []
    if want.value is not None:
        allowed = 0.0 if isinstance(want.value, bool) else max(want.tol, want.rel * abs(float(want.value)))
        parts.append(f"{want.value:g}" + (f" ± {allowed:g}" if allowed else "")
                     if not isinstance(want.value, bool) else str(want.value).lower())
    if want.min is not None:
        parts.append(f"at least {want.min:g}")
    if want.max is not None:
        parts.append(f"at most {want.max:g}")
    return ", ".join(parts)


def _meets(value: Any, want: Expectation) -> bool:
    if value is None:
        return False
    if isinstance(want.value, bool) or isinstance(value, bool):
        return isinstance(value, bool) and value == want.value
    number = float(value)
    if not math.isfinite(number):
        return False
    if want.value is not None:
        allowed = max(want.tol, want.rel * abs(float(want.value)))
        if abs(number - float(want.value)) > allowed:
            return False
    if want.min is not None and number < want.min:
        return False
    return not (want.max is not None and number > want.max)


def check(summary: Mapping[str, Any], expectations: Mapping[str, Expectation]) -> list[Outcome]:
    """Each expectation against ``summary``, in the order written."""
    outcomes = []
    for column, want in expectations.items():
        value = measured(summary, column)
        outcomes.append(Outcome(column, _wording(want), value, _meets(value, want)))
    return outcomes


def check_scenario(scenario: Scenario, summary: Mapping[str, Any]) -> list[Outcome]:
    """The outcomes of ``scenario.expect`` (none when it has no block)."""
    return check(summary, scenario.expect or {})


__all__ = ["Outcome", "check", "check_scenario"]
