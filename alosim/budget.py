"""What a run may cost: checked before it starts where possible, enforced while it runs where not.

Some scenarios cost without bound whatever the machine: retries that can
never succeed, a partition of a thousand years, a retry every 1e-300 s, a
Bloom filter of a terabyte. Three kinds of limits keep the cost of any
valid scenario bounded and known:

* **Static checks** (:func:`cost_problems`, run by every validation): time
  scales between :data:`MIN_TIME_S` and :data:`MAX_TIME_S` (the pipeline's
  leases, backoffs, commit intervals and timeouts too); no unlimited
  retries against a network, a partition or a fault that lets nothing
  through (the run would never settle: the message names ``max_attempts``,
  ``delivery_timeout`` and ``max_time``); no livelock the schema can foresee
  (every delivery nacked or poison without ``broker.max_deliveries``, a
  lease a million times shorter than a delivery, a lease below every
  processing under at-most-once, a poll interval below one record's
  processing), each refused naming the field that causes it; no timer that
  fires more than :data:`MAX_RETRIES_PER_OUTAGE` times per message (random
  faults, auto-commit ticks, during a rebalance); and the memory the
  scenario will allocate -- dedup stores, Bloom filters, messages and the
  copies of each in flight before its first ack, the trace (as many rows
  per message as copies) -- estimated and compared with ``budget.memory``.
* **A stall budget** (:func:`run_until`): a run that does
  ``budget.stall_events`` units of work more than its progress pays for
  stops, its messages reported unsettled and ``stopped_by`` set to
  ``stall``. Work is the simulation events plus what one event may do many
  times over (:data:`WORK`: retransmissions, nacks, lease expiries,
  redeliveries, rebalances, commits, faults); each message created,
  settled, first processed or lost pays for :data:`WORK_PER_PROGRESS`. So
  both a run that makes no progress and one whose progress trickles (a
  lease of a microsecond: thousands of redeliveries per message) end, and
  the note says what grew meanwhile and what to set. A run whose unsettled
  messages, held copies (scheduled events, timers, queued copies, leases)
  and trace would take more than ``budget.memory`` stops with
  ``stopped_by: memory``.
* **A series budget** (:class:`Sampling`): the sampled time series never
  holds more than ``budget.series_rows`` rows; when it fills, every other
  row is dropped and the interval doubles (deterministically), so a run of
  any simulated length costs a bounded number of samples.

The static estimates are deliberately simple (orders of magnitude, stated
per component in the message): they exist to refuse the absurd, not to
predict memory to the byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from heapq import heappop
from typing import TYPE_CHECKING, Any, Protocol

import simpy
from simpy.core import EmptySchedule, EventPriority, StopSimulation

from alosim.analytic import bloom_parameters
from alosim.units import format_duration, format_size

if TYPE_CHECKING:
    from alosim.scenario import LinkSpec, Scenario

#: The shortest interval that drives events (a retry timeout, a sampling
#: interval, a time between failures): below it a second of simulated time
#: costs more than a million events.
MIN_TIME_S = 1e-6
#: The longest duration anywhere in a scenario (about 31.7 years).
MAX_TIME_S = 1e9
#: With unlimited retries: most retransmissions of one message that a
#: partition, a scheduled crash or a round trip longer than the timeout may
#: force, and most packets a loss burst may last on average.
MAX_RETRIES_PER_OUTAGE = 1e6
MAX_BURST_PACKETS = 1e7
#: With unlimited retries: the least fraction of time a crashing actor is up.
MIN_AVAILABILITY = 1e-4
#: Most messages a scenario may send (duration x rate x senders).
MAX_MESSAGES = 10**10

# Memory per item, measured with tracemalloc on CPython 3.12 (a set id 46 B,
# a ttl id 163 B, an lru id 126 B, a message in flight 910 B, a traced message
# without losses 625 B) and rounded up: sets and dicts grow by doubling, and a
# message that is retransmitted leaves more trace rows.
BYTES_PER_MESSAGE = 1000  # a message in flight: its record, its timer, its packets
BYTES_PER_SET_ID = 100  # an id in a set (or sequence) store
BYTES_PER_TTL_ID = 200  # an id with its expiry (dict + queue), also LRU (ordered dict)
BYTES_PER_TRACED_MESSAGE = 2000  # ~10 trace rows of ~200 bytes
BYTES_PER_RECOVERY_SAMPLE = 200  # one sample the recovery criterion keeps (a tuple in a deque)


_NO_END = ("set sender.retry.max_attempts, sender.retry.delivery_timeout or max_time "
           "so that the run can end")


def cost_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every reason ``scenario`` would cost without bound, as (dotted path, message)."""
    problems = _time_scales(scenario)
    if not problems:
        problems += _never_settles(scenario)
        problems += _livelocks(scenario)
        problems += _periodic(scenario)
    if not problems:  # (a cost without bound shows in the memory too: say it once)
        problems += _memory(scenario)
    return problems


# -- time scales -----------------------------------------------------------------------


