"""What a run measures: counters, latency histograms, a sampled series, a trace.

The model calls into one :class:`Recorder`. Everything it keeps is bounded:
counters are integers, latencies go into fixed log-spaced histograms, the
time series has one row per sampling interval, and the trace holds the events
of the first ``trace_messages`` messages only. Memory therefore grows with
simulated time (the series) and with what is in flight, never with the
number of messages.

What each delivery semantics promises, checked on these counts, is in
:mod:`alosim.guarantees`: a violated guarantee is a result, reported with counts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np  # imported by the histogram that uses it: reading the column names needs no numpy

# Latency histogram: 1000 log-spaced bins per decade from 1 ns to 1e7 s.
# A percentile is reported as the geometric middle of its bin (relative error
# below 0.12 %), clamped to the exact minimum and maximum seen.
_BINS_PER_DECADE = 1000
_LOW_EXP = -9
_HIGH_EXP = 7
_FLUSH = 1 << 15


@functools.cache
def _edges() -> np.ndarray:
    """The histogram's bin edges (built once, when the first histogram is)."""
    import numpy as np

    return np.array([10.0 ** (_LOW_EXP + i / _BINS_PER_DECADE)
                     for i in range((_HIGH_EXP - _LOW_EXP) * _BINS_PER_DECADE + 1)])


class LatencyHistogram:
    """Streaming percentiles of non-negative durations in bounded memory.

    ``add`` appends to a small buffer; the buffer is binned with one
    ``numpy.searchsorted`` call when it fills. Bin edges are compared, never
    computed from the values, so the result is the same on every machine.
    """

    __slots__ = ("_buffer", "_counts", "count", "min", "max", "_sum")

    def __init__(self) -> None:
        self._buffer: list[float] = []
        # bin 0 holds values below the first edge (including 0); the last holds values above.
        # Made at the first binning: a recorder built only for its column names needs no numpy.
        self._counts: np.ndarray | None = None
        self.count = 0
        self.min = math.inf
        self.max = -math.inf
        self._sum = 0.0

    def add(self, value: float) -> None:
        self._buffer.append(value)
        if len(self._buffer) >= _FLUSH:
            self._flush()

    def add_repeated(self, value: float, times: int) -> None:
        """Add ``value`` ``times`` times, in one step."""
        if times <= 0:
            return
        import numpy as np

        b = int(np.searchsorted(_edges(), value, side="right"))
        self._bins()[b] += times
        self.count += times
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self._sum += value * times

    @property
    def append(self):  # -> Callable[[float], None]
        """The fastest way in: the buffer's own ``append``; call :meth:`flush` now and then."""
        return self._buffer.append

    def flush(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        import numpy as np

        values = np.asarray(self._buffer)
        self._buffer.clear()
        idx = np.searchsorted(_edges(), values, side="right")
        counts = self._bins()
        counts += np.bincount(idx, minlength=len(counts))
        self.count += len(values)
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        self._sum += math.fsum(values.tolist())

    def _bins(self) -> np.ndarray:
        if self._counts is None:
            import numpy as np

            self._counts = np.zeros(len(_edges()) + 1, dtype=np.int64)
        return self._counts

    @property
    def total(self) -> int:
        """Values added so far, binned or not."""
        return self.count + len(self._buffer)

    @property
    def mean(self) -> float:
        self._flush()
        return self._sum / self.count if self.count else math.nan

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100, nearest rank) or NaN if nothing was added."""
        self._flush()
        if not self.count:
            return math.nan
        import numpy as np

        rank = max(1, math.ceil(q / 100 * self.count))
        edges = _edges()
        cumulative = np.cumsum(self._bins())
        b = int(np.searchsorted(cumulative, rank, side="left"))
        if b == 0:
            value = self.min
        elif b >= len(edges):
            value = self.max
        else:
            value = math.sqrt(edges[b - 1] * edges[b])
        return min(max(value, self.min), self.max)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One row of the event log."""

    time_s: float
    actor: str
    event: str
    message: int
    attempt: int
    detail: str = ""


