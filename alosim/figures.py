"""The registry of figures: what each column of a run's summary means, and how it is shown.

A run's summary (``summary.csv``, ``result.summary``, a sweep's run table)
is a flat row of figures. Each one is described here, once, as a
:class:`Figure`: its column name, a label, a one-line meaning, its unit and
how a value is printed, the **shapes** of scenario it belongs to, whether it
is a **headline** figure of a shape (the answer a run of that shape leads
with), and the rule of :mod:`alosim.theory` that explains it, if one does.

The shapes:

* ``single-hop`` -- sender -> lossy network -> receiver;
* ``queue`` -- producer -> queue broker (leases, nacks, DLQ) -> consumers;
* ``log`` -- producer -> partitioned log -> consumer group with commits;
* ``overload`` -- a single hop with a scheduled slowdown at an arrival rate
  (its recovery is judged, :mod:`alosim.overload`);
* ``explore`` -- the figures a search for violations checks
  (:mod:`alosim.explore`, :mod:`alosim.guarantees`);
* ``topology`` -- named nodes and links (:mod:`alosim.model.topology`): its end-to-end
  figures at the sinks (its per-node columns are :mod:`alosim.observe.topology`'s).

Every printout is made from this registry: the run summary (:func:`format_summary`),
sweep tables, ``alosim compare``, ``alosim results``, plot axis labels and the
notebooks' column tables (:func:`describe`). A summary column without an
entry here fails the test suite (``tests/test_figures.py``).

The causes a duplicate or a loss is charged to come from :mod:`alosim.guarantees`
(one registry of causes); their figures are made here from it, each with the
meaning of its cause (:data:`CAUSE_MEANINGS`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alosim.names import is_node_name
from alosim.units import _three_figures, format_duration

SINGLE_HOP = "single-hop"
QUEUE = "queue"
LOG = "log"
OVERLOAD = "overload"
EXPLORE = "explore"
TOPOLOGY = "topology"
SHAPES: tuple[str, ...] = (SINGLE_HOP, QUEUE, LOG, OVERLOAD, EXPLORE, TOPOLOGY)
_LETTERS = {"S": SINGLE_HOP, "Q": QUEUE, "L": LOG, "O": OVERLOAD, "E": EXPLORE, "T": TOPOLOGY}

#: How a figure's value is printed, by kind, with the unit a table header shows.
KINDS: dict[str, str] = {
    "count": "",  # a whole number, with thousands separators
    "bytes": "bytes",
    "ratio": "",  # three significant figures; the unit is the figure's own
    "duration": "",  # seconds, printed in the largest unit that fits (16.5 ms, 24 h)
    "rate": "per s",
    "verdict": "",  # yes / NO
    "text": "",
}


@dataclass(frozen=True)
class Figure:
    """One column of a run's summary: what it means and how it is shown."""

    name: str
    label: str
    meaning: str
    kind: str
    unit: str
    shapes: tuple[str, ...]
    section: str
    #: The shapes whose runs lead with this figure, with its place there (lower first).
    headline: Mapping[str, int] = field(default_factory=dict)
    #: The name of the rule of :mod:`alosim.theory` that explains it, if any.
    theory: str | None = None
    #: Shown in a run's printout only when not zero (a fault or feature that did not happen).
    if_nonzero: bool = False
    #: Shapes whose summaries hold the column although the figure says nothing there, so
    #: that their printouts leave it out (a pipeline's duplicate deliveries): see :data:`ALSO_IN`.
    also_in: tuple[str, ...] = ()
    #: A derived figure's (numerator, denominator) columns of the summary (:data:`DERIVED`).
    ratio_of: tuple[str, str] | None = None

    @property
    def reported_in(self) -> tuple[str, ...]:
        """The shapes whose summaries may hold this column: those it belongs to and :attr:`also_in`."""
        return self.shapes + tuple(s for s in self.also_in if s not in self.shapes)

    def header(self) -> str:
        """The label with its unit where the printed value does not carry one:
        ``redeliveries (per message)``, ``create -> processed p99``."""
        if self.unit and self.kind not in ("duration", "rate"):
            return f"{self.label} ({self.unit})"
        return self.label

    def axis_label(self) -> str:
        """The label with its unit, always: for a plot's axis (``create -> processed p99 (s)``)."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def format(self, value: Any) -> str:
        """``value`` printed as this figure prints it."""
        return format_value(self.kind, value)

    def belongs_to(self, shape: str) -> bool:
        return shape in self.shapes


def sig3(value: float) -> str:
    """A number to three significant figures, never in exponent form (``0.445``, ``1,445``)."""
    if not math.isfinite(value):
        return "-" if math.isnan(value) else str(value)
    return _three_figures(value)


def format_value(kind: str, value: Any) -> str:
    """A value of a figure of ``kind`` as printed: counts with separators, ratios to three
    significant figures, durations in the largest fitting unit, verdicts yes/NO."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if kind == "verdict":
        return "yes" if value else "NO"
    if kind in ("count", "bytes") and isinstance(value, (int, float)):
        return f"{value:,.0f}"
    if kind == "duration" and isinstance(value, (int, float)):
        return format_duration(float(value))
    if kind == "rate" and isinstance(value, (int, float)):
        return f"{sig3(float(value))}/s"
    if kind == "ratio" and isinstance(value, (int, float)):
        return sig3(float(value))
    return str(value)


# -- the figures ---------------------------------------------------------------------------

_ALL = "SQLOE"
_BACKLOG = "sender backlog (create -> first send)"
_HOP = "SOE"  # a single hop's own figures (overload and explore runs are single hops)

