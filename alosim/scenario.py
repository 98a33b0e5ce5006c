"""The scenario file: what to simulate, validated before anything runs.

A scenario is a YAML document read with ``yaml.safe_load`` and validated by
the pydantic models below. Every model forbids unknown keys, so a misspelt key
is an error (with a suggestion), never silently ignored. Durations and rates
take units (see :mod:`alosim.units`).

Delivery semantics are presets that fill in what the file leaves out:

================  ==============================  ==================
semantics         sender retries                  receiver dedup
================  ==============================  ==================
at-most-once      none (``max_attempts: 1``)      none
at-least-once     until acked (unlimited)         none
exactly-once      until acked (unlimited)         unbounded set
================  ==============================  ==================

Explicit fields override the preset; contradictions (exactly-once without a
dedup store, at-most-once with retries) are rejected. The resolved scenario,
with every preset filled in, is what a run records.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import BeforeValidator

from alosim import yamlread
from alosim.arguments import expect, expect_path
from alosim.shown import printable
from alosim.dists import Constant, Distribution, Exponential
from alosim.names import is_node_name
from alosim.units import parse_duration, parse_rate, parse_size, plain_number

Semantics = Literal["at-most-once", "at-least-once", "exactly-once"]
SEMANTICS: tuple[str, ...] = ("at-most-once", "at-least-once", "exactly-once")

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
PerSecond = Annotated[float, BeforeValidator(parse_rate), Field(gt=0)]


def _number(value: Any) -> Any:
    # pydantic would read true as 1, "0.5" as 0.5 and take NaN: a number is written as a number.
    if isinstance(value, (bool, str)):
        raise ValueError(f"expected a number, got {_short(value)}")
    return plain_number(value)


def _whole(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        raise ValueError(f"expected a whole number, got {_short(value)}")
    return value


def _number_or_flag(value: Any) -> Any:
    return value if isinstance(value, bool) or value is None else _number(value)


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_short(value)}")
    return value


Number = Annotated[float, BeforeValidator(_number)]
Probability = Annotated[float, BeforeValidator(_number), Field(ge=0, le=1)]
#: Counts and sizes: a whole number written as one (``messages: true`` is not a count).
Count = Annotated[int, BeforeValidator(_whole)]
Flag = Annotated[bool, BeforeValidator(_flag)]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ScenarioError(Exception):
    """A scenario that cannot be read or is not valid.

    ``str(error)`` is the whole message for a person: the file, the dotted path
    of each offending field and what was expected.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]], more: int = 0) -> None:
        self.source = printable(source)
        shown = list(problems)[:MAX_PROBLEMS]
        #: Problems found but not listed (beyond MAX_PROBLEMS).
        self.more = more + len(problems) - len(shown)
        self.problems = [(printable(path), printable(message)) for path, message in shown]
        lines = [f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}"
                 for path, message in self.problems]
        if self.more:
            lines.append(f"{self.source}: ... and {self.more:,} more problem{'s' if self.more != 1 else ''}")
        super().__init__("\n".join(lines))


#: Problems listed for one scenario; the rest are counted ("... and N more problems").
MAX_PROBLEMS = 20


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retry(_Model):
    """When the sender retransmits an un-acked message, and when it gives up.

    ``policy``: ``fixed`` waits ``timeout`` after every transmission;
    ``exponential`` waits ``timeout * multiplier**(attempt - 1)``, capped at
    ``max_timeout``; ``adaptive`` estimates the retransmission timeout (RTO)
    from measured round trips as TCP does (RFC 6298: SRTT, RTTVAR, RTO =
    SRTT + 4 RTTVAR; the RTO doubles once per loss episode -- on a timeout
    of a transmission sent after the last doubling -- until the next
    measurement), starting from ``timeout`` and kept within ``[min_timeout,
    max_timeout]``. Round trips are measured only where unambiguous (Karn's
    rule): an ack names the transmission it answers, as TCP timestamps do.
    ``jitter`` randomises each wait: ``full`` draws it from [0, t], ``equal``
    from [t/2, t], ``decorrelated`` from [timeout, 3 x the previous wait]
    (capped at ``max_timeout``).
    """

    policy: Literal["fixed", "exponential", "adaptive"] = "fixed"
    timeout: PositiveSeconds = Field(
        default=0.25,
        description="Wait after a transmission before retransmitting (the first wait for "
        "exponential, the initial RTO for adaptive).",
    )
    multiplier: Number = Field(default=2.0, ge=1, le=1000, description="Growth per attempt (exponential).")
    max_timeout: PositiveSeconds | None = Field(default=None, description="Cap on any one wait.")
    min_timeout: Seconds = Field(default=0.0, description="Floor of the adaptive RTO (RFC 6298 says 1s).")
    jitter: Literal["none", "full", "equal", "decorrelated"] = "none"
    max_attempts: Count | None = Field(
        default=None,
        ge=1,
        description="Transmissions per message before giving up; null = unlimited. "
        "Filled in by the semantics preset when left out.",
    )
    delivery_timeout: PositiveSeconds | None = Field(
        default=None,
        description="Give up this long after the first transmission, whatever the attempts "
        "(like Kafka's delivery.timeout.ms); null = never.",
    )

    @model_validator(mode="after")
    def _sensible(self) -> Retry:
        if self.max_timeout is not None and self.max_timeout < self.timeout:
            raise ValueError("max_timeout must be at least timeout")
        if self.policy == "adaptive" and self.jitter == "decorrelated":
            raise ValueError("decorrelated jitter replaces the adaptive timeout; choose one")
        return self


class RetryBudget(_Model):
    """A token bucket that caps retransmissions at a fraction of first
    transmissions, as gRPC's retry throttling and Finagle's RetryBudget do.

    The bucket starts full with ``burst`` tokens; each first transmission adds
    ``ratio`` tokens (never beyond ``burst``); each retransmission takes one
    whole token. A retransmission that finds less than one is suppressed and
    asked again one retry interval later (see :mod:`alosim.model.sender`).
    Over a run, retransmissions <= burst + ratio x first transmissions.
    """

    ratio: Number = Field(
        ge=0, le=1000,
        description="Tokens earned per first transmission (0.1: one retry per ten messages; "
        "0: only the burst, ever).")
    burst: Count = Field(ge=1, le=10**9, description="Bucket size, and its content at the start.")


class CircuitBreaker(_Model):
    """Stop sending to a receiver that keeps failing; probe it before trusting it again.

    Closed, it keeps the outcomes of the last ``window`` transmissions (acked:
    success; timed out or negatively acked: failure) and opens when the window
    is full and the share of failures is at least ``failure_ratio``. Open, it
    holds every transmission to its receiver for ``open_for``; then half-open,
    it lets ``probes`` transmissions out, closes if all of them are acked and
    opens again if one fails. One breaker per connection (sender, receiver).
    """

    failure_ratio: Number = Field(gt=0, le=1, description="Share of failures in a full window that opens it.")
    window: Count = Field(ge=1, le=10**6, description="Outcomes remembered while closed.")
    open_for: PositiveSeconds = Field(description="How long it stays open before probing.")
    probes: Count = Field(default=1, ge=1, le=10**6, description="Transmissions let out half-open.")


class Sender(_Model):
    """Producers of messages. Each of ``count`` senders has its own arrivals and window."""

    count: Count = Field(default=1, ge=1, le=1000)
    rate: PerSecond | None = Field(
        default=None,
        description="Arrival rate per sender (e.g. 200/s); null = a new message as soon "
        "as the window has room (closed loop).",
    )
    arrivals: Literal["poisson", "periodic"] = Field(
        default="poisson", description="Poisson arrivals, or one every 1/rate exactly."
    )
    window: Count | None = Field(
        default=8, ge=1, description="Most un-acked messages in flight per sender; null = no limit."
    )
    retry: Retry = Field(default_factory=Retry)
    durable_outbox: Flag = Field(
        default=False,
        description="Un-acked messages survive a sender crash and are resent on restart; "
        "if false a crash abandons them.",
    )
    retry_budget: RetryBudget | None = Field(
        default=None, description="Cap retransmissions at a fraction of first transmissions; "
        "null = no cap.")
    circuit_breaker: CircuitBreaker | None = Field(
        default=None, description="Hold transmissions to a receiver that keeps failing; "
        "null = never.")


class GilbertElliott(_Model):
    """Bursty loss: a two-state Markov chain stepped once per packet.

    From the good state the link turns bad with probability ``p``; from the
    bad state it recovers with probability ``r``. A packet is lost with
    probability ``loss_good`` or ``loss_bad`` in each state. With the simple
    Gilbert model (``loss_good: 0``, ``loss_bad: 1``) the long-run loss rate
    is p / (p + r) and bursts last 1 / r packets on average.
    """

    model: Literal["gilbert-elliott"]
    p: Probability
    r: Annotated[float, BeforeValidator(_number), Field(gt=0, le=1)]
    loss_good: Probability = 0.0
    loss_bad: Probability = 1.0


def _loss_kind(value: Any) -> str:
    if isinstance(value, (Mapping, GilbertElliott)):
        return "gilbert-elliott"
    return "bernoulli"


Loss = Annotated[
    Union[Annotated[Probability, Tag("bernoulli")], Annotated[GilbertElliott, Tag("gilbert-elliott")]],
    Discriminator(_loss_kind),
]


class LinkSpec(_Model):
    """One direction of the network.

    ``loss`` is a probability (independent losses) or a Gilbert-Elliott model
    (bursty losses). ``duplicate`` is the probability that the network
    delivers a packet twice. Packets overtake each other when latency varies,
    unless ``fifo`` keeps them in order.
    """

    loss: Loss = 0.0
    duplicate: Probability = Field(default=0.0, description="P(a delivered packet arrives twice).")
    fifo: Flag = Field(default=False, description="Deliver in the order sent (no overtaking).")
    latency: Distribution = Field(default_factory=lambda: Exponential(mean=0.02))


class Partition(_Model):
    """A scheduled network partition: packets sent during it are lost."""

    at: Seconds
    for_: PositiveSeconds = Field(alias="for")
    direction: Literal["both", "data", "ack"] = "both"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConsumeLinks(_Model):
    """The second hop of a pipeline: broker to consumer and back."""

    data: LinkSpec = Field(default_factory=LinkSpec, description="Broker to consumer (deliveries).")
    ack: LinkSpec = Field(default_factory=LinkSpec, description="Consumer to broker (acks and nacks).")


class Network(_Model):
    """The links. ``data`` and ``ack`` join sender and receiver -- in a
    pipeline, producer and broker (the publish and its ack); ``consume`` joins
    broker and consumers (pipelines only)."""

    data: LinkSpec = Field(default_factory=LinkSpec, description="Sender to receiver (producer to broker).")
    ack: LinkSpec = Field(default_factory=LinkSpec, description="Receiver to sender (broker to producer).")
    partitions: list[Partition] = Field(default_factory=list)
    consume: ConsumeLinks | None = Field(
        default=None, description="Broker <-> consumer links of a pipeline (default: the LinkSpec defaults).")


