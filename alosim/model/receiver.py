"""The receiver: a single-server queue that processes messages and acks them.

Arrivals join a FIFO queue. The receiver takes one message at a time,
consults its dedup store and either drops a message it has already processed
(acking it again, so that the sender stops retrying) or processes it --
taking the processing time, executing the side effect -- then records the id
in the store and acks. Acking after processing is what makes delivery
at-least-once: an ack is never sent for work that was not done.

The receiver is one SimPy process that sleeps while its queue is empty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import simpy

from alosim.dists import Constant
from alosim.model.dedup import make_store
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
        self.store = make_store(spec.dedup.kind or "none")
        self.bytes_per_entry = spec.dedup.bytes_per_entry
        self._idle: simpy.Event | None = None
        processing = spec.processing
        if isinstance(processing, Constant):
            value = processing.value
            self._processing: Callable[[], float] = lambda: value
        else:
            rng = world.streams.generator(f"receiver.{index}.processing")
            self._processing = Draws(lambda n: processing.sample(rng, n))

    def start(self) -> None:
        self.env.process(self._run())

    def on_arrival(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        rec.deliveries += 1
        duplicate = msg.delivered
        if duplicate:
            rec.duplicate_deliveries += 1
        else:
            msg.delivered = True
        if msg.id < rec.trace_limit:
            rec.event(self.env.now, self.actor, "arrive", msg.id, attempt,
                      "duplicate" if duplicate else "")
        self.queue.append((msg, attempt))
        if self._idle is not None:
            idle, self._idle = self._idle, None
            idle.succeed()

    def _run(self) -> Generator[simpy.Event, None, None]:
        env = self.env
        rec = self.rec
        store = self.store
        queue = self.queue
        world = self.world
        while True:
            if not queue:
                self._idle = env.event()
                yield self._idle
                continue
            msg, attempt = queue.popleft()
            traced = msg.id < rec.trace_limit
            if store.seen(msg.id, env.now):
                rec.duplicates_detected += 1
                if traced:
                    rec.event(env.now, self.actor, "duplicate_detected", msg.id, attempt)
            else:
                delay = self._processing()
                if delay > 0:
                    yield env.timeout(delay)
                msg.processed += 1
                rec.processed += 1
                if msg.processed == 1:
                    rec.processed_unique += 1
                    rec.delivery_latency.add(env.now - msg.created)
                else:
                    rec.duplicate_processing += 1
                if traced:
                    rec.event(env.now, self.actor, "processed", msg.id, attempt,
                              "again" if msg.processed > 1 else "")
                added = store.add(msg.id, env.now)
                if added:
                    rec.dedup_changed(added, self.bytes_per_entry)
            self._ack(msg, attempt, traced)
            msg.copies -= 1
            if msg.settled and not msg.copies:
                world.finalize(msg)

    def _ack(self, msg: Message, attempt: int, traced: bool) -> None:
        rec = self.rec
        rec.acks_sent += 1
        if traced:
            rec.event(self.env.now, self.actor, "ack_sent", msg.id, attempt)
        if not self.world.ack_link.send((msg, attempt)):
            rec.acks_lost += 1
            if traced:
                rec.event(self.env.now, "network", "ack_lost", msg.id, attempt)