# (name, label, kind, unit, shapes, section, headline "Q1 L2", theory, if_nonzero, meaning)
_ROWS: tuple[tuple[str, str, str, str, str, str, str, str | None, bool, str], ...] = (
    # -- the run itself
    ("scenario", "scenario", "text", "", _ALL, "run", "", None, False, "the scenario's name"),
    ("semantics", "semantics", "text", "", _ALL, "run", "", None, False,
     "at-most-once, at-least-once or exactly-once (at-least-once with a dedup store)"),
    ("seed", "seed", "text", "", _ALL, "run", "", None, False, "the seed every random stream derives from"),
    ("fingerprint", "fingerprint", "text", "", _ALL, "run", "", None, False,
     "a hash of everything the run produced: equal fingerprints, equal runs"),
    ("events", "simulation events", "count", "", _ALL, "run", "", None, False, "events the simulation scheduled"),
    ("sim_time_s", "simulated time", "duration", "s", _ALL, "run", "", None, False,
     "simulated time when the run stopped"),
    ("stopped_by", "stopped by", "text", "", _ALL, "run", "", None, False,
     "settled (every message's fate known) or max_time, or a budget"),
    ("stall_cause", "stalled on", "text", "", _ALL, "run", "", None, True,
     "what grew most while a run stalled (a budget stopped it), or empty"),
    ("stall_cause_count", "stall cause count", "count", "", _ALL, "run", "", None, True,
     "how much of stall_cause grew while the run stalled"),
    # -- traffic (the sender, or a pipeline's producer)
    ("messages", "messages created", "count", "", _ALL, "traffic", "", None, False, "messages the senders created"),
    ("transmissions", "transmissions", "count", "", _ALL, "traffic", "", None, False,
     "data packets sent, first sends and retransmissions (a pipeline: publishes)"),
    ("transmissions_per_message", "transmissions", "ratio", "per message", _ALL, "traffic", "",
     "transmissions per message", False, "transmissions / messages"),
    ("retransmissions", "retransmissions", "count", "", _ALL, "traffic", "", None, False,
     "copies sent again after a timeout or a nack"),
    ("spurious_retransmissions", "spurious retransmissions", "count", "", _ALL, "traffic", "", None, False,
     "retransmissions made when an earlier copy had already reached its receiver (the ack was lost or late)"),
    ("timeouts", "timeouts", "count", "", _ALL, "traffic", "", None, True, "retry timers that fired"),
    ("data_lost", "data packets lost", "count", "", _ALL, "traffic", "", None, False,
     "data packets the network lost"),
    ("acks_sent", "acks sent", "count", "", _ALL, "traffic", "", None, False, "acks the receivers (or the broker) sent"),
    ("acks_lost", "acks lost", "count", "", _ALL, "traffic", "", None, False,
     "acks the network lost, or that reached a crashed sender"),
    ("acked", "acked", "count", "", _ALL, "traffic", "", None, False, "messages whose sender received an ack"),
    ("late_acks", "late acks", "count", "", _ALL, "traffic", "", None, True,
     "acks that arrived after their message had settled"),
    ("acks_in_flight", "acks still travelling at end", "count", "", _ALL, "traffic", "", None, True,
     "acks on the wire when the run stopped"),
    # -- outcome
    ("deliveries", "deliveries (arrivals)", "count", "", _ALL, "outcome", "", None, False,
     "copies that arrived at a receiver (a pipeline: at the broker)"),
    ("duplicate_deliveries", "duplicate deliveries", "count", "", _HOP, "outcome", "S3", None, False,
     "arrivals of a message an earlier copy of which had already been processed"),
    ("duplicate_deliveries_per_message", "duplicate deliveries", "ratio", "per message", _HOP, "outcome", "S4",
     "duplicate deliveries per message", False, "duplicate deliveries / messages"),
    ("duplicates_detected", "duplicates caught by dedup", "count", "", _ALL, "outcome", "", None, True,
     "copies of a processed message the dedup stores caught and dropped"),
    ("processed", "processed", "count", "", _ALL, "outcome", "", None, False,
     "side effects executed, duplicates included"),
    ("duplicate_processing", "duplicate processing", "count", "", _ALL + "T", "outcome", "S1 Q1 L4 O3 E1 T1",
     "duplicate processing per message", False, "side effects executed more than once (duplicate effects)"),
    ("lost", "lost (never processed)", "count", "", _ALL + "T", "outcome", "S2 Q4 L5 E2 T2", "lost per message",
     False, "messages never processed"),
    ("gave_up", "sender gave up", "count", "", _ALL, "outcome", "", None, False,
     "messages whose sender stopped trying (processed or not)"),
    ("abandoned", "abandoned in a sender crash", "count", "", _ALL, "outcome", "", None, True,
     "messages a crashed sender's volatile outbox forgot"),
    ("unsettled", "unsettled at end", "count", "", _ALL, "outcome", "", None, True,
     "messages whose fate was unknown when max_time stopped the run"),
    ("acked_not_processed", "acked, never processed", "count", "", _ALL, "outcome", "", None, True,
     "messages acked but never processed (acked before processing, then lost)"),
    # -- latency
    *[(f"{what}_{q}_s", f"{label} {q}", "duration", "s", shapes, _BACKLOG if what == "outbox_wait" else "latency",
       "S5 Q5" if (what, q) == ("delivery_latency", "p99") else "",
       "M/M/1 sojourn" if (what, q) == ("delivery_latency", "mean")
       else None, False, f"{meaning}, {'mean' if q == 'mean' else 'maximum' if q == 'max' else q + ' percentile'}")
      for what, label, shapes, meaning in (
          ("delivery_latency", "create -> processed", _ALL, "time from a message's creation to its first processing"),
          ("ack_latency", "send -> ack", _ALL, "time from a message's first send to its ack"),
          ("outbox_wait", "outbox wait", _HOP, "time a message waited for room in the window before its first send",
           ),
          ("consume_latency", "accepted -> processed", "Q", "time from the broker accepting a message to its first "
                                                     "processing"))
      for q in ("p50", "p95", "p99", "max", "mean")],
    # -- the dedup store
    ("dedup_entries_peak", "dedup entries, peak", "count", "", _ALL, "dedup store", "S6", "TTL store plateau", True,
     "most ids the dedup stores held at once"),
    ("dedup_entries_final", "dedup entries, final", "count", "", _ALL, "dedup store", "", None, True,
     "ids the dedup stores held at the end"),
    ("dedup_bytes_peak", "dedup store size, peak", "bytes", "bytes", _ALL, "dedup store", "", None, True,
     "most bytes the dedup stores held at once"),
    # -- network and faults (shown when they happened)
    ("network_duplicates", "duplicated by the network", "count", "", _ALL, "network and faults", "", None, True,
     "packets the network delivered twice"),
    ("partition_drops", "dropped by partitions", "count", "", _ALL, "network and faults", "", None, True,
     "packets dropped by a network partition"),
    ("crashes", "crashes", "count", "", _ALL, "network and faults", "", None, True,
     "crashes of senders and receivers"),
    ("data_dropped_while_down", "data dropped, receiver down", "count", "", _ALL, "network and faults", "", None,
     True, "data packets that reached a crashed receiver"),
    ("acks_dropped_while_down", "acks dropped, sender down", "count", "", _ALL, "network and faults", "", None,
     True, "acks that reached a crashed sender"),
    ("dropped_in_crash", "lost in a crash (queued)", "count", "", _ALL, "network and faults", "", None, True,
     "copies waiting or in processing at a receiver when it crashed"),
    ("false_positive_drops", "new messages dropped as dups", "count", "", _ALL, "network and faults", "",
     "Bloom false-positive rate", True, "new messages a Bloom filter took for duplicates"),
    ("stale_drops", "given-up copies dropped (seq)", "count", "", _ALL, "network and faults", "", None, True,
     "copies a sequence store dropped because their sender had given up on them"),
    ("slowdowns", "receiver pauses, slow-downs", "count", "", _ALL, "network and faults", "", None, True,
     "scheduled pauses and slow-downs begun, per receiver"),
    ("queued", "waited for a worker", "count", "", _ALL, "network and faults", "", "M/M/c wait probability", True,
     "arrivals that found every worker busy and waited"),
    ("queue_dropped", "dropped by a full queue", "count", "", _ALL, "network and faults", "", "M/M/1/K blocking",
     True, "arrivals a full receiver queue dropped"),
    ("queue_rejected", "rejected by full queue (nack)", "count", "", _ALL, "network and faults", "", None, True,
     "arrivals a full receiver queue refused with a negative ack"),
    ("queue_evicted", "evicted from full queue", "count", "", _ALL, "network and faults", "", None, True,
     "waiting copies a full receiver queue evicted for a newcomer"),
    ("nacks_sent", "negative acks sent", "count", "", _ALL, "network and faults", "", None, True,
     "negative acks the receivers sent"),
    ("nacks_lost", "negative acks lost", "count", "", _ALL, "network and faults", "", None, True,
     "negative acks the network lost"),
    ("nacks_received", "negative acks acted on", "count", "", _ALL, "network and faults", "", None, True,
     "negative acks that made a sender retry at once"),
    ("nacks_in_flight", "nacks still travelling at end", "count", "", "SQOE", "network and faults", "", None, True,
     "negative acks on the wire when the run stopped (where a negative ack can be sent)"),
    ("nacks_ignored", "negative acks ignored", "count", "", _ALL, "network and faults", "", None, True,
     "negative acks whose message had settled or been sent again, or whose sender was down"),
    # -- mitigations (columns exist only when configured; then shown, zero included)
    ("retries_suppressed", "retries suppressed (budget)", "count", "", _HOP, "sender mitigations", "", None, False,
     "retransmissions the retry budget refused"),
    ("breaker_opened", "breaker opened", "count", "", _HOP, "sender mitigations", "", None, False,
     "times a circuit breaker opened"),
    ("short_circuited", "held by an open breaker", "count", "", _HOP, "sender mitigations", "", None, False,
     "messages held by an open circuit breaker (once per open period)"),
    ("arrival_duplicates_dropped", "duplicates dropped on arrival", "count", "", _HOP, "receiver mitigations", "",
     None, False, "copies dropped as they arrived, before queueing (dedup on arrival)"),
    ("arrival_duplicates_reacked", "duplicates acked again on arrival", "count", "", _HOP, "receiver mitigations",
     "", None, False, "of the copies dropped on arrival, those whose id was recorded: acked again"),
    ("expired_discarded", "expired copies discarded", "count", "", _HOP, "receiver mitigations", "", None, False,
     "copies a worker discarded unprocessed because their sender had stopped waiting"),
    # -- overload (a single hop's series, read after the run)
    ("offered_per_s", "offered load", "rate", "per s", "SO", "overload", "O1", None, False,
     "messages created per second"),
    ("goodput_per_s", "goodput", "rate", "per s", "SO", "overload", "O2", None, False,
     "unique messages processed per second (first processing only)"),
    ("throughput_per_s", "throughput", "rate", "per s", "SO", "overload", "", "retry amplification", False,
     "processing per second, duplicates included"),
    ("duplicate_work_fraction", "duplicate work", "ratio", "fraction", "SO", "overload", "O4", None, False,
     "the share of all processing spent on duplicates"),
    ("recovered", "recovered after the slowdown", "verdict", "", "O", "overload", "O5", None, False,
     "whether goodput came back to the offered load after the last slowdown and stayed there"),
    ("recovery_time_s", "recovery time", "duration", "s", "O", "overload", "O6", None, False,
     "from the end of the last slowdown to the start of the recovered span"),
    # -- guarantees
    *[(f"check_{name}", label, "verdict", "", shapes, "guarantees", "E3", None, False, meaning)
      for name, label, shapes, meaning in (
          ("no_duplicate_processing", "no duplicate processing", _ALL, "no message was processed twice"),
          ("acked_were_processed", "acked were processed", _ALL, "every acked message was processed"),
          ("none_lost", "none lost", _ALL, "no message was lost (unless its sender was allowed to give up)"),
          # only a log's summary has out_of_order_key, the total this check watches
          ("key_order", "key order", "LE", "each key's effects happened in creation order"))],
    # -- a queue pipeline: the publish hop
    ("publishes_accepted", "publishes accepted", "count", "", "Q", "publish hop (producer -> broker)", "", None,
     False, "publishes the broker accepted as new entries"),
    ("publish_duplicates_caught", "caught by the broker's store", "count", "", "Q",
     "publish hop (producer -> broker)", "", None, False, "producer retries the broker's dedup store caught"),
    ("publish_false_positives", "new publishes dropped as dups", "count", "", "Q", "publish hop (producer -> broker)",
     "", None, True, "new publishes the broker's Bloom store took for duplicates"),
    ("publish_stale_drops", "stale publishes dropped", "count", "", "Q", "publish hop (producer -> broker)", "",
     None, True, "publishes a sequence store dropped because the producer had given up on them"),
    ("publishes_dropped_while_down", "dropped, broker down", "count", "", "Q", "publish hop (producer -> broker)",
     "", None, False, "publishes that reached a crashed broker"),
    ("publishes_lost_in_crash", "lost in a broker crash", "count", "", "Q", "publish hop (producer -> broker)", "",
     None, True, "publishes being written when the broker crashed"),
    ("broker_publishes_rejected", "refused, queue full (nacked)", "count", "", "Q",
     "publish hop (producer -> broker)", "", None, False, "publishes a full queue refused with a nack"),
    ("duplicates_publish", "duplicate effects, publish hop", "count", "", "QL", "duplicate effects", "", None, False,
     "duplicate effects caused by a producer retry the broker did not catch"),
    # -- a queue pipeline: the consume hop
    ("consume_deliveries", "deliveries to consumers", "count", "", "Q", "consume hop (broker -> consumers)", "",
     None, False, "deliveries the broker made, redeliveries included"),
    ("deliveries_per_message", "deliveries to consumers", "ratio", "per message", "Q",
     "consume hop (broker -> consumers)", "", "dead-lettering", False, "consume deliveries / messages"),
    ("consume_redeliveries", "redeliveries", "count", "", "Q", "consume hop (broker -> consumers)", "", None, False,
     "deliveries of an entry after its first"),
    ("redeliveries_per_message", "redeliveries", "ratio", "per message", "Q", "consume hop (broker -> consumers)",
     "Q3", "lease expiry", False, "redeliveries / messages"),
    ("lease_expiries", "leases expired", "count", "", "Q", "consume hop (broker -> consumers)", "", "lease expiry",
     False, "leases (visibility timeouts) that ran out before the ack"),
    ("nacks", "nacks", "count", "", "Q", "consume hop (broker -> consumers)", "", None, False,
     "negative acks from consumers (processing failed)"),
    ("nacks_stale", "stale nacks ignored", "count", "", "Q", "consume hop (broker -> consumers)", "", None, True,
     "nacks of an earlier delivery, ignored"),
    ("consume_data_lost", "deliveries lost", "count", "", "Q", "consume hop (broker -> consumers)", "", None, False,
     "deliveries the broker -> consumer link lost"),
    ("consume_network_duplicates", "deliveries duplicated", "count", "", "Q", "consume hop (broker -> consumers)",
     "", None, True, "deliveries the broker -> consumer link delivered twice"),
    ("consumer_arrivals", "arrivals at consumers", "count", "", "Q", "consume hop (broker -> consumers)", "", None,
     False, "deliveries that reached a consumer"),
    ("consumer_dropped_while_down", "dropped, consumer down", "count", "", "Q", "consume hop (broker -> consumers)",
     "", None, True, "deliveries that reached a crashed consumer"),
    ("consumer_dropped_in_crash", "lost in a consumer crash", "count", "", "Q", "consume hop (broker -> consumers)",
     "", None, False, "deliveries at a consumer when it crashed"),
    ("consumer_duplicates_caught", "caught by the consumer's store", "count", "", "Q",
     "consume hop (broker -> consumers)", "", None, False, "redeliveries the consumer's dedup store caught"),
    ("consumer_false_positives", "new deliveries dropped as dups", "count", "", "Q",
     "consume hop (broker -> consumers)", "", None, True, "new deliveries the consumer's Bloom store took for dups"),
    ("processing_failures", "processing failures", "count", "", "Q", "consume hop (broker -> consumers)", "", None,
     True, "deliveries whose processing failed (poison messages)"),
    ("consumer_acks_sent", "consumer acks sent", "count", "", "Q", "consume hop (broker -> consumers)", "", None,
     False, "acks the consumers sent"),
    ("consumer_acks_lost", "consumer acks lost", "count", "", "Q", "consume hop (broker -> consumers)", "", None,
     False, "consumer acks the consumer -> broker link lost"),
    ("consumer_acks_late", "consumer acks late", "count", "", "Q", "consume hop (broker -> consumers)", "", None,
     True, "consumer acks that arrived after their lease had ended"),
    ("consumer_acks_stale", "consumer acks stale", "count", "", "Q", "consume hop (broker -> consumers)", "", None,
     True, "acks of an earlier delivery of an entry that had been redelivered"),
    ("consumer_acks_dropped_while_down", "consumer acks, broker down", "count", "", "Q",
     "consume hop (broker -> consumers)", "", None, True, "consumer acks that reached a crashed broker"),
    ("lease_extensions_sent", "lease extensions sent", "count", "", "Q", "consume hop (broker -> consumers)", "",
     None, False, "requests to extend a lease the consumers sent (consumer.lease_extension)"),
    ("lease_extensions_lost", "lease extensions lost", "count", "", "Q", "consume hop (broker -> consumers)", "",
     None, False, "lease extensions the consumer -> broker link lost"),
    ("lease_extensions_applied", "lease extensions applied", "count", "", "Q", "consume hop (broker -> consumers)",
     "", None, False, "lease extensions the broker applied"),
    ("lease_extensions_ignored", "lease extensions ignored", "count", "", "Q", "consume hop (broker -> consumers)",
     "", None, False, "lease extensions that came too late (the lease had ended) or hit the lease cap"),
    ("consumed", "entries consumed", "count", "", "Q", "consume hop (broker -> consumers)", "", None, False,
     "broker entries acked and removed"),
    ("dead_lettered", "dead-lettered", "count", "", "Q", "consume hop (broker -> consumers)", "Q6",
     "dead-lettering", True, "entries moved to the dead-letter queue after max_deliveries"),
    ("duplicates_consume", "duplicate effects, consume hop", "count", "", "QL", "duplicate effects", "", None, False,
     "duplicate effects of one broker entry (or log record) processed again"),
    ("duplicate_effects_per_message", "duplicate effects", "ratio", "per message", "QL", "outcome", "Q2 L6",
     "lease expiry", False, "duplicate effects, both hops / messages"),
    # -- a queue pipeline: broker and stores
    ("broker_ready_peak", "ready, peak", "count", "", "Q", "broker and stores", "", None, False,
     "most entries waiting at the broker at once"),
    ("broker_in_flight_peak", "in flight, peak", "count", "", "Q", "broker and stores", "", None, False,
     "most entries leased at once"),
    ("broker_overflow_dropped", "dropped, queue full (head)", "count", "", "Q", "broker and stores", "", None, False,
     "entries dropped from the head of a full queue"),
    ("broker_store_entries_peak", "broker store entries, peak", "count", "", "Q", "broker and stores", "", None,
     False, "most ids the broker's dedup store held at once"),
    ("broker_store_bytes_peak", "broker store bytes, peak", "bytes", "bytes", "Q", "broker and stores", "", None,
     False, "most bytes the broker's dedup store held at once"),
    ("consumer_store_entries_peak", "consumer store entries, peak", "count", "", "Q", "broker and stores", "", None,
     False, "most ids the consumers' dedup stores held at once"),
    ("consumer_store_bytes_peak", "consumer store bytes, peak", "bytes", "bytes", "Q", "broker and stores", "",
     None, False, "most bytes the consumers' dedup stores held at once"),
    ("broker_lost_in_crash", "entries lost in broker crash", "count", "", "Q", "broker and stores", "", None, True,
     "entries a volatile broker lost in a crash"),
    ("broker_crashes", "broker crashes", "count", "", "Q", "broker and stores", "", None, True, "broker crashes"),
    ("consumer_crashes", "consumer crashes", "count", "", "Q", "broker and stores", "", None, True,
     "consumer crashes"),
    # -- a log
    ("log_records_appended", "records appended", "count", "", "L", "log (producer -> partitions)", "", None, False,
     "records appended to the partitions"),
    ("log_publish_duplicates_caught", "retries caught (idempotence)", "count", "", "L",
     "log (producer -> partitions)", "", None, False, "producer retries an idempotent log refused to append again"),
    ("log_publish_duplicates_past_cache", "retries past the idempotence cache", "count", "", "L",
     "log (producer -> partitions)", "", None, True, "retries older than the broker's sequence cache, appended again"),
    ("log_publish_stale_drops", "stale publishes dropped", "count", "", "L", "log (producer -> partitions)", "",
     None, True, "publishes dropped because the producer had given up on them"),
    ("log_publishes_out_of_sequence", "refused out of sequence", "count", "", "L", "log (producer -> partitions)",
     "", None, False, "publishes an idempotent log refused as out of sequence"),
    ("log_publishes_dropped_while_down", "dropped, broker down", "count", "", "L", "log (producer -> partitions)",
     "", None, True, "publishes that reached a crashed log broker"),
    ("log_records_expired", "expired by retention", "count", "", "L", "log (producer -> partitions)", "", None,
     False, "records retention removed"),
    ("log_broker_crashes", "broker crashes", "count", "", "L", "log (producer -> partitions)", "", None, True,
     "log broker crashes"),
    ("log_records_fetched", "records fetched", "count", "", "L", "consumer group", "", None, False,
     "records the group fetched, replays included"),
    ("log_records_processed", "records processed", "count", "", "L", "consumer group", "", None, False,
     "records processed, replays included"),
    ("log_records_dropped", "dropped unprocessed", "count", "", "L", "consumer group", "", None, False,
     "fetched records dropped unprocessed (a crash or a lost partition)"),
    ("log_commits", "commits", "count", "", "L", "consumer group", "", None, False, "offset commits sent"),
    ("log_commits_landed", "commits landed", "count", "", "L", "consumer group", "", None, False,
     "commits the log applied"),
    ("log_commits_failed", "commits failed (rebalanced away)", "count", "", "L", "consumer group", "", None, False,
     "commits refused because the partition had moved"),
    ("log_commits_lost", "commits lost in a crash", "count", "", "L", "consumer group", "", None, False,
     "commits pending when their member crashed"),
    ("log_lag_peak", "lag, peak", "count", "records", "L", "consumer group", "", None, False,
     "most records appended but not yet committed"),
    ("log_rebalances", "rebalances", "count", "", "L", "consumer group", "", None, False, "group rebalances"),
    ("log_rebalance_time_s", "time stopped by rebalances", "duration", "s", "L", "consumer group", "", None, False,
     "total time the group stood still while rebalancing"),
    ("log_members_kicked_out", "kicked out (stalled)", "count", "", "L", "consumer group", "", None, False,
     "members removed for exceeding max.poll.interval"),
    ("log_consumer_crashes", "consumer crashes", "count", "", "L", "consumer group", "L1", None, False,
     "crashes of the group's members"),
    ("duplicates_per_consumer_crash", "replays", "ratio", "per crash", "L", "consumer group", "L2",
     "auto-commit replays per crash", False, "records processed again after a consumer crash / crashes"),
    ("lost_per_consumer_crash", "losses", "ratio", "per crash", "L", "consumer group", "L3", None, False,
     "records lost because a crash followed a commit before processing / crashes"),
    ("out_of_order_key", "effects out of key order", "count", "", "L", "order", "", None, False,
     "effects that came after the effect of a later message of the same key"),
    ("out_of_order_partition", "effects out of partition order", "count", "", "L", "order", "", None, False,
     "effects that came after the effect of a later message of the same partition"),
)

