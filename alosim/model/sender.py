"""The sender: arrivals, the in-flight window, retry timers and giving up.

Messages arrive at ``rate`` (Poisson or periodic) into an outbox; at most
``window`` of them are un-acked at once. Each transmission starts a retry
timer. If the timer fires before the ack arrives the sender retransmits,
until ``max_attempts`` transmissions have been made; then it gives up.

This is where duplicates are born: when a data packet arrived but its ack was
lost (or was merely slower than the timeout), the retransmission delivers the
same message again.

A retry timer is a scheduled event, not a process. An ack does not cancel it
(SimPy cannot unschedule an event); instead every timer carries the
generation it was started for, and a timer that fires for a settled message
or an older generation does nothing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from alosim.model.message import Message
from alosim.scenario import Sender as SenderSpec
from alosim.streams import Draws

if TYPE_CHECKING:
    from alosim.simulate import World


class Sender:
    def __init__(self, world: World, index: int, spec: SenderSpec,
                 quota: int | None, duration: float | None) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.index = index
        self.actor = f"sender-{index}"
        self.window = spec.window if spec.window is not None else math.inf
        self.timeout = spec.retry.timeout
        self.max_attempts = spec.retry.max_attempts or 0  # 0: retry until acked
        self.rate = spec.rate
        self.quota = quota  # messages still to create (None: until `duration`)
        self.duration = duration
        self.outbox: deque[Message] = deque()
        self.in_flight = 0
        self.creating = True
        if spec.rate is not None:
            rng = world.streams.generator(f"sender.{index}.arrivals")
            mean_gap = 1.0 / spec.rate
            if spec.arrivals == "poisson":
                self._gap = Draws(lambda n: rng.exponential(mean_gap, n))
            else:
                self._gap = lambda: mean_gap
        self._seq = 0

    # -- arrivals ------------------------------------------------------------

    def start(self) -> None:
        if self.rate is None:
            self._fill()
        else:
            self.env.process(self._arrivals())

    def _arrivals(self) -> Generator[simpy.Event, None, None]:
        env = self.env
        while self._may_create():
            yield env.timeout(self._gap())
            if self.duration is not None and env.now >= self.duration:
                break
            self.outbox.append(self._create())
            self._fill()
        self._stop_creating()

    def _may_create(self) -> bool:
        return self.quota is None or self._seq < self.quota

    def _create(self) -> Message:
        msg = self.world.new_message(self, self._seq)
        self._seq += 1
        return msg

    def _stop_creating(self) -> None:
        if self.creating:
            self.creating = False
            self.world.sender_finished()

    def _fill(self) -> None:
        """Send from the outbox (or, closed loop, new messages) while the window has room."""
        while self.in_flight < self.window:
            if self.outbox:
                msg = self.outbox.popleft()
            elif self.rate is None and self._may_create():
                msg = self._create()
            else:
                break
            self.in_flight += 1
            msg.first_sent = self.env.now
            self.transmit(msg)
        if self.rate is None and self.creating and not self._may_create():
            self._stop_creating()

    # -- transmissions, timers, acks -------------------------------------------

    def transmit(self, msg: Message) -> None:
        rec = self.rec
        env = self.env
        msg.attempts += 1
        rec.transmissions += 1
        if msg.attempts > 1:
            rec.retransmissions += 1
        traced = msg.id < rec.trace_limit
        if traced:
            rec.event(env.now, self.actor, "send", msg.id, msg.attempts,
                      "resend" if msg.attempts > 1 else "")
        if self.world.data_link.send((msg, msg.attempts)):
            msg.copies += 1
        else:
            rec.data_lost += 1
            if traced:
                rec.event(env.now, "network", "data_lost", msg.id, msg.attempts)
        msg.timer += 1
        timer = env.timeout(self.timeout, (msg, msg.timer))
        timer.callbacks.append(self._on_timer)

    def _on_timer(self, event: simpy.Event) -> None:
        msg, generation = event._value
        if msg.settled or generation != msg.timer:
            return
        rec = self.rec
        rec.timeouts += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env.now, self.actor, "timeout", msg.id, msg.attempts)
        if self.max_attempts and msg.attempts >= self.max_attempts:
            rec.gave_up += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env.now, self.actor, "gave_up", msg.id, msg.attempts)
            self._settle(msg)
        else:
            self.transmit(msg)

    def on_ack(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        if msg.settled:
            rec.late_acks += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env.now, self.actor, "ack_ignored", msg.id, attempt, "already settled")
            return
        msg.acked = True
        rec.acked += 1
        rec.ack_latency.add(self.env.now - msg.first_sent)
        if msg.id < rec.trace_limit:
            rec.event(self.env.now, self.actor, "acked", msg.id, attempt)
        self._settle(msg)

    def _settle(self, msg: Message) -> None:
        msg.settled = True
        self.in_flight -= 1
        self.world.settled(msg)
        self._fill()