class Recorder:
    """Counters and probes the model writes into; one per run."""

    # Slots keep the counters on the hot path fast to update.
    __slots__ = (
        "messages", "transmissions", "retransmissions", "spurious_retransmissions", "timeouts",
        "data_lost", "deliveries", "duplicate_deliveries", "duplicates_detected",
        "duplicate_processing", "acks_sent", "acks_lost", "late_acks", "acks_in_flight", "gave_up",
        "lost", "acked_not_processed", "unsettled", "abandoned", "partition_drops",
        "network_duplicates", "data_dropped_while_down", "acks_dropped_while_down",
        "dropped_in_crash", "false_positive_drops", "stale_drops", "crashes", "duplicate_causes",
        "loss_causes", "dedup_entries", "dedup_entries_peak", "dedup_bytes", "dedup_bytes_peak",
        "delivery_latency", "ack_latency", "outbox_wait", "delivery_latency_add",
        "ack_latency_add", "outbox_wait_add", "histograms", "trace_limit", "trace", "series",
        "queue_dropped", "queue_rejected", "queue_evicted", "nacks_sent", "nacks_lost",
        "nacks_received", "nacks_ignored", "nacks_in_flight", "slowdowns", "queued",
        "arrival_duplicates_dropped", "arrival_duplicates_reacked", "expired_discarded",
        "retries_suppressed", "short_circuited", "breaker_opened",
    )

    def __init__(self, *, trace_messages: int = 0) -> None:
        self.messages = 0  # set by the world at each sample and at the end
        self.transmissions = 0
        self.retransmissions = 0
        self.spurious_retransmissions = 0  # made when an earlier copy had already got there
        self.timeouts = 0
        self.data_lost = 0
        self.deliveries = 0
        self.duplicate_deliveries = 0
        self.duplicates_detected = 0
        self.duplicate_processing = 0
        self.acks_sent = 0
        self.acks_lost = 0
        self.late_acks = 0
        self.acks_in_flight = 0  # set by the world when the run stops
        self.gave_up = 0
        self.lost = 0
        self.acked_not_processed = 0
        self.unsettled = 0
        self.abandoned = 0
        self.partition_drops = 0
        self.network_duplicates = 0
        self.data_dropped_while_down = 0  # data packets that reached a crashed receiver
        self.acks_dropped_while_down = 0  # acks that reached a crashed sender
        self.dropped_in_crash = 0
        self.false_positive_drops = 0
        self.stale_drops = 0
        self.crashes = 0
        self.queued = 0  # arrivals that found every worker busy (or paused) and waited
        self.slowdowns = 0  # pauses and slow-downs begun (per receiver)
        # A full receiver queue: newcomers dropped, newcomers rejected (each
        # answered by a negative ack), oldest waiting copies evicted.
        self.queue_dropped = 0
        self.queue_rejected = 0
        self.queue_evicted = 0
        self.nacks_sent = 0
        self.nacks_lost = 0  # on the ack link
        self.nacks_received = 0  # acted on: the sender retried at once
        self.nacks_ignored = 0  # its message settled or sent again meanwhile, or its sender down
        self.nacks_in_flight = 0  # set by the world when the run stops (acks_in_flight: acks only)
        # The receiver's overload mitigations: copies dropped as they arrived
        # (of which those the store had recorded, acked again), and copies a
        # worker discarded because their sender had stopped waiting for them.
        self.arrival_duplicates_dropped = 0
        self.arrival_duplicates_reacked = 0
        self.expired_discarded = 0
        # The sender's overload mitigations (see alosim.model.sender): retransmissions
        # a retry budget refused, messages held by an open circuit breaker (once
        # per message per open period), and how often a breaker opened.
        self.retries_suppressed = 0
        self.short_circuited = 0
        self.breaker_opened = 0
        self.duplicate_causes: dict[str, int] = dict.fromkeys(DUPLICATE_CAUSES, 0)
        self.loss_causes: dict[str, int] = dict.fromkeys(LOSS_CAUSES, 0)
        self.dedup_entries = 0
        self.dedup_entries_peak = 0
        self.dedup_bytes = 0
        self.dedup_bytes_peak = 0
        self.delivery_latency = LatencyHistogram()
        self.ack_latency = LatencyHistogram()
        self.outbox_wait = LatencyHistogram()  # create -> first transmission
        # The hot path appends to the histograms' buffers; flush() bins them.
        self.delivery_latency_add = self.delivery_latency.append
        self.ack_latency_add = self.ack_latency.append
        self.outbox_wait_add = self.outbox_wait.append
        # Every histogram of the run, flushed together (a pipeline adds its own).
        self.histograms: list[LatencyHistogram] = [self.delivery_latency, self.ack_latency,
                                                   self.outbox_wait]
        self.trace_limit = trace_messages
        self.trace: list[TraceEvent] = []
        self.series: dict[str, list[float]] = {name: [] for name in SERIES_COLUMNS}

    def event(self, time_s: float, actor: str, event: str, message: int, attempt: int,
              detail: str = "") -> None:
        """Add a trace row (callers check ``message < trace_limit`` first, on the hot path)."""
        self.trace.append(TraceEvent(time_s, actor, event, message, attempt, detail))

    def dedup_changed(self, delta_entries: int, delta_bytes: int) -> None:
        self.dedup_entries += delta_entries
        self.dedup_bytes += delta_bytes
        if self.dedup_entries > self.dedup_entries_peak:
            self.dedup_entries_peak = self.dedup_entries
        if self.dedup_bytes > self.dedup_bytes_peak:
            self.dedup_bytes_peak = self.dedup_bytes

    # Counts that follow from others, kept off the hot path.

    @property
    def processed_unique(self) -> int:
        """Messages processed at least once (each has one create -> processed latency)."""
        return self.delivery_latency.total

    @property
    def processed(self) -> int:
        """Times a receiver executed a side effect, duplicates included."""
        return self.processed_unique + self.duplicate_processing

    @property
    def acked(self) -> int:
        """Messages whose sender received an ack (each has one send -> ack latency)."""
        return self.ack_latency.total

    def add_histogram(self, histogram: LatencyHistogram) -> None:
        """Flush ``histogram`` with the recorder's own: its buffer stays as small as theirs."""
        self.histograms.append(histogram)

    def flush(self) -> None:
        """Bin what the hot path appended (every 4,096 messages created, and at samples)."""
        for histogram in self.histograms:
            histogram.flush()

    def sample(self, time_s: float, in_flight: int, queue_length: int = 0, busy: int = 0) -> None:
        if sum(len(histogram._buffer) for histogram in self.histograms) > 8192:
            self.flush()  # a long drain creates no messages, so nothing else would
        row = (time_s, self.dedup_entries, self.dedup_bytes, in_flight, self.messages,
               self.transmissions, self.deliveries, self.duplicate_deliveries,
               self.processed_unique, self.duplicate_processing, queue_length, busy, self.queued,
               self.queue_dropped + self.queue_rejected + self.queue_evicted)
        for name, value in zip(SERIES_COLUMNS, row):
            self.series[name].append(value)