#: What each cause of a duplicate effect, a loss or an effect out of order means
#: (the causes themselves are :mod:`alosim.guarantees`'s).
CAUSE_MEANINGS: dict[str, str] = {
    "no_dedup": "there is no dedup store: every duplicate is processed",
    "window_expired": "a TTL store had forgotten the id",
    "evicted_by_capacity": "an LRU store had evicted the id",
    "store_lost_in_crash": "a volatile store was wiped by a crash after recording the id",
    "crash_before_record": "processed, then a crash before the id was recorded",
    "concurrent_copy": "checked while another worker held a copy whose id was not yet recorded",
    "unexplained": "none of the known causes (never expected)",
    "repeated_call": "a caller upstream called again with the same key, and no store on the way caught it",
    "new_key": "a caller upstream called again under a new key (a node mints keys), so no store could catch it",
    "call_lost": "a call on the path was lost (the links' <node>_lost_<cause> columns say how)",
    "max_attempts": "the sender gave up after its last attempt",
    "delivery_timeout": "the sender gave up when its delivery timeout ran out",
    "acked_then_crashed": "acked before processing, then the receiver or consumer crashed",
    "bloom_false_positive": "a Bloom filter took a new message for a duplicate",
    "sender_crash": "the sender crashed and its outbox was not durable",
    "queue_full": "dropped, rejected or evicted by a full receiver queue",
    "expired_discarded": "discarded unprocessed: its sender had stopped waiting for it",
    "retry_budget": "given up while its retransmission was suppressed by the retry budget",
    "circuit_open": "given up while held by an open circuit breaker",
    "dead_lettered": "delivered max_deliveries times, then dead-lettered",
    "broker_crash": "a broker crash lost the entry or its ack, and it was redelivered or lost",
    "acked_then_failed": "a consumer acked before processing, then the processing failed",
    "broker_overflow": "dropped from the head of, or refused by, a full broker queue",
    "commit_before_processing_crash": "a log consumer committed before processing, then crashed",
    "retention_expired": "retention removed the record before it was consumed",
    "lease_expired": "the lease ran out while the consumer was still processing",
    "crash_before_ack": "the consumer crashed between the side effect and the ack",
    "consumer_ack_lost": "the consumer's ack was lost on the way to the broker",
    "network_duplicate": "the broker -> consumer link delivered the same delivery twice",
    "producer_retry_duplicated": "a producer retry appended a second record (idempotence off)",
    "replay_after_crash": "processed since the last commit by a member that crashed, and replayed",
    "replay_after_rebalance": "processed, not committed, by a member that lost its partition",
    "stalled_consumer_kicked_out": "processed by a member past max.poll.interval, or by its successor",
    "producer_retry_reordered": "appended after later messages on a retry (idempotence off)",
    "network_reordered": "overtaken by a later publish on a link without FIFO order",
    "key_spread_over_partitions": "a round-robin partitioner put one key on several partitions",
}


