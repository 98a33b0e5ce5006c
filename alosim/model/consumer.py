"""A consumer of a pipeline: it processes what the broker delivers, and acks it.

Deliveries arrive from the broker over the consume link. A consumer works on
up to ``concurrency`` of them at once; the rest wait in its inbox (memory:
lost in a crash). For each delivery it consults the group's idempotency
store: a message the store has seen is acked and not processed again. Any
other is processed: after the processing time it either fails (with
``nack_probability``, and always for a poison message: no side effect, a
nack goes back and the broker redelivers) or executes its side effect,
records the id after ``write_delay`` and acks. With ``ack:
before-processing`` the ack goes out when the consumer takes the delivery,
before the work.

A duplicate effect is charged to the hop it was born on and its cause (see
:mod:`alosim.observe.pipeline`): an entry that never caused an effect before
is a second publish the broker did not catch (publish hop, the broker store's
miss cause); an entry that did is a redelivery (consume hop) -- why the
broker redelivered, or, with a store, why the store let it through.

The idempotency store is one store shared by the consumer group (an inbox
table in the consumers' database): a redelivery to another consumer is still
caught. A volatile one is wiped whenever a consumer crashes. A crash also
loses the consumer's inbox and its work in progress: work whose side effect
was done but not yet acknowledged will be redelivered and processed again.

**What real clients do.** With ``start_delay`` a delivery waits that long
after its arrival before the consumer takes it (the client's scheduling
delay); its lease is already running, and a crash meanwhile loses it as it
loses the inbox. With ``lease_extension`` the consumer sends an extension of
a delivery's lease on the ack link every ``every`` from the start of its
processing until it acks (or nacks) it, or until ``max`` has passed since
that start; a crash stops them. With ``pull`` the broker delivers to the
consumer only while it is up and has room in its batch: the consumer tells
the broker (instantly: a fetch request is not modelled as a packet) when it
is done with a delivery, when it crashes and when it restarts.

As the receiver, a consumer is driven by scheduled callbacks (``Later``),
with an epoch number that voids work begun before a crash; no process per
message.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from alosim.model.broker import EXTEND, Entry
from alosim.model.dedup import _mix64
from alosim.model.events import Later
from alosim.model.message import Message
from alosim.observe.pipeline import PipelineStats
from alosim.scenario import Consumer as ConsumerSpec

if TYPE_CHECKING:
    # The world imports this module (through the pipeline): names for the type checker only.
    from alosim.model.dedup import DedupStore
    from alosim.model.link import Link
    from alosim.model.world import World
    from alosim.observe import Recorder

PROCESSING, WRITING = 0, 1


class ConsumerStore:
    """The consumer group's idempotency store, and how often a crash wiped it."""

    __slots__ = ("store", "dedup", "durable", "epoch", "stats", "rec")

    def __init__(self, store: DedupStore, dedup: bool, durable: bool, stats: PipelineStats,
                 rec: Recorder) -> None:
        self.store = store
        self.dedup = dedup
        self.durable = durable
        self.epoch = 0
        self.stats = stats
        self.rec = rec

    def sync(self, now: float | None = None) -> None:
        if now is not None:
            self.store.expire(now)
        old_entries, old_bytes = self.stats.consumer_store
        entries, nbytes = self.store.entries, self.store.nbytes
        if entries != old_entries or nbytes != old_bytes:
            self.stats.consumer_store_changed(entries, nbytes)
            self.rec.dedup_changed(entries - old_entries, nbytes - old_bytes)

    def wipe(self) -> None:
        if self.dedup and not self.durable:
            self.store.clear()
            self.epoch += 1
            self.sync()