def _durations(s: Scenario) -> list[tuple[str, float | None]]:
    retry = s.sender.retry
    out: list[tuple[str, float | None]] = [
        ("duration", s.duration), ("max_time", s.max_time),
        ("sender.retry.timeout", retry.timeout), ("sender.retry.max_timeout", retry.max_timeout),
        ("sender.retry.min_timeout", retry.min_timeout),
        ("sender.retry.delivery_timeout", retry.delivery_timeout),
        ("receiver.dedup.window", s.receiver.dedup.window),
        ("receiver.dedup.write_delay", s.receiver.dedup.write_delay),
        ("observe.sample_every", s.observe.sample_every),
        ("network.data.latency", s.network.data.latency.mean),
        ("network.ack.latency", s.network.ack.latency.mean),
        ("receiver.processing", s.receiver.processing.mean),
    ]
    for i, p in enumerate(s.network.partitions):
        out += [(f"network.partitions.{i}.at", p.at), (f"network.partitions.{i}.for", p.for_)]
    if s.broker is not None and s.consumer is not None:
        broker, consumer = s.broker, s.consumer
        out += [("broker.service", broker.service.mean), ("consumer.processing", consumer.processing.mean)]
        if broker.kind == "queue":
            consume = s.network.consume
            if consume is not None:
                out += [("network.consume.data.latency", consume.data.latency.mean),
                        ("network.consume.ack.latency", consume.ack.latency.mean)]
            out += [("broker.visibility_timeout", broker.visibility_timeout),
                    ("broker.redelivery_backoff", broker.redelivery_backoff)]
        else:
            out += [("broker.retention", broker.retention),
                    ("consumer.commit.interval", consumer.commit.interval),
                    ("consumer.commit.latency", consumer.commit.latency),
                    ("consumer.session_timeout", consumer.session_timeout),
                    ("consumer.max_poll_interval", consumer.max_poll_interval),
                    ("consumer.rebalance_delay", consumer.rebalance_delay)]
    for i, f in enumerate(s.faults):
        out += [(f"faults.{i}.at", f.at), (f"faults.{i}.for", f.for_),
                (f"faults.{i}.mtbf", f.mtbf), (f"faults.{i}.mttr", f.mttr)]
    return out


def _time_scales(s: Scenario) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for path, value in _durations(s):
        if value is not None and value > MAX_TIME_S:
            what = "a mean of " if path.endswith(("latency", "processing", "service")) else ""
            problems.append((path, f"{what}{value:.3g} s is longer than alosim simulates "
                             f"({MAX_TIME_S:.0e} s, about 31.7 years)"))
    fast = [("sender.retry.timeout", s.sender.retry.timeout),
            ("observe.sample_every", s.observe.sample_every)]
    if s.broker is not None and s.consumer is not None:
        if s.broker.kind == "queue":
            fast.append(("broker.visibility_timeout", s.broker.visibility_timeout))
        elif s.consumer.commit.policy == "interval":
            fast.append(("consumer.commit.interval", s.consumer.commit.interval))
    for i, f in enumerate(s.faults):
        fast += [(f"faults.{i}.mtbf", f.mtbf), (f"faults.{i}.mttr", f.mttr)]
    for path, value in fast:
        if value is not None and value < MIN_TIME_S:
            problems.append((path, f"{value:.3g} s is shorter than alosim simulates (at least "
                             f"{format_duration(MIN_TIME_S)}): each second would cost more than "
                             "a million events"))
    rate = s.sender.rate
    if rate is not None and 1 / rate > MAX_TIME_S:
        problems.append(("sender.rate", f"{rate:.3g}/s sends less than one message in "
                         f"{MAX_TIME_S:.0e} s (about 31.7 years)"))
    total = total_messages(s)
    if total > MAX_MESSAGES:
        problems.append(("duration", f"sends about {total:.3g} messages (duration x sender.rate x "
                         f"sender.count); at most {MAX_MESSAGES:.0e}"))
    return problems


def total_messages(s: Scenario) -> float:
    """Messages the scenario creates in all (expected, for a duration)."""
    if s.messages is not None:
        return float(s.messages)
    return (s.duration or 0.0) * (s.sender.rate or 0.0) * s.sender.count


# -- runs that could never settle ------------------------------------------------------------


def unlimited_retries(s: Scenario) -> bool:
    """Retries go on until an ack, and nothing else ends the run."""
    retry = s.sender.retry
    return retry.max_attempts is None and retry.delivery_timeout is None and s.max_time is None


def _long_run_loss(link: LinkSpec) -> float:
    loss = link.loss
    if isinstance(loss, float):
        return loss
    if loss.p == 0:
        return loss.loss_good
    return (loss.r * loss.loss_good + loss.p * loss.loss_bad) / (loss.p + loss.r)


def _steady_wait(s: Scenario) -> float | None:
    """The wait between retransmissions once backoff has reached its cap (None: it keeps growing)."""
    retry = s.sender.retry
    if retry.policy == "fixed":
        return retry.timeout / 2 if retry.jitter == "full" else retry.timeout
    if retry.policy == "adaptive":
        return retry.max_timeout if retry.max_timeout is not None else max(60.0, retry.timeout)
    return retry.max_timeout