def _cause_shapes() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """The shapes whose summaries charge duplicate effects (``publish_<cause>``,
    ``consume_<cause>``, a topology's path causes) and losses to each cause: the causes each
    shape's books keep (:mod:`alosim.observe`, :mod:`alosim.observe.pipeline`,
    :mod:`alosim.observe.log`, :mod:`alosim.observe.topology`)."""
    from alosim.observe import LOSS_CAUSES, SENDER_LOSS_CAUSES
    from alosim.observe.log import LOG_CONSUME_CAUSES, LOG_LOSS_CAUSES, LOG_PUBLISH_CAUSES
    from alosim.observe.pipeline import CONSUME_CAUSES, OVERFLOW_LOSS_CAUSE, PIPELINE_LOSS_CAUSES, PUBLISH_CAUSES
    from alosim.observe.topology import PATH_DUPLICATE_CAUSES, PATH_LOSS_CAUSES

    duplicates: dict[str, tuple[str, ...]] = dict.fromkeys(PATH_DUPLICATE_CAUSES, (TOPOLOGY,))
    for hop, queue, log in (("publish", PUBLISH_CAUSES, LOG_PUBLISH_CAUSES),
                            ("consume", CONSUME_CAUSES, LOG_CONSUME_CAUSES)):
        for cause in dict.fromkeys((*queue, *log)):
            duplicates[f"{hop}_{cause}"] = (*((QUEUE,) if cause in queue else ()), *((LOG,) if cause in log else ()))
    hop_only = (SINGLE_HOP, OVERLOAD, EXPLORE)
    hops = tuple(s for s in SHAPES if s != TOPOLOGY)  # a topology charges its losses to its path
    losses: dict[str, tuple[str, ...]] = dict.fromkeys((*LOSS_CAUSES, *SENDER_LOSS_CAUSES), hops)
    losses["expired_discarded"] = hop_only  # a receiver's mitigation (discard_expired): a single hop's only
    losses.update(dict.fromkeys((*PIPELINE_LOSS_CAUSES, OVERFLOW_LOSS_CAUSE), (QUEUE,)))
    losses.update(dict.fromkeys(LOG_LOSS_CAUSES, (LOG,)))
    losses.update(dict.fromkeys(PATH_LOSS_CAUSES, (TOPOLOGY,)))
    return duplicates, losses


