"""What a pipeline run measures beyond a single hop: per hop, and why.

A pipeline (producer -> broker -> consumers) keeps every single-hop column of
:class:`alosim.observe.Recorder`, read end to end: ``processed`` and
``duplicate_processing`` count side effects at the consumers, ``lost`` counts
messages never processed, ``delivery_latency_*`` is create -> first effect,
``ack_latency_*`` is the publish's round trip, and the transmission, loss and
ack counters are those of the producer's hop (``deliveries`` are publishes
arriving at the broker, ``acks_sent`` the publish acks the broker sent: one
per publish accepted, caught, or dropped by its store as a false positive or
stale). ``duplicates_detected``, ``false_positive_drops`` and ``stale_drops``
count both stores together (split per hop below), and so do the ``dedup_*``
columns. Consumer acks are ``consumer_acks_sent``.

:class:`PipelineStats` adds what only a pipeline has, as the columns of
:func:`PipelineStats.columns`:

* every duplicate effect charged to the hop where it was born and its cause:
  ``duplicates_publish_<cause>`` -- a producer retry (or a copy the network
  duplicated) that the broker's store did not catch, by the store's miss
  cause (:data:`PUBLISH_CAUSES`); ``duplicates_consume_<cause>`` -- the same
  broker entry delivered again (:data:`CONSUME_CAUSES`): without a consumer
  store, why the broker redelivered; with one, why the store let it through.
  Their sum is ``duplicate_processing``;
* losses of a pipeline: ``lost_dead_lettered``, ``lost_broker_crash``,
  ``lost_acked_then_failed`` (acked before processing, then the processing
  failed); the single-hop ``lost_<cause>`` columns keep theirs, and all add
  up to ``lost``;
* per hop: publishes accepted and caught by the broker's store, deliveries
  and redeliveries (by lease expiry and by nack), consumer acks lost or
  late, duplicates caught by the consumer's store, dead-lettered messages;
* the broker's backlog (ready, in flight), the dead-letter queue and each
  store's entries and bytes, over time (series) and at their peak;
* latency broker acceptance -> first effect (``consume_latency_*``);
* with ``broker.max_length`` only (:data:`BOUNDED_QUEUE_COLUMNS`, so that an
  unbounded queue's runs keep their columns and fingerprints): entries
  dropped from the head of a full queue (``broker_overflow_dropped``),
  publishes refused with a nack (``broker_publishes_rejected``), and the
  messages lost to either (``lost_broker_overflow``);
* with ``consumer.lease_extension`` only (:data:`LEASE_EXTENSION_COLUMNS`):
  extensions sent, lost on the consume ack link, applied by the broker, and
  ignored (for a delivery no longer current, a broker that is down, or a
  lease already at its cap).
"""

from __future__ import annotations

from typing import Any

from alosim.observe import LatencyHistogram, _round

#: Why a producer-side duplicate reached a consumer: the broker store's miss.
PUBLISH_CAUSES: tuple[str, ...] = (
    "no_dedup",  # the broker has no store
    "window_expired",  # its TTL store had forgotten the id (SQS 5 min, JetStream 2 min, ...)
    "evicted_by_capacity",  # its LRU store had evicted the id
    "store_lost_in_crash",  # a volatile broker store was wiped by a broker crash
    "unexplained",
)

#: Why the same broker entry caused a second effect.
CONSUME_CAUSES: tuple[str, ...] = (
    "lease_expired",  # the lease ran out while the consumer was still processing (or acking)
    "crash_before_ack",  # the consumer crashed between the side effect and the ack
    "consumer_ack_lost",  # the consumer's ack was lost on the way to the broker
    "broker_crash",  # the broker crashed while the delivery was leased (effect before or after), and redelivered
    "network_duplicate",  # the broker -> consumer link delivered the same delivery twice (the
    # second copy took effect too, or its nack ended the lease)
    # With a consumer store, why the store let the redelivery through:
    "window_expired",
    "evicted_by_capacity",
    "store_lost_in_crash",
    "crash_before_record",
    "unexplained",
)

