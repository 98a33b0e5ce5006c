"""The receiver: a queue and ``workers`` servers that process messages and ack them.

Arrivals join a queue when every worker is busy. A free worker takes one
message at a time (the oldest, or with ``queue.lifo_above`` the newest while
the queue is long) and consults the dedup store. A message it has already seen is dropped and acked
again (so that the sender stops retrying). Any other message is processed:
it takes the processing time, then its side effect is executed, then -- after
``write_delay`` -- its id is recorded in the store.

When the ack goes out is the ack policy. ``after-processing`` acks once the
id is recorded: an ack is never sent for work that was not done, which is
what makes delivery at-least-once. ``before-processing`` acks as soon as the
message is taken: if the receiver crashes before the side effect, the sender
believes the message delivered and it is lost (at-most-once on the consumer
side).

Capacity: the queue may be bounded (``queue.capacity``). An arrival that
finds it full is dropped (``drop-new``), dropped and answered at once with a
negative ack (``reject``: the ack link carries the attempt negated, and the
sender retries at once), or it evicts the oldest waiting copy
(``drop-oldest``). Each is counted (``queue_dropped``, ``queue_rejected``,
``queue_evicted``) and a message that is never processed after one is lost
for cause ``queue_full`` (the first thing that went wrong with it) --
unless a later copy is acked before processing: that one is under way, and
what becomes of it (a crash, or a stop mid-processing) is its own story.

Overload mitigations, both off by default. With ``dedup_on_arrival`` an
arriving copy is checked at once, before it takes queue space or a worker: a
copy whose id the store has recorded is dropped and acked again (counted as
the worker's check would count it, and in ``arrival_duplicates_reacked``);
a copy of a message that already has a copy here -- queued, or taken by a
worker and not yet recorded -- is dropped without an ack, since that copy's
ack will answer the sender. The second check reads an index of the ids
present (queued or in progress), bounded by what is queued; it needs no
store, so it works under at-least-once too, where it only keeps a receiver
from holding two copies of one message at once: a copy arriving after the
first was processed is processed again. A crash loses the queue and the work
in progress, and the index with them. Both kinds count in
``arrival_duplicates_dropped``. With ``discard_expired`` as well, a newcomer
dropped beside a queued copy lends that copy its transmission (the attempt
number the deadline check reads and the ack names): the copy kept is then as
fresh as the newest one that arrived, instead of the expired one.

With ``discard_expired`` a worker that takes a copy whose sender has stopped
waiting for it discards it: no side effect, no ack (``expired_discarded``);
the sender's retry brings another copy. Each transmission's deadline -- its
send time plus the wait its retry policy chose, which the sender stamps on
the message record when it arms the timer -- is the latest transmission's;
a copy of an earlier transmission (the attempt number names it, as for
Karn's rule) was superseded: its sender sent a newer one and waits for that.
The store is consulted first (a duplicate is acked again: that costs no
processing and answers the sender). A message never processed after a
discard is lost for cause ``expired_discarded``, if nothing went wrong with
it before.

Slowdowns (see :mod:`alosim.model.faults`): a pause stops workers from
starting new work (work in progress finishes; arrivals queue), as a GC pause
would; a slow-down multiplies every processing time drawn while it lasts.

A receiver can crash (see :mod:`alosim.model.faults`): it loses its queue and
the messages in progress, drops what arrives while it is down, and -- unless
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

from alosim.model.answer import Answers
from alosim.model.dedup import make_store
from alosim.model.events import Later
from alosim.model.message import Message
from alosim.scenario import Receiver as ReceiverSpec

if TYPE_CHECKING:
    from alosim.model.world import World


#: Loss causes charged to a message for what befell one copy at a receiver,
#: superseded when a later copy is taken on.
_EARLIER_COPIES = frozenset({"queue_full", "expired_discarded"})


class Receiver(Answers):
    __slots__ = (
        "world", "env", "rec", "index", "actor", "queue", "busy", "up", "epoch", "store_epoch",
        "store", "dedup", "durable", "write_delay", "ack_first", "_entries", "_nbytes",
        "_work", "_send_ack", "_processed_callbacks", "_written_callbacks", "_instant",
        "_fast", "_processing", "workers", "_limit", "_factor", "_token", "_capacity",
        "_when_full", "_lifo_above", "_on_arrival", "_present", "_discard", "_lend", "_reack",
        "_stored",
    )

    def __init__(self, world: World, index: int, spec: ReceiverSpec) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.index = index
        self.actor = f"receiver-{index}"
        self.queue: deque[tuple[Message, int]] = deque()
        self.workers = spec.workers
        self.busy = 0  # workers busy
        # Workers that may be busy: all of them, or none during a pause (so
        # that one comparison decides whether an arrival waits).
        self._limit = spec.workers
        self._factor = 1.0  # processing slow-down (a slow fault)
        queue = spec.queue
        self._capacity = queue.capacity if queue.capacity is not None else 1 << 62
        self._when_full = queue.when_full
        self._lifo_above = queue.lifo_above
        self.up = True
        self.epoch = 0  # crashes so far: work started before a crash is void
        self.store_epoch = 0  # times the store was wiped by a crash
        # A Bloom filter's hashes are salted from the run's streams, so that
        # which ids collide changes with the seed.
        salt = int(world.streams.generator(f"receiver.{index}.dedup").integers(0, 1 << 63))
        self.store = make_store(spec.dedup, salt)
        self.dedup = spec.dedup.kind not in (None, "none")
        self.durable = spec.dedup.durable
        self.write_delay = spec.dedup.write_delay
        self.ack_first = spec.ack == "before-processing"
        self._reack = spec.on_duplicate == "ack"  # else a recognised duplicate gets no ack
        self._entries = 0
        self._nbytes = 0
        # The messages in progress, by ticket: (message, attempt, writing). A
        # writing one was processed already; its id is being written.
        self._work: dict[int, tuple[Message, int, bool]] = {}
        self._token = 0
        self._send_ack = world.ack_link.send
        self._processed_callbacks = (self._processed,)
        self._written_callbacks = (self._written,)
        processing = spec.processing
        self._instant = processing.is_zero
        # The common case -- nothing to consult, nothing that takes time -- has a short path.
        self._fast = self._instant and not self.dedup and not self.ack_first and not self.write_delay
        # Overload mitigations: each turns the short path off (each needs a
        # look at the copy before it is processed).
        self._on_arrival = spec.dedup_on_arrival
        # Ids with a copy queued or in progress, each with the newest attempt
        # that arrived (looked up, never iterated to decide an order).
        self._present: dict[int, int] = {}
        self._discard = spec.discard_expired
        self._lend = self._on_arrival and self._discard
        if self._on_arrival or self._discard:
            self._fast = False
        # The common case with a store: nothing takes time, the store is consulted and
        # written at once, the ack follows -- one method instead of six (_take, _process,
        # _execute, _record, _ack, _release), in the same order.
        self._stored = (self._instant and self.dedup and not self.ack_first and not self.write_delay
                        and not self._on_arrival and not self._discard and self._reack)
        self._processing = processing.draws(world.streams, f"receiver.{index}.processing")
        self.sync_store()

    # -- arrivals ----------------------------------------------------------------

    def on_packet(self, event: Later) -> None:
        """A data packet arrived from the link."""
        msg, attempt = event._value
        rec = self.rec
        if not self.up:
            rec.data_dropped_while_down += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env._now, self.actor, "dropped", msg.id, attempt, "receiver down")
            self._release(msg)
            return
        rec.deliveries += 1
        # A duplicate delivery: an earlier copy was already processed (a copy
        # still queued, or lost in a crash, does not make this one a duplicate).
        duplicate = msg.processed
        if duplicate:
            rec.duplicate_deliveries += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "arrive", msg.id, attempt,
                      "duplicate" if duplicate else "")
        if self._on_arrival and self._dropped_on_arrival(msg, attempt):
            return
        if self.busy >= self._limit:
            if len(self.queue) >= self._capacity and not self._full(msg, attempt):
                return
            msg.delivered = True
            rec.queued += 1
            self.queue.append((msg, attempt))
            return
        msg.delivered = True
        if self._fast:
            self._complete(msg, attempt)
        elif self._stored:
            self._complete_stored(msg, attempt)
        else:
            self._take(msg, attempt)

    def _dropped_on_arrival(self, msg: Message, attempt: int) -> bool:
        """``dedup_on_arrival``: drop a copy the store has recorded (ack it again)
        or one whose message already has a copy here; otherwise note its id."""
        rec = self.rec
        if self.dedup and self.store.seen(msg, self.env._now):
            rec.arrival_duplicates_dropped += 1
            if self._reack:
                rec.arrival_duplicates_reacked += 1
            msg.delivered = True  # as when a worker's check drops it
            self._drop_duplicate(msg, attempt, "on arrival")
            return True
        present = self._present.get(msg.id)
        if present is not None:
            rec.arrival_duplicates_dropped += 1
            if self._lend and attempt > present:
                self._present[msg.id] = attempt  # the copy here answers for this transmission
            if msg.id < rec.trace_limit:
                rec.event(self.env._now, self.actor, "dropped_on_arrival", msg.id, attempt,
                          "a copy is queued or in progress")
            self._release(msg)
            return True
        self._present[msg.id] = attempt
        return False

    def _full(self, msg: Message, attempt: int) -> bool:
        """The queue is full: apply ``when_full``. True if ``msg`` may now join it."""
        rec = self.rec
        if self._when_full == "drop-oldest":
            old, old_attempt = self.queue.popleft()
            rec.queue_evicted += 1
            self._refuse(old, old_attempt, "evicted")
            return True
        if self._when_full == "reject":
            rec.queue_rejected += 1
            self._refuse(msg, attempt, "rejected")
            self._nack(msg, attempt)
            return False
        rec.queue_dropped += 1
        self._refuse(msg, attempt, "queue full")
        return False

    def _refuse(self, msg: Message, attempt: int, detail: str) -> None:
        """A copy the full queue does not keep: its message, if never processed, is lost to that."""
        if self._on_arrival:
            self._present.pop(msg.id, None)
        if not msg.processed:
            msg.cause = msg.cause or "queue_full"
            msg.delivered = False  # as for a copy lost in a crash
        if msg.id < self.rec.trace_limit:
            self.rec.event(self.env._now, self.actor, "dropped", msg.id, attempt, detail)
        self._release(msg)

    def _pop(self) -> tuple[Message, int]:
        """The next waiting copy: the oldest, or the newest while the queue is long."""
        queue = self.queue
        if self._lifo_above is not None and len(queue) > self._lifo_above:
            return queue.pop()
        return queue.popleft()

    def _dispatch(self) -> None:
        """Put free workers to work on what is waiting."""
        while self.queue and self.busy < self._limit:
            self._take(*self._pop())

    # -- the stages of a message ---------------------------------------------------

    def _take(self, msg: Message, attempt: int) -> None:
        """Start on ``msg`` and then on whatever queued up, until a stage takes time."""
        store = self.store if self.dedup else None
        queue = self.queue
        while True:
            if self._lend:
                attempt = self._present[msg.id]  # the newest transmission that arrived
            if store is not None and store.seen(msg, self.env._now):
                self._drop_duplicate(msg, attempt)
                if self._on_arrival:
                    self._present.pop(msg.id, None)
            elif self._discard and (attempt != msg.attempts or msg.deadline <= self.env._now):
                self._discard_expired(msg, attempt)
            else:
                if store is not None and self.workers > 1:
                    # Another worker may hold a copy whose id is not recorded yet.
                    if msg.active:
                        msg.concurrent += 1
                    msg.active += 1
                if self.ack_first:
                    if msg.cause in _EARLIER_COPIES:
                        # An earlier copy refused or discarded here no longer
                        # explains a loss: this one is acked and under way.
                        msg.cause = None
                    self._ack(msg, attempt)
                delay = 0.0 if self._instant else self._processing() * self._factor
                if delay > 0:
                    self._begin(msg, attempt, delay, self._processed_callbacks)
                    return
                if not self._process(msg, attempt):
                    return
            if not queue:
                return
            msg, attempt = self._pop()

    def _begin(self, msg: Message, attempt: int, delay: float,
               callbacks: tuple[Callable[[Later], None]]) -> None:
        self.busy += 1
        token = self._token = self._token + 1
        self._work[token] = (msg, attempt, callbacks is self._written_callbacks)
        Later(self.env, delay, callbacks, (msg, attempt, self.epoch, token))

    def _processed(self, event: Later) -> None:
        msg, attempt, epoch, token = event._value
        if epoch != self.epoch:
            return  # the receiver crashed meanwhile: this work never finished
        self.busy -= 1
        del self._work[token]
        if self._process(msg, attempt) and self.queue:
            self._dispatch()

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
        msg, attempt, epoch, token = event._value
        if epoch != self.epoch:
            return
        self.busy -= 1
        del self._work[token]
        self._record(msg, attempt)
        if self.queue:
            self._dispatch()

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
        if self._on_arrival:
            self._present.pop(msg.id, None)
        if self.dedup:
            if self.workers > 1:
                msg.active -= 1
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
        else:  # _ack, inlined: once per message
            rec.acks_sent += 1
            if not self._send_ack((msg, attempt)):
                rec.acks_lost += 1
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def _complete_stored(self, msg: Message, attempt: int) -> None:
        """:meth:`_take` of one copy when nothing takes time and a store answers: check
        it, make the effect, record the id, ack -- what the stages do, at once."""
        now = self.env._now
        store = self.store
        if store.seen(msg, now):
            self._drop_duplicate(msg, attempt)
            return
        rec = self.rec
        processed = msg.processed = msg.processed + 1
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)  # also counts processed_unique
        else:
            rec.duplicate_processing += 1
            rec.duplicate_causes[self._why_not_caught(msg)] += 1
        store.add(msg, now)
        msg.recorded_epoch = self.store_epoch
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "processed", msg.id, attempt, "again" if processed > 1 else "")
            self.sync_store()
            self._ack(msg, attempt)
        else:
            self.sync_store()
            rec.acks_sent += 1  # _ack, inlined: once per message
            if not self._send_ack((msg, attempt)):
                rec.acks_lost += 1
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def _drop_duplicate(self, msg: Message, attempt: int, where: str = "") -> None:
        """The store says ``msg`` was seen: drop this copy and ack it again.

        Only a copy of a processed message is a duplicate caught. A Bloom
        filter that claims a never-processed id made a false positive: the
        message is lost (counted once, under that cause). A sequence store
        whose mark passed a message the sender had given up on drops it as
        stale: the sender's cause (already set) stands.
        """
        rec = self.rec
        if msg.processed:
            rec.duplicates_detected += 1
            detail = ""
        elif self.store.kind == "sequence":
            rec.stale_drops += 1
            detail = "stale"
        else:
            # Only a Bloom filter claims ids it never saw; were any other store
            # to do so, the loss would show as unexplained in the books.
            rec.false_positive_drops += 1
            msg.cause = msg.cause or ("bloom_false_positive" if self.store.kind == "bloom" else None)
            detail = "false positive"
        if msg.id < rec.trace_limit:
            detail = f"{detail}, {where}" if detail and where else detail or where
            if not self._reack:
                detail = f"{detail}, not acked" if detail else "not acked"
            rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, attempt, detail)
        if self._reack:
            self._ack(msg, attempt)
        self._release(msg)

    def _discard_expired(self, msg: Message, attempt: int) -> None:
        """``discard_expired``: the sender stopped waiting for this copy; drop it unprocessed.

        Nobody waits for its side effect or its ack: the sender has retried
        (a newer transmission) or will at its deadline, or has given up. As
        for a copy refused by a full queue, a message never processed after
        this is lost for this cause unless something went wrong before.
        """
        rec = self.rec
        rec.expired_discarded += 1
        if not msg.processed:
            msg.cause = msg.cause or "expired_discarded"
            msg.delivered = False  # this copy never got anywhere after all
        if msg.id < rec.trace_limit:
            now = self.env._now
            detail = (f"superseded by #{msg.attempts}" if attempt != msg.attempts
                      else f"deadline passed {(now - msg.deadline) * 1000:.3f} ms ago")
            rec.event(now, self.actor, "expired_discarded", msg.id, attempt, detail)
        if self._on_arrival:
            self._present.pop(msg.id, None)
        self._release(msg)

    def _release(self, msg: Message) -> None:
        """This copy is handled (or gone): when the last one goes, the fate is known."""
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def _why_not_caught(self, msg: Message) -> str:
        """Why the store let a duplicate of ``msg`` through."""
        if not self.dedup:
            return "no_dedup"
        if msg.concurrent:
            msg.concurrent -= 1
            return "concurrent_copy"
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
        lost_work: list[tuple[Message, int]] = []
        for msg, attempt, writing in self._work.values():
            if self.dedup and self.workers > 1:
                msg.active -= 1
            if writing:
                # Processed already: only its id (and its ack) are lost.
                self._release(msg)
            else:
                lost_work.append((msg, attempt))
            if self.ack_first and msg.processed == 0:
                msg.cause = msg.cause or "acked_then_crashed"
        lost_work += self.queue
        self.queue.clear()
        self._work.clear()
        self._present.clear()  # dedup_on_arrival's index: nothing is here any more
        self.busy = 0
        if not self.durable and self.dedup:
            self.store.clear()
            self.store_epoch += 1
            self.sync_store()
        for msg, attempt in lost_work:
            rec.dropped_in_crash += 1
            if not msg.processed:
                msg.delivered = False  # this copy never got anywhere after all
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "dropped", msg.id, attempt, "receiver crashed")
            self._release(msg)

    def restart(self) -> None:
        self.up = True

    # -- slowdowns -----------------------------------------------------------------------

    def pause(self) -> None:
        """No worker starts new work until :meth:`resume` (work in progress finishes)."""
        self._limit = 0

    def resume(self) -> None:
        self._limit = self.workers
        self._dispatch()

    def slow_down(self, factor: float) -> None:
        """Processing drawn from now on takes ``factor`` times as long."""
        self._factor = factor

    def speed_up(self) -> None:
        self._factor = 1.0

    @property
    def waiting(self) -> int:
        """Copies at this receiver not yet processed: queued or in progress (not writing)."""
        return len(self.queue) + sum(1 for _, _, writing in self._work.values() if not writing)