def _cause_rows() -> list[Figure]:
    from alosim.guarantees import DUPLICATES, KEY_ORDER, LOSSES
    from alosim.observe.log import ORDER_CAUSES

    by_hop, losses = _cause_shapes()
    out: list[Figure] = []
    for cause in DUPLICATES.causes:
        hop, _, rest = cause.partition("_")
        also: tuple[str, ...] = ()
        if hop in ("publish", "consume"):
            shapes, section, what = by_hop[cause], "duplicate effects, by hop and cause", rest
            label = f"{hop}: {rest.replace('_', ' ')}"
        elif cause in by_hop:  # a path's: what no single link of a topology made
            shapes, section, what = by_hop[cause], "duplicates processed, by cause", cause
            label = cause.replace("_", " ")
        else:
            # a pipeline's summary holds a single hop's causes too (its producer's hop): at zero;
            # a topology charges the duplicate effects at its sinks to them
            shapes, section, what = (SINGLE_HOP, OVERLOAD, EXPLORE, TOPOLOGY), "duplicates processed, by cause", cause
            label, also = cause.replace("_", " "), (QUEUE, LOG)
        out.append(Figure(f"duplicates_{cause}", label, f"duplicate effects charged to: {CAUSE_MEANINGS[what]}",
                          "count", "", shapes, section, if_nonzero=True, also_in=also))
    for cause in LOSSES.causes:
        out.append(Figure(f"lost_{cause}", cause.replace("_", " "), f"losses charged to: {CAUSE_MEANINGS[cause]}",
                          "count", "", losses[cause], "losses, by cause", if_nonzero=True))
    for prefix, which in ((KEY_ORDER.prefix, "key"), ("out_of_order_partition_", "partition")):
        for cause in ORDER_CAUSES:
            out.append(Figure(f"{prefix}{cause}", cause.replace("_", " "),
                              f"effects out of {which} order charged to: {CAUSE_MEANINGS[cause]}", "count", "",
                              (LOG,), f"effects out of {which} order, by cause", if_nonzero=True))
    return out


