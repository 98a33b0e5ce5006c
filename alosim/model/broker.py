"""The broker of a pipeline: it accepts publishes, and leases them to consumers.

**Publish side.** A publish arrives from the producer over the data link. It
is accepted after the broker's ``service`` time (a write); then the broker
consults its dedup store: a publish it has seen is acked and dropped (SQS's
deduplication interval, JetStream's duplicate window); any other is recorded,
acked and queued as an :class:`Entry`. Only a publish of a message the broker
accepted before is a duplicate caught: a Bloom store that claims a message it
never accepted made a false positive (the message is lost, cause
``bloom_false_positive``), and a sequence store whose mark the producer's
floor moved past a given-up message drops its late publish as stale (the
producer's cause stands) -- as a single hop's receiver does. A producer retry that the store does
not catch becomes a second entry of the same message -- a duplicate born on
the publish hop, remembered with the store's miss cause.

**Consume side.** The broker hands ready entries to consumers, round robin
among those holding fewer than ``prefetch`` un-acked deliveries. Each
delivery is a lease of ``visibility_timeout``. An ack of any delivery of an
entry settles it (JetStream acks a stream sequence; a late ack of an earlier
delivery still settles the message). If the lease runs out first, the entry
is delivered again; a nack makes it ready again after ``redelivery_backoff``.
After ``max_deliveries`` deliveries without an ack it goes to the dead-letter
queue: lost to the consumers. The broker does not know whether a consumer is
up: a delivery to a crashed consumer simply expires.

**A bounded queue.** With ``max_length`` the broker holds at most that many
ready entries, as RabbitMQ's ``max-length`` does: "the number of messages in
the ready state are used. Messages unacknowledged by consumers do not count
towards the limit" (https://www.rabbitmq.com/docs/maxlength). Here the ready
entries are those not leased: ready, or waiting out ``redelivery_backoff``
(``broker_ready``). A publish is accepted into a full queue according to
``overflow``: ``drop-head`` (RabbitMQ's default) accepts, acks and queues it,
then drops the oldest ready entry -- the head of the queue, which is the
newcomer itself when every other counted entry is waiting out a backoff
(``broker_overflow_dropped``); ``reject-publish`` refuses it, stores nothing
(its store does not record the id, so the retry is not taken for a
duplicate) and answers with a negative ack, as RabbitMQ answers a publisher
that enabled confirms with basic.nack: the ack link carries the attempt
negated, as a single hop's receiver does when its full queue rejects, and
the producer retries at once (``broker_publishes_rejected``). A publish the
store catches as a duplicate takes no room and is never refused. The bound
is applied when a publish is accepted: redeliveries (a lease that ran out, a
nack, a restart) come back even above it, and the next publish trims the
excess (drop-head) or is refused while it lasts (reject-publish). A message
never processed after a drop is lost for cause ``broker_overflow``, unless
something went wrong with it before (the first cause stands); so is a
message whose producer gave up on it while every publish of it was refused
(one refused, then accepted, cost a retry and nothing more). SQS has no
bound on a queue's length: leave ``max_length`` unset.

**Crashes.** A durable broker keeps its queue; deliveries in flight lose
their leases and are ready again when it restarts. A volatile one loses every
entry (a loss, cause ``broker_crash``). Its store survives only if
``dedup.durable``. While down it drops publishes and consumer acks.

**Polled reclaim** (``reclaim``): a lease ends at the first reclaim scan at
or after its deadline (:mod:`alosim.model.reclaim`), as in Redis Streams,
where a pending entry stays with its consumer until a reclaimer's XAUTOCLAIM
finds it idle for longer than the min-idle time; an ack that arrives between
the deadline and the scan still settles the message, and dead-lettering is
decided at the scan.

**Lease extension** (the consumers' ``lease_extension``): an extension that
arrives on the consume ack link for the current delivery of an entry in
flight moves its lease's end to ``visibility_timeout`` after the arrival
(then to the next scan, with polled reclaim), but never past
``lease_extension.max`` after the delivery was made; any other extension (a
stale delivery, a settled entry, a broker that is down) is ignored.

**Pull consumers** (the consumers' ``pull``): the broker delivers only to a
consumer that is up and holds fewer than ``pull.batch`` deliveries (on their
way to it or at it, as the consumer counts them), round robin, prefetch
still applying; a consumer that restarts is offered the backlog at once.
Without ``pull`` the broker pushes and does not know whether a consumer is up.

Lease timers work as the sender's retry timers do: every lease has the same
length, so deadlines come in order and one FIFO queue behind one scheduled
wake-up holds them all; a lease that ended early (ack, nack, crash) is
recognised by its generation number and skipped when it reaches the front.
A lease that an extension moved (``Entry.deadline`` past the deadline it was
queued with) goes, when it reaches the front, into a heap ordered by its new
end; the same wake-up serves both.
Every copy of a message the broker holds -- a queued entry, a delivery on the
link or at a consumer -- counts in ``msg.copies``, so the world decides a
message's fate only when nothing of it is left anywhere.
"""