#: Why a duplicate got processed: what the dedup store could not do.
DUPLICATE_CAUSES: tuple[str, ...] = (
    "no_dedup",  # there is no store (at-least-once): every duplicate is processed
    "window_expired",  # a TTL store had forgotten the id
    "evicted_by_capacity",  # an LRU store had evicted the id
    "store_lost_in_crash",  # a volatile store was wiped by a crash after recording it
    "crash_before_record",  # processed, then a crash before the id was recorded
    "concurrent_copy",  # checked while another worker held a copy whose id was not yet recorded
    "unexplained",  # none of the above (never expected)
)

#: Why a message was never processed.
LOSS_CAUSES: tuple[str, ...] = (
    "max_attempts",  # the sender gave up after its last attempt (at-most-once: the only one)
    "delivery_timeout",  # the sender gave up when its delivery timeout ran out
    "acked_then_crashed",  # acked before processing, then the receiver crashed
    "bloom_false_positive",  # a Bloom filter took a new message for a duplicate
    "sender_crash",  # the sender crashed and its outbox was not durable
    "queue_full",  # a copy was dropped, rejected or evicted by a full receiver queue
    "expired_discarded",  # a copy was discarded unprocessed: its sender had stopped waiting for it
    "unexplained",  # none of the above (never expected)
)

#: Losses only a sender's overload mitigations cause. Like their counters they
#: are columns of a run only when the mitigation is configured (see
#: :func:`sender_mitigation_columns`), so runs without them keep their fingerprints.
SENDER_LOSS_CAUSES: tuple[str, ...] = (
    "retry_budget",  # given up while its latest retransmission was suppressed by the retry budget
    "circuit_open",  # given up while held by an open circuit breaker
)

SERIES_COLUMNS: tuple[str, ...] = (
    "time_s",
    "dedup_entries",
    "dedup_bytes",
    "in_flight",
    "messages",
    "transmissions",
    "deliveries",
    "duplicate_deliveries",
    "processed_unique",
    "duplicate_processing",
    "queue_length",  # copies waiting at the receivers
    "busy_workers",  # the receivers' workers at work (utilisation = busy_workers / workers)
    "queued",  # arrivals so far that waited for a worker
    "refused",  # copies so far dropped, rejected or evicted by a full queue
)

