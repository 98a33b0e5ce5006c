"""Guarantees and what breaks them: one registry of causes for every shape.

A run is checked against the guarantees its semantics promises
(``alosim run`` prints "guarantee violated" when one fails), and
``alosim explore`` checks every run it makes against the same ones plus
the limits of the scenario's ``guarantees:`` section. Both read a violation
from this module, so a count the run reports is a count the search sees --
on a single hop, a queue pipeline and a log alike.

A violation is a triple (guarantee, cause, amount). Each guarantee watches
one **measure**: a total column of the run's summary and the columns that
charge that total to its causes, for every shape:

* duplicate effects (``duplicate_processing``): a single hop's
  ``duplicates_<cause>`` (:data:`alosim.observe.DUPLICATE_CAUSES`), a queue
  pipeline's ``duplicates_publish_<cause>`` and ``duplicates_consume_<cause>``
  (:mod:`alosim.observe.pipeline`), a log's (:mod:`alosim.observe.log`);
* losses (``lost``): every ``lost_<cause>`` column a shape has -- a sender
  giving up, a crash after an early ack, a Bloom false positive, a full
  queue, a dead-lettered message, a broker crash, a record retention
  removed, ...;
* acked messages never processed (``acked_not_processed``): the summary has
  no column per cause for these, so they are charged to the loss causes that
  can follow an ack (:data:`ACKED_LOSS_CAUSES`), in that order, each up to
  its own count;
* effects out of key order (``out_of_order_key``, a log's transactional
  sink only): ``out_of_order_key_<cause>``.

The cause of a violation is its column's name without the measure's prefix
(``store_lost_in_crash``, ``consume_lease_expired``, ``dead_lettered``). A
total that its cause columns do not cover is charged to ``unexplained``
(the books of the model say that never happens).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alosim.observe import DUPLICATE_CAUSES, LOSS_CAUSES, SENDER_LOSS_CAUSES
from alosim.observe.log import LOG_CONSUME_CAUSES, LOG_LOSS_CAUSES, LOG_PUBLISH_CAUSES, ORDER_CAUSES
from alosim.observe.pipeline import CONSUME_CAUSES, OVERFLOW_LOSS_CAUSE, PIPELINE_LOSS_CAUSES, PUBLISH_CAUSES
from alosim.observe.topology import PATH_DUPLICATE_CAUSES, PATH_LOSS_CAUSES

if TYPE_CHECKING:  # for annotations only: the scenario's validation reads the causes (alosim.figures)
    from alosim.scenario import Guarantees

UNEXPLAINED = "unexplained"

#: The cause of a failed identity of the model's books (a ``books_<identity>`` violation).
BOOKS_CAUSE = "alosim_bug"


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Measure:
    """A total column of a run's summary and the ``<prefix><cause>`` columns that
    charge it to causes, in the order they are charged."""

    total: str
    prefix: str
    causes: tuple[str, ...]

    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.prefix}{cause}" for cause in self.causes)


DUPLICATES = Measure("duplicate_processing", "duplicates_", _unique([
    *DUPLICATE_CAUSES, *PATH_DUPLICATE_CAUSES,
    *(f"publish_{c}" for c in (*PUBLISH_CAUSES, *LOG_PUBLISH_CAUSES)),
    *(f"consume_{c}" for c in (*CONSUME_CAUSES, *LOG_CONSUME_CAUSES)),
]))
LOSSES = Measure("lost", "lost_", _unique([
    *LOSS_CAUSES, *PATH_LOSS_CAUSES, *SENDER_LOSS_CAUSES, *PIPELINE_LOSS_CAUSES, OVERFLOW_LOSS_CAUSE, *LOG_LOSS_CAUSES,
]))
#: The losses that can leave an acked message unprocessed, in the order
#: ``acked_not_processed`` is charged to them: those that always follow an ack
#: (of the receiver, or of the broker that accepted a publish) first.
ACKED_LOSS_CAUSES: tuple[str, ...] = (
    "acked_then_crashed",  # a receiver or consumer acked before processing, then crashed
    "acked_then_failed",  # a consumer acked before processing, then the processing failed
    "commit_before_processing_crash",  # a log consumer committed before processing, then crashed
    "bloom_false_positive",  # a Bloom store took a new message for a duplicate (and acked it)
    "dead_lettered",  # an accepted entry delivered max_deliveries times
    "broker_crash",  # an accepted entry lost with a volatile broker
    "retention_expired",  # an appended record removed before it was consumed
    OVERFLOW_LOSS_CAUSE,  # an accepted entry dropped from the head of a full queue
)
ACKED_LOSSES = Measure("acked_not_processed", "lost_", ACKED_LOSS_CAUSES)
KEY_ORDER = Measure("out_of_order_key", "out_of_order_key_", ORDER_CAUSES)


@dataclass(frozen=True)
class Promise:
    """A guarantee a semantics makes: its name (the run's ``check_<name>`` column),
    the semantics that make it, and the measure that must stay at zero."""

    name: str
    semantics: tuple[str, ...]
    measure: Measure


#: What each semantics promises, in the order the run's checks are listed.
PROMISES: tuple[Promise, ...] = (
    Promise("no_duplicate_processing", ("at-most-once", "exactly-once"), DUPLICATES),
    Promise("acked_were_processed", ("at-least-once", "exactly-once"), ACKED_LOSSES),
    Promise("none_lost", ("at-least-once", "exactly-once"), LOSSES),
    # A log's transactional sink also promises each key's creation order (only
    # a log's summary has the column).
    Promise("key_order", ("exactly-once",), KEY_ORDER),
)


@dataclass(frozen=True)
class Violation:
    """A guarantee broken in a run, the cause it is charged to and by how much."""

    guarantee: str
    cause: str
    amount: int | float


def charged(measure: Measure, summary: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``measure``'s total in ``summary`` charged to its causes: (cause, count) for every
    cause with a count, in the registry's order; what they do not cover is unexplained."""
    left = _count(summary.get(measure.total, 0))
    out: dict[str, int] = {}
    for cause, column in zip(measure.causes, measure.columns()):
        if left <= 0:
            break
        amount = min(_count(summary.get(column, 0)), left)
        if amount > 0:
            out[cause] = amount
            left -= amount
    if left > 0:
        out[UNEXPLAINED] = out.get(UNEXPLAINED, 0) + left
    return list(out.items())


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return int(value)


def promises(semantics: str, summary: Mapping[str, Any]) -> list[Promise]:
    """The guarantees ``semantics`` makes that a run with ``summary`` can be checked against."""
    return [p for p in PROMISES if semantics in p.semantics and p.measure.total in summary]


def violations(semantics: str, summary: Mapping[str, Any],
               limits: Guarantees | None = None) -> list[Violation]:
    """Every guarantee a run's ``summary`` breaks, charged to its causes, in a fixed
    order: the promises of ``semantics`` first, then the declared ``limits``."""
    found: list[Violation] = []
    for promise in promises(semantics, summary):
        found += [Violation(promise.name, cause, n) for cause, n in charged(promise.measure, summary)]
    # The model's own books (alosim.model.books): a failed identity is in the
    # summary only then, as books_<identity> (its numbers); a defect of alosim.
    found += [Violation(name, BOOKS_CAUSE, 1) for name in summary
              if name.startswith("books_") and isinstance(summary[name], str)]
    if limits is None:
        return found
    for name, limit, measure in (("max_duplicate_effects", limits.max_duplicate_effects, DUPLICATES),
                                 ("max_lost", limits.max_lost, LOSSES)):
        if limit is not None and _count(summary.get(measure.total, 0)) > limit:
            found += [Violation(name, cause, n) for cause, n in charged(measure, summary)]
    peak = _count(summary.get("dedup_entries_peak", 0))
    if limits.max_dedup_entries is not None and peak > limits.max_dedup_entries:
        found.append(Violation("max_dedup_entries", "store_size", peak))
    p99 = summary.get("delivery_latency_p99_s")
    if (limits.max_latency_p99 is not None and isinstance(p99, float) and math.isfinite(p99)
            and p99 > limits.max_latency_p99):
        found.append(Violation("max_latency_p99", "latency", p99))
    return found


def checks(semantics: str, summary: Mapping[str, Any]) -> dict[str, bool]:
    """The guarantees each semantics promises, evaluated on a run's summary.

    * at-most-once: no message is processed twice.
    * at-least-once: every acked message was processed, and no settled
      message was lost unless the sender was allowed to give up.
    * exactly-once: both of the above (and, on a log's transactional sink,
      each key's effects in creation order).

    A check fails exactly when :func:`violations` charges its guarantee to a cause.
    """
    broken = {v.guarantee for v in violations(semantics, summary)}
    return {p.name: p.name not in broken for p in promises(semantics, summary)}


__all__ = ["ACKED_LOSS_CAUSES", "BOOKS_CAUSE", "DUPLICATES", "KEY_ORDER", "LOSSES", "PROMISES", "Measure", "Promise",
           "Violation", "charged", "checks", "promises", "violations"]
