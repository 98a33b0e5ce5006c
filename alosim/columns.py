"""The names of a run's summary columns, known before anything runs.

A scenario's ``expect:`` block names summary columns; one that no run of the
scenario's shape reports can never be met, and is refused when the scenario
is validated. The names come from the same functions that fill a run's
summary (:mod:`alosim.observe`, :mod:`alosim.observe.pipeline`,
:mod:`alosim.observe.log`), called on empty books with every optional column
turned on, and the checks of :data:`alosim.guarantees.PROMISES`, so a new
cause, counter or guarantee is known here at once. The few columns
that :mod:`alosim.simulate` and :mod:`alosim.overload` add themselves are
listed below (:data:`RUN_COLUMNS`, :data:`SINGLE_HOP_COLUMNS`); a test runs
each shape and fails if its summary holds a column this module does not know.

Shapes: ``single-hop``, ``queue pipeline``, ``log pipeline``.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

from alosim.guarantees import PROMISES
from alosim.observe import (
    COUNTER_COLUMNS,
    RECEIVER_MITIGATION_COLUMNS,
    Recorder,
    cause_columns,
    latency_columns,
    receiver_mitigation_columns,
    sender_mitigation_columns,
)
from alosim.observe.log import LogStats
from alosim.observe.pipeline import PipelineStats

SHAPES: tuple[str, ...] = ("single-hop", "queue pipeline", "log pipeline")

#: What :func:`alosim.simulate.simulate` adds to every summary itself.
RUN_COLUMNS: tuple[str, ...] = ("scenario", "semantics", "seed", "fingerprint", "events", "sim_time_s",
                                "stopped_by", "duplicate_deliveries_per_message",
                                "transmissions_per_message", "stall_cause", "stall_cause_count")
#: What :func:`alosim.overload.summary_columns` adds to a single hop's summary.
SINGLE_HOP_COLUMNS: tuple[str, ...] = ("duplicate_work_fraction", "recovered", "recovery_time_s",
                                       "offered_per_s", "goodput_per_s", "throughput_per_s")

#: Ratios a description may quote that the summary row does not hold as such
#: (numerator, denominator), known in every shape.
DERIVED: dict[str, tuple[str, str]] = {
    "lost_per_message": ("lost", "messages"),
    "duplicate_processing_per_message": ("duplicate_processing", "messages"),
    "data_loss_rate": ("data_lost", "transmissions"),
    "ack_loss_rate": ("acks_lost", "acks_sent"),
}


@functools.cache
def summary_columns(shape: str) -> frozenset[str]:
    """Every column a run of ``shape`` may report (optional ones included), and :data:`DERIVED`."""
    if shape not in SHAPES:
        raise ValueError(f"expected one of {', '.join(SHAPES)}, got {shape!r}")
    rec = Recorder()
    names = set(RUN_COLUMNS) | set(COUNTER_COLUMNS) | set(DERIVED)
    names |= set(cause_columns(rec)) | set(latency_columns(rec))
    names |= set(sender_mitigation_columns(rec, retry_budget=True, circuit_breaker=True))
    names |= {f"check_{promise.name}" for promise in PROMISES}
    if shape == "single-hop":
        every_flag = SimpleNamespace(**dict.fromkeys(RECEIVER_MITIGATION_COLUMNS, True))
        names |= set(receiver_mitigation_columns(rec, every_flag)) | set(SINGLE_HOP_COLUMNS)
    elif shape == "queue pipeline":
        names |= set(PipelineStats().columns({}, 0, bounded=True))
    else:
        names |= set(LogStats().columns({}, 0))
    return frozenset(names)


__all__ = ["DERIVED", "RUN_COLUMNS", "SHAPES", "SINGLE_HOP_COLUMNS", "summary_columns"]