#: Columns a shape's summary holds although the figure says nothing there (by the letters of
#: :data:`_ROWS`), so that its printout leaves them out: a pipeline's producer keeps a single
#: hop's sender books (its duplicate deliveries are the publish hop's, where nothing is
#: processed; its backlog and mitigations), and every single hop's summary holds the overload
#: verdict, which means something only where a slowdown meets an arrival rate.
ALSO_IN: dict[str, str] = {
    "duplicate_deliveries": "QL", "duplicate_deliveries_per_message": "QL",
    **{f"outbox_wait_{q}_s": "QL" for q in ("p50", "p95", "p99", "max", "mean")},
    "retries_suppressed": "QL", "breaker_opened": "QL", "short_circuited": "QL",
    "recovered": "S", "recovery_time_s": "S",
}


def _build() -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for name, label, kind, unit, shapes, section, headline, theory, nonzero, meaning in _ROWS:
        places = {_LETTERS[h[0]]: int(h[1:]) for h in headline.split()}
        figures[name] = Figure(name, label, meaning, kind, unit or KINDS[kind],
                               tuple(_LETTERS[s] for s in shapes), section, places, theory, nonzero,
                               tuple(_LETTERS[s] for s in ALSO_IN.get(name, "")))
    for figure in _cause_rows():
        figures.setdefault(figure.name, figure)
    return figures