class Dedup(_Model):
    """The receiver's deduplication store.

    ``none`` processes every arrival; ``set`` remembers every processed id
    forever; ``ttl`` remembers an id for ``window`` after recording it;
    ``lru`` keeps the ``capacity`` most recently recorded ids; ``sequence``
    keeps, per sender, the highest sequence number below which everything was
    processed plus the out-of-order numbers above it; ``bloom`` is a Bloom
    filter sized for ``capacity`` ids at false-positive rate ``fp_rate`` (a
    false positive drops a new message: a loss).
    """

    kind: Literal["none", "set", "ttl", "lru", "sequence", "bloom"] | None = Field(
        default=None, description="Filled in by the semantics preset when left out."
    )
    window: PositiveSeconds | None = Field(default=None, description="How long ttl remembers an id.")
    capacity: Count | None = Field(default=None, ge=1, le=10**9,
                                 description="Ids an lru store holds, or a bloom filter is sized for.")
    fp_rate: Number | None = Field(default=None, gt=0, lt=1, description="Bloom filter target.")
    bytes_per_entry: Count = Field(default=64, ge=1, le=1 << 20)
    durable: Flag = Field(default=False, description="Survives a receiver crash (else lost).")
    write_delay: Seconds = Field(
        default=0.0,
        description="Time from executing a message's side effect to recording its id "
        "(a crash in between lets a duplicate through).",
    )

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Dedup:
        needs = {"ttl": ("window",), "lru": ("capacity",), "bloom": ("capacity", "fp_rate")}
        kind = self.kind or "none"
        for name in needs.get(kind, ()):
            if getattr(self, name) is None:
                raise ValueError(f"dedup kind {kind} needs '{name}'")
        for name in ("window", "capacity", "fp_rate"):
            if getattr(self, name) is not None and name not in needs.get(kind, ()):
                users = [k for k, fields in needs.items() if name in fields]
                raise ValueError(f"'{name}' applies to dedup kind {' or '.join(users)}, not {kind}")
        return self


class Queue(_Model):
    """A receiver's queue of arrivals waiting for a worker.

    ``capacity`` bounds it (null = unbounded). An arrival that finds it full
    is handled by ``when_full``: ``drop-new`` drops the newcomer silently (the
    sender times out and retries), ``reject`` drops it and answers at once with
    a negative ack (the sender retries at once), ``drop-oldest`` drops the
    copy that waited longest and queues the newcomer. With ``lifo_above: n``
    the workers take the newest arrival first while more than n wait (the
    oldest waiters are the likeliest to have timed out at their sender).
    """

    capacity: Count | None = Field(default=None, ge=1, le=10**9, description="Most waiting; null = unbounded.")
    when_full: Literal["drop-new", "reject", "drop-oldest"] = "drop-new"
    lifo_above: Count | None = Field(
        default=None, ge=0, le=10**9, description="Serve newest first while more than this wait.")

    @model_validator(mode="after")
    def _bounded(self) -> Queue:
        # (A resolved scenario writes the default back: only another value is a mistake.)
        if self.capacity is None and self.when_full != "drop-new":
            raise ValueError(f"when_full: {self.when_full} applies to a bounded queue: set capacity "
                             "(an unbounded queue is never full)")
        if self.capacity is not None and self.lifo_above is not None and self.lifo_above >= self.capacity:
            raise ValueError(f"lifo_above ({self.lifo_above}) must be below capacity ({self.capacity}): "
                             f"more than {self.capacity} never wait, so the newest would never go first")
        return self


class Receiver(_Model):
    """Consumers. A message goes to receiver ``id % count`` (a stable partition key).

    ``ack: after-processing`` acks once the side effect is done and its id
    recorded (at-least-once). ``before-processing`` acks as soon as it takes
    a message: a crash before processing finishes loses that message.
    Each receiver has ``workers`` that process one message at a time; the
    rest wait in its ``queue`` (see :class:`Queue`).

    Two overload mitigations, off by default: ``dedup_on_arrival`` checks an
    arriving copy at once -- a copy whose id the store has recorded is acked
    again and dropped, a copy of a message already queued or in progress is
    dropped -- so that duplicates never take queue space or a worker (the
    second check needs no store; it does not make at-least-once exactly-once).
    ``discard_expired`` lets a worker discard, without processing or acking,
    a copy whose sender has stopped waiting for it (its deadline passed).

    ``on_duplicate`` is what a receiver does with a copy its store
    recognises: ``ack`` it again (so that its sender stops retrying), or
    ``drop`` it silently -- the textbook receiver that leaves its sender
    retrying until it gives up, although the message was processed.
    """

    count: Count = Field(default=1, ge=1, le=1000)
    processing: Distribution = Field(default_factory=lambda: Constant(value=0.0))
    ack: Literal["after-processing", "before-processing"] = "after-processing"
    dedup: Dedup = Field(default_factory=Dedup)
    workers: Count = Field(default=1, ge=1, le=10**6, description="Messages processed at once.")
    queue: Queue = Field(default_factory=lambda: Queue())
    dedup_on_arrival: Flag = Field(
        default=False, description="Drop an arriving duplicate before it takes queue space or a worker.")
    discard_expired: Flag = Field(
        default=False, description="Discard a copy whose sender's deadline passed instead of processing it.")
    on_duplicate: Literal["ack", "drop"] = Field(
        default="ack", description="Ack a recognised duplicate again, or drop it without an ack.")


class Keys(_Model):
    """The message keys of a log: ``count`` keys, drawn uniformly or by Zipf's
    law with exponent ``s`` (key k with weight 1/k**s)."""

    count: Count = Field(default=1000, ge=1, le=10**7)
    dist: Literal["uniform", "zipf"] = "uniform"
    s: Number = Field(default=1.0, gt=0, le=10, description="Zipf exponent (dist: zipf).")


class Reclaim(_Model):
    """Polled reclaim: the broker (or a reclaimer process) looks for expired
    leases only at scans, every ``interval``, instead of at each deadline.

    A lease ends at the first scan at or after its deadline (Redis Streams'
    XAUTOCLAIM with a min-idle time, run in a loop; job queues' periodic
    stalled-job or visibility check). Scans are at k * ``interval`` from t = 0
    on a fixed grid, or, with ``jitter: true``, each gap between scans is drawn
    Uniform(0, 2 * interval) (stream ``broker.reclaim``). Dead-lettering after
    ``max_deliveries`` is decided at the scan."""

    interval: PositiveSeconds = Field(description="Time between reclaim scans.")
    jitter: Flag = Field(default=False, description="Gaps Uniform(0, 2 * interval) instead of a grid.")


class Broker(_Model):
    """The broker of a pipeline (producer -> broker -> consumers).

    ``kind: queue`` (the default) is described here; ``kind: log`` is a
    Kafka-style partitioned log (see :mod:`alosim.model.log`): ``partitions``,
    a ``partitioner`` (by ``keys``, or round-robin) and ``retention`` (how
    long a record is kept; null = forever). A log does not redeliver: its
    consumer group reads each partition in order and commits offsets.

    It accepts each publish after ``service`` (a write), consults its dedup
    store (``dedup``, producer side: SQS's deduplication interval, JetStream's
    duplicate window), acks the publish and queues the message. It hands each
    queued message to a consumer under a lease of ``visibility_timeout`` (SQS
    visibility timeout, JetStream AckWait, Service Bus lock duration): if no
    ack arrives in time the message is delivered again. After
    ``max_deliveries`` deliveries without an ack it goes to the dead-letter
    queue. A nack makes it ready again after ``redelivery_backoff``. Each
    consumer holds at most ``prefetch`` un-acked deliveries (MaxAckPending,
    prefetch count). A crash of a volatile broker (``durable: false``) loses
    its queue; its store survives only if ``dedup.durable``.

    ``max_length`` bounds the ready messages (RabbitMQ's ``max-length``
    policy or ``x-max-length`` argument; deliveries not yet acked do not
    count). A publish accepted into a full queue is handled by ``overflow``:
    ``drop-head`` (RabbitMQ's default) drops the oldest ready message,
    ``reject-publish`` refuses the publish with a negative ack (a publisher
    confirm's basic.nack) and the producer retries. SQS has no such bound.
    """

    kind: Literal["queue", "log"] = Field(default="queue", description="A queue with leases, or a partitioned log.")
    partitions: Count = Field(default=1, ge=1, le=10**4, description="Partitions of a log.")
    partitioner: Literal["key", "round-robin"] = Field(
        default="key", description="How a log picks a message's partition: by its key, or in turn.")
    keys: Keys = Field(default_factory=Keys, description="The message keys of a log.")
    retention: PositiveSeconds | None = Field(
        default=None, description="How long a log keeps a record; null = forever.")
    dedup: Dedup = Field(default_factory=lambda: Dedup(kind="none"))
    durable: Flag = Field(default=True, description="Queued messages survive a broker crash.")
    service: Distribution = Field(default_factory=lambda: Constant(value=0.0),
                                  description="Time from a publish's arrival to its acceptance.")
    visibility_timeout: PositiveSeconds = Field(
        default=30.0, description="Lease of one delivery: redelivered if not acked within it.")
    max_deliveries: Count | None = Field(
        default=None, ge=1, le=10**6, description="Deliveries before dead-lettering; null = unlimited.")
    redelivery_backoff: Seconds = Field(default=0.0, description="Wait after a nack before redelivering.")
    prefetch: Count | None = Field(
        default=None, ge=1, le=10**6, description="Un-acked deliveries per consumer; null = no limit.")
    max_length: Count | None = Field(
        default=None, ge=1, le=10**9, description="Most ready messages (max-length); null = unbounded.")
    overflow: Literal["drop-head", "reject-publish"] = Field(
        default="drop-head", description="A publish into a full queue: drop the oldest, or nack it.")
    reclaim: Reclaim | None = Field(
        default=None, description="Expired leases are found by a scan every interval "
        "(XAUTOCLAIM in a loop); null = each lease ends at its deadline.")

    @model_validator(mode="after")
    def _store_has_no_write_delay(self) -> Broker:
        if self.dedup.write_delay:
            raise ValueError("dedup.write_delay applies to a consumer's store, not the broker's")
        log_only = ("partitions", "partitioner", "keys", "retention")
        queue_only = ("service", "visibility_timeout", "max_deliveries", "redelivery_backoff",
                      "prefetch", "reclaim")
        if self.kind == "queue":
            wrong = [name for name in log_only if name in self.model_fields_set]
            if wrong:
                raise ValueError(f"{wrong[0]} belongs to a log: set kind: log")
            # (A resolved scenario leaves both out while unbounded: only another
            # value than the default is a mistake.)
            if self.max_length is None and self.overflow != "drop-head":
                raise ValueError(f"overflow: {self.overflow} applies to a bounded queue: "
                                 "set max_length")
        else:
            wrong = [name for name in queue_only if name in self.model_fields_set]
            if wrong:
                raise ValueError(f"{wrong[0]} belongs to a queue; a log does not lease or redeliver")
            bound = [name for name in ("max_length", "overflow") if name in self.model_fields_set]
            if bound:
                raise ValueError(f"{bound[0]} bounds a queue (kind: queue); a log is bounded by "
                                 "retention")
            if not self.durable:
                raise ValueError("durable: a log broker is durable (a volatile log is not modelled)")
            if self.dedup.kind not in ("none", "sequence"):
                raise ValueError("dedup.kind: a log's producer idempotence is a sequence store "
                                 "(kind: sequence) or none")
        return self