COUNTER_COLUMNS: tuple[str, ...] = (
    "messages",
    "transmissions",
    "retransmissions",
    "spurious_retransmissions",
    "timeouts",
    "data_lost",
    "deliveries",
    "duplicate_deliveries",
    "duplicates_detected",
    "processed",
    "duplicate_processing",
    "acks_sent",
    "acks_lost",
    "acked",
    "late_acks",
    "acks_in_flight",
    "lost",
    "gave_up",
    "abandoned",
    "unsettled",
    "acked_not_processed",
    "false_positive_drops",
    "stale_drops",
    "network_duplicates",
    "partition_drops",
    "crashes",
    "slowdowns",
    "data_dropped_while_down",
    "acks_dropped_while_down",
    "dropped_in_crash",
    "queued",
    "queue_dropped",
    "queue_rejected",
    "queue_evicted",
    "nacks_sent",
    "nacks_lost",
    "nacks_received",
    "nacks_ignored",
    "dedup_entries_peak",
    "dedup_entries_final",
    "dedup_bytes_peak",
)


#: The columns of the receiver's opt-in mitigations, by the flag that turns
#: each on. They join the summary only when their flag is on, so that a run
#: without them has the summary -- and the fingerprint -- it had before they
#: existed (:func:`receiver_mitigation_columns`).
RECEIVER_MITIGATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "dedup_on_arrival": ("arrival_duplicates_dropped", "arrival_duplicates_reacked"),
    "discard_expired": ("expired_discarded", "lost_expired_discarded"),
}
_OPTIONAL_LOSS_CAUSES = frozenset({"expired_discarded"})


def cause_columns(rec: Recorder) -> dict[str, int]:
    """``duplicates_<cause>`` and ``lost_<cause>`` counts, every cause always present
    (but those of an opt-in mitigation: see :func:`receiver_mitigation_columns`)."""
    out = {f"duplicates_{cause}": rec.duplicate_causes[cause] for cause in DUPLICATE_CAUSES}
    out.update({f"lost_{cause}": rec.loss_causes[cause] for cause in LOSS_CAUSES
                if cause not in _OPTIONAL_LOSS_CAUSES})
    return out


def receiver_mitigation_columns(rec: Recorder, receiver: Any) -> dict[str, int]:
    """The columns of the mitigations ``receiver`` (a scenario's receiver section) turns on."""
    out: dict[str, int] = {}
    for flag, columns in RECEIVER_MITIGATION_COLUMNS.items():
        if getattr(receiver, flag):
            for column in columns:
                out[column] = (rec.loss_causes[column[5:]] if column.startswith("lost_")
                               else getattr(rec, column))
    return out


def sender_mitigation_columns(rec: Recorder, retry_budget: bool, circuit_breaker: bool) -> dict[str, int]:
    """The counters and loss causes of the sender's mitigations that are configured."""
    out: dict[str, int] = {}
    if retry_budget:
        out["retries_suppressed"] = rec.retries_suppressed
    if circuit_breaker:
        out["breaker_opened"] = rec.breaker_opened
        out["short_circuited"] = rec.short_circuited
    if retry_budget:
        out["lost_retry_budget"] = rec.loss_causes.get("retry_budget", 0)
    if circuit_breaker:
        out["lost_circuit_open"] = rec.loss_causes.get("circuit_open", 0)
    return out


def latency_columns(rec: Recorder) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, hist in (("delivery", rec.delivery_latency), ("ack", rec.ack_latency)):
        for q in (50, 95, 99):
            out[f"{label}_latency_p{q}_s"] = _round(hist.percentile(q))
        out[f"{label}_latency_max_s"] = _round(hist.max if hist.count else math.nan)
        out[f"{label}_latency_mean_s"] = _round(hist.mean)
    hist = rec.outbox_wait  # the sender's backlog: create -> first transmission
    for q in (50, 95, 99):
        out[f"outbox_wait_p{q}_s"] = _round(hist.percentile(q))
    out["outbox_wait_max_s"] = _round(hist.max if hist.count else math.nan)
    out["outbox_wait_mean_s"] = _round(hist.mean)
    return out


def _round(value: float) -> float:
    """Twelve significant digits: enough for any use, and stable to print."""
    if not math.isfinite(value):
        return value
    return float(f"{value:.12g}")


__all__ = ["LatencyHistogram", "Recorder", "TraceEvent"]