#: Every figure, by column name, in the order a printout lists them.
FIGURES: dict[str, Figure] = _build()

def _ratio(name: str, label: str, ratio_of: tuple[str, str], meaning: str, unit: str, section: str,
           theory: str) -> Figure:
    # a topology's summary has no network-wide packet or ack counts, only its links' own
    shapes = SHAPES if ratio_of[1] == "messages" else tuple(s for s in SHAPES if s != TOPOLOGY)
    return Figure(name, label, meaning, "ratio", unit, shapes, section, {}, theory, ratio_of=ratio_of)


#: Figures derived from the summary, each the ratio of two of its columns (:attr:`Figure.ratio_of`,
#: :func:`derived_value`): a sweep's run table adds the per-message ones (:mod:`alosim.store`),
#: and a scenario's description and ``expect:`` block may quote any (:mod:`alosim.expect`).
DERIVED: dict[str, Figure] = {fig.name: fig for fig in (
    _ratio("duplicate_processing_per_message", "duplicate processing", ("duplicate_processing", "messages"),
           "duplicate processing / messages", "per message", "outcome", "duplicate processing per message"),
    _ratio("lost_per_message", "lost", ("lost", "messages"), "lost / messages", "per message", "outcome",
           "lost per message"),
    _ratio("data_loss_rate", "data packets lost", ("data_lost", "transmissions"), "data packets lost / transmissions",
           "fraction", "traffic", "Gilbert-Elliott loss rate"),
    _ratio("ack_loss_rate", "acks lost", ("acks_lost", "acks_sent"), "acks lost / acks sent", "fraction", "traffic",
           "Gilbert-Elliott loss rate"),
)}


#: The derived figures per message, each with the count it divides by the messages: a sweep's
#: run table holds them (:mod:`alosim.store`), and ``alosim compare`` compares them (the loss
#: rates are the network's, not the run's answer).
PER_MESSAGE: dict[str, str] = {name: fig.ratio_of[0] for name, fig in DERIVED.items()
                               if fig.ratio_of is not None and fig.ratio_of[1] == "messages"}


def derived_value(summary: Mapping[str, Any], name: str) -> float | None:
    """The derived figure ``name`` (:data:`DERIVED`) of a run's ``summary``: its numerator over
    its denominator (at least 1, so that a run of no messages has none per message); None
    when ``name`` is not derived or the summary lacks a column of it."""
    found = DERIVED.get(name)
    if found is None or found.ratio_of is None:
        return None
    top, bottom = found.ratio_of
    if top not in summary or bottom not in summary:
        return None
    return summary[top] / max(summary[bottom], 1)


#: The shapes whose summaries differ: an overload run and an explored one are single hops,
#: and write a single hop's columns.
SUMMARY_SHAPES: tuple[str, ...] = (SINGLE_HOP, QUEUE, LOG)


def summary_columns(shape: str) -> frozenset[str]:
    """Every column a run of ``shape`` (one of :data:`SUMMARY_SHAPES`) may report, those of
    optional features included (a mitigation, a bounded queue), and the :data:`DERIVED` figures
    every shape can quote: the figures whose :attr:`Figure.reported_in` holds the shape. A
    scenario's ``expect:`` block may name only these (:mod:`alosim.scenario`)."""
    if shape not in SUMMARY_SHAPES:
        raise ValueError(f"expected one of {', '.join(SUMMARY_SHAPES)}, got {shape!r}")
    return _summary_columns()[shape]


@functools.cache
def _summary_columns() -> dict[str, frozenset[str]]:
    return {shape: frozenset([*(f.name for f in FIGURES.values() if shape in f.reported_in), *DERIVED])
            for shape in SUMMARY_SHAPES}


#: A failed identity of alosim's own books (:mod:`alosim.model.books`): a column only in a run
#: whose books do not balance, a defect of alosim reported as a result.
_BOOKS = Figure("books_", "books", "a failed identity of alosim's books: the numbers that do not add up "
                "(an alosim bug)", "text", "", SHAPES, "guarantees")


def figure(name: str) -> Figure | None:
    """The figure of column ``name`` (a summary column or a derived one), or None."""
    found = FIGURES.get(name) or DERIVED.get(name) or TOPOLOGY_FIGURES.get(name) or node_figure(name)
    if found is None and name.startswith(("books_", "check_books_")):
        verdict = name.startswith("check_")
        identity = name.removeprefix("check_").removeprefix("books_").replace("_", " ")
        return Figure(name, f"books balance: {identity}" if verdict else f"books: {identity}", _BOOKS.meaning,
                      "verdict" if verdict else "text", "", SHAPES, "guarantees")
    return found


def label(name: str) -> str:
    """A column's label for a table header (the name itself if unregistered)."""
    found = figure(name)
    return found.header() if found else name


def axis_label(name: str) -> str:
    """A column's label with its unit, for a plot's axis (the name itself if unregistered)."""
    found = figure(name)
    return found.axis_label() if found else name


def unregistered(columns: Iterable[str]) -> list[str]:
    """The columns of ``columns`` that have no figure."""
    return [c for c in columns if figure(c) is None]


def headlines(shape: str, columns: Iterable[str] | None = None) -> list[Figure]:
    """The headline figures of ``shape`` in their order (only those in ``columns``, if given)."""
    have = None if columns is None else set(columns)
    found = [f for f in FIGURES.values() if shape in f.headline and (have is None or f.name in have)]
    return sorted(found, key=lambda f: f.headline[shape])


def sweep_columns(shape: str) -> list[str]:
    """The columns a sweep table of ``shape`` shows: its headline figures, a count that has a
    per-message form (duplicate processing, lost) by that form."""
    per_message = {"duplicate_processing": "duplicate_processing_per_message", "lost": "lost_per_message"}
    out: list[str] = []
    for fig in headlines(shape):
        if fig.name == "duplicate_processing" and shape in (QUEUE, LOG):
            continue  # duplicate effects per message says it
        name = per_message.get(fig.name, fig.name)
        if name not in out and not (name == "duplicate_deliveries" and "duplicate_deliveries_per_message"
                                    in {f.name for f in headlines(shape)}):
            out.append(name)
    return out