class Commit(_Model):
    """When a log consumer commits its offsets.

    ``after-each`` commits each record after its side effect; ``after-batch``
    after the last record of a fetched batch; ``interval`` every ``interval``
    (Kafka's enable.auto.commit, auto.commit.interval.ms = 5 s); ``before-processing``
    commits a batch when it is fetched (at-most-once); ``transactional`` records
    the effect and the offset atomically. A commit takes ``latency``: a crash
    before it lands loses it."""

    policy: Literal["after-each", "after-batch", "interval", "before-processing",
                    "transactional"] = "interval"
    interval: PositiveSeconds = Field(default=5.0, description="Auto-commit period (policy: interval).")
    latency: Seconds = Field(default=0.0, description="From a commit's start to its landing.")

    @model_validator(mode="after")
    def _interval_for_interval(self) -> Commit:
        # (A resolved scenario writes the default back: only another value is a mistake.)
        if "interval" in self.model_fields_set and self.policy != "interval" and self.interval != 5.0:
            raise ValueError(f"interval applies to policy: interval, not {self.policy}")
        return self


class LeaseExtension(_Model):
    """A consumer extends the lease of a delivery while it processes it (SQS
    ChangeMessageVisibility, JetStream's in-progress ack, Pub/Sub's
    modifyAckDeadline): every ``every`` after the delivery's arrival it sends
    an extension, which resets the lease to ``broker.visibility_timeout`` from
    its arrival at the broker, but never past ``max`` after the delivery was
    made (null = no limit). Extensions travel on the consumer -> broker ack
    link (``network.consume.ack``), so they are delayed and lost as acks are; a
    crashed consumer stops extending, and its deliveries come back one lease
    after the last extension that arrived."""

    every: PositiveSeconds = Field(description="Time between extensions of one delivery's lease.")
    max: PositiveSeconds | None = Field(
        default=None, description="Most lease time one delivery can get in all; null = no limit.")


class Pull(_Model):
    """Pull consumers (SQS ReceiveMessage, JetStream pull consumers, Redis
    XREADGROUP): a consumer fetches deliveries only while it is up, holding at
    most ``batch`` of them (on their way to it, waiting, or at work); it asks
    for more as soon as it has room. A consumer that is down receives nothing;
    one that comes back fetches the backlog at once, up to ``batch``. The fetch
    request itself is instant and reliable (it is not on a link), and a
    delivery lost on its way does not hold a place (the fetch is repeated)."""

    batch: Count = Field(ge=1, le=10**6, description="Most deliveries a consumer holds at once.")


class Consumer(_Model):
    """The consumers of a pipeline: a competing-consumers group.

    Each takes deliveries from the broker, up to ``concurrency`` at once (the
    rest wait in its in-memory inbox, lost in a crash). Processing fails with
    ``nack_probability`` (no side effect, a nack goes back), and always for a
    poison message (a fraction ``poison_probability`` of them); otherwise the side
    effect runs and, after ``dedup.write_delay``, its id is recorded in the
    group's idempotency store (``dedup``: one store shared by the group, as a
    table in its database; a volatile one is wiped when a consumer crashes).
    ``ack`` as for a receiver. ``start_delay``, ``lease_extension`` and
    ``pull`` are the real clients' behaviour (see each).
    """

    count: Count = Field(default=1, ge=1, le=1000)
    processing: Distribution = Field(default_factory=lambda: Constant(value=0.0))
    concurrency: Count = Field(default=1, ge=1, le=10**6, description="Deliveries processed at once.")
    ack: Literal["after-processing", "before-processing"] = "after-processing"
    nack_probability: Probability = Field(
        default=0.0, description="P(processing of a delivery fails and is nacked).")
    poison_probability: Probability = Field(
        default=0.0, description="P(a message is poison: every delivery of it fails).")
    dedup: Dedup = Field(default_factory=Dedup)
    start_delay: Distribution | None = Field(
        default=None, description="From a delivery's arrival to the start of its processing "
        "(the client's scheduling delay); its lease is already running. Null = none.")
    lease_extension: LeaseExtension | None = Field(
        default=None, description="Extend each lease while processing; null = never.")
    pull: Pull | None = Field(
        default=None, description="Fetch deliveries (up to batch) only while up; null = the "
        "broker pushes.")
    # A log's consumer group (broker kind: log); see alosim.model.group.
    commit: Commit = Field(default_factory=Commit, description="When a log consumer commits offsets.")
    assignment: Literal["range", "round-robin"] = Field(
        default="range", description="How a log's partitions are shared by the group.")
    fetch_batch: Count = Field(default=500, ge=1, le=10**6,
                             description="Most records one fetch returns (max.poll.records).")
    session_timeout: PositiveSeconds = Field(
        default=45.0, description="A crashed member's partitions move after this (session.timeout.ms).")
    max_poll_interval: PositiveSeconds = Field(
        default=300.0, description="A member busy longer than this on one batch is kicked out "
        "(max.poll.interval.ms).")
    rebalance_delay: Seconds = Field(default=0.0, description="How long a rebalance stops the group.")


#: The consumer fields that belong to a log's consumer group, and the broker's log fields.
GROUP_FIELDS = ("commit", "assignment", "fetch_batch", "session_timeout", "max_poll_interval",
                "rebalance_delay")
LOG_FIELDS = ("kind", "partitions", "partitioner", "keys", "retention")
QUEUE_FIELDS = ("service", "visibility_timeout", "max_deliveries", "redelivery_backoff", "prefetch",
                "max_length", "overflow", "reclaim")
#: A queue consumer's fields that a run records only when set (so that a
#: queue pipeline without them reads as it did before they existed).
CONSUMER_BEHAVIOUR_FIELDS = ("start_delay", "lease_extension", "pull")


#: What a crash may target: one actor (``sender-N``, ``receiver-N``, ``consumer-N``,
#: ``broker``) or every actor of a kind (``senders``, ``receivers``, ``consumers``).
#: Which of them a scenario has: :func:`target_problem`.
FAULT_TARGET = r"^(receiver-\d+|sender-\d+|receivers|senders|broker|consumer-\d+|consumers)$"
#: What a fault may target: an actor (:data:`FAULT_TARGET`) or a topology's node by name.
FAULT_OR_NODE_TARGET = FAULT_TARGET[:-2] + r"|[a-z][a-z0-9_]{0,29})$"


class Fault(_Model):
    """Crashes of a sender or receiver: scheduled (``at``, ``for``) or random
    (exponential times between failures with mean ``mtbf``, repairs with mean
    ``mttr``). ``target`` is ``receiver-N``, ``sender-N``, ``receivers`` or
    ``senders``; in a pipeline also ``broker``, ``consumer-N`` or ``consumers``."""

    target: str = Field(pattern=FAULT_OR_NODE_TARGET)
    at: Seconds | None = None
    for_: PositiveSeconds | None = Field(default=None, alias="for")
    mtbf: PositiveSeconds | None = None
    mttr: PositiveSeconds | None = None
    kind: Literal["crash", "pause", "slow"] = Field(
        default="crash", description="crash; pause (no new work starts, as in a GC pause); "
        "slow (processing takes factor times as long).")
    factor: Number | None = Field(default=None, gt=1, le=10**6, description="Slow-down of kind slow.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Fault:
        scheduled = self.at is not None or self.for_ is not None
        random = self.mtbf is not None or self.mttr is not None
        if scheduled == random:
            raise ValueError("a fault is either scheduled (at, for) or random (mtbf, mttr)")
        if scheduled and (self.at is None or self.for_ is None):
            raise ValueError("a scheduled fault needs both 'at' and 'for'")
        if random and (self.mtbf is None or self.mttr is None):
            raise ValueError("a random fault needs both 'mtbf' and 'mttr'")
        if (self.kind == "slow") != (self.factor is not None):
            raise ValueError("'factor' is needed by a fault of kind slow, and only by it")
        if (self.kind != "crash" and not self.target.startswith("receiver")
                and ("-" in self.target or self.target in ("senders", "broker", "consumers"))):
            # (a bare name is a topology's node: the scenario checks it)
            raise ValueError(f"a {self.kind} fault targets receivers (receiver-N or receivers)")
        return self


class RecoveryCriterion(_Model):
    """When a run counts as recovered after its last pause or slow-down
    (:mod:`alosim.overload`): goodput within ``tolerance`` of the offered load,
    measured over sliding windows of ``window`` (at least the sampling
    interval), for ``hold`` without a break."""

    tolerance: Annotated[float, BeforeValidator(_number), Field(gt=0, lt=1)] = Field(
        default=0.05, description="Largest relative gap between goodput and offered load.")
    hold: PositiveSeconds = Field(default=10.0, description="How long goodput must stay that close.")
    window: PositiveSeconds = Field(
        default=5.0, description="Goodput and offered load are counted over this long "
        "(at least the sampling interval).")


class Observe(_Model):
    sample_every: PositiveSeconds = Field(default=1.0, description="Time-series sampling interval.")
    recovery: RecoveryCriterion = Field(
        default_factory=RecoveryCriterion,
        description="When a run counts as recovered after its last pause or slow-down.")
    trace_messages: Count = Field(
        default=0, ge=0, le=1_000_000,
        description="Record every event of the first N messages (0 = no trace).",
    )


class Sweep(_Model):
    """Many runs from one file: a grid of values, lists varied together, replications.

    Keys are dotted paths into the scenario (``network.ack.loss``); values are
    lists of what the path takes. ``grid`` varies its keys as a cartesian
    product; ``zip`` varies its keys together (all lists the same length), and
    the zipped tuples are crossed with the grid. Every point runs
    ``replications`` times, replication r with the same seed at every point.
    """

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    replications: Count = Field(default=1, ge=1, le=100_000)


def _duration_range(value: Any) -> Any:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"expected a range [low, high] of durations, got {_short(value)}")
    low, high = (parse_duration(v) for v in value)
    if not (0 <= low <= high):
        raise ValueError(f"expected 0 <= low <= high, got {_short(list(value))}")
    return (low, high)


#: ``[low, high]`` in seconds, e.g. ``[0s, 2s]``.
DurationRange = Annotated[tuple[float, float], BeforeValidator(_duration_range)]