from __future__ import annotations

import math
from collections import deque
from heapq import heappop, heappush
from collections.abc import Callable
from typing import TYPE_CHECKING

from alosim.model.answer import Answers
from alosim.model.dedup import make_store
from alosim.model.events import Later
from alosim.model.message import Message
from alosim.model.reclaim import ScanClock
from alosim.observe.pipeline import OVERFLOW_LOSS_CAUSE, PipelineStats
from alosim.scenario import Broker as BrokerSpec

if TYPE_CHECKING:
    # The world imports this module (through the pipeline): names for the type checker only.
    from alosim.model.link import Link
    from alosim.model.world import World

# Entry states.
READY, WAITING, IN_FLIGHT, DONE, DEAD, LOST = range(6)

# What a consumer sends on the ack link (the third element of the packet):
# an ack (False), a nack (True) or a lease extension.
EXTEND = 2

#: A prefetch that is not set (see Broker.prefetch).
UNLIMITED = (1 << 30) - 1

#: Lease records the broker's deque may hold beyond twice the live ones before
#: it drops those that ended early (see :meth:`Broker._compact_leases`).
LEASE_SLACK = 4096


class Entry:
    """One accepted publish of a message: what the broker queues and leases.

    ``lease`` numbers the deliveries; a timer, ack or nack naming an older
    lease is stale. ``effect_lease`` is the lease of the latest side effect
    this entry caused (-1 while it caused none), and ``effect_fate`` says how
    that lease ended without its ack -- the cause charged if the entry causes
    another: revoked by a broker crash (``broker_crash``, whether the effect came
    before or after the crash, and whatever became of the ack afterwards),
    ended by the nack of a second copy of the delivery the network made
    (``network_duplicate``), or run out (``lease_expired``;
    ``consumer_ack_lost`` or ``crash_before_ack`` when the ack was lost or
    never sent). ``ends`` holds the leases that a broker crash revoked or a
    nack ended, each with that cause (a lease ends early at most once: a
    nack ends a lease in flight, and a crash revokes one, which leaves the
    entry ready or waiting), and ``doubled`` the leases the network delivered
    twice (both empty for most entries).

    ``consumer``, ``deadline`` and ``leased_at`` describe the current delivery:
    they are set by each delivery (this runs once per accepted publish), and
    read only while the entry is in flight. ``effect_fate`` is set with
    ``effect_lease`` by the entry's first effect, and read only after one.

    An entry is made by :meth:`ready` -- or, when it is leased at once, by
    :meth:`Broker.on_packet`, which sets every field itself (the class has no
    ``__init__``: ``Entry()`` is the cheapest way to a new one)."""

    __slots__ = ("serial", "msg", "publish_cause", "accepted_at", "deliveries", "lease", "state",
                 "consumer", "effect_lease", "effect_fate", "ack_lost_lease",
                 "ends", "doubled", "deadline", "leased_at")

    serial: int
    msg: Message
    publish_cause: str | None  # None for a message's first entry
    accepted_at: float
    deliveries: int
    lease: int
    state: int
    consumer: int  # who has the current delivery
    effect_lease: int
    effect_fate: str
    ack_lost_lease: int
    ends: tuple[tuple[int, str], ...]  # (lease, cause)
    doubled: tuple[int, ...]
    deadline: float  # when the current lease ends (at a scan, if polled)
    leased_at: float  # when the current delivery was made

    @staticmethod
    def ready(serial: int, msg: Message, publish_cause: str | None, now: float) -> Entry:
        """A new entry, accepted at ``now`` and not yet delivered."""
        entry = Entry()
        entry.serial = serial
        entry.msg = msg
        entry.publish_cause = publish_cause
        entry.accepted_at = now
        entry.deliveries = 0
        entry.lease = 0
        entry.state = READY
        entry.effect_lease = -1
        entry.ack_lost_lease = -1
        entry.ends = entry.doubled = ()
        return entry

    def ended(self, lease: int) -> str | None:
        """Why ``lease`` ended, if a broker crash or a nack ended it (else None).
        (A nack can end a lease one of whose deliveries had an effect only if the
        network delivered it twice.)"""
        for ended, cause in self.ends:
            if ended == lease:
                return cause
        return None

    def end(self, cause: str) -> None:
        """The current lease ends by a crash that revoked it (``broker_crash``)
        or by the nack of one of two copies (``network_duplicate``)."""
        self.ends = (*self.ends, (self.lease, cause))
        if self.effect_lease == self.lease:
            self.effect_fate = cause