def _never_settles(s: Scenario) -> list[tuple[str, str]]:
    if not unlimited_retries(s):
        return []
    problems: list[tuple[str, str]] = []
    for direction in ("data", "ack"):
        link = getattr(s.network, direction)
        loss = link.loss
        path = f"network.{direction}.loss"
        if _long_run_loss(link) >= 1:
            problems.append((path, f"every {direction} packet is lost and retries are unlimited: "
                             f"no message would ever settle; {_NO_END}"))
        elif not isinstance(loss, float) and loss.loss_bad >= 1 and 1 / loss.r > MAX_BURST_PACKETS:
            problems.append((f"{path}.r", f"r = {loss.r:.3g}: a loss burst lasts {1 / loss.r:.3g} "
                             f"packets on average (at most {MAX_BURST_PACKETS:.0e} with unlimited "
                             f"retries); raise r or {_NO_END}"))
    wait = _steady_wait(s)
    outages = [(f"network.partitions.{i}.for", p.for_) for i, p in enumerate(s.network.partitions)]
    outages += [(f"faults.{i}.for", f.for_) for i, f in enumerate(s.faults)
                if f.for_ is not None and f.target.startswith("receiver")]
    for path, length in outages:
        if wait is not None and length / wait > MAX_RETRIES_PER_OUTAGE:
            problems.append((path, f"an outage of {length:.3g} s with a retry every {wait:.3g} s "
                             f"makes each message in flight retransmit about {length / wait:.3g} times "
                             f"(at most {MAX_RETRIES_PER_OUTAGE:.0e} with unlimited retries); "
                             f"shorten it, set sender.retry.max_timeout, or {_NO_END}"))
    rtt = s.network.data.latency.mean + s.network.ack.latency.mean + s.receiver.processing.mean
    if wait is not None and rtt / wait > MAX_RETRIES_PER_OUTAGE:
        problems.append(("sender.retry.timeout", f"a round trip takes {rtt:.3g} s on average and a "
                         f"retry comes every {wait:.3g} s: each message would be retransmitted about "
                         f"{rtt / wait:.3g} times before its first ack (at most "
                         f"{MAX_RETRIES_PER_OUTAGE:.0e} with unlimited retries); raise the timeout, use "
                         f"policy exponential, or {_NO_END}"))
    for i, f in enumerate(s.faults):
        if f.mtbf is not None and f.mttr is not None:
            up = f.mtbf / (f.mtbf + f.mttr)
            if up < MIN_AVAILABILITY:
                problems.append((f"faults.{i}.mtbf", f"{f.target} would be up {up:.3g} of the time "
                                 f"(mtbf {f.mtbf:.3g} s, mttr {f.mttr:.3g} s; at least "
                                 f"{MIN_AVAILABILITY:g} with unlimited retries); {_NO_END}"))
    return problems


# -- livelocks the schema foresees ------------------------------------------------------------

_FOREVER = ("redelivered forever and the run could never end; set broker.max_deliveries (then it "
            "is dead-lettered) or max_time")


def _livelocks(s: Scenario) -> list[tuple[str, str]]:
    """Pipelines that would certainly go round in circles: each names the field that causes it."""
    broker, consumer = s.broker, s.consumer
    if broker is None or consumer is None:
        return []
    problems: list[tuple[str, str]] = []
    if broker.kind == "queue":
        unlimited = broker.max_deliveries is None and s.max_time is None
        after = consumer.ack == "after-processing"
        if unlimited and after and consumer.nack_probability >= 1:
            problems.append(("consumer.nack_probability", "every delivery fails and is nacked, and "
                             f"nothing limits the deliveries: each message would be {_FOREVER}"))
        if unlimited and after and consumer.poison_probability > 0:
            what = ("every message is poison" if consumer.poison_probability >= 1
                    else "a poison message fails every delivery")
            problems.append(("consumer.poison_probability", f"{what}, and nothing limits the "
                             f"deliveries: it would be {_FOREVER}"))
        cycle = consumer.processing.mean
        if s.network.consume is not None:
            cycle += s.network.consume.data.latency.mean + s.network.consume.ack.latency.mean
        if unlimited and cycle / broker.visibility_timeout > MAX_RETRIES_PER_OUTAGE:
            problems.append(("broker.visibility_timeout", f"a delivery takes {format_duration(cycle)} "
                             "on average from lease to ack (latencies and processing) and a lease runs "
                             f"out every {format_duration(broker.visibility_timeout)}: each message would be "
                             f"redelivered about {cycle / broker.visibility_timeout:.3g} times before its "
                             f"first ack (at most {MAX_RETRIES_PER_OUTAGE:.0e} without "
                             "broker.max_deliveries); lengthen the lease, or set broker.max_deliveries or "
                             "max_time"))
        processing = consumer.processing.lower_bound
        if (s.semantics == "at-most-once" and broker.max_deliveries is None
                and processing > broker.visibility_timeout):
            problems.append(("broker.visibility_timeout", f"a lease of {format_duration(broker.visibility_timeout)} "
                             f"is shorter than every processing (at least {format_duration(processing)}): under "
                             "at-most-once each delivery would be redelivered before its ack, and every "
                             "copy processed again, without a limit; lengthen the lease or set "
                             "broker.max_deliveries: 1"))
        return problems
    processing = consumer.processing.lower_bound
    if processing > consumer.max_poll_interval and s.max_time is None:
        problems.append(("consumer.max_poll_interval", f"{format_duration(consumer.max_poll_interval)} is "
                         f"shorter than processing one record (at least {format_duration(processing)}): every "
                         "member would be kicked out on every batch and its successor replay the batch "
                         "from the last commit, without end; lengthen it (or shorten the processing), or "
                         "set max_time"))
    return problems