class Guarantees(_Model):
    """Limits the user declares, checked by ``alosim explore`` on every run on top
    of the semantics checks. Left out: not checked."""

    max_duplicate_effects: Count | None = Field(
        default=None, ge=0, description="Most messages whose side effect may run more than once.")
    max_lost: Count | None = Field(default=None, ge=0, description="Most messages that may be lost.")
    max_dedup_entries: Count | None = Field(default=None, ge=0,
                                            description="Most ids the dedup store may hold at once.")
    max_latency_p99: Seconds | None = Field(
        default=None, description="Most the 99th percentile of create-to-processing latency may be.")


class CrashSpace(_Model):
    """Crashes the search may add: between ``min`` and ``max`` crashes of
    ``target``, starting within ``at`` and lasting within ``for`` (default:
    anywhere in a run without faults, for 10 ms to 1 s). A target is what a
    fault may crash (:data:`FAULT_TARGET`): ``senders``, ``receivers`` or a
    pipeline's ``consumers`` (each crash picks one at random), its
    ``broker``, or one actor (``consumer-1``). Left out: the far end, the
    receivers of a single hop or the consumers of a pipeline."""

    target: str | None = Field(default=None, pattern=FAULT_OR_NODE_TARGET)
    min: Count = Field(default=0, ge=0, le=20)
    max: Count = Field(default=1, ge=0, le=20)
    at: DurationRange | None = None
    for_: DurationRange | None = Field(default=None, alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> CrashSpace:
        if self.min > self.max:
            raise ValueError("min must be at most max")
        if self.for_ is not None and self.for_[0] <= 0:
            raise ValueError("'for' must start above 0 (a crash lasts some time)")
        return self


class PartitionSpace(_Model):
    """Partitions the search may add: between ``min`` and ``max``, each in one
    of ``direction`` (``data`` cuts sender to receiver, ``ack`` the way back)."""

    min: Count = Field(default=0, ge=0, le=20)
    max: Count = Field(default=1, ge=0, le=20)
    at: DurationRange | None = None
    for_: DurationRange | None = Field(default=None, alias="for")
    direction: list[Literal["both", "data", "ack"]] = Field(default_factory=lambda: ["both", "data", "ack"],
                                                           min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> PartitionSpace:
        if self.min > self.max:
            raise ValueError("min must be at most max")
        if self.for_ is not None and self.for_[0] <= 0:
            raise ValueError("'for' must start above 0 (a partition lasts some time)")
        return self


def _vary_spec(value: Any) -> Any:
    if isinstance(value, list):
        if not value:
            raise ValueError("expected a non-empty list of values, or a range {min: low, max: high}")
        return value
    if isinstance(value, Mapping):
        if sorted(value) != ["max", "min"]:
            raise ValueError(f"expected a range {{min: low, max: high}}, got {_short(dict(value))}")
        low, high = value["min"], value["max"]
        if any(isinstance(v, bool) or not isinstance(v, (int, float, str)) for v in (low, high)):
            raise ValueError(f"expected numbers, durations or rates as min and max, got {_short(dict(value))}")
        return dict(value)
    raise ValueError(f"expected a list of values or a range {{min: low, max: high}}, got {_short(value)}")


class Explore(_Model):
    """What ``alosim explore`` may vary, and how it draws.

    ``crashes`` and ``partitions`` say which faults it may add to the
    scenario's own (left out: up to two crashes of the far end -- the
    receivers, or a pipeline's consumers -- and one partition;
    ``crashes: []`` adds none). ``vary`` maps dotted paths to a list of
    values (one is drawn) or a range ``{min: low, max: high}`` (drawn
    uniformly; durations and rates keep their units; two whole numbers give
    whole numbers). ``bias`` is the share of fault times drawn near the
    moments that matter instead of uniformly (see :mod:`alosim.explore`).
    """

    crashes: list[CrashSpace] | None = None
    partitions: PartitionSpace | None = None
    vary: dict[str, Annotated[Any, BeforeValidator(_vary_spec)]] = Field(default_factory=dict)
    bias: Probability = Field(default=0.5, description="Share of fault times drawn near critical moments.")
    vary_seed: Flag = Field(default=True, description="Draw the simulation seed of each run too.")


class Budget(_Model):
    """Limits on what one run may cost, each with a default and a field to raise it.

    ``memory``: what the scenario would allocate (dedup stores, Bloom
    filters, messages and copies in flight, the trace), estimated at
    validation; a scenario above it is refused with the figure, and a run
    whose messages, copies and trace outgrow it stops (``stopped_by:
    memory``). ``stall_events``: units of work (simulation events, plus each
    retransmission, nack, lease expiry, redelivery, rebalance, commit and
    fault) a run may do beyond what its progress pays for
    (:data:`alosim.budget.WORK_PER_PROGRESS` per message created, settled,
    first processed or lost); then it stops, its messages reported unsettled
    (``stopped_by: stall``).
    ``series_rows``: the sampled time series holds at most this many rows; a
    longer run keeps every other row and samples half as often.
    """

    memory: Annotated[int, BeforeValidator(parse_size), Field(ge=1 << 20, le=1 << 50)] = Field(
        default=2 << 30, description="Most memory a run may allocate, estimated at validation (e.g. 8GiB).")
    stall_events: Count = Field(default=10_000_000, ge=1000, le=10**12,
                                description="Work beyond what progress pays for before a run stops (see alosim.budget).")
    series_rows: Count = Field(default=10_000, ge=16, le=10_000_000,
                               description="Most rows of the sampled time series (then it is coarsened).")


class Expectation(_Model):
    """A figure a scenario's description quotes, and how close a run must come to it.

    With ``value``, a run meets it when ``|measured - value| <= max(tol, rel *
    |value|)`` (a boolean must be equal); ``min`` and ``max`` bound the
    measurement (for claims such as "some duplicates get through"). Checked
    by the test suite on every shipped scenario (:mod:`alosim.expect`); the
    simulation itself never reads it.
    """

    value: Annotated[float | bool | None, BeforeValidator(_number_or_flag)] = None
    tol: Number = Field(default=0.0, ge=0, description="Absolute tolerance around value.")
    rel: Number = Field(default=0.0, ge=0, description="Tolerance relative to |value|.")
    min: Number | None = Field(default=None, description="Smallest value that meets it.")
    max: Number | None = Field(default=None, description="Largest value that meets it.")

    @model_validator(mode="after")
    def _something(self) -> Expectation:
        if self.value is None and self.min is None and self.max is None:
            raise ValueError("expected a value (with tol or rel), or min and/or max")
        if isinstance(self.value, bool) and (self.tol or self.rel or self.min is not None
                                              or self.max is not None):
            raise ValueError("a yes/no value takes no tolerance or bounds")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g}): no value meets both")
        return self


SUMMARY_COLUMN_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def _expectations(value: Any) -> Any:
    """``{column: 0}`` is shorthand for ``{column: {value: 0}}``."""
    if not isinstance(value, Mapping):
        return value
    return {k: ({"value": v} if isinstance(v, (int, float, bool)) else v) for k, v in value.items()}


class Onward(_Model):
    """How a service calls onward: when it answers its caller, and which key it gives the call.

    ``ack: after-call`` answers the caller once every onward call has been
    acked (a synchronous chain: the caller waits, and a call that gives up
    is not answered at all, so the caller retries); ``before-call`` answers as
    soon as the call is handed to the node's own sender (an outbox written in
    the same transaction as the effect). ``identity: keep`` passes the
    caller's key on (a dedup store downstream can recognise a repeated call);
    ``mint`` gives every call a new key (the classic defect that defeats
    downstream deduplication).
    """

    ack: Literal["after-call", "before-call"] = "after-call"
    identity: Literal["keep", "mint"] = "keep"


class Node(_Model):
    """One node of a topology.

    A ``producer`` creates the messages (its ``sender`` says how: ``messages``
    or ``duration`` at the top level, rate, window, retries). A ``service``
    receives calls (its ``receiver``: processing, workers, dedup, ack policy),
    and each side effect calls onward on every link that leaves it, with its
    own ``sender`` (retry policy, window, retry budget, circuit breaker) and
    ``onward`` settings. A ``sink`` receives and makes the final side effect.

    A ``queue`` or a ``log`` is a broker node (its ``broker``: the settings of
    a pipeline's ``broker:`` of that kind): the link into it is its publish
    link, each link out of it a subscription delivering to a ``consumers`` node
    (a consumer group, its ``consumer``: the settings of a pipeline's
    ``consumer:`` on that kind of broker). A consumers node's side effects call
    onward as a service's do (``sender``, ``onward``), or, with no link out, are
    final effects as a sink's (see :mod:`alosim.model.subscription`).
    """

    kind: Literal["producer", "service", "sink", "queue", "log", "consumers"]
    sender: Sender | None = Field(default=None, description="How it calls onward (producer, service, consumers).")
    receiver: Receiver | None = Field(default=None, description="How it receives calls (service, sink).")
    onward: Onward | None = Field(default=None, description="When a service answers, and its calls' keys.")
    broker: Broker | None = Field(default=None, description="The broker's settings (queue, log).")
    consumer: Consumer | None = Field(default=None, description="The consumer group's settings (consumers).")

    @model_validator(mode="before")
    @classmethod
    def _broker_of_its_kind(cls, data: Any) -> Any:
        # A broker node's kind is its broker's: the fields of a log are checked as a log's.
        if isinstance(data, dict) and data.get("kind") in ("queue", "log") and isinstance(data.get("broker"), dict):
            broker = data["broker"]
            if "kind" in broker and broker["kind"] != data["kind"]:
                raise ValueError(f"broker.kind: a {data['kind']} node's broker is a {data['kind']}, "
                                 f"got {broker['kind']!r} (leave broker.kind out)")
            other = [f for f in (QUEUE_FIELDS if data["kind"] == "log" else LOG_FIELDS[1:]) if f in broker]
            if other:
                raise ValueError(f"broker.{other[0]} belongs to a {'queue' if data['kind'] == 'log' else 'log'}: "
                                 f"make the node kind: {'queue' if data['kind'] == 'log' else 'log'}")
            data = {**data, "broker": {**broker, "kind": data["kind"]}}
        return data

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Node:
        if self.kind in ("queue", "log"):
            extra = [f for f in ("sender", "receiver", "onward", "consumer") if getattr(self, f) is not None]
            if extra:
                raise ValueError(f"{extra[0]}: a {self.kind} broker node takes 'broker' only (its "
                                 f"consumers are a consumers node)")
            return self
        if self.broker is not None:
            raise ValueError(f"broker: belongs to a node of kind queue or log, not {self.kind}")
        if self.kind == "consumers":
            if self.receiver is not None:
                raise ValueError("receiver: a consumers node takes 'consumer' (its group's settings)")
            return self
        if self.consumer is not None:
            raise ValueError(f"consumer: belongs to a node of kind consumers, not {self.kind}")
        if self.kind == "producer" and self.receiver is not None:
            raise ValueError("a producer receives nothing: remove 'receiver'")
        if self.kind == "sink" and (self.sender is not None or self.onward is not None):
            raise ValueError("a sink calls nothing onward: remove 'sender' and 'onward'")
        if self.kind == "producer" and self.onward is not None:
            raise ValueError("'onward' belongs to a service")
        return self