class Broker(Answers):
    __slots__ = (
        "world", "env", "rec", "stats", "actor", "spec", "store", "dedup", "store_durable",
        "store_epoch", "durable", "up", "epoch", "live", "ready", "ready_count", "in_flight",
        "held", "prefetch", "visibility", "max_deliveries", "backoff", "leases", "_wake_at",
        "_wake_callbacks", "_accept_callbacks", "_again_callbacks", "_service", "_send_ack",
        "_deliver", "_rr", "consumers", "max_length", "reject_publish", "scans",
        "extended", "lease_cap_s", "pull_batch", "pulling", "pulled", "dispatch", "_plain",
        "_compact_at", "_direct",
    )

    def __init__(self, world: World, spec: BrokerSpec, stats: PipelineStats,
                 ack_link: Link, consume_link: Link, consumers: int, *,
                 lease_cap_s: float | None = None, pull_batch: int | None = None) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.stats = stats
        self.actor = "broker"
        self.spec = spec
        # A Bloom filter's hashes are salted from the run's streams, so that
        # which ids collide changes with the seed.
        salt = int(world.streams.generator("broker.dedup").integers(0, 1 << 63))
        self.store = make_store(spec.dedup, salt)
        self.dedup = spec.dedup.kind not in (None, "none")
        self.store_durable = spec.dedup.durable
        self.store_epoch = 0
        self.durable = spec.durable
        self.up = True
        self.epoch = 0
        self.live: dict[int, Entry] = {}  # every entry not yet finished, in acceptance order
        self.ready: deque[Entry] = deque()
        self.ready_count = 0  # READY and WAITING entries (the deque may hold finished ones)
        self.in_flight = 0
        self.consumers = consumers
        self.held = [0] * consumers
        # (Unset: no limit -- an int above any count: a billion deliveries held is far
        # past what the memory guard lets a run hold. It is the largest int CPython 3.11
        # compares on its fast path, as the counts are: one digit, under 2**30.)
        self.prefetch = spec.prefetch if spec.prefetch is not None else UNLIMITED
        self.visibility = spec.visibility_timeout
        self.max_deliveries = spec.max_deliveries or 0
        self.backoff = spec.redelivery_backoff
        self.max_length = spec.max_length if spec.max_length is not None else math.inf
        self.reject_publish = spec.overflow == "reject-publish"
        # Every lease in deadline order, (deadline, entry, lease); one that ended
        # early (acked, nacked, lost in a crash) stays until passed over, or compacted.
        self.leases: deque[tuple[float, Entry, int]] = deque()
        self._compact_at = LEASE_SLACK  # the deque's length that sets off _compact_leases
        # Leases an extension moved: (new end, serial, lease, entry).
        self.extended: list[tuple[float, int, int, Entry]] = []
        self.scans = ScanClock(spec.reclaim, world.streams) if spec.reclaim is not None else None
        self.lease_cap_s = lease_cap_s if lease_cap_s is not None else math.inf
        self.pull_batch = pull_batch
        self.pulling = [True] * consumers  # pull consumers that are up
        self.pulled = [0] * consumers  # deliveries a pull consumer holds or has on its way
        self.dispatch: Callable[[], None] = (self._dispatch_push if pull_batch is None
                                             else self._dispatch_pull)
        self._wake_at = math.inf
        self._wake_callbacks = (self._on_wake,)
        self._accept_callbacks = (self._accepted,)
        self._again_callbacks = (self._ready_again,)
        service = spec.service
        self._service: Callable[[], float] | None = None
        if not service.is_zero:
            self._service = service.draws(world.streams, "broker.service")
        self._send_ack = ack_link.send
        self._deliver = consume_link.send
        self._rr = 0
        # The common case: a publish written at once into an unbounded queue that
        # pushes -- accepted in on_packet itself instead of in _accept, _ack and
        # _dispatch_push, in the same order.
        self._plain = self._service is None and self.max_length == math.inf and pull_batch is None
        # Of that, with one consumer and leases that end at their deadline (no
        # reclaim scans): a publish that finds the queue empty and the consumer
        # with prefetch room is leased to it in on_packet itself (unless traced).
        self._direct = self._plain and consumers == 1 and self.scans is None

    # -- publishes ---------------------------------------------------------------

    def on_packet(self, event: Later) -> None:
        """A publish arrived from the producer."""
        publish = event._value
        msg, attempt = publish
        rec = self.rec
        if (not self._direct or not self.up or msg.id < rec.trace_limit or self.ready
                or self.held[0] >= self.prefetch):
            self._publish(msg, attempt)
            return
        # An untraced publish to a broker that is up, in the common case with one
        # consumer (see _direct), that finds nothing queued and the consumer with
        # prefetch room: _publish, Entry.ready and _lease(entry, 0) of its first
        # delivery in one, the same steps in the same order -- the arrival counted
        # and the message marked delivered; the store consulted (a publish it
        # catches is handled as _publish handles it) and told; the entry made
        # (already in flight: nothing reads it before the lease), recorded live,
        # counted; the publish acked; the ready peak checked; then the lease: held
        # and in flight, counted, its record queued behind the wake-up, the
        # delivery sent. (Nothing on the way changes what the test above read. The
        # links' sends, bound methods held in slots, are called through locals:
        # calls that CPython specialises.)
        now = self.env._now
        rec.deliveries += 1
        if msg.delivered:
            rec.duplicate_deliveries += 1
        else:
            msg.delivered = True
        entries = msg.broker_entries
        dedup = self.dedup
        if dedup and self.store.seen(msg, now):
            self._caught(msg, attempt, entries)
            return
        cause = None
        if entries:
            cause = msg.broker_miss = self._why_not_caught(msg)
        msg.broker_entries = entries + 1
        if dedup:
            self.store.add(msg, now)
            msg.broker_epoch = self.store_epoch
            self.sync_store()
        stats = self.stats
        serial = stats.publishes_accepted  # (an entry is numbered by the entries accepted before it)
        deadline = now + self.visibility
        entry = Entry()
        entry.serial = serial
        entry.msg = msg
        entry.publish_cause = cause
        entry.accepted_at = now
        entry.deliveries = 1
        entry.lease = 1
        entry.state = IN_FLIGHT
        entry.consumer = 0
        entry.effect_lease = -1
        entry.ack_lost_lease = -1
        entry.ends = entry.doubled = ()
        entry.deadline = deadline
        entry.leased_at = now
        self.live[serial] = entry
        stats.publishes_accepted = serial + 1
        rec.acks_sent += 1  # _ack, untraced: the ack is (msg, attempt), as the publish is
        send_ack = self._send_ack
        if not send_ack(publish):
            rec.acks_lost += 1
        if self.ready_count >= stats.broker_ready_peak:  # (ready_count + 1 > peak)
            stats.broker_ready_peak = self.ready_count + 1
        in_flight = self.in_flight = self.in_flight + 1
        self.held[0] = in_flight  # (the one consumer holds every delivery in flight)
        stats.consume_deliveries += 1
        if in_flight > stats.broker_in_flight_peak:
            stats.broker_in_flight_peak = in_flight
        leases = self.leases
        leases.append((deadline, entry, 1))
        if len(leases) >= self._compact_at:
            self._compact_leases()
        if deadline < self._wake_at:
            self._wake_at = deadline
            Later.at(self.env, deadline, self._wake_callbacks, deadline)
        deliver = self._deliver
        copies = deliver((entry, 1, 0))
        if copies == 1:
            msg.copies += 1
        elif copies:
            msg.copies += copies
            stats.consume_network_duplicates += 1
            entry.doubled = (1,)
        else:
            stats.consume_data_lost += 1

    def _publish(self, msg: Message, attempt: int) -> None:
        """A publish arrived from the producer: the general path."""
        rec = self.rec
        now = self.env._now
        if not self.up:
            self.stats.publishes_dropped_while_down += 1
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "dropped", msg.id, attempt, "broker down")
            self._release(msg)
            return
        rec.deliveries += 1
        duplicate = msg.delivered
        if duplicate:
            rec.duplicate_deliveries += 1
        else:
            msg.delivered = True
        traced = msg.id < rec.trace_limit
        if traced:
            rec.event(now, self.actor, "arrive", msg.id, attempt, "duplicate" if duplicate else "")
        if not self._plain:
            if self._service is None:
                self._accept(msg, attempt)
            else:
                Later(self.env, self._service(), self._accept_callbacks, (msg, attempt, self.epoch))
            return
        # _accept of the common case (see _plain), the same steps in the same order:
        # the queue is never full and no publish was refused; the message was marked
        # delivered above; the ack is inlined, and an entry that would join an empty
        # queue only to leave it at once is leased directly.
        entries = msg.broker_entries
        dedup = self.dedup
        if dedup and self.store.seen(msg, now):
            self._caught(msg, attempt, entries)
            return
        cause = None
        if entries:
            cause = msg.broker_miss = self._why_not_caught(msg)
        msg.broker_entries = entries + 1
        if dedup:
            self.store.add(msg, now)
            msg.broker_epoch = self.store_epoch
            self.sync_store()
        stats = self.stats
        serial = stats.publishes_accepted  # (an entry is numbered by the entries accepted before it)
        entry = Entry.ready(serial, msg, cause, now)
        self.live[serial] = entry
        stats.publishes_accepted = serial + 1
        if traced:
            rec.event(now, self.actor, "stored", msg.id, attempt, "again" if entries else "")
            self._ack(msg, attempt)
        else:
            rec.acks_sent += 1  # _ack, inlined: once per publish
            if not self._send_ack((msg, attempt)):
                rec.acks_lost += 1
        ready_count = self.ready_count + 1
        if ready_count > stats.broker_ready_peak:
            stats.broker_ready_peak = ready_count
        if not self.ready and self.consumers == 1 and self.held[0] < self.prefetch:
            self._lease(entry, 0)  # what _dispatch_push would do with it
        else:
            self.ready.append(entry)
            self.ready_count = ready_count
            self._dispatch_push()

    def _accepted(self, event: Later) -> None:
        msg, attempt, epoch = event._value
        if epoch != self.epoch:  # the broker crashed before the write finished
            self.stats.publishes_lost_in_crash += 1
            self._release(msg)
            return
        self._accept(msg, attempt)

    def _accept(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        stats = self.stats
        now = self.env._now
        traced = msg.id < rec.trace_limit
        entries = msg.broker_entries
        if self.dedup and self.store.seen(msg, now):
            self._caught(msg, attempt, entries)
            return
        # Full: as many ready as the bound allows, and no consumer to take a newcomer.
        full = self.ready_count >= self.max_length and not self._room()
        if full and self.reject_publish:
            self._reject(msg, attempt, entries, traced)
            return
        if msg.broker_refused and not msg.settled:
            # Refused before, accepted now: the refusal cost a retry, nothing more.
            msg.broker_refused = False
            msg.cause = None
        msg.delivered = True  # (a refusal of another copy meanwhile may have cleared it)
        cause = None
        if entries:
            cause = msg.broker_miss = self._why_not_caught(msg)
        msg.broker_entries = entries + 1
        if self.dedup:
            self.store.add(msg, now)
            msg.broker_epoch = self.store_epoch
            self.sync_store()
        serial = stats.publishes_accepted  # (an entry is numbered by the entries accepted before it)
        entry = Entry.ready(serial, msg, cause, now)
        self.live[serial] = entry
        stats.publishes_accepted = serial + 1
        if traced:
            rec.event(now, self.actor, "stored", msg.id, attempt, "again" if entries else "")
        self._ack(msg, attempt)
        if full and not self._drop_head(self.max_length - 1):
            # Nothing older is ready (what the bound counts waits out a
            # backoff): the newcomer is the head.
            self._overflowed(entry)
            return
        self.ready.append(entry)
        self.ready_count += 1
        if self.ready_count > stats.broker_ready_peak:
            stats.broker_ready_peak = self.ready_count
        self.dispatch()

    def _caught(self, msg: Message, attempt: int, entries: int) -> None:
        """The store says a publish was seen: ack it and drop it. It is a duplicate
        caught only if the broker accepted the message before (``entries``)."""
        rec = self.rec
        stats = self.stats
        detail = ""
        if entries:
            stats.publish_duplicates_caught += 1
            rec.duplicates_detected += 1
        elif self.store.kind == "sequence":
            stats.publish_stale_drops += 1
            rec.stale_drops += 1
            detail = "stale"
        else:
            # Only a Bloom filter claims ids it never saw; were any other
            # store to do so, the loss would show as unexplained in the books.
            stats.publish_false_positives += 1
            rec.false_positive_drops += 1
            if self.store.kind == "bloom":
                msg.cause = msg.cause or "bloom_false_positive"
            detail = "false positive"
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, attempt, detail)
        self._ack(msg, attempt)
        self._release(msg)

    def _room(self) -> bool:
        """Some consumer has prefetch room: a newcomer would be delivered at once."""
        prefetch = self.prefetch
        return any(held < prefetch for held in self.held)

    def _reject(self, msg: Message, attempt: int, entries: int, traced: bool) -> None:
        """reject-publish: refuse the publish into a full queue with a negative ack."""
        rec = self.rec
        self.stats.broker_publishes_rejected += 1
        if not msg.processed and not entries and msg.cause is None:
            # Lost to this if the producer gives up before a publish of it is
            # accepted (then it is forgiven: see _accept); an entry made
            # before answers for the message otherwise.
            msg.cause = OVERFLOW_LOSS_CAUSE
            msg.broker_refused = True
        if not entries:
            # No copy got anywhere: the retry is not a duplicate delivery (nor
            # a spurious retransmission), as for a receiver's rejected copy.
            msg.delivered = False
        if traced:
            rec.event(self.env._now, self.actor, "dropped", msg.id, attempt, "rejected: queue full")
        self._nack(msg, attempt)
        self._release(msg)

    def _drop_head(self, limit: float) -> bool:
        """drop-head: drop the oldest ready entries until at most ``limit`` are
        counted; False if what is left over the limit is not in the queue
        (waiting out a backoff)."""
        ready = self.ready
        while self.ready_count > limit and ready:
            entry = ready.popleft()
            if entry.state != READY:
                continue  # acked (or lost) while it waited
            self.ready_count -= 1
            self._overflowed(entry)
        return self.ready_count <= limit

    def _overflowed(self, entry: Entry) -> None:
        """``entry`` is dropped from the head of a full queue."""
        msg = entry.msg
        self._finish(entry, LOST)
        self.stats.broker_overflow_dropped += 1
        if not msg.processed:
            msg.cause = msg.cause or OVERFLOW_LOSS_CAUSE
        if msg.id < self.rec.trace_limit:
            self.rec.event(self.env._now, self.actor, "dropped", msg.id, entry.lease,
                           "queue full: drop-head")
        self._release(msg)

    def _why_not_caught(self, msg: Message) -> str:
        """Why the store accepted a message it had accepted before."""
        if not self.dedup:
            return "no_dedup"
        if msg.broker_epoch != self.store_epoch:
            return "store_lost_in_crash"
        return self.store.miss_cause

    # -- deliveries and leases -------------------------------------------------------

    def _dispatch_push(self) -> None:
        """Deliver ready entries while some consumer has prefetch room."""
        if not self.up:
            return
        ready = self.ready
        held = self.held
        n = self.consumers
        while ready:
            if n == 1:
                if held[0] >= self.prefetch:
                    return
                c = 0
            else:
                for k in range(n):
                    c = (self._rr + k) % n
                    if held[c] < self.prefetch:
                        self._rr = c + 1
                        break
                else:
                    return
            entry = ready.popleft()
            if entry.state != READY:
                continue  # acked (or lost) while it waited
            self.ready_count -= 1
            self._lease(entry, c)

    def _dispatch_pull(self) -> None:
        """Deliver ready entries to pull consumers that are up and have room in
        their batch (and prefetch room), round robin."""
        if not self.up:
            return
        ready, held, pulled, pulling = self.ready, self.held, self.pulled, self.pulling
        n, batch, prefetch = self.consumers, self.pull_batch, self.prefetch
        while ready:
            for k in range(n):
                c = (self._rr + k) % n
                if pulling[c] and pulled[c] < batch and held[c] < prefetch:  # type: ignore[operator]
                    self._rr = c + 1
                    break
            else:
                return
            entry = ready.popleft()
            if entry.state != READY:
                continue  # acked (or lost) while it waited
            self.ready_count -= 1
            pulled[c] += self._lease(entry, c)

    def pull_done(self, consumer: int) -> None:
        """A pull consumer is done with one delivery (processed, dropped or lost): it fetches more."""
        self.pulled[consumer] -= 1
        if self.pulling[consumer]:
            self.dispatch()

    def pull_switched(self, consumer: int, up: bool) -> None:
        """A pull consumer crashed (stops fetching) or restarted (fetches the backlog)."""
        self.pulling[consumer] = up
        if up:
            self.dispatch()

    def _lease(self, entry: Entry, consumer: int) -> int:
        """Deliver ``entry`` to ``consumer`` under a new lease; return the copies on their way."""
        stats = self.stats
        now = self.env._now
        msg = entry.msg
        deliveries = entry.deliveries = entry.deliveries + 1
        lease = entry.lease = entry.lease + 1
        entry.state = IN_FLIGHT
        entry.consumer = consumer
        self.held[consumer] += 1
        in_flight = self.in_flight = self.in_flight + 1
        stats.consume_deliveries += 1
        if deliveries > 1:
            stats.consume_redeliveries += 1
        if in_flight > stats.broker_in_flight_peak:
            stats.broker_in_flight_peak = in_flight
        traced = msg.id < self.rec.trace_limit
        if traced:  # numbered by lease, as the consumer's events are
            self.rec.event(now, self.actor, "deliver", msg.id, lease,
                           f"consumer-{consumer}" + (f" delivery {deliveries}"
                                                     if deliveries > 1 else ""))
        deadline = now + self.visibility
        if self.scans is not None:
            deadline = self.scans.first_at_or_after(deadline, now)
        entry.deadline = deadline
        entry.leased_at = now
        leases = self.leases
        leases.append((deadline, entry, lease))
        if len(leases) >= self._compact_at:
            self._compact_leases()
        if deadline < self._wake_at:
            self._wake_at = deadline
            Later.at(self.env, deadline, self._wake_callbacks, deadline)
        copies = self._deliver((entry, lease, consumer))
        if copies == 1:
            msg.copies += 1
        elif copies:
            msg.copies += copies
            if copies > 1:
                stats.consume_network_duplicates += 1
                entry.doubled = (*entry.doubled, lease)
        else:
            stats.consume_data_lost += 1
            if traced:
                self.rec.event(now, "network", "delivery_lost", msg.id, lease)
        return copies

    def _compact_leases(self) -> None:
        """Drop the lease records that ended early, in place, keeping the others in order.

        :meth:`_on_wake` passes over a lease that ended early (acked, nacked or
        lost in a crash) only when it reaches it, at the deadline of the first
        live lease before it. With a long visibility timeout (a 30-minute
        consumer timeout) every message acked meanwhile would keep its record,
        its entry and its message until then: memory growing with the rate
        times the timeout, not with the leases in flight. Dropped here, they
        are dropped as _on_wake would drop them (a lease number only grows, so
        a record that ended stays ended), and it finds the same live leases in
        the same order: the run does not change. The next compaction waits
        until the deque has grown to twice what is left plus
        :data:`LEASE_SLACK`, so each record is looked at a bounded number of
        times on average, and the deque holds at most about twice the live
        leases.
        """
        leases = self.leases  # in place: _on_wake may be walking this deque (an expiry redelivers)
        live = [item for item in leases if item[1].lease == item[2] and item[1].state == IN_FLIGHT]
        leases.clear()
        leases.extend(live)
        self._compact_at = 2 * len(live) + LEASE_SLACK

    def _on_wake(self, event: Later) -> None:
        """Expire the leases that are due; sleep until the first one still live."""
        if event._value != self._wake_at:
            return
        now = self.env._now
        leases = self.leases
        extended = self.extended
        while leases:
            deadline, entry, lease = leases.popleft()
            if entry.state != IN_FLIGHT or entry.lease != lease:
                continue  # ended early: acked, nacked, or lost in a crash
            if deadline > now:
                leases.appendleft((deadline, entry, lease))  # the first one still live: not due yet
                break
            if deadline < entry.deadline:  # an extension moved it
                heappush(extended, (entry.deadline, entry.serial, lease, entry))
            else:
                self._expired(entry)
        while extended and extended[0][0] <= now:
            deadline, _, lease, entry = heappop(extended)
            if entry.lease != lease or entry.state != IN_FLIGHT:
                continue
            if deadline < entry.deadline:  # moved again
                heappush(extended, (entry.deadline, entry.serial, lease, entry))
            else:
                self._expired(entry)
        wake = leases[0][0] if leases else math.inf
        if extended and extended[0][0] < wake:
            wake = extended[0][0]
        self._wake_at = wake
        if wake < math.inf:
            Later.at(self.env, wake, self._wake_callbacks, wake)

    def _extend(self, entry: Entry, lease: int) -> None:
        """A lease extension arrived: the lease ends ``visibility_timeout`` from now
        (at the scan after, if polled), but never past the cap."""
        stats = self.stats
        if not self.up or entry.lease != lease or entry.state != IN_FLIGHT:
            stats.lease_extensions_ignored += 1
            return
        now = self.env._now
        deadline = min(now + self.visibility, entry.leased_at + self.lease_cap_s)
        if self.scans is not None:
            deadline = self.scans.first_at_or_after(deadline, now)
        if deadline <= entry.deadline:
            stats.lease_extensions_ignored += 1  # at the cap: nothing to add
            return
        stats.lease_extensions_applied += 1
        entry.deadline = deadline
        if entry.msg.id < self.rec.trace_limit:
            self.rec.event(now, self.actor, "lease_extended", entry.msg.id, lease,
                           f"until {deadline:.6g}")

    def _expired(self, entry: Entry) -> None:
        """The lease of ``entry`` ran out: deliver it again (or dead-letter it)."""
        self.stats.lease_expiries += 1
        if entry.msg.id < self.rec.trace_limit:
            self.rec.event(self.env._now, self.actor, "lease_expired", entry.msg.id, entry.lease,
                           f"consumer-{entry.consumer}")
        self._free(entry)
        if (self._direct and not self.max_deliveries and not self.ready and self.up
                and self.held[0] < self.prefetch):
            # _again(entry, 0.0) and _dispatch_push of a queue that holds only this
            # entry: ready again, then delivered again to the one consumer.
            self._lease(entry, 0)
            return
        self._again(entry, 0.0)

    def _free(self, entry: Entry) -> None:
        self.held[entry.consumer] -= 1
        self.in_flight -= 1

    def _again(self, entry: Entry, wait: float) -> None:
        """A delivery ended without an ack: deliver again (after ``wait``) or dead-letter."""
        if self.max_deliveries and entry.deliveries >= self.max_deliveries:
            self._dead_letter(entry)
        elif wait > 0:
            entry.state = WAITING
            self.ready_count += 1
            Later(self.env, wait, self._again_callbacks, (entry, entry.lease, self.epoch))
        else:
            entry.state = READY
            self.ready_count += 1
            self.ready.append(entry)
        self.dispatch()

    def _ready_again(self, event: Later) -> None:
        entry, lease, epoch = event._value
        if epoch != self.epoch or entry.state != WAITING or entry.lease != lease:
            return  # a crash (or an ack) came first
        entry.state = READY
        self.ready.append(entry)
        self.dispatch()

    def _dead_letter(self, entry: Entry) -> None:
        msg = entry.msg
        self._finish(entry, DEAD)
        self.stats.dead_lettered += 1
        self.stats.dlq_size += 1
        if not msg.processed:
            msg.cause = msg.cause or "dead_lettered"
        if msg.id < self.rec.trace_limit:
            self.rec.event(self.env._now, self.actor, "dead_lettered", msg.id, entry.lease)
        self._release(msg)

    def _finish(self, entry: Entry, state: int) -> None:
        entry.state = state
        del self.live[entry.serial]

    # -- consumer acks ---------------------------------------------------------------

    def on_consumer_packet(self, event: Later) -> None:
        """An ack, a nack or a lease extension arrived from a consumer."""
        entry, lease, nack = event._value
        msg = entry.msg
        if nack or entry.state != IN_FLIGHT or not self.up or msg.id < self.rec.trace_limit:
            self._consumer_packet(entry, lease, nack)
            return
        # The common case, an untraced ack of an entry in flight at a broker that is
        # up: what _consumer_packet does with it, in the same order -- a stale one
        # counted; the delivery freed; the entry finished and counted consumed; the
        # copy released (and the world told if it was the message's last); then
        # what waits is dispatched.
        if lease != entry.lease:
            self.stats.consumer_acks_stale += 1
        self.held[entry.consumer] -= 1
        self.in_flight -= 1
        entry.state = DONE
        del self.live[entry.serial]
        self.stats.consumed += 1
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)
        if self.ready:
            self.dispatch()

    def _consumer_packet(self, entry: Entry, lease: int, nack: bool | int) -> None:
        """What arrived from a consumer for ``lease`` of ``entry``: an ack (``nack``
        False), a nack (True) or a lease extension (:data:`EXTEND`)."""
        if nack == EXTEND:
            self._extend(entry, lease)
            return
        rec = self.rec
        stats = self.stats
        msg = entry.msg
        traced = msg.id < rec.trace_limit
        if not self.up:
            # (The crash revoked this lease if it was still in flight, and so
            # charged its effect to the crash; if the lease had run out
            # before, the redelivery came from that.)
            stats.consumer_acks_dropped_while_down += 1
            if traced:
                rec.event(self.env._now, self.actor, "ack_ignored", msg.id, lease, "broker down")
            return
        state = entry.state
        if state >= DONE:
            stats.consumer_acks_late += 1
            if traced:
                rec.event(self.env._now, self.actor, "ack_ignored", msg.id, lease, "already settled")
            return
        if nack:
            if lease != entry.lease or state != IN_FLIGHT:
                stats.nacks_stale += 1
                if traced:  # a nack of an earlier delivery: the current one decides
                    rec.event(self.env._now, self.actor, "ack_ignored", msg.id, lease, "stale nack")
                return
            stats.nacks += 1
            if traced:
                rec.event(self.env._now, self.actor, "nacked", msg.id, lease)
            if lease in entry.doubled:
                entry.end("network_duplicate")  # the other copy may take (or have taken) effect
            self._free(entry)
            self._again(entry, self.backoff)
            return
        if lease != entry.lease:
            stats.consumer_acks_stale += 1
        if state == IN_FLIGHT:
            self.held[entry.consumer] -= 1  # _free, inlined
            self.in_flight -= 1
        else:
            self.ready_count -= 1
        entry.state = DONE  # _finish, inlined
        del self.live[entry.serial]
        stats.consumed += 1
        if traced:
            rec.event(self.env._now, self.actor, "consumer_acked", msg.id, lease)
        msg.copies -= 1  # _release, inlined
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)
        if self.ready:  # (with nothing queued, dispatching delivers nothing)
            self.dispatch()

    # -- the rest ------------------------------------------------------------------

    def _release(self, msg: Message) -> None:
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def sync_store(self, now: float | None = None) -> None:
        if now is not None:
            self.store.expire(now)
        stats = self.stats
        old_entries, old_bytes = stats.broker_store
        entries, nbytes = self.store.entries, self.store.nbytes
        if entries != old_entries or nbytes != old_bytes:
            stats.broker_store_changed(entries, nbytes)
            self.rec.dedup_changed(entries - old_entries, nbytes - old_bytes)

    def crash(self) -> None:
        if not self.up:
            return
        self.up = False
        self.epoch += 1
        stats = self.stats
        stats.broker_crashes += 1
        now = self.env._now
        self.leases.clear()
        self.extended.clear()
        self._wake_at = math.inf
        self.held = [0] * self.consumers
        self.in_flight = 0
        self.ready.clear()
        self.ready_count = 0
        entries = list(self.live.values())
        if self.durable:
            # Deliveries in flight lose their leases: ready again on restart --
            # unless that was the last delivery allowed, which ends as a lease
            # that runs out does (dead-lettered), or a crash would buy an entry
            # one delivery more than max_deliveries.
            for entry in entries:
                if entry.state == IN_FLIGHT:
                    # Its lease is revoked: an effect of it, done or still to
                    # come, is followed by a redelivery because of the crash.
                    entry.end("broker_crash")
                    if self.max_deliveries and entry.deliveries >= self.max_deliveries:
                        self._dead_letter(entry)
                        continue
                entry.lease += 1
                entry.state = READY
                self.ready.append(entry)
                self.ready_count += 1
        else:
            for entry in entries:
                msg = entry.msg
                self._finish(entry, LOST)
                stats.broker_lost_in_crash += 1
                if not msg.processed:
                    msg.cause = msg.cause or "broker_crash"
                if msg.id < self.rec.trace_limit:
                    self.rec.event(now, self.actor, "dropped", msg.id, entry.lease, "broker crashed")
                self._release(msg)
        if self.dedup and not self.store_durable:
            self.store.clear()
            self.store_epoch += 1
            self.sync_store()

    def restart(self) -> None:
        if self.up:
            return
        self.up = True
        self.dispatch()