# -- periodic work -------------------------------------------------------------------------


def span_s(s: Scenario) -> float:
    """How long the run lasts in simulated time, about: its duration, or the time to
    send its messages (a closed loop: a window per round trip), or to process them."""
    if s.duration is not None:
        span = s.duration
    else:
        span = total_messages(s) / _throughput(s)
    # At least one round trip: the last message is acked one after it is sent.
    span = max(span, s.network.data.latency.mean + s.network.ack.latency.mean
               + (s.receiver.processing.mean if s.broker is None else 0.0))
    if s.consumer is not None:
        workers = s.consumer.count * (s.consumer.concurrency if s.broker and s.broker.kind == "queue" else 1)
        span = max(span, total_messages(s) * s.consumer.processing.mean / workers)
    if s.max_time is not None:
        span = min(span, s.max_time)
    return span


def _periodic(s: Scenario) -> list[tuple[str, str]]:
    """Timers that fire whether or not anything happens: random faults and auto-commit
    ticks. More than :data:`MAX_RETRIES_PER_OUTAGE` per message over the run is refused."""
    span = span_s(s)
    messages = max(total_messages(s), 1.0)
    problems: list[tuple[str, str]] = []
    rates: list[tuple[str, float, str]] = []
    for i, f in enumerate(s.faults):
        if f.mtbf is not None and f.mttr is not None:
            rates.append((f"faults.{i}.mtbf", 2 / (f.mtbf + f.mttr),
                          f"{f.kind} and recovery events (mtbf {format_duration(f.mtbf)}, mttr "
                          f"{format_duration(f.mttr)})"))
    consumer = s.consumer
    if (s.broker is not None and s.broker.kind == "log" and consumer is not None
            and consumer.commit.policy == "interval"):
        rates.append(("consumer.commit.interval", consumer.count / consumer.commit.interval,
                      f"auto-commit ticks (every {format_duration(consumer.commit.interval)}, "
                      f"{consumer.count} member{'s' if consumer.count != 1 else ''})"))
        ticks = consumer.rebalance_delay / consumer.commit.interval
        if ticks > MAX_RETRIES_PER_OUTAGE:
            problems.append(("consumer.rebalance_delay", f"a rebalance stops the group for "
                             f"{format_duration(consumer.rebalance_delay)}, while each member's "
                             f"auto-commit ticks {ticks:.3g} times (at most "
                             f"{MAX_RETRIES_PER_OUTAGE:.0e}); shorten it"))
    for path, per_s, what in rates:
        events = per_s * span
        if events / messages > MAX_RETRIES_PER_OUTAGE:
            problems.append((path, f"about {events:.3g} {what} in the {format_duration(span)} the run "
                             f"lasts: {events / messages:.3g} per message (at most "
                             f"{MAX_RETRIES_PER_OUTAGE:.0e}); make them rarer"))
    return problems


# -- copies in flight --------------------------------------------------------------------------