#: Node kinds that hold a broker, and the kind a link out of one must reach.
BROKER_KINDS = ("queue", "log")


class TopologyLink(_Model):
    """A link from one node to the next: the calls go on ``data``, their acks come back on ``ack``."""

    from_: str = Field(alias="from", description="The calling node.")
    to: str = Field(description="The called node.")
    data: LinkSpec = Field(default_factory=LinkSpec, description="Caller to callee.")
    ack: LinkSpec = Field(default_factory=LinkSpec, description="Callee to caller.")
    partitions: list[Partition] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Topology(_Model):
    """Named nodes and the links between them: a chain, or a tree that fans out.

    One producer is the root; every other node has exactly one link into it
    (so a path from the producer reaches each node one way) and may fan out
    to several. Each link is a hop of its own with a sender at its caller and
    a receiver at its callee (see :mod:`alosim.model.topology`). A producer
    with several links sends each of its messages on every one of them.
    """

    nodes: dict[str, Node] = Field(min_length=2, max_length=64)
    links: list[TopologyLink] = Field(min_length=1, max_length=63)

    @model_validator(mode="after")
    def _a_tree_from_one_producer(self) -> Topology:
        for name in self.nodes:
            if not is_node_name(name):
                raise ValueError(f"node names are lower-case letters, digits and '_' "
                                 f"(at most 30, starting with a letter), got {name!r}")
        producers = [name for name, node in self.nodes.items() if node.kind == "producer"]
        if len(producers) != 1:
            raise ValueError(f"expected exactly one node of kind producer, got {len(producers)}")
        into: dict[str, str] = {}
        for i, link in enumerate(self.links):
            for end in (link.from_, link.to):
                if end not in self.nodes:
                    raise ValueError(f"links[{i}]: no node named {end!r} (nodes: {', '.join(self.nodes)})")
            caller, callee = self.nodes[link.from_], self.nodes[link.to]
            if caller.kind == "sink":
                raise ValueError(f"links[{i}]: {link.from_!r} is a sink, which calls nothing onward")
            if callee.kind == "producer":
                raise ValueError(f"links[{i}]: {link.to!r} is the producer, which no link may call")
            if caller.kind in BROKER_KINDS and callee.kind != "consumers":
                raise ValueError(f"links[{i}].to: {link.from_!r} is a {caller.kind} broker, which delivers "
                                 f"to consumers nodes only; {link.to!r} is a {callee.kind}")
            if callee.kind == "consumers" and caller.kind not in BROKER_KINDS:
                raise ValueError(f"links[{i}].from: {link.to!r} is a consumers node, fed by a queue or "
                                 f"log node only; {link.from_!r} is a {caller.kind}")
            if caller.kind in BROKER_KINDS and link.partitions:
                raise ValueError(f"links[{i}].partitions: a consume link (from the {caller.kind} "
                                 f"{link.from_!r}) takes no partitions; put them on its publish link")
            if link.to in into:
                raise ValueError(f"links[{i}]: {link.to!r} already has a link into it (from "
                                 f"{into[link.to]!r}); a node receives on one link")
            into[link.to] = link.from_
        for name, node in self.nodes.items():
            if node.kind != "producer" and name not in into:
                raise ValueError(f"node {name!r}: no link reaches it")
            if node.kind in ("producer", "service") and not any(l.from_ == name for l in self.links):
                raise ValueError(f"node {name!r} ({node.kind}) calls nothing: add a link from it, "
                                 f"or make it a sink")
            if node.kind in BROKER_KINDS and not any(l.from_ == name for l in self.links):
                raise ValueError(f"node {name!r} ({node.kind}) delivers to nobody: add a link from "
                                 f"it to a consumers node")
        return self

    def order(self) -> list[TopologyLink]:
        """The links from the producer outwards (each after the link into its caller)."""
        producer = next(name for name, node in self.nodes.items() if node.kind == "producer")
        ordered: list[TopologyLink] = []
        frontier = [producer]
        while frontier:
            name = frontier.pop(0)
            for link in self.links:
                if link.from_ == name:
                    ordered.append(link)
                    frontier.append(link.to)
        return ordered


class Scenario(_Model):
    """A complete, validated scenario."""

    name: str = Field(description="Names the results folder: letters, digits, '.', '_', '-'.")
    description: str = ""
    seed: Count = Field(default=0, ge=0, lt=2**63)
    semantics: Semantics = "at-least-once"
    messages: Count | None = Field(
        default=None, ge=1, le=10**10, description="Messages to send in all (or give duration)."
    )
    duration: PositiveSeconds | None = Field(
        default=None, description="Send for this long at sender.rate (instead of messages)."
    )
    max_time: PositiveSeconds | None = Field(
        default=None,
        description="Stop the simulation at this time even if messages are still "
        "in flight (they are reported as unsettled). Null = run until all settle.",
    )
    sender: Sender = Field(default_factory=Sender)
    network: Network = Field(default_factory=Network)
    receiver: Receiver = Field(default_factory=Receiver)
    broker: Broker | None = Field(
        default=None, description="Makes the run a pipeline: producer -> broker -> consumers.")
    consumer: Consumer | None = Field(default=None, description="The consumers of a pipeline.")
    observe: Observe = Field(default_factory=Observe)
    faults: list[Fault] = Field(default_factory=list)
    sweep: Sweep | None = Field(default=None, description="Run a grid of variations (alosim sweep).")
    budget: Budget = Field(default_factory=Budget, description="Limits on what one run may cost.")
    expect: Annotated[dict[str, Expectation] | None, BeforeValidator(_expectations)] = Field(
        default=None,
        description="Figures the description quotes, by summary column, e.g. "
        "{duplicate_processing: 0} or {abandoned: {value: 54, tol: 0}} or "
        "{dedup_entries_peak: {value: 2000, rel: 0.1}}. Checked by the test suite "
        "(alosim.expect); not part of a run.",
    )
    explore: Explore | None = Field(default=None, description="What alosim explore may vary.")
    guarantees: Guarantees | None = Field(default=None, description="Limits alosim explore checks.")
    topology: Topology | None = Field(
        default=None, description="Named nodes and links (a chain, fan-out) instead of sender, "
        "network and receiver.")

    # The data as written (before presets were applied), so that variations
    # of this scenario are resolved afresh: see with_overrides().
    _source: dict[str, Any] = PrivateAttr(default_factory=dict)
    _origin: str = PrivateAttr(default="<scenario>")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not NAME_RE.match(value) or ".." in value:
            raise ValueError(
                "expected a name of letters, digits, '.', '_' and '-' (at most 100, "
                f"not starting with '.' and without '..'), got {value!r}"
            )
        return value

    @field_validator("expect")
    @classmethod
    def _known_columns(cls, value: dict[str, Expectation] | None) -> dict[str, Expectation] | None:
        for column in value or {}:
            if not SUMMARY_COLUMN_RE.match(column):
                raise ValueError(f"expected summary column names (snake_case), got {column!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        """Fill in retry and dedup from the semantics preset where the file is silent."""
        if not isinstance(data, Mapping):
            return data
        semantics = data.get("semantics", "at-least-once")
        if semantics not in SEMANTICS:
            return data  # the Literal check reports it
        data = _deep_copy(data)
        if data.get("topology") is not None:
            return _apply_topology_preset(data, semantics)
        if data.get("broker") is not None or data.get("consumer") is not None:
            return _apply_pipeline_preset(data, semantics)
        sender = data.setdefault("sender", {})
        receiver = data.setdefault("receiver", {})
        if not isinstance(sender, dict) or not isinstance(receiver, dict):
            return data
        retry = sender.setdefault("retry", {})
        dedup = receiver.setdefault("dedup", {})
        if isinstance(retry, dict) and "max_attempts" not in retry:
            retry["max_attempts"] = 1 if semantics == "at-most-once" else None
        if isinstance(dedup, dict) and dedup.get("kind") is None:
            dedup["kind"] = "set" if semantics == "exactly-once" else "none"
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if (self.messages is None) == (self.duration is None):
            raise ValueError("give exactly one of 'messages' (a count) or 'duration' (with sender.rate)")
        if self.duration is not None and self.producer.rate is None:
            raise ValueError("'duration' needs sender.rate: how many messages per second to send")
        if self.topology is not None:
            _check_topology(self)
            return self
        if self.sender.rate is None and self.sender.window is None:
            raise ValueError("sender needs a rate or a window (with neither, every message is sent at once)")
        if self.semantics == "exactly-once" and self.receiver.dedup.kind == "none":
            raise ValueError(
                "semantics exactly-once needs a dedup store: set receiver.dedup.kind "
                "(e.g. 'set') or choose semantics at-least-once"
            )
        _check_pipeline(self)
        for i, space in enumerate((self.explore.crashes or []) if self.explore is not None else []):
            if space.target is not None and "-" not in space.target and space.target not in (
                    "receivers", "senders", "broker", "consumers"):
                raise ValueError(f"explore.crashes.{i}.target: {target_problem(self, space.target)}")
        for i, fault in enumerate(self.faults):
            problem = target_problem(self, fault.target)
            if problem is not None:
                raise ValueError(f"faults[{i}].target: {problem}")
        attempts = self.sender.retry.max_attempts
        if self.semantics == "at-most-once" and attempts != 1:
            raise ValueError(
                f"semantics at-most-once sends each message once, but sender.retry.max_attempts "
                f"is {attempts}: remove it or choose semantics at-least-once"
            )
        return self

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default and preset filled in, as plain data.
        A single hop shows no pipeline fields (as before pipelines existed);
        a pipeline shows no receiver. ``explore`` and ``guarantees`` are left
        out: they say how to search, not what to simulate, so a run (and its
        fingerprint) is the same with or without them."""
        exclude: Any
        if self.broker is None:
            exclude = {"broker": True, "consumer": True, "network": {"consume"}}
            if self.receiver.on_duplicate == "ack":
                exclude["receiver"] = {"on_duplicate"}  # reads as it did before the choice existed
        elif self.broker.kind == "queue":
            # A queue pipeline reads as it did before logs existed.
            exclude = {"receiver": True, "broker": set(LOG_FIELDS), "consumer": set(GROUP_FIELDS)}
            if self.broker.max_length is None:
                # Unbounded, it reads as it did before the bound existed.
                exclude["broker"] |= {"max_length", "overflow"}
            if self.broker.reclaim is None:
                exclude["broker"].add("reclaim")
            assert self.consumer is not None
            exclude["consumer"] |= {name for name in CONSUMER_BEHAVIOUR_FIELDS
                                    if getattr(self.consumer, name) is None}
        else:
            exclude = {"receiver": True, "broker": set(QUEUE_FIELDS), "network": {"consume"},
                       "consumer": {"concurrency", "ack", "nack_probability", "poison_probability",
                                    *CONSUMER_BEHAVIOUR_FIELDS}}
        if self.topology is None:
            exclude["topology"] = True
        else:  # the nodes and links say it all
            exclude.update({"sender": True, "receiver": True, "network": True})
        exclude.update(dict.fromkeys(_SEARCH_ONLY, True))
        data = self.model_dump(mode="json", by_alias=True, exclude=exclude)
        if self.topology is not None:
            feeder = {link.to: self.topology.nodes[link.from_].kind for link in self.topology.links}
            for name, node in data["topology"]["nodes"].items():
                _resolved_node(node, feeder.get(name))
        return data

    @property
    def producer(self) -> Sender:
        """The sender that creates the messages: ``sender``, or a topology's producer node's."""
        if self.topology is None:
            return self.sender
        node = next(n for n in self.topology.nodes.values() if n.kind == "producer")
        assert node.sender is not None
        return node.sender

    @property
    def is_topology(self) -> bool:
        """True if the scenario draws its own path of nodes and links (a ``topology:`` section)."""
        return self.topology is not None

    @property
    def is_pipeline(self) -> bool:
        """True if messages go producer -> broker -> consumers (a ``broker:`` section)."""
        return self.broker is not None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.resolved(), sort_keys=False, allow_unicode=True)

    def as_written(self) -> dict[str, Any]:
        """The scenario as it was given (its file with any ``--set`` values), as a new
        plain dict; the resolved form if it was built otherwise."""
        return json.loads(json.dumps(self._source or self.resolved()))

    def source_yaml(self) -> str:
        """The scenario as it was given (its file with any ``--set`` values), sweep
        included: what a sweep folder keeps, because it expands again into the
        same points. The resolved form would not: a preset fills fields such as
        ``sender.retry.max_attempts`` for one semantics, and the filled value
        then contradicts a point that sweeps to another."""
        try:
            return yaml.safe_dump(self._source or self.resolved(), sort_keys=False,
                                  allow_unicode=True)
        except yaml.YAMLError:  # built in Python from values YAML cannot write
            return self.to_yaml()

    def with_seed(self, seed: int | None) -> Scenario:
        return self if seed is None else self.with_overrides({"seed": seed})

    def with_overrides(self, values: Mapping[str, Any], *, drop_sweep: bool = False) -> Scenario:
        """A new scenario with dotted-path ``values`` set, presets resolved afresh.

        ``scenario.with_overrides({"semantics": "at-most-once"})`` re-applies the
        at-most-once preset to whatever the file itself left unsaid. Raises
        :class:`ScenarioError` naming the path if a value is not valid.
        """
        expect(values, Mapping, "with_overrides", "values", "a mapping of dotted paths to values")
        source = self._source or self.resolved()
        # Leave the sweep out before copying: each point of a sweep would
        # otherwise copy the whole grid (quadratic in its size).
        data = _deep_copy({k: v for k, v in source.items() if not (drop_sweep and k == "sweep")})
        for path, value in values.items():
            set_path(data, path, value, self._origin)
        return validate_scenario(data, self._origin)

    @property
    def origin(self) -> str:
        """Where the scenario came from (a file name), for messages."""
        return self._origin