class Consumer:
    __slots__ = (
        "world", "env", "rec", "stats", "index", "actor", "inbox", "busy", "concurrency", "up",
        "epoch", "work", "shared", "store", "dedup", "write_delay", "ack_first", "nack_p",
        "_nack_uniforms", "_processing", "_instant", "_send", "_done_callbacks",
        "_written_callbacks", "_keys", "poison_below", "poison_salt", "arriving", "_start_delay",
        "_arrived_callbacks", "extend_every_s", "extend_for_s", "_extend_callbacks", "pull",
        "pull_done", "pull_switched", "_begin", "_plain_done_callbacks", "_plain_instant",
        "_fused",
    )

    def __init__(self, world: World, index: int, spec: ConsumerSpec, stats: PipelineStats,
                 shared: ConsumerStore, ack_link: Link) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.stats = stats
        self.index = index
        self.actor = f"consumer-{index}"
        self.inbox: deque[tuple[Entry, int]] = deque()
        self.busy = 0
        self.concurrency = spec.concurrency
        self.up = True
        self.epoch = 0
        # Work in progress, in the order begun: key -> (entry, lease, stage, start time).
        self.work: dict[int, tuple[Entry, int, int, float]] = {}
        self.shared = shared
        self.store = shared.store
        self.dedup = shared.dedup
        self.write_delay = spec.dedup.write_delay
        self.ack_first = spec.ack == "before-processing"
        self.nack_p = spec.nack_probability
        self._nack_uniforms = world.streams.uniforms(f"consumer.{index}.nack")
        # Whether a message is poison is a property of the message, the same
        # at every consumer: a fixed hash of its id, salted by the run's seed.
        self.poison_below = int(spec.poison_probability * 2.0**64)
        self.poison_salt = int(world.streams.generator("consumer.poison").integers(0, 2**63))
        processing = spec.processing
        self._instant = processing.is_zero
        self._processing = processing.draws(world.streams, f"consumer.{index}.processing")
        self._send = ack_link.send
        self._done_callbacks = (self._processed,)
        self._written_callbacks = (self._written,)
        self._keys = itertools.count()
        # Deliveries waiting out their start delay: key -> (entry, lease).
        self.arriving: dict[int, tuple[Entry, int]] = {}
        self._start_delay = (None if spec.start_delay is None or spec.start_delay.is_zero
                             else spec.start_delay.draws(world.streams, f"consumer.{index}.start_delay"))
        self._arrived_callbacks = (self._arrived,)
        extension = spec.lease_extension
        self.extend_every_s = extension.every if extension is not None else 0.0
        self.extend_for_s = (extension.max if extension is not None and extension.max is not None
                           else float("inf"))
        self._extend_callbacks = (self._extend,)
        # A pull consumer tells its broker (set by the pipeline's wiring).
        self.pull = spec.pull is not None
        self.pull_done: Callable[[int], None] | None = None
        self.pull_switched: Callable[[int, bool], None] | None = None
        # The common case: a delivery is taken when it arrives and acked after its
        # effect, no processing fails, the id is recorded at once and no lease is
        # extended -- one method per delivery (_start_plain, and _processed_plain if
        # processing takes time) instead of six (_start, _done, _effect, _record, _ack,
        # _release), in the same order.
        plain = (self._start_delay is None and not self.ack_first and not self.extend_every_s
                 and not self.poison_below and not self.nack_p and not self.write_delay)
        self._begin = self._start_plain if plain else self._start
        self._plain_instant = plain and self._instant
        self._plain_done_callbacks = (self._processed_plain,)
        # Of that, with instant processing and no pull (and _complete as this class
        # has it): an untraced delivery is handled whole in on_packet.
        self._fused = (self._plain_instant and not self.pull
                       and type(self)._complete is Consumer._complete)

    # -- arrivals --------------------------------------------------------------------

    def on_packet(self, event: Later) -> None:
        """A delivery arrived from the broker."""
        entry, lease, _ = event._value
        msg = entry.msg
        rec = self.rec
        if not self._fused or not self.up or msg.id < rec.trace_limit:
            self._arrive(entry, lease, msg)
            return
        # An untraced delivery to a consumer that is up, in the common case with
        # instant processing (see _fused): _arrive, _start_plain and _complete in
        # one, the same steps in the same order -- the arrival counted; taken at
        # once (nothing is ever at work, so nothing waits); the store consulted;
        # then the effect, the record, the ack and the release of the copy. (Bound
        # methods held in slots are called through locals: calls that CPython
        # specialises.)
        stats = self.stats
        stats.consumer_arrivals += 1
        now = self.env._now
        if self.dedup and self.store.seen(msg, now):
            self._caught(entry, lease)
            return
        processed = msg.processed = msg.processed + 1
        if processed == 1:
            add = rec.delivery_latency_add
            add(now - msg.created)  # also counts processed_unique
            add = stats.consume_latency_add
            add(now - entry.accepted_at)
        else:
            self._charge(entry, lease, now)
        if lease > entry.effect_lease:
            if entry.ends or entry.ack_lost_lease == lease:
                self._effect_ends(entry, lease)
            else:  # (what _effect_ends finds for an entry none of that happened to)
                entry.effect_lease = lease
                entry.effect_fate = "lease_expired"
        if self.dedup:
            self.store.add(msg, now)
            msg.consumer_epoch = self.shared.epoch
            msg.consumer_recorded_at = now
            self.shared.sync()
        stats.consumer_acks_sent += 1
        send = self._send
        if not send((entry, lease, False)):
            stats.consumer_acks_lost += 1
            entry.ack_lost_lease = lease
            if entry.effect_lease == lease and entry.ended(lease) is None:
                entry.effect_fate = "consumer_ack_lost"
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def _arrive(self, entry: Entry, lease: int, msg: Message) -> None:
        """A delivery of ``msg`` arrived from the broker: the general path."""
        rec = self.rec
        if not self.up:
            self.stats.consumer_dropped_while_down += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env._now, self.actor, "dropped", msg.id, lease, "consumer down")
            self._release(msg)
            return
        self.stats.consumer_arrivals += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "arrive", msg.id, lease)
        if self._start_delay is not None:
            key = next(self._keys)
            self.arriving[key] = (entry, lease)
            Later(self.env, self._start_delay(), self._arrived_callbacks, (key, self.epoch))
            return
        if self.busy < self.concurrency:
            if self.inbox:
                self._take(entry, lease)
            elif self._plain_instant:  # _start_plain of an instant delivery, inlined
                now = self.env._now
                if self.dedup and self.store.seen(msg, now):
                    self._caught(entry, lease)
                else:
                    self._complete(entry, lease, now)
            else:
                self._begin(entry, lease)  # what _take does when nothing waits
        else:
            self.inbox.append((entry, lease))

    def _arrived(self, event: Later) -> None:
        """A delivery's start delay is over: take it if a slot is free, else queue it."""
        key, epoch = event._value
        if epoch != self.epoch:
            return  # lost in a crash meanwhile
        entry, lease = self.arriving.pop(key)
        if self.busy < self.concurrency:
            self._take(entry, lease)
        else:
            self.inbox.append((entry, lease))

    def _take(self, entry: Entry, lease: int) -> None:
        """Start on a delivery, then on whatever waits, while a slot is free."""
        inbox = self.inbox
        begin = self._begin
        while True:
            begin(entry, lease)
            if not inbox or self.busy >= self.concurrency:
                return
            entry, lease = inbox.popleft()

    def _start(self, entry: Entry, lease: int) -> None:
        msg = entry.msg
        now = self.env._now
        if self.ack_first:
            self._ack(entry, lease, False)
        if self.dedup and self.store.seen(msg, now):
            self._caught(entry, lease)
            return
        key = next(self._keys)
        self.busy += 1
        self.work[key] = (entry, lease, PROCESSING, now)
        if self.extend_every_s:
            Later(self.env, self.extend_every_s, self._extend_callbacks, (key, self.epoch))
        delay = 0.0 if self._instant else self._processing()
        if delay > 0:
            Later(self.env, delay, self._done_callbacks, (key, self.epoch))
        else:
            self._done(key)

    def _caught(self, entry: Entry, lease: int) -> None:
        """The store says the message was processed: ack the delivery (unless acked
        already) and drop it."""
        msg = entry.msg
        detail = ""
        if msg.processed:
            self.stats.consumer_duplicates_caught += 1
            self.rec.duplicates_detected += 1
        else:
            # A store that claims a message no consumer processed: only a
            # Bloom filter does (a false positive, the message is lost);
            # were any other store to, the loss would show as unexplained.
            self.stats.consumer_false_positives += 1
            self.rec.false_positive_drops += 1
            if self.store.kind == "bloom":
                msg.cause = msg.cause or "bloom_false_positive"
            detail = "false positive"
        if msg.id < self.rec.trace_limit:
            self.rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, lease, detail)
        if not self.ack_first:
            self._ack(entry, lease, False)
        self._release(msg)

    def _start_plain(self, entry: Entry, lease: int) -> None:
        """:meth:`_start` of the common case: check the store, then process at once
        (no work in progress: nothing looks at it before it is over) or after the
        processing time."""
        now = self.env._now
        if self.dedup and self.store.seen(entry.msg, now):
            self._caught(entry, lease)
            return
        if self._instant:
            self._complete(entry, lease, now)
            return
        delay = self._processing()
        if delay > 0:
            key = next(self._keys)
            self.busy += 1
            self.work[key] = (entry, lease, PROCESSING, now)
            Later(self.env, delay, self._plain_done_callbacks, (key, self.epoch))
        else:
            self._complete(entry, lease, now)

    def _processed_plain(self, event: Later) -> None:
        """:meth:`_processed` of the common case."""
        key, epoch = event._value
        if epoch != self.epoch:
            return  # crashed meanwhile: this work never finished
        entry, lease, _, started = self.work.pop(key)
        self.busy -= 1
        self._complete(entry, lease, started)
        if self.inbox and self.busy < self.concurrency:
            self._take(*self.inbox.popleft())

    def _complete(self, entry: Entry, lease: int, started: float) -> None:
        """Processing of a delivery begun at ``started`` is over, in the common case:
        the effect, the record, the ack and the release of the copy -- what
        :meth:`_effect`, :meth:`_record`, :meth:`_ack` and :meth:`_release` do, in
        that order."""
        rec = self.rec
        stats = self.stats
        msg = entry.msg
        now = self.env._now
        processed = msg.processed = msg.processed + 1
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)  # also counts processed_unique
            stats.consume_latency_add(now - entry.accepted_at)
        else:
            self._charge(entry, lease, started)
        traced = msg.id < rec.trace_limit
        if traced:
            rec.event(now, self.actor, "processed", msg.id, lease, "again" if processed > 1 else "")
        if lease > entry.effect_lease:
            if entry.ends or entry.ack_lost_lease == lease:
                self._effect_ends(entry, lease)
            else:  # (what _effect_ends finds for an entry none of that happened to)
                entry.effect_lease = lease
                entry.effect_fate = "lease_expired"
        if self.dedup:
            self.store.add(msg, now)
            msg.consumer_epoch = self.shared.epoch
            msg.consumer_recorded_at = now
            self.shared.sync()
        if traced:
            self._ack(entry, lease, False)
        else:
            stats.consumer_acks_sent += 1  # _ack, inlined: once per delivery
            if not self._send((entry, lease, False)):
                stats.consumer_acks_lost += 1
                entry.ack_lost_lease = lease
                if entry.effect_lease == lease and entry.ended(lease) is None:
                    entry.effect_fate = "consumer_ack_lost"
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)
        if self.pull:
            self.pull_done(self.index)  # type: ignore[misc]

    def _processed(self, event: Later) -> None:
        key, epoch = event._value
        if epoch != self.epoch:
            return  # crashed meanwhile: this work never finished
        self._done(key)
        self._next()

    def _done(self, key: int) -> None:
        """Processing is over: fail and nack, or execute the effect and go on to record it."""
        entry, lease, _, started = self.work[key]
        if (self.poison_below and _mix64(entry.msg.id ^ self.poison_salt) < self.poison_below) or (
                self.nack_p and self._nack_uniforms() < self.nack_p):
            del self.work[key]
            self.busy -= 1
            self.stats.processing_failures += 1
            if self.ack_first:
                entry.msg.cause = entry.msg.cause or "acked_then_failed"
            else:
                self._ack(entry, lease, True)
            self._release(entry.msg)
            return
        self._effect(entry, lease, started)
        if self.write_delay > 0:
            self.work[key] = (entry, lease, WRITING, started)
            Later(self.env, self.write_delay, self._written_callbacks, (key, self.epoch))
            return
        self._record(key)

    def _written(self, event: Later) -> None:
        key, epoch = event._value
        if epoch != self.epoch:
            return
        self._record(key)
        self._next()

    def _record(self, key: int) -> None:
        entry, lease, _, _ = self.work.pop(key)
        self.busy -= 1
        msg = entry.msg
        if self.dedup:
            now = self.env._now
            self.store.add(msg, now)
            msg.consumer_epoch = self.shared.epoch
            msg.consumer_recorded_at = now
            self.shared.sync()
        if not self.ack_first:
            self._ack(entry, lease, False)
        self._release(msg)

    def _next(self) -> None:
        if self.inbox and self.busy < self.concurrency:
            self._take(*self.inbox.popleft())

    # -- the side effect ----------------------------------------------------------------

    def _effect(self, entry: Entry, lease: int, started: float) -> None:
        """Once is the point; more than once is a duplicate, charged to (hop, cause)."""
        rec = self.rec
        msg = entry.msg
        now = self.env._now
        processed = msg.processed = msg.processed + 1
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)  # also counts processed_unique
            self.stats.consume_latency_add(now - entry.accepted_at)
        else:
            self._charge(entry, lease, started)
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "processed", msg.id, lease, "again" if processed > 1 else "")
        if lease > entry.effect_lease:
            # (Else a late effect of a replaced delivery, or a second copy's of
            # the same delivery: how the latest effect's lease ended stays.)
            self._effect_ends(entry, lease)

    def _charge(self, entry: Entry, lease: int, started: float) -> None:
        """A duplicate effect: charge it to its hop and cause."""
        self.rec.duplicate_processing += 1
        if entry.effect_lease < 0:
            # A second entry's first effect; if the message's first entry
            # is the later one, the cause is why the other one escaped.
            cause = entry.publish_cause or entry.msg.broker_miss
            self.stats.publish_duplicates[cause] += 1
        else:
            self.stats.consume_duplicates[self._why_again(entry, lease, started)] += 1

    @staticmethod
    def _effect_ends(entry: Entry, lease: int) -> None:
        """``lease`` made the entry's latest effect: how its lease ended so far."""
        entry.effect_lease = lease
        ended = entry.ended(lease)
        if ended is not None:
            entry.effect_fate = ended  # its lease ended (a crash, a nack) while it was at work
        elif entry.ack_lost_lease == lease:
            entry.effect_fate = "consumer_ack_lost"
        else:
            entry.effect_fate = "lease_expired"

    def _why_again(self, entry: Entry, lease: int, started: float) -> str:
        """Why the same entry caused a second effect (this delivery began at ``started``):
        how the earlier of the two deliveries ended without its ack settling the entry."""
        if lease == entry.effect_lease:
            return "network_duplicate"
        if lease > entry.effect_lease:
            fate = entry.effect_fate  # a redelivery after the latest effect's lease ended
        else:
            # A late effect of a delivery the broker had replaced already (its
            # lease was revoked by a crash, or ran out, while it was at work).
            fate = entry.ended(lease) or "lease_expired"
        if not self.dedup:
            return fate
        recorded = entry.msg.consumer_epoch
        if recorded is None or entry.msg.consumer_recorded_at > started:
            # Not in the store when this delivery consulted it: the earlier
            # copy was still at work (the lease ran out meanwhile), or a
            # crash came between its effect and its record.
            return "crash_before_record" if fate == "crash_before_ack" else fate
        if recorded != self.shared.epoch:
            return "store_lost_in_crash"
        return self.store.miss_cause

    # -- lease extensions -----------------------------------------------------------------

    def _extend(self, event: Later) -> None:
        """Extend the lease of a delivery still at work, and plan the next extension."""
        key, epoch = event._value
        if epoch != self.epoch:
            return  # crashed: a crashed consumer extends nothing
        work = self.work.get(key)
        if work is None:
            return  # acked or nacked meanwhile
        entry, lease, _, started = work
        stats = self.stats
        stats.lease_extensions_sent += 1
        if not self._send((entry, lease, EXTEND)):
            stats.lease_extensions_lost += 1
            if entry.msg.id < self.rec.trace_limit:
                self.rec.event(self.env._now, "network", "lease_extension_lost", entry.msg.id, lease)
        if self.env._now + self.extend_every_s - started < self.extend_for_s:
            Later(self.env, self.extend_every_s, self._extend_callbacks, (key, epoch))

    # -- acks ---------------------------------------------------------------------------

    def _ack(self, entry: Entry, lease: int, nack: bool) -> None:
        rec = self.rec
        msg = entry.msg
        traced = msg.id < rec.trace_limit
        self.stats.consumer_acks_sent += 1
        if traced:
            rec.event(self.env._now, self.actor, "nack_sent" if nack else "ack_sent", msg.id, lease)
        if not self._send((entry, lease, nack)):
            self.stats.consumer_acks_lost += 1
            if not nack:
                entry.ack_lost_lease = lease
                if entry.effect_lease == lease and entry.ended(lease) is None:
                    entry.effect_fate = "consumer_ack_lost"
            if traced:
                rec.event(self.env._now, "network", "consumer_ack_lost", msg.id, lease)

    def _release(self, msg: Message) -> None:
        """This consumer is done with one copy of ``msg`` that arrived (or was on its way)."""
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)
        if self.pull:
            self.pull_done(self.index)  # type: ignore[misc]

    # -- crashes ------------------------------------------------------------------------

    def crash(self) -> None:
        """Stop: the inbox and the work in progress are lost, and so is a volatile store."""
        if not self.up:
            return
        self.up = False
        self.epoch += 1
        self.stats.consumer_crashes += 1
        if self.pull:
            self.pull_switched(self.index, False)  # type: ignore[misc]
        rec = self.rec
        now = self.env._now
        lost: list[Entry] = []
        written: list[Entry] = []
        for entry, lease, stage, _ in self.work.values():
            if stage == WRITING:
                # The side effect is done (this delivery counts as processed),
                # its id and its ack are lost.
                if entry.effect_lease == lease and entry.ended(lease) is None:
                    entry.effect_fate = "crash_before_ack"
                written.append(entry)
                continue
            if self.ack_first and entry.msg.processed == 0:
                entry.msg.cause = entry.msg.cause or "acked_then_crashed"
            lost.append(entry)
        lost.extend(entry for entry, _ in self.arriving.values())
        lost.extend(entry for entry, _ in self.inbox)
        self.work.clear()
        self.arriving.clear()
        self.inbox.clear()
        self.busy = 0
        self.shared.wipe()
        for entry in written:
            self._release(entry.msg)
        for entry in lost:
            self.stats.consumer_dropped_in_crash += 1
            if entry.msg.id < rec.trace_limit:
                rec.event(now, self.actor, "dropped", entry.msg.id, entry.lease, "consumer crashed")
            self._release(entry.msg)

    def restart(self) -> None:
        self.up = True
        if self.pull:
            self.pull_switched(self.index, True)  # type: ignore[misc]