#: Losses only a pipeline has.
PIPELINE_LOSS_CAUSES: tuple[str, ...] = ("dead_lettered", "broker_crash", "acked_then_failed")

#: The loss a bounded broker queue adds: an entry dropped from its head, or a
#: publish it refused, of a message never processed.
OVERFLOW_LOSS_CAUSE = "broker_overflow"

#: The columns of a bounded broker queue (``broker.max_length``), present only then.
BOUNDED_QUEUE_COLUMNS: tuple[str, ...] = (
    "broker_overflow_dropped",  # entries dropped from the head of a full queue (drop-head)
    "broker_publishes_rejected",  # publishes a full queue refused with a nack (reject-publish)
    "lost_broker_overflow",
)

#: The columns of lease extensions (``consumer.lease_extension``), present only then.
LEASE_EXTENSION_COLUMNS: tuple[str, ...] = (
    "lease_extensions_sent",
    "lease_extensions_lost",
    "lease_extensions_applied",
    "lease_extensions_ignored",
)

PIPELINE_SERIES: tuple[str, ...] = (
    "broker_ready",
    "broker_in_flight",
    "dlq_size",
    "broker_store_entries",
    "broker_store_bytes",
    "consumer_store_entries",
    "consumer_store_bytes",
)

COUNTERS: tuple[str, ...] = (
    "publishes_accepted",  # broker entries made (one per accepted publish)
    "publish_duplicates_caught",  # publishes the broker's store recognised
    "publish_false_positives",  # new publishes a Bloom store at the broker claimed (a loss)
    "publish_stale_drops",  # late publishes of given-up messages a sequence store dropped
    "publishes_dropped_while_down",
    "publishes_lost_in_crash",  # arrived, not yet accepted when the broker crashed
    "consume_deliveries",  # deliveries made by the broker (first and redeliveries)
    "consume_redeliveries",
    "lease_expiries",
    "nacks",  # nacks the broker acted on
    "nacks_stale",  # nacks of an earlier delivery than the current one (ignored)
    "consume_data_lost",  # deliveries lost on the broker -> consumer link
    "consume_network_duplicates",
    "consumer_arrivals",
    "consumer_dropped_while_down",
    "consumer_dropped_in_crash",
    "consumer_duplicates_caught",  # deliveries the consumer's store recognised
    "consumer_false_positives",  # never-processed messages a Bloom store claimed (a loss)
    "processing_failures",  # deliveries whose processing failed (nacked, or lost if acked first)
    "consumer_acks_sent",
    "consumer_acks_lost",
    "consumer_acks_late",  # for a message already acked, dead-lettered or lost
    "consumer_acks_stale",  # for an earlier delivery than the current one (still settles it)
    "consumer_acks_dropped_while_down",
    "consumed",  # messages the broker saw acked
    "dead_lettered",
    "broker_lost_in_crash",
    "broker_crashes",
    "consumer_crashes",
    "broker_store_entries_peak",
    "broker_store_bytes_peak",
    "consumer_store_entries_peak",
    "consumer_store_bytes_peak",
    "broker_ready_peak",
    "broker_in_flight_peak",
)