def _resolved_node(node: dict[str, Any], feeder: str | None) -> None:
    """A topology node as :meth:`Scenario.resolved` shows it: the sections of its kind
    only; a queue's broker and its consumers (``feeder``: the kind of the node that
    feeds it) as a queue pipeline shows them, a log's as a log pipeline does."""
    for section in ("broker", "consumer"):
        if node.get(section) is None:
            node.pop(section, None)
    broker = node.get("broker")
    if broker is not None:
        broker.pop("kind", None)  # the node's
        if node.get("kind") == "log":
            hidden: tuple[str, ...] = QUEUE_FIELDS
        else:
            hidden = (*LOG_FIELDS, *(("max_length", "overflow") if broker.get("max_length") is None else ()),
                      *(("reclaim",) if broker.get("reclaim") is None else ()))
        for name in hidden:
            broker.pop(name, None)
    consumer = node.get("consumer")
    if consumer is not None:
        if feeder == "log":
            hidden = ("concurrency", "ack", "nack_probability", "poison_probability", *CONSUMER_BEHAVIOUR_FIELDS)
        else:
            hidden = (*GROUP_FIELDS, *(f for f in CONSUMER_BEHAVIOUR_FIELDS if consumer.get(f) is None))
        for name in hidden:
            consumer.pop(name, None)


def _apply_pipeline_preset(data: dict[str, Any], semantics: str) -> dict[str, Any]:
    """The presets of a pipeline: the producer retries as a sender does; the
    idempotency store the semantics asks for is the consumer's (exactly-once
    is a property of the side effect); the broker's store is opt-in."""
    if data.get("broker") is None:
        raise ValueError("consumer: belongs to a pipeline: add a 'broker' section "
                         "(or use 'receiver' for a single hop)")
    if "receiver" in data:
        raise ValueError("receiver: is the far end of a single hop; in a pipeline "
                         "(with 'broker') the far end is 'consumer'")
    sender = data.setdefault("sender", {})
    consumer = data.setdefault("consumer", {})
    network = data.setdefault("network", {})
    broker = data.get("broker")
    log = isinstance(broker, dict) and broker.get("kind") == "log"
    if log:
        # A log's consumers fetch from it (no consume links) and keep no
        # idempotency store: the exactly-once way is a transactional commit.
        if isinstance(network, dict) and network.get("consume") is not None:
            raise ValueError("network.consume: a log's consumers fetch from it; the consume "
                             "links belong to a queue broker")
        if isinstance(consumer, dict):
            consumer.setdefault("dedup", {"kind": "none"})
    if isinstance(network, dict) and network.get("consume") is None and not log:
        network["consume"] = {}
    if not isinstance(sender, dict) or not isinstance(consumer, dict):
        return data
    retry = sender.setdefault("retry", {})
    dedup = consumer.setdefault("dedup", {})
    if isinstance(retry, dict) and "max_attempts" not in retry:
        retry["max_attempts"] = 1 if semantics == "at-most-once" else None
    if isinstance(dedup, dict) and dedup.get("kind") is None:
        dedup["kind"] = "set" if semantics == "exactly-once" else "none"
    return data


def _apply_topology_preset(data: dict[str, Any], semantics: str) -> dict[str, Any]:
    """The semantics preset, node by node: at-most-once sends every call once,
    exactly-once gives every receiving node a set store, where the file is silent."""
    topology = data["topology"]
    nodes = topology.get("nodes") if isinstance(topology, dict) else None
    if not isinstance(nodes, dict):
        return data
    links = topology.get("links")
    links = [link for link in links if isinstance(link, dict)] if isinstance(links, list) else []
    calling = {link.get("from") for link in links}
    feeder = {link.get("to"): nodes.get(link.get("from")) for link in links if isinstance(link.get("to"), str)}
    for name, node in nodes.items():
        if not isinstance(node, dict):
            continue
        kind = node.get("kind")
        if kind == "consumers":
            # A consumer group's store is the effect's (as in a pipeline); it calls onward
            # as a service does, handing each call to its outbox (before-call).
            consumer = node.setdefault("consumer", {})
            dedup = consumer.setdefault("dedup", {}) if isinstance(consumer, dict) else None
            fed_by = feeder.get(name)
            log = isinstance(fed_by, dict) and fed_by.get("kind") == "log"
            if isinstance(dedup, dict) and dedup.get("kind") is None:
                # A log's consumers keep no store: exactly-once is a transactional commit.
                dedup["kind"] = "set" if semantics == "exactly-once" and not log else "none"
            if name in calling:
                onward = node.setdefault("onward", {})
                if isinstance(onward, dict):
                    onward.setdefault("ack", "before-call")
        if kind in ("producer", "service") or (kind == "consumers" and name in calling):
            sender = node.setdefault("sender", {})
            retry = sender.setdefault("retry", {}) if isinstance(sender, dict) else None
            if isinstance(retry, dict) and "max_attempts" not in retry:
                retry["max_attempts"] = 1 if semantics == "at-most-once" else None
        if kind in ("service", "sink"):
            receiver = node.setdefault("receiver", {})
            dedup = receiver.setdefault("dedup", {}) if isinstance(receiver, dict) else None
            if isinstance(dedup, dict) and dedup.get("kind") is None:
                dedup["kind"] = "set" if semantics == "exactly-once" else "none"
        if kind == "service":
            node.setdefault("onward", {})
        if kind in BROKER_KINDS:
            node.setdefault("broker", {})
    return data


def _check_topology(scenario: Scenario) -> None:
    """A topology replaces the single hop's sections and takes no pipeline or faults (yet)."""
    if scenario.topology is None:
        return
    for section in ("sender", "receiver", "network", "broker", "consumer"):
        if section in scenario.model_fields_set:
            raise ValueError(f"'{section}' does not apply beside 'topology': give each node its "
                             f"sender and receiver, each link its data and ack")
    for i, fault in enumerate(scenario.faults):
        problem = target_problem(scenario, fault.target)
        if fault.target not in scenario.topology.nodes:
            problem = problem or f"a fault names one node ({', '.join(scenario.topology.nodes)})"
        if problem is not None:
            raise ValueError(f"faults[{i}].target: {problem}")
        if fault.kind != "crash" and scenario.topology.nodes[fault.target].kind == "producer":
            raise ValueError(f"faults[{i}].kind: a {fault.kind} slows a node's processing; "
                             f"{fault.target!r} is the producer, which processes nothing")
        if fault.kind != "crash" and scenario.topology.nodes[fault.target].kind in (*BROKER_KINDS, "consumers"):
            raise ValueError(f"faults[{i}].kind: a {fault.kind} slows a receiver; {fault.target!r} is a "
                             f"{scenario.topology.nodes[fault.target].kind} node, which only crashes")
    _check_broker_nodes(scenario)
    for name, node in scenario.topology.nodes.items():
        sender = node.sender
        if sender is None:
            continue
        if sender.count != 1:
            raise ValueError(f"topology.nodes.{name}.sender.count: a node has one sender per link")
        if node.kind in ("service", "consumers") and (sender.rate is not None):
            raise ValueError(f"topology.nodes.{name}.sender.rate: a service calls onward once per "
                             f"side effect, not at a rate")
        if node.kind == "producer" and sender.rate is None and sender.window is None:
            raise ValueError(f"topology.nodes.{name}.sender: a producer needs a rate or a window")
        attempts = sender.retry.max_attempts
        if scenario.semantics == "at-most-once" and attempts != 1:
            raise ValueError(f"topology.nodes.{name}.sender.retry.max_attempts: semantics "
                             f"at-most-once sends each call once, got {attempts}")
    for name, node in scenario.topology.nodes.items():
        if (scenario.semantics == "exactly-once" and node.kind == "sink" and node.receiver is not None
                and node.receiver.dedup.kind == "none"):
            raise ValueError(f"topology.nodes.{name}.receiver.dedup.kind: semantics exactly-once needs a "
                             f"dedup store at every sink (e.g. 'set'), or choose semantics at-least-once")
        if node.receiver is not None and node.receiver.count != 1:
            raise ValueError(f"topology.nodes.{name}.receiver.count: a node is one receiver "
                             f"(give it workers to serve calls at once)")


