"""The receiver: a single-server queue that processes messages and acks them.

Arrivals join a FIFO queue. The receiver takes one message at a time and
consults its dedup store. A message it has already seen is dropped and acked
again (so that the sender stops retrying). Any other message is processed:
it takes the processing time, then its side effect is executed, then -- after
``write_delay`` -- its id is recorded in the store.

When the ack goes out is the ack policy. ``after-processing`` acks once the
id is recorded: an ack is never sent for work that was not done, which is
what makes delivery at-least-once. ``before-processing`` acks as soon as the
message is taken: if the receiver crashes before the side effect, the sender
believes the message delivered and it is lost (at-most-once on the consumer
side).

A receiver can crash (see :mod:`alosim.model.faults`): it loses its queue and
the message in progress, drops what arrives while it is down, and -- unless
the store is durable -- forgets every id it had recorded.

Every duplicate that gets processed is attributed to the reason the store did
not catch it (:data:`alosim.observe.DUPLICATE_CAUSES`), and a new message that
the store wrongly believed seen (a Bloom filter's false positive) is marked as
lost for that reason.

The receiver is a long-lived actor driven by its own events rather than a
generator process: it does nothing while idle, each stage that takes time is
one scheduled event, and a stage that takes no time happens at once. Waking a
sleeping process for every arrival would cost an extra simulation event per
message (see DESIGN.md on throughput).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from alosim.dists import Constant
from alosim.model.dedup import make_store
from alosim.model.events import Later
from alosim.model.message import Message
from alosim.scenario import Receiver as ReceiverSpec
from alosim.streams import Draws

if TYPE_CHECKING:
    from alosim.model.world import World


class Receiver:
    __slots__ = (
        "world", "env", "rec", "index", "actor", "queue", "busy", "up", "epoch", "store_epoch",
        "store", "dedup", "durable", "write_delay", "ack_first", "_entries", "_nbytes",
        "_current", "_send_ack", "_processed_callbacks", "_written_callbacks", "_instant",
        "_fast", "_processing",
    )

    def __init__(self, world: World, index: int, spec: ReceiverSpec) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.index = index
        self.actor = f"receiver-{index}"
        self.queue: deque[tuple[Message, int]] = deque()
        self.busy = False
        self.up = True
        self.epoch = 0  # crashes so far: work started before a crash is void
        self.store_epoch = 0  # times the store was wiped by a crash
        self.store = make_store(spec.dedup)
        self.dedup = spec.dedup.kind not in (None, "none")
        self.durable = spec.dedup.durable
        self.write_delay = spec.dedup.write_delay
        self.ack_first = spec.ack == "before-processing"
        self._entries = 0
        self._nbytes = 0
        self._current: tuple[Message, int] | None = None  # the message in progress
        self._send_ack = world.ack_link.send
        self._processed_callbacks = (self._processed,)
        self._written_callbacks = (self._written,)
        processing = spec.processing
        self._instant = isinstance(processing, Constant) and processing.value == 0
        # The common case -- nothing to consult, nothing that takes time -- has a short path.
        self._fast = self._instant and not self.dedup and not self.ack_first and not self.write_delay
        if isinstance(processing, Constant):
            value = processing.value
            self._processing: Callable[[], float] = lambda: value
        else:
            rng = world.streams.generator(f"receiver.{index}.processing")
            self._processing = Draws(lambda n: processing.sample(rng, n))
        self.sync_store()

    # -- arrivals ----------------------------------------------------------------

    def on_packet(self, event: Later) -> None:
        """A data packet arrived from the link."""
        msg, attempt = event._value
        rec = self.rec
        if not self.up:
            rec.dropped_while_down += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env._now, self.actor, "dropped", msg.id, attempt, "receiver down")
            self._release(msg)
            return
        rec.deliveries += 1
        duplicate = msg.delivered
        if duplicate:
            rec.duplicate_deliveries += 1
        else:
            msg.delivered = True
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "arrive", msg.id, attempt,
                      "duplicate" if duplicate else "")
        if self.busy:
            self.queue.append((msg, attempt))
        elif self._fast:
            self._complete(msg, attempt)
        else:
            self._take(msg, attempt)

    # -- the stages of a message ---------------------------------------------------

    def _take(self, msg: Message, attempt: int) -> None:
        """Start on ``msg`` and then on whatever queued up, until a stage takes time."""
        store = self.store if self.dedup else None
        queue = self.queue
        while True:
            if store is not None and store.seen(msg, self.env._now):
                self._drop_duplicate(msg, attempt)
            else:
                if self.ack_first:
                    self._ack(msg, attempt)
                delay = 0.0 if self._instant else self._processing()
                if delay > 0:
                    self._begin(msg, attempt, delay, self._processed_callbacks)
                    return
                if not self._process(msg, attempt):
                    return
            if not queue:
                return
            msg, attempt = queue.popleft()

    def _begin(self, msg: Message, attempt: int, delay: float,
               callbacks: tuple[Callable[[Later], None]]) -> None:
        self.busy = True
        self._current = (msg, attempt)
        Later(self.env, delay, callbacks, (msg, attempt, self.epoch))

    def _processed(self, event: Later) -> None:
        msg, attempt, epoch = event._value
        if epoch != self.epoch:
            return  # the receiver crashed meanwhile: this work never finished
        self.busy = False
        self._current = None
        if self._process(msg, attempt) and self.queue:
            self._take(*self.queue.popleft())

    def _process(self, msg: Message, attempt: int) -> bool:
        """Execute the side effect; then record the id now or after the write delay.
        Return False if the receiver is now busy writing."""
        self._execute(msg, attempt)
        if self.write_delay > 0:
            self._begin(msg, attempt, self.write_delay, self._written_callbacks)
            return False
        self._record(msg, attempt)
        return True

    def _written(self, event: Later) -> None:
        msg, attempt, epoch = event._value
        if epoch != self.epoch:
            return
        self.busy = False
        self._current = None
        self._record(msg, attempt)
        if self.queue:
            self._take(*self.queue.popleft())

    def _execute(self, msg: Message, attempt: int) -> None:
        """The side effect: once is the point, more than once is a duplicate."""
        rec = self.rec
        now = self.env._now
        processed = msg.processed = msg.processed + 1
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)  # also counts processed_unique
        else:
            rec.duplicate_processing += 1
            rec.duplicate_causes[self._why_not_caught(msg)] += 1
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "processed", msg.id, attempt, "again" if processed > 1 else "")

    def _record(self, msg: Message, attempt: int) -> None:
        """Remember the id, ack (unless acked already) and let go of this copy."""
        if self.dedup:
            self.store.add(msg, self.env._now)
            msg.recorded_epoch = self.store_epoch
            self.sync_store()
        if not self.ack_first:
            self._ack(msg, attempt)
        self._release(msg)

    def _complete(self, msg: Message, attempt: int) -> None:
        """All stages at once: the short path when none takes time or consults a store."""
        rec = self.rec
        now = self.env._now
        processed = msg.processed = msg.processed + 1
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)  # also counts processed_unique
        else:
            rec.duplicate_processing += 1
            rec.duplicate_causes["no_dedup"] += 1
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "processed", msg.id, attempt, "again" if processed > 1 else "")
            self._ack(msg, attempt)
        elif not self._send_ack((msg, attempt)):  # _ack, inlined: once per message
            rec.acks_lost += 1
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def _drop_duplicate(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        rec.duplicates_detected += 1
        if not msg.processed:
            # The store claims an id that was never processed: a false positive.
            rec.false_positive_drops += 1
            msg.cause = msg.cause or "bloom_false_positive"
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, attempt,
                      "" if msg.processed else "false positive")
        self._ack(msg, attempt)
        self._release(msg)

    def _ack(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        traced = msg.id < rec.trace_limit
        if traced:
            rec.event(self.env._now, self.actor, "ack_sent", msg.id, attempt)
        if not self._send_ack((msg, attempt)):
            rec.acks_lost += 1
            if traced:
                rec.event(self.env._now, "network", "ack_lost", msg.id, attempt)

    def _release(self, msg: Message) -> None:
        """This copy is handled (or gone): when the last one goes, the fate is known."""
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def _why_not_caught(self, msg: Message) -> str:
        """Why the store let a duplicate of ``msg`` through."""
        if not self.dedup:
            return "no_dedup"
        recorded = getattr(msg, "recorded_epoch", None)
        if recorded is None:
            # Processed before, never recorded: a crash came in between.
            return "crash_before_record"
        if recorded != self.store_epoch:
            return "store_lost_in_crash"
        return self.store.miss_cause

    # -- the store over time ---------------------------------------------------------

    def sync_store(self, now: float | None = None) -> None:
        """Bring the recorder's store size up to date (expiring old entries at ``now``)."""
        if now is not None:
            self.store.expire(now)
        entries, nbytes = self.store.entries, self.store.nbytes
        d_entries, d_bytes = entries - self._entries, nbytes - self._nbytes
        if d_entries or d_bytes:
            self._entries, self._nbytes = entries, nbytes
            self.rec.dedup_changed(d_entries, d_bytes)

    # -- crashes -----------------------------------------------------------------------

    def crash(self) -> None:
        """Stop: the queue and the message in progress are lost, and so is a
        volatile store."""
        if not self.up:
            return
        rec = self.rec
        now = self.env._now
        self.up = False
        self.epoch += 1
        lost_work = list(self.queue)
        if self._current is not None:
            lost_work.insert(0, self._current)
            msg, _ = self._current
            if self.ack_first and msg.processed == 0:
                msg.cause = msg.cause or "acked_then_crashed"
        self.queue.clear()
        self._current = None
        self.busy = False
        if not self.durable and self.dedup:
            self.store.clear()
            self.store_epoch += 1
            self.sync_store()
        for msg, attempt in lost_work:
            rec.dropped_in_crash += 1
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "dropped", msg.id, attempt, "receiver crashed")
            self._release(msg)

    def restart(self) -> None:
        self.up = True