class PipelineStats:
    """The pipeline's counters; the broker and consumers write into it."""

    __slots__ = (*COUNTERS, "publish_duplicates", "consume_duplicates", "consume_latency",
                 "consume_latency_add", "broker_store", "consumer_store", "dlq_size",
                 "broker_overflow_dropped", "broker_publishes_rejected", *LEASE_EXTENSION_COLUMNS)

    def __init__(self) -> None:
        for name in COUNTERS:
            setattr(self, name, 0)
        self.broker_overflow_dropped = 0
        self.broker_publishes_rejected = 0
        for name in LEASE_EXTENSION_COLUMNS:
            setattr(self, name, 0)
        self.publish_duplicates: dict[str, int] = dict.fromkeys(PUBLISH_CAUSES, 0)
        self.consume_duplicates: dict[str, int] = dict.fromkeys(CONSUME_CAUSES, 0)
        self.consume_latency = LatencyHistogram()
        self.consume_latency_add = self.consume_latency.append
        self.broker_store = [0, 0]  # entries, bytes
        self.consumer_store = [0, 0]
        self.dlq_size = 0

    def broker_store_changed(self, entries: int, nbytes: int) -> None:
        """The broker's dedup store now holds ``entries`` ids in ``nbytes`` bytes."""
        sizes = self.broker_store
        sizes[0], sizes[1] = entries, nbytes
        if entries > self.broker_store_entries_peak:
            self.broker_store_entries_peak = entries
        if nbytes > self.broker_store_bytes_peak:
            self.broker_store_bytes_peak = nbytes

    def consumer_store_changed(self, entries: int, nbytes: int) -> None:
        """The consumers' idempotency store now holds ``entries`` ids in ``nbytes`` bytes."""
        sizes = self.consumer_store
        sizes[0], sizes[1] = entries, nbytes
        if entries > self.consumer_store_entries_peak:
            self.consumer_store_entries_peak = entries
        if nbytes > self.consumer_store_bytes_peak:
            self.consumer_store_bytes_peak = nbytes

    def backlog(self, ready: int, in_flight: int) -> None:
        if ready > self.broker_ready_peak:
            self.broker_ready_peak = ready
        if in_flight > self.broker_in_flight_peak:
            self.broker_in_flight_peak = in_flight

    def sample(self, series: dict[str, list[float]], ready: int, in_flight: int) -> None:
        row = (ready, in_flight, self.dlq_size, *self.broker_store, *self.consumer_store)
        for name, value in zip(PIPELINE_SERIES, row):
            series.setdefault(name, []).append(value)

    def columns(self, loss_causes: dict[str, int], messages: int,
                bounded: bool = False, extending: bool = False) -> dict[str, Any]:
        """The summary columns a pipeline adds, every one always present but
        those of a bounded queue (``bounded``: :data:`BOUNDED_QUEUE_COLUMNS`)
        and of lease extensions (``extending``: :data:`LEASE_EXTENSION_COLUMNS`)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        if bounded:
            out["broker_overflow_dropped"] = self.broker_overflow_dropped
            out["broker_publishes_rejected"] = self.broker_publishes_rejected
            out["lost_broker_overflow"] = loss_causes.get(OVERFLOW_LOSS_CAUSE, 0)
        if extending:
            out.update({name: getattr(self, name) for name in LEASE_EXTENSION_COLUMNS})
        out.update({f"duplicates_publish_{c}": n for c, n in self.publish_duplicates.items()})
        out.update({f"duplicates_consume_{c}": n for c, n in self.consume_duplicates.items()})
        out["duplicates_publish"] = sum(self.publish_duplicates.values())
        out["duplicates_consume"] = sum(self.consume_duplicates.values())
        out.update({f"lost_{c}": loss_causes.get(c, 0) for c in PIPELINE_LOSS_CAUSES})
        m = max(messages, 1)
        out["deliveries_per_message"] = self.consume_deliveries / m
        out["redeliveries_per_message"] = self.consume_redeliveries / m
        out["duplicate_effects_per_message"] = (out["duplicates_publish"] + out["duplicates_consume"]) / m
        hist = self.consume_latency
        for q in (50, 95, 99):
            out[f"consume_latency_p{q}_s"] = _round(hist.percentile(q))
        out["consume_latency_mean_s"] = _round(hist.mean)
        out["consume_latency_max_s"] = _round(hist.max if hist.count else float("nan"))
        return out


__all__ = ["BOUNDED_QUEUE_COLUMNS", "CONSUME_CAUSES", "LEASE_EXTENSION_COLUMNS", "OVERFLOW_LOSS_CAUSE", "PIPELINE_LOSS_CAUSES",
           "PIPELINE_SERIES", "PUBLISH_CAUSES", "PipelineStats"]