def _check_broker_nodes(scenario: Scenario) -> None:
    """A topology's broker and consumers nodes: what a pipeline's broker and
    consumer sections must satisfy, node by node (see :mod:`alosim.model.queue_node`)."""
    topology = scenario.topology
    assert topology is not None
    feeder = {link.to: link.from_ for link in topology.links}
    for name, node in topology.nodes.items():
        where = f"topology.nodes.{name}"
        if node.kind != "consumers":
            continue
        calls_onward = any(link.from_ == name for link in topology.links)
        if topology.nodes[feeder[name]].kind == "log":
            _check_log_consumers(scenario, name, calls_onward)
            continue
        if not calls_onward and (node.sender is not None or node.onward is not None):
            raise ValueError(f"{where}: a consumers node with no link out calls nothing onward: "
                             f"remove 'sender' and 'onward'")
        if node.onward is not None and node.onward.ack == "after-call":
            raise ValueError(f"{where}.onward.ack: a consumers node acks its deliveries as "
                             f"consumer.ack says; after-call is not modelled: use before-call")
        consumer = node.consumer or Consumer()
        broker = topology.nodes[feeder[name]].broker or Broker()
        group = [f for f in GROUP_FIELDS if f in consumer.model_fields_set]
        if group:
            raise ValueError(f"{where}.consumer.{group[0]} belongs to a log's consumer group")
        if consumer.dedup.kind == "sequence":
            raise ValueError(f"{where}.consumer.dedup.kind: sequence numbers belong to the publish "
                             f"link; give the consumers set, ttl, lru or bloom")
        extension = consumer.lease_extension
        if extension is not None and extension.every >= broker.visibility_timeout:
            raise ValueError(f"{where}.consumer.lease_extension.every: {extension.every:g}s is not "
                             f"shorter than the visibility_timeout of {feeder[name]!r} "
                             f"({broker.visibility_timeout:g}s)")
        if extension is not None and extension.max is not None and extension.max <= broker.visibility_timeout:
            raise ValueError(f"{where}.consumer.lease_extension.max: {extension.max:g}s is not longer "
                             f"than the visibility_timeout of {feeder[name]!r} "
                             f"({broker.visibility_timeout:g}s): no extension could add time")
        if extension is not None and consumer.ack == "before-processing":
            raise ValueError(f"{where}.consumer.lease_extension: with ack: before-processing there "
                             f"is no lease left to extend")
        if scenario.semantics == "exactly-once" and not calls_onward and consumer.dedup.kind == "none":
            raise ValueError(f"{where}.consumer.dedup.kind: semantics exactly-once needs a dedup store "
                             f"at every final node (e.g. 'set'), or choose semantics at-least-once")


def _check_log_consumers(scenario: Scenario, name: str, calls_onward: bool) -> None:
    """A consumers node fed by a log node: a log's consumer group (see :func:`_check_log`)."""
    topology = scenario.topology
    assert topology is not None
    where = f"topology.nodes.{name}"
    node = topology.nodes[name]
    consumer = node.consumer or Consumer()
    i, link = next((i, link) for i, link in enumerate(topology.links) if link.to == name)
    for side in ("data", "ack"):
        if getattr(link, side) != LinkSpec():
            raise ValueError(f"topology.links[{i}].{side}: a log's consumers fetch from it; a link from "
                             f"the log {link.from_!r} takes no data or ack settings")
    queue_only = {"concurrency": 1, "ack": "after-processing", "nack_probability": 0.0,
                  "poison_probability": 0.0}
    for field, default in queue_only.items():
        if getattr(consumer, field) != default:
            raise ValueError(f"{where}.consumer.{field} belongs to a queue's consumers; a log's "
                             f"consumer reads its partitions one record at a time")
    for field in CONSUMER_BEHAVIOUR_FIELDS:
        if getattr(consumer, field) is not None:
            raise ValueError(f"{where}.consumer.{field} belongs to a queue's consumers (a log's "
                             f"consumer group fetches and has no leases)")
    if consumer.dedup.kind != "none":
        raise ValueError(f"{where}.consumer.dedup: a log's consumers keep no idempotency store; for "
                         f"exactly-once effects use consumer.commit.policy: transactional")
    if scenario.semantics == "exactly-once" and not calls_onward and consumer.commit.policy != "transactional":
        raise ValueError(f"{where}.consumer.commit.policy: semantics exactly-once on a log needs "
                         f"transactional (effect and offset recorded atomically)")
    if scenario.semantics == "at-most-once" and consumer.commit.policy != "before-processing":
        raise ValueError(f"{where}.consumer.commit.policy: semantics at-most-once on a log needs "
                         f"before-processing")


def _check_pipeline(scenario: Scenario) -> None:
    if scenario.broker is None:
        if scenario.network.consume is not None:
            raise ValueError("network.consume is the broker <-> consumer hop: add a 'broker' section")
        return
    consumer = scenario.consumer
    assert consumer is not None
    if scenario.broker.kind == "log":
        _check_log(scenario)
        return
    group = [name for name in GROUP_FIELDS if name in consumer.model_fields_set]
    if group:
        raise ValueError(f"consumer.{group[0]} belongs to a log's consumer group: set "
                         "broker.kind: log")
    _check_lease_extension(scenario)
    if consumer.dedup.kind == "sequence":
        # Its numbers and floors are the producer -> broker connection's: the
        # floor passes a message once the broker acked it, long before a
        # consumer processed it, and without floors every gap stays forever.
        raise ValueError("consumer.dedup.kind: sequence numbers belong to the producer -> broker "
                         "connection; put the sequence store on the broker (broker.dedup.kind) "
                         "and give the consumers set, ttl, lru or bloom")
    if scenario.semantics == "exactly-once" and consumer.dedup.kind == "none":
        raise ValueError("semantics exactly-once needs an idempotent consumer: set "
                         "consumer.dedup.kind (e.g. 'set') or choose semantics at-least-once")


def _check_lease_extension(scenario: Scenario) -> None:
    """An extension must come before the lease it extends runs out, and must be able to add something."""
    broker, consumer = scenario.broker, scenario.consumer
    assert broker is not None and consumer is not None
    extension = consumer.lease_extension
    if extension is None:
        return
    lease = broker.visibility_timeout
    if extension.every >= lease:
        raise ValueError(f"consumer.lease_extension.every: {extension.every:g}s is not shorter than "
                         f"broker.visibility_timeout ({lease:g}s): every lease would run out before "
                         "its first extension")
    if extension.max is not None and extension.max <= lease:
        raise ValueError(f"consumer.lease_extension.max: {extension.max:g}s is not longer than "
                         f"broker.visibility_timeout ({lease:g}s): no extension could add time")
    if consumer.ack == "before-processing":
        raise ValueError("consumer.lease_extension: with ack: before-processing a delivery is "
                         "acked before its processing, so there is no lease left to extend")


def _check_log(scenario: Scenario) -> None:
    consumer = scenario.consumer
    assert consumer is not None
    queue_only = {"concurrency": 1, "ack": "after-processing", "nack_probability": 0.0,
                  "poison_probability": 0.0}
    for name, default in queue_only.items():
        if getattr(consumer, name) != default:
            raise ValueError(f"consumer.{name} belongs to a queue's consumers; a log's consumer "
                             "reads its partitions one record at a time")
    for name in CONSUMER_BEHAVIOUR_FIELDS:
        if getattr(consumer, name) is not None:
            raise ValueError(f"consumer.{name} belongs to a queue's consumers (a log's consumer "
                             "group fetches up to fetch_batch records and has no leases)")
    if consumer.dedup.kind != "none":
        raise ValueError("consumer.dedup: a log's consumers keep no idempotency store; for "
                         "exactly-once effects use consumer.commit.policy: transactional")
    if scenario.semantics == "exactly-once" and consumer.commit.policy != "transactional":
        raise ValueError("semantics exactly-once on a log needs consumer.commit.policy: "
                         "transactional (effect and offset recorded atomically)")
    if scenario.semantics == "at-most-once" and consumer.commit.policy != "before-processing":
        raise ValueError("semantics at-most-once on a log needs consumer.commit.policy: "
                         "before-processing")


def target_problem(scenario: Scenario, target: str) -> str | None:
    """Why ``scenario`` has nothing a fault of ``target`` (:data:`FAULT_TARGET`) could
    crash, or None if it has: a single hop has senders and receivers; a pipeline
    (queue or log) has senders (its producers), a broker and consumers."""
    if scenario.topology is not None:
        if target not in scenario.topology.nodes and target != "nodes":
            return (f"a topology's fault targets a node by name ({', '.join(scenario.topology.nodes)}), "
                    f"got {target!r}")
        return None
    if "-" not in target and target not in ("receivers", "senders", "broker", "consumers"):
        return f"{target!r} is not an actor here (receiver-N, sender-N, receivers, senders; a pipeline's broker, consumer-N, consumers)"
    kind, _, index = target.partition("-")
    kind = kind.removesuffix("s")
    if scenario.broker is None and kind in ("broker", "consumer"):
        return f"{target} needs a pipeline (a 'broker' section)"
    if scenario.broker is not None and kind == "receiver":
        return "a pipeline has consumers, not receivers (consumer-N or consumers)"
    counts = {"sender": scenario.sender.count, "receiver": scenario.receiver.count, "broker": 1,
              "consumer": scenario.consumer.count if scenario.consumer is not None else 1}
    count = counts[kind]
    if index and int(index) >= count:
        return f"there is no {target} ({count} {kind}{'s' if count != 1 else ''}, numbered from 0)"
    return None


#: Sections read by ``alosim explore`` only, never by a run.
_SEARCH_ONLY = {"explore", "guarantees"}


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


# -- reading -----------------------------------------------------------------

