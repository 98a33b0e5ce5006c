"""The sender: arrivals, the in-flight window, retry timers and giving up.

Messages arrive at ``rate`` (Poisson or periodic) into an outbox -- or, with
no rate, a new message is created whenever the window has room (a closed
loop that keeps the window full). At most ``window`` messages are un-acked at
once. Each transmission starts a retry timer. If the timer expires before an
ack arrives the sender retransmits, until ``max_attempts`` transmissions
have been made; then it gives up.

This is where duplicates are born: when a data packet arrived but its ack was
lost (or was merely slower than the timeout), the retransmission delivers the
same message again.

Retry timers are neither processes nor one SimPy event each. The sender
keeps its pending timers in a heap ordered by deadline, with a single
scheduled SimPy event for the earliest one. An ack does not remove its timer
(that would mean searching the heap); each entry carries the generation of
the timer it was started for, and an entry for a settled message or an older
generation is dropped when it reaches the top. Most messages are acked long
before their timeout, so most timers cost a heap push and pop and no
simulation event at all.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from heapq import heappop, heappush
from typing import TYPE_CHECKING

import simpy

from alosim.model.events import Later
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
        # Messages this sender may still create (inf: until `duration` ends).
        self.remaining = math.inf if quota is None else quota
        self.duration = duration
        self.outbox: deque[Message] = deque()
        self.in_flight = 0
        self.creating = True
        self._seq = 0
        if spec.rate is not None:
            rng = world.streams.generator(f"sender.{index}.arrivals")
            mean_gap = 1.0 / spec.rate
            if spec.arrivals == "poisson":
                self._gap = Draws(lambda n: rng.exponential(mean_gap, n))
            else:
                self._gap = lambda: mean_gap
        # Pending retry timers: (deadline, tie-breaker, message, generation).
        self._timers: list[tuple[float, int, Message, int]] = []
        self._timer_ticket = 0
        self._wake_at = math.inf  # time of the earliest scheduled timer event
        self._send_data = world.data_link.send

    # -- arrivals ------------------------------------------------------------

    def start(self) -> None:
        if self.rate is None:
            self._fill()
        else:
            self.env.process(self._arrivals())

    def _arrivals(self) -> Generator[simpy.Event, None, None]:
        """Open loop: messages arrive at ``rate`` whether or not the window has room."""
        env = self.env
        while self.remaining > 0:
            yield env.timeout(self._gap())
            if self.duration is not None and env.now >= self.duration:
                break
            self.outbox.append(self._create())
            self._fill()
        self._stop_creating()

    def _create(self) -> Message:
        self.remaining -= 1
        msg = self.world.new_message(self, self._seq)
        self._seq += 1
        return msg

    def _stop_creating(self) -> None:
        if self.creating:
            self.creating = False
            self.world.sender_finished()

    def _fill(self) -> None:
        """Send from the outbox (or, closed loop, new messages) while the window has room."""
        closed_loop = self.rate is None
        while self.in_flight < self.window:
            if self.outbox:
                msg = self.outbox.popleft()
            elif closed_loop and self.remaining > 0:
                msg = self._create()
            else:
                break
            self.in_flight += 1
            msg.first_sent = self.env._now
            self.transmit(msg)
        if closed_loop and self.creating and self.remaining <= 0:
            self._stop_creating()

    # -- transmissions and timers ----------------------------------------------

    def transmit(self, msg: Message) -> None:
        rec = self.rec
        now = self.env._now
        attempt = msg.attempts = msg.attempts + 1
        rec.transmissions += 1
        traced = msg.id < rec.trace_limit
        if attempt > 1:
            rec.retransmissions += 1
        if traced:
            rec.event(now, self.actor, "send", msg.id, attempt, "resend" if attempt > 1 else "")
        if self._send_data((msg, attempt)):
            msg.copies += 1
        else:
            rec.data_lost += 1
            if traced:
                rec.event(now, "network", "data_lost", msg.id, attempt)
        generation = msg.timer = msg.timer + 1
        deadline = now + self.timeout
        self._timer_ticket += 1
        heappush(self._timers, (deadline, self._timer_ticket, msg, generation))
        if deadline < self._wake_at:
            self._schedule_wake(deadline)

    def _schedule_wake(self, at: float) -> None:
        self._wake_at = at
        Later(self.env, at - self.env._now, self._on_wake, at)

    def _on_wake(self, event: simpy.Event) -> None:
        # The wake was meant for time `at`; the clock can differ from it in the last bit.
        at = event._value
        now = max(self.env._now, at)
        if at == self._wake_at:
            self._wake_at = math.inf
        timers = self._timers
        while timers:
            deadline, _, msg, generation = timers[0]
            if msg.settled or generation != msg.timer:
                heappop(timers)  # cancelled: acked, or superseded by a newer timer
            elif deadline <= now:
                heappop(timers)
                self._expired(msg)
            else:
                break
        if timers and timers[0][0] < self._wake_at:
            self._schedule_wake(timers[0][0])

    def _expired(self, msg: Message) -> None:
        rec = self.rec
        rec.timeouts += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "timeout", msg.id, msg.attempts)
        if self.max_attempts and msg.attempts >= self.max_attempts:
            rec.gave_up += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env._now, self.actor, "gave_up", msg.id, msg.attempts)
            self._settle(msg)
        else:
            self.transmit(msg)

    # -- acks --------------------------------------------------------------------

    def on_packet(self, event: simpy.Event) -> None:
        """An ack arrived from the link."""
        msg, attempt = event._value
        rec = self.rec
        now = self.env._now
        if msg.settled:
            rec.late_acks += 1
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "ack_ignored", msg.id, attempt, "already settled")
            return
        msg.acked = True
        rec.acked += 1
        rec.ack_latency_add(now - msg.first_sent)
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "acked", msg.id, attempt)
        self._settle(msg)

    def _settle(self, msg: Message) -> None:
        msg.settled = True
        self.in_flight -= 1
        self.world.settled(msg)
        self._fill()
