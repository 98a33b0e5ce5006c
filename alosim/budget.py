"""What a run may cost: checked before it starts where possible, enforced while it runs where not.

Some scenarios cost without bound whatever the machine: retries that can
never succeed, a partition of a thousand years, a retry every 1e-300 s, a
Bloom filter of a terabyte. Three kinds of limits keep the cost of any
valid scenario bounded and known:

* **Static checks** (:func:`cost_problems`, run by every validation): time
  scales between :data:`MIN_TIME_S` and :data:`MAX_TIME_S`; no unlimited
  retries against a network, a partition or a fault that lets nothing
  through (the run would never settle: the message names ``max_attempts``,
  ``delivery_timeout`` and ``max_time``); and the memory the scenario will
  allocate -- dedup stores, Bloom filters, messages in flight, the trace --
  estimated and compared with ``budget.memory``.
* **A stall budget** (:func:`run_until`): a run in which no message is
  created or settled for ``budget.stall_events`` simulation events stops,
  its messages reported unsettled and ``stopped_by`` set to ``stall``; a run
  whose unsettled messages (waiting in an outbox or in flight) would take
  more than ``budget.memory`` stops with ``stopped_by: memory``.
* **A series budget** (:class:`Sampling`): the sampled time series never
  holds more than ``budget.series_rows`` rows; when it fills, every other
  row is dropped and the interval doubles (deterministically), so a run of
  any simulated length costs a bounded number of samples.

The static estimates are deliberately simple (orders of magnitude, stated
per component in the message): they exist to refuse the absurd, not to
predict memory to the byte.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy
from simpy.core import EmptySchedule, StopSimulation

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
    for i, f in enumerate(s.faults):
        out += [(f"faults.{i}.at", f.at), (f"faults.{i}.for", f.for_),
                (f"faults.{i}.mtbf", f.mtbf), (f"faults.{i}.mttr", f.mttr)]
    return out


def _time_scales(s: Scenario) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for path, value in _durations(s):
        if value is not None and value > MAX_TIME_S:
            what = "a mean of " if path.endswith(("latency", "processing")) else ""
            problems.append((path, f"{what}{value:.3g} s is longer than alosim simulates "
                             f"({MAX_TIME_S:.0e} s, about 31.7 years)"))
    fast = [("sender.retry.timeout", s.sender.retry.timeout),
            ("observe.sample_every", s.observe.sample_every)]
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
        parts.append(("sender.window", f"no window: up to {total:,.0f} messages in flight",
                      total * BYTES_PER_MESSAGE))
    traced = min(s.observe.trace_messages, total)
    if traced:
        parts.append(("observe.trace_messages", f"the trace of {traced:,.0f} messages",
                      traced * BYTES_PER_TRACED_MESSAGE))
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


def run_until(env: simpy.Environment, stop: simpy.Event, progress: Callable[[], tuple[int, int]],
              stall_events: int, memory: int) -> str:
    """Run ``env`` until ``stop`` is processed, as ``env.run(until=stop)`` does.

    ``progress()`` returns a number that grows whenever the run makes
    progress (a message created or settled), and the number of unsettled
    messages. If the first stays the same for ``stall_events`` events, the
    run stops there and ``"stall"`` is returned; if the unsettled messages
    would take more than ``memory`` bytes (an outbox that fills faster than
    it drains), ``"memory"``; otherwise ``""``. Until then the events
    processed are exactly those ``env.run`` would process, so the results do
    not depend on these checks.
    """
    if stop.callbacks is None:
        return ""
    stop.callbacks.append(StopSimulation.callback)
    step = env.step
    batch = range(CHECK_EVERY)
    last, _ = progress()
    idle = 0
    most_unsettled = memory // BYTES_PER_MESSAGE
    try:
        while True:
            for _ in batch:
                step()
            now, unsettled = progress()
            if unsettled > most_unsettled:
                stop.callbacks.remove(StopSimulation.callback)
                return "memory"
            if now != last:
                last, idle = now, 0
                continue
            idle += CHECK_EVERY
            if idle >= stall_events:
                stop.callbacks.remove(StopSimulation.callback)
                return "stall"
    except StopSimulation:
        return ""
    except EmptySchedule:
        return ""


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


def stop_note(summary: dict[str, Any], budget_events: int, memory: int = 0) -> str | None:
    """One line saying why a run stopped before every message settled, or None."""
    if summary.get("stopped_by") == "memory":
        return (f"stopped: {summary.get('unsettled', 0):,} messages were waiting or in flight, about "
                f"{format_size(summary.get('unsettled', 0) * BYTES_PER_MESSAGE)}, more than "
                f"budget.memory = {format_size(memory)}; send fewer messages, lower sender.rate, "
                "set sender.retry.max_attempts, or raise budget.memory")
    if summary.get("stopped_by") != "stall":
        return None
    note = (f"stopped: no message was created or settled in {budget_events:,} events "
            f"(budget.stall_events); {summary.get('unsettled', 0):,} messages left unsettled. ")
    if summary.get("retries_suppressed"):
        # A window full of suppressed retries makes no first transmission, so
        # earns no token: only a limit on time ends it.
        return note + ("Retries suppressed by sender.retry_budget wait for tokens that only "
                       "first transmissions earn: set sender.retry.delivery_timeout or max_time "
                       "so that the run can end, or raise budget.stall_events")
    return note + f"Retries that cannot succeed never end: {_NO_END}, or raise budget.stall_events"