def transmissions_within(s: Scenario, span: float) -> float:
    """How many times the sender transmits a message in ``span`` seconds without an ack
    (by its retry policy, before jitter; at most ``max_attempts``)."""
    retry = s.sender.retry
    cap = float(retry.max_attempts) if retry.max_attempts is not None else math.inf
    if retry.delivery_timeout is not None:
        span = min(span, retry.delivery_timeout)
    wait = retry.timeout / 2 if retry.jitter == "full" else retry.timeout
    if retry.policy == "adaptive":
        wait = max(wait, retry.min_timeout, span)  # the estimate follows the round trip
    sent, elapsed = 1.0, 0.0
    if retry.policy == "exponential" and retry.multiplier > 1:
        top = retry.max_timeout if retry.max_timeout is not None else math.inf
        while elapsed + wait < span and sent < cap and wait < top:
            elapsed += wait
            sent += 1
            wait = min(wait * retry.multiplier, top)
    if sent < cap and wait > 0:
        sent += max(0.0, (span - elapsed) // wait)
    return min(sent, cap)


def copies_per_message(s: Scenario) -> float:
    """Copies of one message in flight before its first ack can arrive: the
    transmissions within a round trip of the first hop, or in a queue pipeline
    the deliveries within one lease cycle (processing longer than the lease)."""
    rtt = s.network.data.latency.mean + s.network.ack.latency.mean
    if s.broker is None:
        rtt += s.receiver.processing.mean
    copies = transmissions_within(s, rtt)
    broker, consumer = s.broker, s.consumer
    if broker is not None and consumer is not None and broker.kind == "queue":
        consume = s.network.consume
        lease_rtt = consumer.processing.mean
        if consume is not None:
            lease_rtt += consume.data.latency.mean + consume.ack.latency.mean
        deliveries = lease_rtt // broker.visibility_timeout + 1
        if broker.max_deliveries is not None:
            deliveries = min(deliveries, broker.max_deliveries)
        copies = max(copies, deliveries)
    return copies


# -- memory ----------------------------------------------------------------------------------


def memory_estimate(s: Scenario) -> list[tuple[str, str, float]]:
    """What the scenario will allocate, by component: (dotted path, what, bytes)."""
    total = total_messages(s)
    receivers = s.receiver.count
    dedup = s.receiver.dedup
    parts: list[tuple[str, str, float]] = []
    if dedup.kind == "bloom" and dedup.capacity is not None and dedup.fp_rate is not None:
        bits = bloom_parameters(dedup.capacity, dedup.fp_rate).m_bits
        parts.append(("receiver.dedup", f"{receivers} Bloom filter{'s' if receivers != 1 else ''} of "
                      f"{format_size(bits / 8)} ({dedup.capacity:,} ids at fp_rate {dedup.fp_rate:g})",
                      receivers * bits / 8))
    elif dedup.kind in ("set", "sequence"):
        # A set keeps every id; a sequence store keeps the out-of-order ones,
        # at worst as many (counted the same, to stay on the safe side).
        parts.append(("receiver.dedup", f"a {dedup.kind} store of up to {total:,.0f} ids",
                      total * BYTES_PER_SET_ID))
    elif dedup.kind == "lru" and dedup.capacity is not None:
        ids = min(dedup.capacity * receivers, total)
        parts.append(("receiver.dedup", f"lru stores of up to {ids:,.0f} ids", ids * BYTES_PER_TTL_ID))
    elif dedup.kind == "ttl" and dedup.window is not None:
        ids = min(total, _throughput(s) * dedup.window)
        parts.append(("receiver.dedup", f"ttl stores of about {ids:,.0f} ids", ids * BYTES_PER_TTL_ID))
    if s.sender.window is not None:
        in_flight = min(s.sender.window * s.sender.count, total)
        parts.append(("sender.window", f"{in_flight:,.0f} messages in flight", in_flight * BYTES_PER_MESSAGE))
    else:  # nothing bounds what is in flight but the messages themselves
        in_flight = total
        parts.append(("sender.window", f"no window: up to {total:,.0f} messages in flight",
                      total * BYTES_PER_MESSAGE))
    copies = copies_per_message(s)
    if copies > 1:
        # Each retransmission (or redelivery) before the first ack is another packet,
        # timer and answer held at once.
        path = "sender.retry.timeout"
        if s.broker is not None and s.broker.kind == "queue" and copies > transmissions_within(
                s, s.network.data.latency.mean + s.network.ack.latency.mean):
            path = "broker.visibility_timeout"
            if s.broker.prefetch is not None and s.consumer is not None:
                in_flight = min(in_flight, s.broker.prefetch * s.consumer.count)
        held = in_flight * copies
        parts.append((path, f"{held:,.0f} copies in flight ({copies:,.0f} per message before its "
                      "first ack)", held * BYTES_PER_COPY))
    traced = min(s.observe.trace_messages, total)
    if traced:
        rows = traced * max(copies, 1.0)
        parts.append(("observe.trace_messages", f"the trace of {traced:,.0f} messages",
                      rows * BYTES_PER_TRACED_MESSAGE))
    samples = recovery_samples(s)
    if samples:
        parts.append(("observe.recovery.window", f"the recovery criterion's last {samples:,.0f} samples "
                      "(observe.recovery.window / observe.sample_every)", samples * BYTES_PER_RECOVERY_SAMPLE))
    return parts


def recovery_samples(s: Scenario) -> float:
    """Most samples the recovery criterion keeps in a run of ``s`` (one window's,
    :class:`alosim.overload.RecoveryDetector`); 0 when the run has no verdict -- no
    open-loop arrivals or no scheduled pause or slow-down (its criterion_trigger)."""
    if s.sender.rate is None or not any(f.kind in ("pause", "slow") and f.at is not None
                                        and f.for_ is not None for f in s.faults):
        return 0.0
    return s.observe.recovery.window / s.observe.sample_every + 2


def _throughput(s: Scenario) -> float:
    """Messages per second: the arrival rate, or a closed loop's window per round trip."""
    if s.sender.rate is not None:
        return s.sender.rate * s.sender.count
    rtt = s.network.data.latency.mean + s.network.ack.latency.mean + s.receiver.processing.mean
    window = s.sender.window or 1
    return window * s.sender.count / max(rtt, MIN_TIME_S)


def _memory(s: Scenario) -> list[tuple[str, str]]:
    parts = memory_estimate(s)
    total = sum(size for _, _, size in parts)
    if total <= s.budget.memory:
        return []
    path, _, _ = max(parts, key=lambda part: part[2])
    detail = "; ".join(f"{what}: {format_size(size)}" for _, what, size in parts)
    return [(path, f"the scenario would allocate about {format_size(total)} ({detail}), more than "
             f"budget.memory = {format_size(s.budget.memory)}; shrink it or raise budget.memory")]


# -- while running ------------------------------------------------------------------------------

#: Events between two looks at the stall budget (the budget is checked in steps of this).
CHECK_EVERY = 4096
#: What one unit of progress (a message created, settled, processed for the first time or
#: lost) pays for: a run may do this much work per unit on average, and
#: ``budget.stall_events`` more in any stretch, before it counts as stalled.
WORK_PER_PROGRESS = 1000
#: Memory per item a run holds beside its messages: a scheduled event (a packet in flight,
#: a timer), a retry timer's entry, a copy waiting in a queue or an inbox, a lease
#: (measured with tracemalloc: about 280 B per item when retransmissions pile up).
BYTES_PER_COPY = 300

#: Items each unsettled message holds by itself (its retry timer's entry, the event that
#: wakes it, its packet or its answer), counted in BYTES_PER_MESSAGE: only the items
#: beyond these count at BYTES_PER_COPY.
HELD_PER_MESSAGE = 3
#: Most trace rows per traced message (a trace is for reading: about ten rows make a
#: message's story; a run past this many redelivers or retries without end).
TRACE_ROWS_PER_MESSAGE = 10_000
#: A row of the trace in memory (a TraceEvent and its strings).
BYTES_PER_TRACE_ROW = 200
_BYTES = {"messages": BYTES_PER_MESSAGE, "copies": BYTES_PER_COPY, "trace": BYTES_PER_TRACE_ROW}

#: What one event may do many times over, counted against the stall budget beside the
#: events themselves, with what each is in a sentence (``stall_cause`` names one).
WORK: dict[str, str] = {
    "retransmissions": "retransmissions by the senders",
    "suppressed": "retransmissions suppressed by the retry budget, each waiting for a token",
    "rejections": "copies refused by a full queue, each answered by a negative ack and retried at once",
    "nacks": "deliveries the consumers failed and nacked, each redelivered",
    "lease_expiries": "leases that ran out (each a redelivery)",
    "redeliveries": "redeliveries by the broker",
    "rebalances": "rebalances of the consumer group",
    "commits": "commits and commit ticks of the consumer group",
    "faults": "crashes, pauses and slow-downs",
}


class Meter(Protocol):
    """What :func:`run_until` reads from a running world, every :data:`CHECK_EVERY` events."""

    def progress(self) -> int:
        """A number that grows by one per message created, settled, first processed or lost."""

    def unsettled(self) -> int:
        """Messages created and not yet settled (waiting to be sent, or in flight)."""

    def held(self) -> int:
        """Items held beside the messages: scheduled events, timers, queued copies, leases."""

    def work(self) -> dict[str, int]:
        """The counts of :data:`WORK` so far (any subset of its keys)."""

    def trace_rows(self) -> int:
        """Rows in the trace so far."""


@dataclass
class Stop:
    """Why :func:`run_until` stopped a run: ``reason`` is ``""`` (it ended by itself),
    ``"stall"`` or ``"memory"``; ``cause`` names the kind of :data:`WORK` that grew most
    while the run stalled (``"events"`` if none did), and ``grew`` by how much."""

    reason: str = ""
    cause: str = ""
    grew: int = 0


def run_until(env: simpy.Environment, stop: simpy.Event, meter: Meter, stall_events: int,
              memory: int, trace_rows: int = 0) -> Stop:
    """Run ``env`` until ``stop`` is processed, as ``env.run(until=stop)`` does.

    Every :data:`CHECK_EVERY` events it weighs the work done -- the events,
    plus every retransmission, nack, lease expiry, redelivery, rebalance,
    commit and fault, since one event may do many of those -- against the
    progress made. The run holds a credit of ``stall_events`` units of work;
    each unit of work takes one, each unit of progress adds
    :data:`WORK_PER_PROGRESS` (up to the full credit again). When the credit runs out the
    run stops with reason ``"stall"``: it has done ``stall_events`` more
    work than its progress pays for, whether it made no progress at all
    (retries that cannot succeed) or a trickle (a lease of a microsecond:
    millions of redeliveries per message). A run whose unsettled messages,
    held items (events, timers, queued copies) and trace rows would take more
    than ``memory`` bytes stops with reason ``"memory"`` (``cause`` the
    largest of ``messages``, ``copies`` and ``trace``, ``grew`` its count);
    so does one whose trace holds more than ``trace_rows`` rows (if given). Until then the events processed are
    exactly those ``env.run`` would process, so the results do not depend on
    these checks.
    """
    if stop.callbacks is None:
        return Stop()
    stop.callbacks.append(StopSimulation.callback)
    queue = env._queue
    batch = range(CHECK_EVERY)
    last_progress = meter.progress()
    last_work = sum(meter.work().values())
    credit = stall_events
    full = meter.work()  # the counts when the credit was last full
    try:
        while True:
            for _ in batch:
                # Environment.step, inlined (a call per event saved on the hottest loop):
                # the next event, its callbacks, and a failure nobody defused re-raised.
                try:
                    env._now, _, _, event = heappop(queue)
                except IndexError:
                    raise EmptySchedule from None
                callbacks, event.callbacks = event.callbacks, None
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:
                    # As Environment.step: the rest of the callbacks wait for a resumed run
                    # (scheduling the event again counts as a scheduled event).
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    env.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    failure = type(event._value)(*event._value.args)
                    failure.__cause__ = event._value
                    raise failure
            unsettled = meter.unsettled()
            # (A message's own timer, packet and answer are in BYTES_PER_MESSAGE.)
            copies = max(0, meter.held() - HELD_PER_MESSAGE * unsettled)
            parts = {"messages": unsettled, "copies": copies, "trace": meter.trace_rows()}
            if trace_rows and parts["trace"] > trace_rows:
                stop.callbacks.remove(StopSimulation.callback)
                return Stop("memory", "trace", parts["trace"])
            if sum(count * _BYTES[name] for name, count in parts.items()) > memory:
                stop.callbacks.remove(StopSimulation.callback)
                cause = max(parts, key=lambda name: parts[name] * _BYTES[name])
                return Stop("memory", cause, parts[cause])
            progress = meter.progress()
            counts = meter.work()
            work = sum(counts.values())
            credit -= CHECK_EVERY + work - last_work
            credit = min(stall_events, credit + WORK_PER_PROGRESS * (progress - last_progress))
            last_progress, last_work = progress, work
            if credit == stall_events:
                full = counts
            elif credit <= 0:
                stop.callbacks.remove(StopSimulation.callback)
                grew = {name: counts.get(name, 0) - full.get(name, 0) for name in WORK}
                cause = max(grew, key=lambda name: grew[name])
                if grew[cause] <= 0:
                    return Stop("stall", "events", 0)
                return Stop("stall", cause, grew[cause])
    except StopSimulation:
        return Stop()
    except EmptySchedule:
        return Stop()


class Sampling:
    """The sampling interval of one run, doubled whenever the series fills.

    ``stride`` counts instants of the configured interval per row kept: a run
    that samples at every configured instant (for the recovery criterion,
    :class:`alosim.overload.RecoveryDetector`) keeps a row at every
    ``stride``-th one, on the same grid as a run that samples only for rows.
    """

    __slots__ = ("every", "max_rows", "stride")

    def __init__(self, every: float, max_rows: int) -> None:
        self.every = every
        # Even, so that the row that overflows it has an even index and is kept:
        # the rows kept then lie on a regular grid of twice the interval.
        self.max_rows = max_rows - max_rows % 2
        self.stride = 1

    def fit(self, series: dict[str, list[Any]]) -> float:
        """Coarsen ``series`` if it holds more than ``max_rows`` rows; return the next interval.

        Rows 0, 2, 4, ... are kept (and always the last one), so the rows
        kept still lie on a regular grid of twice the interval.
        """
        times = series["time_s"]
        if len(times) > self.max_rows:
            last = len(times) - 1
            for name, values in series.items():
                kept = values[::2]
                if last % 2:
                    kept.append(values[last])
                values[:] = kept
            self.every *= 2
            self.stride *= 2
        return self.every


def stop_note(summary: dict[str, Any], scenario: Scenario) -> str | None:
    """One line saying why a run stopped before every message settled, and what to
    set, derived from what grew while it stalled (``stall_cause``); or None."""
    budget = scenario.budget
    stopped_by = summary.get("stopped_by")
    unsettled = summary.get("unsettled", 0)
    if stopped_by == "memory":
        if summary.get("stall_cause") == "trace":
            rows = summary.get("stall_cause_count", 0)
            traced = scenario.observe.trace_messages
            if rows > traced * TRACE_ROWS_PER_MESSAGE:
                return (f"stopped: the trace held {rows:,} rows, more than "
                        f"{TRACE_ROWS_PER_MESSAGE:,} for each of the {traced:,} traced messages: they "
                        "are retried or redelivered over and over (the first rows tell why)")
            return (f"stopped: the trace held {rows:,} rows, about "
                    f"{format_size(rows * BYTES_PER_TRACE_ROW)}, more than budget.memory = "
                    f"{format_size(budget.memory)}; trace fewer messages (observe.trace_messages, "
                    "alosim trace --messages) or raise budget.memory")
        if summary.get("stall_cause") == "copies":
            held = summary.get("stall_cause_count", 0)
            return (f"stopped: the run held {held:,} copies, timers and scheduled events beyond its "
                    f"messages' own (about {format_size(held * BYTES_PER_COPY)}), which with its "
                    f"{unsettled:,} unsettled messages came to more than budget.memory = "
                    f"{format_size(budget.memory)}; copies multiply faster than they are handled "
                    "(a retry or a lease far shorter than a round trip?): fix that, or raise "
                    "budget.memory")
        return (f"stopped: {unsettled:,} messages were waiting or in flight, about "
                f"{format_size(unsettled * BYTES_PER_MESSAGE)}, more than "
                f"budget.memory = {format_size(budget.memory)}; send fewer messages, lower sender.rate, "
                "set sender.retry.max_attempts, or raise budget.memory")
    if stopped_by != "stall":
        return None
    left = f"{unsettled:,} message{'' if unsettled == 1 else 's'} left unsettled"
    if scenario.broker is not None:
        processed_once = summary.get("processed", 0) - summary.get("duplicate_processing", 0)
        waiting = summary.get("messages", 0) - processed_once - summary.get("lost", 0)
        left += f" at the producers, {waiting:,} not processed yet"
    note = (f"stopped: the run did budget.stall_events = {budget.stall_events:,} units of work more "
            f"than its progress paid for; {left}. ")
    cause = summary.get("stall_cause", "")
    if cause in WORK:
        note += f"Meanwhile: {summary.get('stall_cause_count', 0):,} {WORK[cause]}. "
    return note + _advice(cause, summary, scenario) + ", or raise budget.stall_events"


def _advice(cause: str, summary: dict[str, Any], s: Scenario) -> str:
    """What to set against the work that stalled a run."""
    retry = s.sender.retry
    if cause == "retransmissions":
        if unlimited_retries(s):
            return f"Retries that cannot succeed never end: {_NO_END}"
        limits = []
        if retry.max_attempts is not None:
            limits.append(f"sender.retry.max_attempts = {retry.max_attempts:,}")
        if retry.delivery_timeout is not None:
            limits.append(f"sender.retry.delivery_timeout = {format_duration(retry.delivery_timeout)}")
        if s.max_time is not None:
            limits.append(f"max_time = {format_duration(s.max_time)}")
        return (f"Retries go on until {' or '.join(limits)}: find why no ack comes back (losses, "
                "partitions, faults), lengthen sender.retry.timeout or lower those limits")
    if cause == "rejections":
        if s.broker is not None:
            return (f"The producers retry at once when a full queue refuses them: raise "
                    f"broker.max_length (now {s.broker.max_length}) or use broker.overflow: drop-head")
        capacity = s.receiver.queue.capacity
        return (f"The senders retry at once when a full queue refuses them: raise "
                f"receiver.queue.capacity (now {capacity}) or use receiver.queue.when_full: drop-new "
                "(the sender then waits for its timeout)")
    if cause == "nacks":
        assert s.consumer is not None and s.broker is not None
        return (f"Failed deliveries (consumer.nack_probability = {s.consumer.nack_probability:g}, "
                f"consumer.poison_probability = {s.consumer.poison_probability:g}) come back "
                + ("at once" if not s.broker.redelivery_backoff else
                   f"after broker.redelivery_backoff = {format_duration(s.broker.redelivery_backoff)}")
                + ": set broker.max_deliveries to dead-letter them")
    if cause in ("lease_expiries", "redeliveries"):
        assert s.consumer is not None and s.broker is not None
        return (f"Leases of broker.visibility_timeout = {format_duration(s.broker.visibility_timeout)} "
                f"run out before the consumers ack (processing takes "
                f"{format_duration(s.consumer.processing.mean)} on average): lengthen the lease or "
                "set broker.max_deliveries")
    if cause == "rebalances":
        assert s.consumer is not None
        if summary.get("log_members_kicked_out"):
            return (f"Members are kicked out for taking longer than consumer.max_poll_interval = "
                    f"{format_duration(s.consumer.max_poll_interval)} on one batch (consumer.fetch_batch "
                    f"= {s.consumer.fetch_batch:,}): lengthen it or fetch smaller batches")
        return ("Members leave and join faster than the group can work (faults, "
                f"consumer.rebalance_delay = {format_duration(s.consumer.rebalance_delay)}): "
                "make the faults rarer or the rebalances shorter")
    if cause == "commits":
        assert s.consumer is not None
        return (f"The group commits every consumer.commit.interval = "
                f"{format_duration(s.consumer.commit.interval)}, far more often than it processes "
                "a record: lengthen the interval")
    if cause == "faults":
        fastest = min((f.mtbf for f in s.faults if f.mtbf is not None), default=None)
        return ("Faults come faster than messages settle"
                + (f" (mtbf down to {format_duration(fastest)})" if fastest is not None else "")
                + ": make them rarer")
    if cause == "suppressed":
        # A window full of suppressed retries makes no first transmission, so
        # earns no token: only a limit on time ends it.
        return ("Retries suppressed by sender.retry_budget wait for tokens that only "
                "first transmissions earn: set sender.retry.delivery_timeout or max_time "
                "so that the run can end")
    if unlimited_retries(s):
        return f"Nothing settles: {_NO_END}"
    return "Nothing settles: set max_time"
