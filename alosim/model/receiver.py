"""The receiver: a single-server queue that processes messages and acks them.

Arrivals join a FIFO queue. The receiver takes one message at a time,
consults its dedup store and either drops a message it has already processed
(acking it again, so that the sender stops retrying) or processes it --
taking the processing time, executing the side effect -- then records the id
in the store and acks. Acking after processing is what makes delivery
at-least-once: an ack is never sent for work that was not done.

The receiver is a long-lived actor driven by its own events rather than a
generator process: it does nothing while idle, finishing a message is one
scheduled event, and a message that takes no processing time is handled the
moment it arrives. Waking a sleeping process for every arrival would cost an
extra simulation event per message (see DESIGN.md on throughput).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from alosim.dists import Constant
from alosim.model.dedup import make_store
from alosim.model.events import Later
from alosim.model.message import Message
from alosim.scenario import Receiver as ReceiverSpec
from alosim.streams import Draws

if TYPE_CHECKING:
    from alosim.simulate import World


class Receiver:
    def __init__(self, world: World, index: int, spec: ReceiverSpec) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.index = index
        self.actor = f"receiver-{index}"
        self.queue: deque[tuple[Message, int]] = deque()
        self.busy = False
        self.store = make_store(spec.dedup.kind or "none")
        self.dedup = spec.dedup.kind not in (None, "none")
        self._send_ack = world.ack_link.send
        self._processed_callbacks = (self._processed,)
        self.bytes_per_entry = spec.dedup.bytes_per_entry
        processing = spec.processing
        self._instant = isinstance(processing, Constant) and processing.value == 0
        self._fast = self._instant and not self.dedup
        if isinstance(processing, Constant):
            value = processing.value
            self._processing: Callable[[], float] = lambda: value
        else:
            rng = world.streams.generator(f"receiver.{index}.processing")
            self._processing = Draws(lambda n: processing.sample(rng, n))

    def start(self) -> None:
        """Nothing to start: the receiver wakes when a message arrives."""

    def on_packet(self, event: simpy.Event) -> None:
        """A data packet arrived from the link."""
        msg, attempt = event._value
        rec = self.rec
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
            self._complete(msg, attempt)  # no store to consult, no time to take
        else:
            self._take(msg, attempt)

    def _take(self, msg: Message, attempt: int) -> None:
        """Start on ``msg`` and then on whatever queued up, until one needs time."""
        store = self.store if self.dedup else None
        queue = self.queue
        while True:
            if store is not None and store.seen(msg.id, self.env._now):
                self._drop_duplicate(msg, attempt)
            elif self._instant:
                self._complete(msg, attempt)
            else:
                delay = self._processing()
                if delay > 0:
                    self.busy = True
                    Later(self.env, delay, self._processed_callbacks, (msg, attempt))
                    return
                self._complete(msg, attempt)
            if not queue:
                return
            msg, attempt = queue.popleft()

    def _processed(self, event: simpy.Event) -> None:
        self.busy = False
        self._complete(*event._value)
        if self.queue:
            self._take(*self.queue.popleft())

    def _drop_duplicate(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        rec.duplicates_detected += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, attempt)
        self._ack(msg, attempt)

    def _complete(self, msg: Message, attempt: int) -> None:
        """Execute the side effect, remember the id, ack."""
        rec = self.rec
        now = self.env._now
        processed = msg.processed = msg.processed + 1
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)  # also counts processed_unique
        else:
            rec.duplicate_processing += 1
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "processed", msg.id, attempt, "again" if processed > 1 else "")
        if self.dedup:
            added = self.store.add(msg.id, now)
            if added:
                rec.dedup_changed(added, self.bytes_per_entry)
        self._ack(msg, attempt)

    def _ack(self, msg: Message, attempt: int) -> None:
        """Ack ``msg`` and let go of this copy."""
        rec = self.rec
        traced = msg.id < rec.trace_limit
        if traced:
            rec.event(self.env._now, self.actor, "ack_sent", msg.id, attempt)
        if not self._send_ack((msg, attempt)):
            rec.acks_lost += 1
            if traced:
                rec.event(self.env._now, "network", "ack_lost", msg.id, attempt)
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)