def load_scenario(path: str | Path, overrides: Iterable[str] = ()) -> Scenario:
    """Read, override and validate a scenario file; raise :class:`ScenarioError` if it is bad."""
    expect_path(path, "load_scenario")
    overrides = _override_list(overrides, "load_scenario")
    source = str(path)
    try:
        text = yamlread.read_file(path)
    except FileNotFoundError:
        raise ScenarioError(source, [("", "no such file")]) from None
    except IsADirectoryError:
        raise ScenarioError(source, [("", "is a directory, expected a YAML file")]) from None
    except yamlread.ReadError as exc:
        raise ScenarioError(source, [("", str(exc))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [("", f"cannot read the file ({exc})")]) from None
    return parse_scenario(text, source=source, overrides=overrides)


def parse_scenario(text: str, source: str = "<scenario>", overrides: Iterable[str] = ()) -> Scenario:
    """Validate a scenario given as YAML text."""
    expect(text, str, "parse_scenario", "text", "the YAML text of a scenario (str)")
    expect(source, str, "parse_scenario", "source", "a name for messages (str)")
    overrides = _override_list(overrides, "parse_scenario")
    try:
        data = yamlread.loads(text)
    except yamlread.ReadError as exc:
        raise ScenarioError(source, [("", f"not valid YAML: {exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, [("", f"not valid YAML: {where}{problem}")]) from None
    except RecursionError:
        raise ScenarioError(source, [("", "not valid YAML: nested too deeply")]) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer with thousands of digits
        raise ScenarioError(source, [("", f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(source, [("", f"expected a mapping of scenario fields, got {kind}")])
    overrides = list(overrides)
    data = apply_overrides(data, overrides, source)
    try:
        return validate_scenario(data, source)
    except ScenarioError as exc:
        raise _blame_overrides(exc, overrides) from None


def _blame_overrides(exc: ScenarioError, overrides: Sequence[str]) -> ScenarioError:
    """Name the ``--set`` option, not the file, for a problem an override caused.

    A problem is the override's when its field path and the override's path
    lie on one branch (``--set netwrk.ack.loss=1`` makes ``netwrk`` unknown;
    ``--set network.ack.loss=2`` makes ``network.ack.loss`` out of range).
    """
    for item in overrides:
        path = item.partition("=")[0].strip()
        # A problem of the whole scenario that names the overridden field ("give exactly
        # one of 'messages' or 'duration'") is the override's as well.
        mine = [(where, message) for where, message in exc.problems
                if (where and (where == path or path.startswith(where + ".") or where.startswith(path + ".")))
                or (not where and f"'{path}'" in message)]
        if mine:
            return ScenarioError(f"--set {item}", mine)
    return exc


def _override_list(overrides: Any, function: str) -> list[str]:
    """``--set`` style overrides as a list of ``path=value`` strings (one string alone
    would be read a character at a time)."""
    if isinstance(overrides, (str, bytes)) or not isinstance(overrides, Iterable):
        raise TypeError(f"{function}(): overrides must be a list of 'path=value' strings, "
                        f"got {type(overrides).__name__}")
    items = list(overrides)
    for item in items:
        expect(item, str, function, "each override", "a 'path=value' string")
    return items


def validate_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate scenario ``data`` read from ``source`` (a file name, or ``<...>`` for text).

    Files a scenario names (an empirical distribution's CSV) are looked for
    beside the scenario file; for a scenario given as text, in the current folder.
    """
    expect(data, Mapping, "validate_scenario", "data", "a mapping of scenario fields")
    folder = "." if source.startswith(("<", "--set")) else str(Path(source).parent)
    try:
        scenario = Scenario.model_validate(data, context={"scenario_dir": folder})
    except ValidationError as exc:
        raise ScenarioError(source, *_problems(exc)) from None
    except RecursionError:
        raise ScenarioError(source, [("", "nested too deeply")]) from None
    from alosim.budget import cost_problems

    problems = cost_problems(scenario) + _unknown_columns(scenario)
    if problems:
        raise ScenarioError(source, problems)
    scenario._source = _deep_copy(dict(data))
    scenario._origin = source
    return scenario


def _unknown_columns(scenario: Scenario) -> list[tuple[str, str]]:
    """``expect`` columns that no run of ``scenario``'s shape reports (it could never be met)."""
    if not scenario.expect:
        return []
    from alosim.figures import LOG, QUEUE, SINGLE_HOP, summary_columns

    if scenario.topology is not None:
        from alosim.observe.topology import known_columns

        shape = "topology"
        known = known_columns({name: node.kind for name, node in scenario.topology.nodes.items()})
        known |= {f"check_{name}" for name in ("none_lost", "acked_were_processed", "no_duplicate_processing")}
        known |= {"lost_per_message", "duplicate_processing_per_message", "events", "sim_time_s", "stopped_by"}
    elif scenario.broker is None:
        shape = "single-hop"
    else:
        shape = "log pipeline" if scenario.broker.kind == "log" else "queue pipeline"
    if scenario.topology is None:
        known = summary_columns({"single-hop": SINGLE_HOP, "queue pipeline": QUEUE, "log pipeline": LOG}[shape])
    problems = []
    for column in scenario.expect:
        if column not in known:
            close = difflib.get_close_matches(column, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append((f"expect.{column}", f"a {shape} run reports no such summary column{hint}"))
    return problems


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], source: str) -> dict[str, Any]:
    """Apply ``--set path=value`` overrides; values are read as YAML scalars (``0.2``, ``250ms``).

    ``messages`` and ``duration`` replace each other: ``--set duration=1d`` on a file that
    gives ``messages`` sends for a day (unless ``messages`` is set too)."""
    data = _deep_copy(data)
    given = {item.partition("=")[0].strip() for item in overrides}
    for item in overrides:
        path, sep, raw = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ScenarioError(source, [("--set", f"expected path=value, got {item!r}")])
        try:
            value = yamlread.loads(raw) if raw.strip() else None
        except yamlread.ReadError as exc:
            raise ScenarioError(source, [(f"--set {path}", f"not valid YAML: {exc}")]) from None
        except yaml.YAMLError:
            value = raw
        except (RecursionError, ValueError, OverflowError) as exc:
            raise ScenarioError(source, [(f"--set {path}", f"not valid YAML: {exc}")]) from None
        set_path(data, path, value, source)
        # How long to send is given once: by a count or by a duration. Setting one
        # replaces the other the file gave (unless that one is set as well).
        other = {"messages": "duration", "duration": "messages"}.get(path)
        if other is not None and value is not None and other not in given:
            data.pop(other, None)
    return data


def set_path(data: dict[str, Any], path: str, value: Any, source: str = "<scenario>") -> None:
    """Set ``data[a][b][c] = value`` for ``path`` ``"a.b.c"``, making mappings on the way.
    A number indexes a list that is there already (``topology.links.1.ack.loss``,
    ``faults.0.at``)."""
    keys = path.split(".")
    if not all(keys):
        raise ScenarioError(source, [(path, "expected a dotted path such as network.ack.loss")])
    node: Any = data
    for depth, key in enumerate(keys):
        where = ".".join(keys[:depth])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ScenarioError(source, [(path, f"{where} is a list of {len(node)}: expected an "
                                              f"index from 0 to {len(node) - 1}, got {key!r}")])
            index: Any = int(key)
        elif isinstance(node, dict):
            index = key
        else:
            raise ScenarioError(source, [(path, f"{where} is not a mapping")])
        if depth == len(keys) - 1:
            node[index] = value
            return
        child = node[index] if isinstance(node, list) else node.get(key)
        if child is None:
            child = {}
            node[index] = child
        node = child


# -- error messages ----------------------------------------------------------

def _problems(exc: ValidationError) -> tuple[list[tuple[str, str]], int]:
    """The problems worth listing, and how many more were found (formatting
    every one of 100,000 unknown keys would cost more than reading them)."""
    errors = exc.errors(include_url=False)
    listed = errors[: 2 * MAX_PROBLEMS]
    problems = _each_problem(listed)
    # A misspelt required key shows up twice: as unknown ("meen") and as
    # missing ("mean"). Keep only the message with the suggestion.
    suggested = {path.rpartition(".")[0] + "." + message.split("'")[1]
                 for path, message in problems if "did you mean" in message}
    kept = [(path, message) for path, message in problems
            if not (message == "required field is missing" and path in suggested)]
    return kept, len(errors) - len(listed)


def _each_problem(errors: Sequence[Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in errors:
        loc = [part for part in error["loc"] if isinstance(part, (str, int))]
        loc = _drop_union_tags(loc)
        path = ".".join(str(part) for part in loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown key"
            suggestion = _suggest(loc)
            if suggestion:
                message += f"; did you mean {suggestion!r}?"
            else:
                allowed = _allowed_keys(loc[:-1])
                if allowed:
                    message += f" (expected one of: {', '.join(allowed)})"
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "value_error":
            message = str(error["ctx"].get("error", error["msg"])) if "ctx" in error else error["msg"]
        else:
            message = error["msg"]
            if "input" in error and kind not in ("model_type", "dict_type"):
                message += f", got {_short(error['input'])}"
        problems.append((path, message))
    return problems


def _drop_union_tags(loc: list[str | int]) -> list[str | int]:
    """pydantic puts the discriminator value in the location (``latency.exponential.mean``)."""
    tagged = _tagged_fields()
    out: list[str | int] = []
    for part in loc:
        if part in _TAGS and out and (
                out[-1] in tagged
                or (isinstance(out[-1], int) and len(out) > 1 and out[-2] == "components")):
            continue  # (a mixture's component is tagged too: components.0.uniform.low)
        out.append(part)
    return out


_TAGS = {"constant", "uniform", "exponential", "lognormal", "pareto", "mixture", "empirical",
         "bernoulli", "gilbert-elliott"}


@functools.cache
def _tagged_fields() -> frozenset[str]:
    """The names of the fields that hold a tagged union (``latency``, ``service``,
    ``loss``, ...), found in the schema, so that a new one is not forgotten."""
    def tagged(annotation: Any, metadata: Sequence[Any]) -> bool:
        if any(isinstance(m, Discriminator) or getattr(m, "discriminator", None) is not None
               for m in metadata):
            return True
        # An optional field (``Distribution | None``) holds the tagged union one level down.
        return any(tagged(arg, getattr(arg, "__metadata__", ())) for arg in get_args(annotation))

    names = set()
    for model in schema_models():
        for name, field in model.model_fields.items():
            if field.discriminator is not None or tagged(field.annotation, field.metadata):
                names.add(field.alias or name)
    return frozenset(names)


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        # An optional section (``explore: Explore | None``) suggests the section's keys.
        options = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
        if len(options) == 1:
            annotation = options[0]
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    model = _model_at(loc)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _suggest(loc: Sequence[str | int]) -> str | None:
    if not loc or not isinstance(loc[-1], str):
        return None
    candidates = _allowed_keys(loc[:-1]) or sorted(_all_field_names())
    matches = difflib.get_close_matches(loc[-1], candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _all_field_names() -> set[str]:
    names: set[str] = set()
    for model in schema_models():
        names.update(field.alias or name for name, field in model.model_fields.items())
    return names


def schema_models(root: type[BaseModel] | None = None) -> list[type[BaseModel]]:
    """Every model a scenario can hold, found by following the annotations of
    ``root`` (default: :class:`Scenario`) through optional sections, lists,
    mappings and unions -- so a model added to the schema is found without
    being listed anywhere. In the order first reached."""
    found: list[type[BaseModel]] = []
    todo: list[Any] = [root or Scenario]
    while todo:
        annotation = todo.pop(0)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in found:
                continue
            found.append(annotation)
            todo.extend(field.annotation for field in annotation.model_fields.values())
            continue
        todo.extend(arg for arg in getattr(annotation, "__args__", ()) if not isinstance(arg, str))
        origin = getattr(annotation, "__origin__", None)  # Annotated[X, ...] keeps X here
        if origin is not None and not getattr(annotation, "__args__", None):
            todo.append(origin)
    return found


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editors."""
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "alosim scenario"
    return schema