def reference() -> str:
    """The reference of every figure as Markdown (``docs/figures.md`` is this text): a table per
    section with the column, its label and unit, the shapes it belongs to (headline ones in
    bold) and the theory rule that explains it."""
    sections: dict[str, list[Figure]] = {}
    for fig in [*FIGURES.values(), *DERIVED.values()]:
        sections.setdefault(fig.section, []).append(fig)
    lines = ["# The figures of a run", "",
             "Generated from `alosim.figures` (`python -m alosim.figures > docs/figures.md`); a test keeps",
             "it in step. Shapes: single-hop, queue (pipeline), log, overload, explore; a shape in bold",
             "is one whose runs lead with the figure. Counts are whole numbers, ratios are printed to",
             "three significant figures, durations in the largest unit that fits.", ""]
    for section, figs in sections.items():
        lines += [f"## {section}", "", "| column | label (unit) | meaning | shapes | theory |",
                  "| --- | --- | --- | --- | --- |"]
        for fig in figs:
            shapes = ", ".join(f"**{s}**" if s in fig.headline else s for s in fig.shapes)
            lines.append(f"| `{fig.name}` | {fig.axis_label()} | {fig.meaning} | {shapes} | {fig.theory or ''} |")
        lines.append("")
    return "\n".join(lines)


def describe(columns: Iterable[str]):  # -> pandas.DataFrame
    """A table of ``columns``: column, unit, meaning (for notebooks and docs)."""
    import pandas as pd

    rows = []
    for name in columns:
        found = figure(name)
        rows.append((name, found.unit if found else "", found.meaning if found else "(not registered)"))
    return pd.DataFrame(rows, columns=["column", "unit", "meaning"])


__all__ = ["ALSO_IN", "CAUSE_MEANINGS", "DERIVED", "EXPLORE", "FIGURES", "Figure", "LOG", "OVERLOAD", "PER_MESSAGE",
           "QUEUE", "SHAPES", "SINGLE_HOP", "SUMMARY_SHAPES", "TOPOLOGY", "axis_label", "derived_value", "describe",
           "figure", "format_value", "headlines", "label", "reference", "sig3", "summary_columns", "sweep_columns",
           "unregistered"]


if __name__ == "__main__":
    print(reference())


# -- a topology's figures ----------------------------------------------------------------

#: A topology's end-to-end figures that no other shape has (the others --
#: duplicate_processing, lost and their causes -- are the single hop's, read at the sinks).
TOPOLOGY_FIGURES: dict[str, Figure] = {
    name: Figure(name, label, meaning, kind, unit, (TOPOLOGY,), "traffic")
    for name, label, kind, unit, meaning in (
        ("missing", "missing at a sink", "count", "",
         "producer messages a sink never made an effect for, summed over the sinks (lost once the run settled)"),
        ("calls", "calls on all links", "count", "", "transmissions made on every link of the topology"),
        ("calls_per_message", "calls on all links", "ratio", "per message",
         "transmissions on every link per producer message: the load the path puts on itself"),
    )
}

#: Each receiving node's figures, by the suffix of ``<node>_<suffix>``.
_NODE_FIGURES: dict[str, tuple[str, str, str, str]] = {
    "calls": ("calls", "count", "", "calls made to the node (messages on the link into it)"),
    "transmissions": ("copies sent", "count", "", "transmissions on the link into the node"),
    "transmissions_per_message": ("copies sent", "ratio", "per message",
                                  "transmissions on the link into the node per producer message"),
    "retransmissions": ("resends", "count", "", "retransmissions on the link into the node"),
    "effects": ("effects", "count", "", "side effects the node made, repeats included"),
    "duplicate_effects": ("duplicate effects", "count", "",
                          "effects beyond the first for one producer message"),
    "missing": ("missing", "count", "", "producer messages the node never made an effect for"),
    "repeats_caught": ("repeats caught", "count", "",
                       "copies its store caught as repeats of an earlier call with the same key"),
    "duplicates_caught": ("resends caught", "count", "", "copies its store caught as resends of one call"),
    "calls_gave_up": ("calls given up", "count", "", "calls to the node whose caller gave up"),
    "calls_lost": ("calls lost", "count", "", "calls to the node never processed (their causes follow)"),
    "dedup_entries_peak": ("dedup entries, peak", "count", "", "most keys the node's store held at once"),
    "crashes": ("crashes", "count", "", "times a fault crashed the node"),
    "calls_out": ("calls out", "count", "", "calls the service handed to its links out"),
    "requests_unanswered": ("requests unanswered", "count", "",
                            "after-call: requests left unanswered because an onward call gave up"),
    "redeliveries": ("redeliveries", "count", "",
                     "deliveries the broker made again (a lease ran out, a nack, a crash): a consumers "
                     "node's subscription's, or a queue node's subscriptions' together"),
    "dead_lettered": ("dead-lettered", "count", "",
                      "broker entries moved to the dead-letter queue after max_deliveries"),
    "publishes": ("publishes accepted", "count", "", "publishes a queue node's subscriptions accepted"),
    "lease_expiries": ("lease expiries", "count", "", "leases of a queue node's subscriptions that ran out"),
}


def node_figure(name: str) -> Figure | None:
    """The figure of a topology node's column ``<node>_<suffix>`` (a suffix of
    :data:`_NODE_FIGURES`, or ``duplicates_<cause>`` / ``lost_<cause>``), or None."""
    for prefix, what in (("_duplicates_", "duplicate effects"), ("_lost_", "calls lost")):
        node, _, cause = name.partition(prefix)
        hop, _, bare = cause.partition("_")
        if prefix == "_duplicates_" and hop in ("publish", "consume") and bare in CAUSE_MEANINGS and is_node_name(node):
            # a consumers node's subscription charges its duplicates per hop
            return Figure(name, f"{node}: {hop}: {bare.replace('_', ' ')}", f"{what} at the node born on its "
                          f"subscription's {hop} hop, charged to: {CAUSE_MEANINGS[bare]}", "count", "",
                          (TOPOLOGY,), "nodes")
        if cause in CAUSE_MEANINGS and is_node_name(node):
            return Figure(name, f"{node}: {cause.replace('_', ' ')}", f"{what} at the node charged to: "
                          f"{CAUSE_MEANINGS[cause]}", "count", "", (TOPOLOGY,), "nodes")
    for suffix in sorted(_NODE_FIGURES, key=len, reverse=True):
        node = name[: -len(suffix) - 1]
        if name.endswith(f"_{suffix}") and is_node_name(node):
            label, kind, unit, meaning = _NODE_FIGURES[suffix]
            return Figure(name, f"{node}: {label}", meaning, kind, unit, (TOPOLOGY,), "nodes")
    return None
